"""The ``govern`` command line: parse options, call the library, map errors to exit codes.

Nothing heavy is imported at module level (mlflow, Great Expectations and fairlearn each take
seconds), so ``govern --help`` answers at once; commands import what they use.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import json
import os
import sys
import traceback
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click

from govern import __version__
from govern.errors import (
    EXIT_INFRA,
    EXIT_PASS,
    EXIT_RETRY,
    EXIT_VIOLATION,
    GovernError,
    NotVerified,
    UsageError,
)
from govern.redact import scrub

if TYPE_CHECKING:
    from govern.config.policy import Policy
    from govern.model.results import AuditRun
    from govern.registry.client import Registry
    from govern.registry.spark_session import SparkSettings
    from govern.render.outputs import OutputRequest

F = TypeVar("F", bound=Callable[..., Any])

EXIT_BY_VERDICT = {"pass": EXIT_PASS, "fail": EXIT_VIOLATION, "error": EXIT_INFRA}


def _exit_code(run: AuditRun) -> int:
    """0 passed, 1 violations, 3 could not audit (fix needed), 4 try again later."""
    if run.error_kind == "retry":
        return EXIT_RETRY
    return EXIT_BY_VERDICT[run.verdict]


RUN_FORMATS = ["table", "json", "markdown"]
"""The values of ``govern.render.formats.OutputFormat``, spelt out so that ``--help`` imports no
renderer; a test checks the two agree."""
SCAN_FORMATS = ["table", "json"]
"""Likewise ``govern.render.formats.ScanFormat``."""
MODEL_ENV_MANAGERS = ["local", "virtualenv", "uv"]
"""Likewise ``govern.pipeline.sandbox.MODEL_ENV_MANAGERS``."""
ENGINES = ["auto", "pandas", "spark"]
"""Likewise ``govern.registry.spark_session.ENGINES``."""


def _say(message: str) -> None:
    click.echo(scrub(message), err=True)


class _Progress:
    """Progress on stderr: a status line rewritten in place on a terminal, and one line per
    finished version (no transient lines) when stderr is a log file or CI console."""

    def __init__(self) -> None:
        self.tty = sys.stderr.isatty()
        self.pending = False

    def __call__(self, message: str, transient: bool = False) -> None:
        if not self.tty:
            if not transient:
                _say(message)
            return
        import shutil

        width = shutil.get_terminal_size((100, 20)).columns - 1
        text = scrub(message)[:width]
        if transient:
            sys.stderr.write("\r" + text.ljust(width))
            self.pending = True
        else:
            sys.stderr.write(("\r" + " " * width + "\r" if self.pending else "") + text + "\n")
            self.pending = False
        sys.stderr.flush()


_STDOUT: list[Any] = []


def _out(text: str) -> None:
    """Write requested output to the real stdout (libraries' prints were sent to stderr)."""
    click.echo(text, file=_STDOUT[-1] if _STDOUT else None)


def _debug_enabled() -> bool:
    ctx = click.get_current_context(silent=True)
    root = ctx.find_root() if ctx else None
    return bool(root and root.obj and root.obj.get("debug"))


@contextlib.contextmanager
def _own_stdout() -> Iterator[Any]:
    """Keep stdout for govern's requested output alone, down to the file descriptor.

    Libraries print progress and URLs, and a model's code may ``print`` or write to descriptor 1
    directly: while a command runs, descriptor 1 and ``sys.stdout`` point at stderr, and
    govern writes its output to a private copy of the real stdout. (Under a test runner whose
    stdout has no descriptor, only ``sys.stdout`` is redirected.)
    """
    real = sys.stdout
    try:
        fd = real.fileno()
    except (AttributeError, OSError, ValueError):
        with contextlib.redirect_stdout(sys.stderr):
            yield real
        return
    real.flush()
    saved = os.dup(fd)
    os.dup2(sys.stderr.fileno(), fd)
    stream = os.fdopen(
        os.dup(saved), "w", encoding=real.encoding or "utf-8", errors="replace", closefd=True
    )
    try:
        with contextlib.redirect_stdout(sys.stderr):
            yield stream
    finally:
        stream.flush()
        stream.close()
        os.dup2(saved, fd)
        os.close(saved)


def handle_errors(fn: F) -> F:
    """Turn every failure into one scrubbed line on stderr and the documented exit code."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            with _own_stdout() as out:
                _STDOUT.append(out)
                try:
                    return fn(*args, **kwargs)
                finally:
                    _STDOUT.pop()
        except GovernError as exc:
            if _debug_enabled():
                _say(traceback.format_exc())
            _say(f"govern: error: {exc}")
            sys.exit(exc.exit_code)
        except click.exceptions.Exit:
            raise
        except click.ClickException:
            raise
        except KeyboardInterrupt:
            _say("govern: interrupted")
            sys.exit(130)
        except Exception as exc:
            if _debug_enabled():
                _say(traceback.format_exc())
            first = (str(exc).strip().splitlines() or [""])[0]
            _say(
                f"govern: internal error: {type(exc).__name__}: {first} "
                "(run with --debug for the traceback)"
            )
            sys.exit(EXIT_INFRA)

    return wrapper  # type: ignore[return-value]


def tracking_option(fn: F) -> F:
    return click.option(
        "--tracking-uri",
        envvar="MLFLOW_TRACKING_URI",
        metavar="URI",
        help="MLflow tracking/registry URI. Default: $MLFLOW_TRACKING_URI, then MLflow's default "
        "(sqlite:///mlflow.db in the working directory).",
    )(fn)


def policy_option(fn: F) -> F:
    return click.option(
        "--policy",
        "policy_path",
        envvar="GOVERN_POLICY",
        type=click.Path(dir_okay=False, path_type=Path),
        help="Policy file. Default: $GOVERN_POLICY, then ./govern.yaml.",
    )(fn)


def format_option(choices: list[str], help_text: str) -> Callable[[F], F]:
    return click.option(
        "--format",
        "fmt",
        type=click.Choice(choices),
        default="table",
        show_default=True,
        help=help_text,
    )


pdf_option = click.option(
    "--pdf",
    is_flag=True,
    help="Also print each version report to PDF beside its HTML (needs Chromium; with --out).",
)
paper_option = click.option(
    "--paper",
    type=click.Choice(["A4", "Letter"]),
    default="A4",
    show_default=True,
    help="Paper size for --pdf.",
)


waivers_option = click.option(
    "--waivers",
    type=click.Path(dir_okay=False, path_type=Path),
    metavar="FILE",
    help="Waivers file (approved, expiring exceptions to failed checks). Overrides the "
    "policy's 'waivers' key.",
)


@dataclasses.dataclass(frozen=True)
class RunArgs:
    """The options audit and gate share, as one value (sqlite-utils' option bundles)."""

    policy_path: Path | None
    out: Path | None
    fmt: str
    junit: Path | None
    no_write: bool
    no_load_model: bool
    templates: Path | None
    pdf: bool
    paper: str
    timeout: float | None
    signing_key: Path | None
    model_env_manager: str
    waivers: Path | None
    engine: str
    spark_master: str | None
    spark_conf: tuple[str, ...]
    tracking_uri: str | None

    def spark_settings(self) -> SparkSettings | None:
        """The Spark settings, checked before any work: a malformed --spark-conf, or --engine
        spark without pyspark, is a usage error (exit 2)."""
        from govern.registry.spark_session import require_pyspark, settings

        if self.engine == "spark":
            require_pyspark("--engine spark")
        elif self.engine == "pandas" and (self.spark_master or self.spark_conf):
            raise UsageError("--spark-master and --spark-conf need --engine spark or auto")
        return settings(self.spark_master, self.spark_conf)

    def outputs(self) -> OutputRequest:
        return _outputs(self.out, self.templates, self.junit, self.pdf, self.paper)

    def signing_key_path(self) -> str | None:
        """The key file, checked before any work so a bad key costs nothing (exit 2)."""
        if self.signing_key is None:
            return None
        from govern.attest.keys import load_signer

        load_signer(self.signing_key)
        return str(self.signing_key)


_RUN_ARG_NAMES = tuple(f.name for f in dataclasses.fields(RunArgs))


def run_options(fn: F) -> F:
    """Options shared by audit and gate; the command receives them as ``args: RunArgs``."""

    @functools.wraps(fn)
    def bundled(**kwargs: Any) -> Any:
        args = RunArgs(**{name: kwargs.pop(name) for name in _RUN_ARG_NAMES})
        return fn(args=args, **kwargs)

    wrapped: Any = tracking_option(bundled)
    for option in reversed(
        [
            policy_option,
            click.option(
                "--out",
                type=click.Path(path_type=Path),
                help="Write results.json, index.html and one HTML report per version here.",
            ),
            format_option(
                RUN_FORMATS, "What to print on stdout; markdown suits $GITHUB_STEP_SUMMARY."
            ),
            click.option(
                "--junit",
                type=click.Path(dir_okay=False, path_type=Path),
                metavar="FILE",
                help="Also write JUnit XML: one test suite per version, one test case per check.",
            ),
            click.option(
                "--no-write",
                is_flag=True,
                help="Do not record the audit in MLflow or tag the version.",
            ),
            click.option(
                "--no-load-model",
                is_flag=True,
                help="Do not load the model (loading runs its code); fairness checks then "
                "report an error, which fails closed.",
            ),
            click.option(
                "--model-env-manager",
                type=click.Choice(MODEL_ENV_MANAGERS),
                default="local",
                show_default=True,
                envvar="GOVERN_MODEL_ENV_MANAGER",
                help="Where the model predicts. Always in a separate process that gets no "
                "credentials, signing key or tracking URI; 'local' uses govern's Python, "
                "'virtualenv' and 'uv' the model's own pinned environment as MLflow builds it "
                "(may download packages; kept in $GOVERN_MODEL_ENV_ROOT, default "
                "~/.cache/govern/model-envs). Not the policy key model_env, which compares the "
                "model's declared requirements with what is installed.",
            ),
            click.option(
                "--templates",
                type=click.Path(file_okay=False, exists=True, path_type=Path),
                help="Folder of Jinja2 templates overriding the packaged ones.",
            ),
            pdf_option,
            paper_option,
            click.option(
                "--timeout",
                type=click.FloatRange(min=1),
                metavar="SECONDS",
                help="Deadline for the whole run; versions not finished by then are errors.",
            ),
            click.option(
                "--signing-key",
                type=click.Path(dir_okay=False, path_type=Path),
                envvar="GOVERN_SIGNING_KEY",
                metavar="FILE",
                help="Ed25519 private key (from govern keygen) that signs each version's "
                "attestation; default $GOVERN_SIGNING_KEY. Without one, attestations are "
                "unsigned and marked so everywhere.",
            ),
            waivers_option,
            click.option(
                "--engine",
                type=click.Choice(ENGINES),
                default="auto",
                show_default=True,
                envvar="GOVERN_ENGINE",
                help="Where the training data is read and checked. 'auto': Spark for datasets "
                "logged with mlflow.data.from_spark (Spark and Delta sources), pandas for the "
                "rest; 'spark' also reads parquet folders and files on Spark "
                "(pip install 'govern[spark]').",
            ),
            click.option(
                "--spark-master",
                metavar="URL",
                help="Spark master for the Spark engine. Default: local[*]; $SPARK_REMOTE "
                "(sc://host:port) selects Spark Connect instead.",
            ),
            click.option(
                "--spark-conf",
                multiple=True,
                metavar="KEY=VALUE",
                help="Spark configuration, repeatable (--spark-conf spark.executor.memory=4g). "
                "govern never sets spark.jars.packages: nothing is downloaded at run time.",
            ),
        ]
    ):
        wrapped = option(wrapped)
    return wrapped


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, prog_name="govern")
@click.option("--debug", is_flag=True, envvar="GOVERN_DEBUG", help="Show tracebacks on errors.")
@click.pass_context
def main(ctx: click.Context, debug: bool) -> None:
    """Audit and gate MLflow model versions.

    For each model version govern follows MLflow's lineage to the training data, proves it is the
    data the model was trained on, reruns data-quality (Great Expectations) and fairness
    (fairlearn) checks from a policy file, writes HTML and JSON evidence, records the verdict in
    the registry, and moves an alias only when every check passed.

    \b
    Exit codes: 0 every version passed, 1 a policy violation,
                2 usage or policy error, 3 could not audit (lineage, data,
                model or internal error: fix, then rerun), 4 the registry
                was unreachable or the deadline passed (retry later).
    """
    ctx.ensure_object(dict)
    ctx.obj["debug"] = debug
    if not debug:
        import warnings

        # Library deprecation and schema hints are for developers, not for a CI log.
        warnings.filterwarnings("ignore")


def _registry(tracking_uri: str | None) -> Registry:
    """Open the registry the command names; the process environment for MLflow is set here,
    once, not by the library."""
    from govern.registry.client import Registry, default_tracking_uri, quiet_mlflow

    quiet_mlflow()
    registry = Registry(tracking_uri or default_tracking_uri())
    registry.ping()
    return registry


def _selectors(selectors: tuple[str, ...]) -> list[Any]:
    from govern.config.selectors import parse_selector

    return [parse_selector(s) for s in selectors]


@main.command()
@click.argument("selectors", nargs=-1, metavar="[SELECTOR]...")
@click.option("--all", "all_models", is_flag=True, help="Every registered model.")
@format_option(SCAN_FORMATS, "Output format on stdout.")
@policy_option
@tracking_option
@handle_errors
def scan(
    selectors: tuple[str, ...],
    all_models: bool,
    fmt: str,
    policy_path: Path | None,
    tracking_uri: str | None,
) -> None:
    """List model versions with their lineage and last governance status.

    Reads every page of the registry. For each version: aliases, run id, the training dataset
    found through lineage (name, source, digest), the status govern last recorded on it, and
    whether that status is backed by an attestation: verified (signed by a key in the policy's
    trust.auditors), unsigned, or NOT VERIFIED (forged, edited, or unsigned where the policy
    requires signatures).

    \b
    Examples:
      govern scan --all
      govern scan credit-risk --format json
    """
    from govern.pipeline.scan import scan_versions
    from govern.pipeline.verify import trusted_keys
    from govern.render.formats import render_scan

    policy = _optional_policy(policy_path)
    trust = trusted_keys(policy)
    registry = _registry(tracking_uri)
    versions = registry.resolve(_selectors(selectors), all_models=all_models or not selectors)
    _out(render_scan(scan_versions(registry, versions, trust, policy), fmt))


def _outputs(
    out: Path | None, templates: Path | None, junit: Path | None, pdf: bool, paper: str
) -> OutputRequest:
    """The files a command was asked to write, checked before any work is done."""
    from govern.render.outputs import OutputRequest

    request = OutputRequest(out=out, templates=templates, junit=junit, pdf=pdf, paper=paper)
    request.check()
    return request


def _emit(run: AuditRun, fmt: str) -> None:
    """Print the run in the requested format and the one-line summary on stderr."""
    from govern.render.formats import render_run

    _out(render_run(run, fmt))
    for waiver_id in run.unused_waivers:
        _say(f"govern: warning: waiver {waiver_id} matches no check of the audited versions")
    counts = run.counts()
    waived = run.passed_with_waivers()
    with_waivers = f" ({waived} with waivers)" if waived else ""
    _say(
        f"{len(run.versions)} version(s): {counts['pass']} passed{with_waivers}, "
        f"{counts['fail']} failed, {counts['error']} error(s); verdict {run.verdict.upper()}"
    )


def _default_jobs(versions: int) -> int:
    """One process per CPU when there is enough work to pay for starting them (each worker
    imports mlflow and Great Expectations, several seconds); a few versions run serially."""
    cpus = os.cpu_count() or 1
    return cpus if versions >= 4 * cpus else 1


@main.command("audit")
@click.argument("selectors", nargs=-1, metavar="[SELECTOR]...")
@click.option("--all", "all_models", is_flag=True, help="Every version of every registered model.")
@click.option(
    "--latest",
    type=click.IntRange(min=1),
    metavar="N",
    help="Only the N highest versions of each model.",
)
@click.option("--aliased-only", is_flag=True, help="Only versions that at least one alias names.")
@click.option(
    "--jobs",
    type=click.IntRange(min=1),
    default=None,
    envvar="GOVERN_JOBS",
    metavar="N",
    help="Audit N versions at a time in worker processes. Default: $GOVERN_JOBS, else the "
    "number of CPUs when there are at least four versions per CPU.",
)
@click.option(
    "--force",
    is_flag=True,
    help="Recompute every version, even one whose model, data, policy and govern version are "
    "unchanged since its last recorded audit.",
)
@run_options
@handle_errors
def audit_cmd(
    selectors: tuple[str, ...],
    all_models: bool,
    latest: int | None,
    aliased_only: bool,
    jobs: int | None,
    force: bool,
    args: RunArgs,
) -> None:
    """Audit model versions against the policy.

    SELECTOR is NAME (every version), NAME/3, NAME@alias, models:/NAME/3 or models:/NAME@alias.
    Each version gets lineage, integrity, data-quality and fairness checks; unless --no-write the
    audit is recorded as a run in the audit experiment and the version is tagged govern.status.

    \b
    Examples:
      govern audit --all --out reports/
      govern audit credit-risk@champion --policy govern.yaml --format json
    """
    from govern.config.policy import load_policy
    from govern.pipeline.audit import audit_and_write

    spark = args.spark_settings()
    if args.engine == "spark":
        jobs = 1  # one Spark session per process; Spark spreads each version's work itself
    if jobs is not None and jobs > 1:
        from govern.pipeline.runner import warm_workers

        warm_workers()
    outputs = args.outputs()
    policy = load_policy(args.policy_path, waivers=args.waivers)
    signing_key = args.signing_key_path()
    registry = _registry(args.tracking_uri)
    versions = registry.resolve(
        _selectors(selectors), all_models=all_models, latest=latest, aliased_only=aliased_only
    )
    run = audit_and_write(
        registry,
        policy,
        versions,
        outputs,
        write=not args.no_write,
        load_model=not args.no_load_model,
        reuse=not force,
        progress=_Progress(),
        timeout=args.timeout,
        jobs=jobs if jobs is not None else _default_jobs(len(versions)),
        signing_key=signing_key,
        env_manager=args.model_env_manager,
        engine=args.engine,
        spark=spark,
    )
    _emit(run, args.fmt)
    sys.exit(_exit_code(run))


@main.command("gate")
@click.argument("selector", metavar="SELECTOR")
@click.option(
    "--promote-to",
    metavar="ALIAS",
    help="Move this alias to the version, only if every check passed.",
)
@run_options
@handle_errors
def gate_cmd(selector: str, promote_to: str | None, args: RunArgs) -> None:
    """Audit exactly one version; with --promote-to, move an alias only if it passed.

    A version that passes with waivers (failed checks an approved, unexpired waiver accepts)
    passes. Exits 0 when the version passed (and the alias moved), 1 on a policy violation, 3 when a
    check could not run, 4 when the registry was unreachable or the deadline passed. The alias
    never moves on a failure or an error.

    \b
    Examples:
      govern gate credit-risk/7 --promote-to production
      govern gate models:/credit-risk@candidate --policy govern.yaml
    """
    from govern.config.policy import load_policy
    from govern.config.selectors import parse_selector, validate_promotion
    from govern.pipeline.gate import gate

    sel = parse_selector(selector)
    validate_promotion(promote_to, write=not args.no_write)
    spark = args.spark_settings()
    outputs = args.outputs()
    policy = load_policy(args.policy_path, waivers=args.waivers)
    signing_key = args.signing_key_path()
    registry = _registry(args.tracking_uri)
    result = gate(
        registry,
        policy,
        sel,
        promote_to=promote_to,
        write=not args.no_write,
        load_model=not args.no_load_model,
        progress=_Progress(),
        timeout=args.timeout,
        outputs=outputs,
        signing_key=signing_key,
        env_manager=args.model_env_manager,
        engine=args.engine,
        spark=spark,
    )
    _emit(result.run, args.fmt)
    _say(result.message)
    code = _exit_code(result.run)
    if code == EXIT_PASS and promote_to is not None and not result.promoted:
        code = EXIT_INFRA
    sys.exit(code)


@main.command("report")
@click.argument("results", type=click.Path(dir_okay=False, exists=True, path_type=Path))
@click.option(
    "--out",
    type=click.Path(path_type=Path),
    required=True,
    help="Folder for index.html, the version reports and a copy of results.json.",
)
@click.option(
    "--templates",
    type=click.Path(file_okay=False, exists=True, path_type=Path),
    help="Folder of Jinja2 templates overriding the packaged ones.",
)
@pdf_option
@paper_option
@handle_errors
def report_cmd(results: Path, out: Path, templates: Path | None, pdf: bool, paper: str) -> None:
    """Re-render HTML reports from a results.json without rerunning any check.

    The evidence (results.json) is read as it is; only the presentation is rebuilt, so a
    template change never touches what was measured.

    \b
    Example:
      govern report reports/results.json --out reports-v2/
    """
    from govern.pipeline.verify import NO_ATTESTATION, TrustedKeys, read_json, verify_results
    from govern.render.outputs import load_results, write_requested

    outputs = _outputs(out, templates, None, pdf, paper)
    # Versions without an attestation render with an "unsigned" banner; one that has an
    # attestation it no longer matches was edited, and nothing is rendered from it.
    problems = [
        v
        for v in verify_results(read_json(results), TrustedKeys((), False))
        if not v.ok and v.problem != NO_ATTESTATION
    ]
    if problems:
        first = problems[0]
        raise NotVerified(
            f"{results}: does not match its attestations ({first.subject}: {first.problem}); "
            "nothing written"
        )
    write_requested(load_results(results), outputs, say=_say)
    _out(str(out / "index.html"))


@main.command("review")
@click.argument("selector", metavar="SELECTOR")
@click.option("--approve", "decision", flag_value="approve", help="Sign off the version.")
@click.option("--reject", "decision", flag_value="reject", help="Record that it must not ship.")
@click.option(
    "--role",
    required=True,
    metavar="ROLE",
    help="The role you review in (one of your roles in the policy's trust.reviewers).",
)
@click.option("--note", metavar="TEXT", help="Rationale or conditions, signed with the review.")
@click.option(
    "--signing-key",
    type=click.Path(dir_okay=False, path_type=Path),
    envvar="GOVERN_REVIEW_KEY",
    required=True,
    metavar="FILE",
    help="Your Ed25519 private key (govern keygen); default $GOVERN_REVIEW_KEY. Its public key "
    "must be listed under trust.reviewers: the key, not a name, says who reviews.",
)
@policy_option
@tracking_option
@handle_errors
def review_cmd(
    selector: str,
    decision: str | None,
    role: str,
    note: str | None,
    signing_key: Path,
    policy_path: Path | None,
    tracking_uri: str | None,
) -> None:
    """Sign off (or reject) one version's latest verified audit, as a trusted reviewer.

    The review is an in-toto statement signed with your key, bound to the model files, data
    and policy the audit attested, and recorded as a run in the audit experiment plus the
    version tag govern.review.ROLE. You cannot review a version you registered or trained, and
    you can approve only an audit that passed. The policy's review.required makes gate
    --promote-to wait for the approvals.

    \b
    Exit codes: 0 recorded, 1 refused (audit not verified, or approving
                a failed audit), 2 usage or policy error (key not a
                reviewer's, role not held, reviewer is the model's author).

    \b
    Examples:
      govern review credit-risk/7 --approve --role validator --signing-key ~/keys/me.key
      govern review credit-risk@candidate --reject --role risk --note "drift on age"
    """
    from govern.config.policy import load_policy
    from govern.config.selectors import parse_selector
    from govern.pipeline.review import review_version

    if decision is None:
        raise UsageError("say --approve or --reject")
    sel = parse_selector(selector)
    if not sel.single:
        raise UsageError(
            f"review signs off exactly one version: use {sel.name}/VERSION or "
            f"{sel.name}@ALIAS, not '{selector}'"
        )
    policy = load_policy(policy_path)
    from govern.attest.keys import load_signer

    load_signer(signing_key)  # a bad key costs nothing (exit 2)
    registry = _registry(tracking_uri)
    (info,) = registry.resolve([sel])
    outcome = review_version(
        registry,
        policy,
        info,
        decision=decision,
        role=role,
        note=note,
        signing_key=str(signing_key),
    )
    _out(json.dumps(outcome.to_dict(), indent=2))
    _say(f"{outcome.ref}: {outcome.decision} as {outcome.role} by {outcome.reviewer} recorded")


@main.command("keygen")
@click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    required=True,
    help="Folder for govern-signing.key (mode 0600) and govern-signing.pub.",
)
@handle_errors
def keygen_cmd(out: Path) -> None:
    """Make an Ed25519 key pair for signing audits and reviews.

    The private key is written with mode 0600 and is never printed; give its path to
    --signing-key or $GOVERN_SIGNING_KEY. List the public key under the policy's
    trust.auditors (or trust.reviewers) so its signatures count.

    \b
    Example:
      govern keygen --out ~/.config/govern/keys
    """
    from govern.attest.keys import generate_keypair

    pair = generate_keypair(out)
    _say(f"private key: {pair.private} (keep it secret; mode 0600)")
    _out(f"{pair.public}\t{pair.keyid}")


@main.command("verify")
@click.argument("targets", nargs=-1, required=True, metavar="RESULTS.json|ATTESTATION|SELECTOR...")
@policy_option
@click.option(
    "--key",
    "keys",
    multiple=True,
    type=click.Path(dir_okay=False, exists=True, path_type=Path),
    metavar="PUB",
    help="Trust this public key too (repeatable); signatures are then required.",
)
@format_option(["table", "json"], "Print a table or JSON.")
@tracking_option
@handle_errors
def verify_cmd(
    targets: tuple[str, ...],
    policy_path: Path | None,
    keys: tuple[Path, ...],
    fmt: str,
    tracking_uri: str | None,
) -> None:
    """Check signed evidence: results.json files, attestation envelopes, or registry records.

    A results.json must match, version by version, the statements signed for it (offline). A
    review envelope (govern review) must be signed by a key in trust.reviewers or --key. For
    a SELECTOR (NAME, NAME/3, NAME@alias), each version's recorded status must be backed by a
    valid attestation of its audit run, and that attestation must still cover the model files in
    the registry and the data at its source (both are downloaded and re-hashed). Signatures must
    come from a key in the policy's trust.auditors or --key; without either they are not
    checked, and unsigned evidence is reported as unsigned.

    \b
    Exit codes: 0 verified (or unsigned where no signature is required),
                1 not verified (edited, forged, unsigned where required),
                2 usage error.

    \b
    Examples:
      govern verify reports/results.json --policy govern.yaml
      govern verify reports/attestations/*.intoto.json --key auditor.pub
    """
    from govern.pipeline.verify import (
        Verification,
        is_results_file,
        read_json,
        trusted_keys,
        verify_envelope_file,
        verify_record,
        verify_results,
    )

    policy = _optional_policy(policy_path)
    trust = trusted_keys(policy, keys)
    found: list[Verification] = []
    selectors = []
    for target in targets:
        path = Path(target)
        if not path.is_file():
            if target.endswith(".json"):
                raise UsageError(f"{target}: no such file")
            selectors.append(target)
            continue
        data = read_json(path)
        if is_results_file(data):
            found.extend(verify_results(data, trust))
        else:
            found.append(verify_envelope_file(path, trust))
    if selectors:
        from govern.config.policy import DEFAULT_AUDIT_EXPERIMENT
        from govern.pipeline.history import reviewer_keys, walk_chain

        registry = _registry(tracking_uri)
        experiment = policy.audit_experiment if policy else DEFAULT_AUDIT_EXPERIMENT
        reviewers = reviewer_keys(policy)
        for info in registry.resolve(_selectors(tuple(selectors))):
            checked = verify_record(registry, info, trust, policy=policy, rehash=True)
            if checked is None:
                found.append(Verification(info.ref, "not-verified", "never audited"))
                continue
            chain = walk_chain(registry, experiment, info, trust, reviewers)
            if checked.ok and not chain.intact:
                checked = Verification(
                    info.ref, "not-verified", "chain: " + "; ".join(chain.problems), checked.keyid
                )
            found.append(checked)
    if fmt == "json":
        _out(json.dumps([v.to_dict() for v in found], indent=2))
    else:
        from govern.render.table import render_table

        _out(
            render_table(
                ["SUBJECT", "OUTCOME", "KEY", "PROBLEM"],
                [
                    [
                        v.subject,
                        v.outcome.upper() if not v.ok else v.outcome,
                        (v.keyid or "-")[:16],
                        v.problem or "-",
                    ]
                    for v in found
                ],
            )
        )
    sys.exit(EXIT_PASS if all(v.ok for v in found) else EXIT_VIOLATION)


@main.command("history")
@click.argument("selectors", nargs=-1, required=True, metavar="SELECTOR...")
@policy_option
@format_option(["table", "json"], "Print a table or JSON.")
@tracking_option
@handle_errors
def history_cmd(
    selectors: tuple[str, ...], policy_path: Path | None, fmt: str, tracking_uri: str | None
) -> None:
    """Print each version's chain of signed records, and who moved its aliases.

    Every govern record of a version (audit, promotion, review) names the one before it by
    digest; the chain is walked back from the newest, and a record that was edited, is missing,
    is not in the chain, or is unsigned where the policy requires signatures is named. Each
    alias on the version is matched with the govern promotion that put it there; one that no
    govern gate moved is an ungoverned promotion.

    \b
    Exit codes: 0 every chain intact and every alias governed, 1 otherwise,
                2 usage error, 3 and 4 as for the other commands.

    \b
    Example:
      govern history credit-risk@production --policy govern.yaml
    """
    from govern.config.policy import DEFAULT_AUDIT_EXPERIMENT
    from govern.pipeline.history import reviewer_keys, walk_chain
    from govern.pipeline.verify import trusted_keys

    policy = _optional_policy(policy_path)
    trust, reviewers = trusted_keys(policy), reviewer_keys(policy)
    experiment = policy.audit_experiment if policy else DEFAULT_AUDIT_EXPERIMENT
    registry = _registry(tracking_uri)
    chains = [
        walk_chain(registry, experiment, info, trust, reviewers)
        for info in registry.resolve(_selectors(selectors))
    ]
    if fmt == "json":
        _out(json.dumps([c.to_dict() for c in chains], indent=2))
    else:
        from govern.render.table import render_table

        blocks = []
        for chain in chains:
            rows = [
                [r.at or "-", r.kind, r.summary, (r.keyid or "unsigned")[:16], r.problem or "ok"]
                for r in chain.records
            ]
            rows.extend(
                ["-", "alias", f"'{m['alias']}'", "-", m["problem"] or "moved by govern"]
                for m in chain.aliases
            )
            text = f"{chain.ref}: {'chain intact' if chain.intact else 'CHAIN BROKEN'}\n"
            text += render_table(["AT", "KIND", "RECORD", "KEY", "STATUS"], rows)
            text += "".join(f"\n  ! {p}" for p in chain.problems)
            blocks.append(text)
        _out("\n\n".join(blocks))
    ungoverned = any(not m["governed"] for c in chains for m in c.aliases)
    sys.exit(EXIT_PASS if all(c.intact for c in chains) and not ungoverned else EXIT_VIOLATION)


def _optional_policy(path: Path | None) -> Policy | None:
    """The policy named, else ./govern.yaml if there is one: verify works without any."""
    from govern.config.policy import default_policy_path, load_policy

    if path is not None:
        return load_policy(path)
    default = default_policy_path()
    return load_policy(default) if default.is_file() else None


@main.command()
@click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("govern-demo"),
    show_default=True,
    help="Folder for the demo registry, data and reports.",
)
@handle_errors
def demo(out: Path) -> None:
    """Build a demo registry from the bundled UCI Adult sample and audit it.

    Trains two models on a sample of UCI Adult (census income) shipped with govern: one mitigated
    model that passes its policy and one that fails the four-fifths rule. Registers both in a
    sqlite registry in OUT, audits them, and prints the path of the report index.

    \b
    Example:
      govern demo --out /tmp/govern-demo && open /tmp/govern-demo/reports/index.html
    """
    from govern.demo import run_demo

    index = run_demo(out, progress=_say)
    _out(str(index))


@main.group("waivers")
def waivers_group() -> None:
    """Inspect the waivers file: approved, expiring exceptions to failed checks.

    \b
    Examples:
      govern waivers list --policy govern.yaml
      govern waivers list --waivers waivers.yaml --expiring 14
    """


@waivers_group.command("list")
@click.option(
    "--waivers",
    "waivers_path",
    type=click.Path(dir_okay=False, path_type=Path),
    metavar="FILE",
    help="Waivers file. Default: the one the policy's 'waivers' key names.",
)
@click.option(
    "--policy",
    "policy_path",
    envvar="GOVERN_POLICY",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Policy file, for its 'waivers' and 'max_waiver_days'. Default: $GOVERN_POLICY, then "
    "./govern.yaml; without one, --waivers is checked against the default of 90 days.",
)
@click.option(
    "--expiring",
    type=click.IntRange(min=0),
    metavar="DAYS",
    help="Exit 1 when a waiver expires within DAYS days (or has expired).",
)
@format_option(["table", "json"], "Output format on stdout.")
@handle_errors
def waivers_list(
    waivers_path: Path | None, policy_path: Path | None, expiring: int | None, fmt: str
) -> None:
    """List waivers with their status: active, expired, or expires in N days (UTC).

    Exits 1 when a waiver has expired or, with --expiring, expires within DAYS days; 0
    otherwise; 2 when the file is invalid. Nothing is audited and the registry is not read.

    \b
    Examples:
      govern waivers list --policy govern.yaml --expiring 14
      govern waivers list --waivers waivers.yaml --format json
    """
    from govern.config.waivers import load_waivers, status_rows, today_utc
    from govern.errors import UsageError
    from govern.render.formats import render_waivers

    waivers = None
    if policy_path is not None or waivers_path is None:
        from govern.config.policy import default_policy_path, load_policy

        if policy_path is not None or default_policy_path().is_file():
            from govern.pipeline.waivers import check_waiver_signatures

            policy = load_policy(policy_path, waivers=waivers_path)
            check_waiver_signatures(policy)
            waivers = policy.waivers
            if waivers is None:
                raise UsageError("the policy names no waivers file: pass --waivers FILE")
    if waivers is None:
        if waivers_path is None:
            raise UsageError("no waivers file: pass --waivers FILE or --policy FILE")
        waivers = load_waivers(waivers_path)
    today = today_utc()
    _out(render_waivers(waivers.path, status_rows(waivers, today), fmt))
    horizon = expiring if expiring is not None else -1
    due = [w for w in waivers.waivers if (w.expires - today).days <= horizon or w.expired(today)]
    sys.exit(EXIT_VIOLATION if due else EXIT_PASS)


@waivers_group.command("sign")
@click.argument("waivers_file", type=click.Path(dir_okay=False, exists=True, path_type=Path))
@click.option("--id", "waiver_id", required=True, metavar="ID", help="The waiver to sign.")
@click.option(
    "--signing-key",
    type=click.Path(dir_okay=False, path_type=Path),
    envvar="GOVERN_SIGNING_KEY",
    required=True,
    metavar="FILE",
    help="The approver's Ed25519 private key (from govern keygen); default $GOVERN_SIGNING_KEY.",
)
@handle_errors
def waivers_sign(waivers_file: Path, waiver_id: str, signing_key: Path) -> None:
    """Sign one waiver as its approver: adds a signature line to it in the file.

    The signature covers every field of the waiver (check, versions, reason, dates, requester
    and approver), so any later edit breaks it. When the policy lists trust.reviewers, every
    waiver must be signed by the key of the reviewer named in its approved_by, or the policy is
    refused (exit 2). The file is otherwise left as written.

    \b
    Example:
      govern waivers sign waivers.yaml --id W-2026-014 --signing-key ~/.govern/bob.key
    """
    from govern.pipeline.waivers import sign_waiver_in_file

    keyid = sign_waiver_in_file(waivers_file, waiver_id, str(signing_key))
    _say(f"waiver '{waiver_id}' in {waivers_file} signed by key {keyid[:16]}")


# --- govern webhook: MLflow registry webhooks (issue 11) ------------------------------------


@main.group("webhook")
def webhook_group() -> None:
    """Install, list and remove govern's MLflow registry webhook.

    The webhook makes 'mlflow server' (SQL backend) tell govern serve when a version is
    created, tagged or aliased, so audits follow the registry instead of waiting for the night.

    \b
    Examples:
      export GOVERN_WEBHOOK_SECRET=$(cat /etc/govern/webhook-secret)
      govern webhook install --url https://govern.internal:8686/webhook \\
          --tracking-uri https://mlflow.internal
      govern webhook list --tracking-uri https://mlflow.internal
    """


@webhook_group.command("install")
@click.option(
    "--url", required=True, metavar="URL", help="Where MLflow delivers: govern serve's endpoint."
)
@click.option(
    "--secret",
    envvar="GOVERN_WEBHOOK_SECRET",
    metavar="S",
    help="The HMAC secret MLflow signs deliveries with and govern serve checks (at least 16 "
    "characters). Default: $GOVERN_WEBHOOK_SECRET, which keeps it out of the process list.",
)
@click.option(
    "--name",
    default="govern",
    show_default=True,
    metavar="NAME",
    help="The webhook's name; install updates the webhook of that name if it exists.",
)
@click.option("--no-test", "no_test", is_flag=True, help="Skip MLflow's test delivery to the URL.")
@tracking_option
@handle_errors
def webhook_install(
    url: str, secret: str | None, name: str, no_test: bool, tracking_uri: str | None
) -> None:
    """Create govern's webhook on the MLflow server, or update it, then test it.

    Subscribes to registered_model.created, model_version.created, model_version_tag.set and
    .deleted, model_version_alias.created and .deleted. Running it again updates the URL,
    events and secret in place. MLflow then sends a signed test delivery
    (registered_model.created) to the URL: exit 0 when the receiver accepted it, 2 when the
    server refuses the webhook (URL scheme, private address, no encryption key) or the receiver
    refuses the signature, 4 when the receiver could not be reached. The secret is never shown.

    \b
    Example:
      GOVERN_WEBHOOK_SECRET=... govern webhook install \\
          --url https://govern.internal:8686/webhook --tracking-uri https://mlflow.internal
    """
    from govern.registry.webhooks import check_secret, install_webhook, probe_failure

    check_secret(secret)
    result = install_webhook(
        _registry(tracking_uri), url=url, secret=secret, name=name, probe=not no_test
    )
    hook = result.webhook
    _out(
        scrub(
            f"{result.action} webhook '{hook.name}' ({hook.webhook_id}) -> {hook.url} "
            f"for {len(hook.events)} events"
        )
    )
    if result.probe is None:
        return
    probe = result.probe
    failure = probe_failure(hook, probe)
    if failure is not None:
        raise failure
    _out(f"test delivery ({probe.event}) accepted: HTTP {probe.status}")


@webhook_group.command("list")
@format_option(["table", "json"], "Print a table or JSON.")
@tracking_option
@handle_errors
def webhook_list(fmt: str, tracking_uri: str | None) -> None:
    """List govern's webhooks on the MLflow server: name, id, URL, events, status.

    Webhooks that govern did not install are not shown. Secrets are never shown.

    \b
    Example:
      govern webhook list --tracking-uri https://mlflow.internal --format json
    """
    from govern.registry.webhooks import describe, list_webhooks
    from govern.render.formats import render_webhooks

    _out(scrub(render_webhooks(describe(list_webhooks(_registry(tracking_uri))), fmt)))


@webhook_group.command("remove")
@click.argument("name_or_id", default="govern", metavar="[NAME|ID]")
@tracking_option
@handle_errors
def webhook_remove(name_or_id: str, tracking_uri: str | None) -> None:
    """Delete govern's webhook (by name, default 'govern', or by id).

    Only webhooks govern installed are removed; another webhook of that name is refused (2).

    \b
    Example:
      govern webhook remove govern --tracking-uri https://mlflow.internal
    """
    from govern.registry.webhooks import remove_webhooks

    for hook in remove_webhooks(_registry(tracking_uri), name_or_id):
        _out(scrub(f"removed webhook '{hook.name}' ({hook.webhook_id})"))


# --- end govern webhook ----------------------------------------------------------------------


# --- events: govern serve and govern reconcile (issue 11) ------------------------------------

signing_key_option = click.option(
    "--signing-key",
    type=click.Path(dir_okay=False, path_type=Path),
    envvar="GOVERN_SIGNING_KEY",
    metavar="FILE",
    help="Ed25519 private key (from govern keygen) that signs audits and incidents; default "
    "$GOVERN_SIGNING_KEY. Without one, records are unsigned and marked so everywhere.",
)


def _checked_key(signing_key: Path | None) -> str | None:
    """The key file, loaded once before any work so that a bad key is a usage error (exit 2)."""
    if signing_key is None:
        return None
    from govern.attest.keys import load_signer

    load_signer(signing_key)
    return str(signing_key)


@main.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option(
    "--port",
    type=click.IntRange(1, 65535),
    default=8765,
    show_default=True,
    help="Port to listen on; MLflow's webhook URL is http(s)://HOST:PORT/webhook.",
)
@policy_option
@tracking_option
@click.option(
    "--state",
    "state_dir",
    type=click.Path(file_okay=False, path_type=Path),
    required=True,
    metavar="DIR",
    help="Folder for the persistent queue (sqlite): deliveries survive a restart or a crash. "
    "One govern serve per folder.",
)
@click.option(
    "--secret",
    envvar="GOVERN_WEBHOOK_SECRET",
    metavar="S",
    help="The webhook's secret, as given to MLflow; default $GOVERN_WEBHOOK_SECRET (prefer the "
    "variable: an option shows in the process list). Required.",
)
@signing_key_option
@click.option(
    "--log-format",
    type=click.Choice(["text", "json"]),
    default="text",
    show_default=True,
    help="One line per delivery on stderr, as text or as JSON lines.",
)
@click.option(
    "--max-backoff",
    type=click.FloatRange(min=1),
    default=300,
    show_default=True,
    metavar="SECONDS",
    help="Longest wait between two tries of a delivery that could not be handled (registry "
    "unreachable: retried until it answers).",
)
@click.option(
    "--model-env-manager",
    type=click.Choice(MODEL_ENV_MANAGERS),
    default="local",
    show_default=True,
    envvar="GOVERN_MODEL_ENV_MANAGER",
    help="Where the model predicts during an audit (as for govern audit).",
)
@handle_errors
def serve_cmd(
    host: str,
    port: int,
    policy_path: Path | None,
    tracking_uri: str | None,
    state_dir: Path,
    secret: str | None,
    signing_key: Path | None,
    log_format: str,
    max_backoff: float,
    model_env_manager: str,
) -> None:
    """Receive MLflow's registry webhooks and audit as the registry changes.

    Each signed delivery is queued in --state and answered at once; a worker then audits each
    new version (model_version.created) and records the result as govern audit does, and checks
    every move of an alias listed in the policy's protected_aliases: an alias put on a version
    without a verified passing audit (and the required reviews) is moved back to its previous
    version, or removed, and an incident is recorded in the version's history. GET /healthz and
    GET /metrics (Prometheus) serve operations. Point MLflow at it with govern webhook install.

    \b
    Example:
      GOVERN_WEBHOOK_SECRET=... govern serve --port 8765 --state /var/lib/govern \\
          --policy govern.yaml --tracking-uri http://mlflow:5000 --signing-key auditor.key
    """
    from govern.config.policy import load_policy
    from govern.events.app import serve
    from govern.events.worker import Settings
    from govern.redact import register_secret
    from govern.registry.client import default_tracking_uri, quiet_mlflow

    if not secret:
        raise UsageError(
            "no webhook secret: set $GOVERN_WEBHOOK_SECRET (or --secret) to the secret MLflow "
            "signs deliveries with"
        )
    register_secret(secret)
    policy = load_policy(policy_path)
    key = _checked_key(signing_key)
    quiet_mlflow()
    settings = Settings(policy, tracking_uri or default_tracking_uri(), key, model_env_manager)
    serve(
        settings,
        state_dir,
        secret,
        host=host,
        port=port,
        log_format=log_format,
        max_backoff=max_backoff,
    )


@main.command("reconcile")
@click.option(
    "--since",
    metavar="DURATION",
    help="Also look this far back (24h, 7d, 30m). Default: from the last event govern serve "
    "processed (with --state), else 24h.",
)
@click.option(
    "--state",
    "state_dir",
    type=click.Path(file_okay=False, path_type=Path),
    metavar="DIR",
    help="govern serve's state folder: the window starts at the last event it processed.",
)
@signing_key_option
@format_option(RUN_FORMATS, "What to print on stdout about the versions audited.")
@policy_option
@tracking_option
@handle_errors
def reconcile_cmd(
    since: str | None,
    state_dir: Path | None,
    signing_key: Path | None,
    fmt: str,
    policy_path: Path | None,
    tracking_uri: str | None,
) -> None:
    """Audit every version created or aliased since the last processed event with no audit.

    The backstop for webhook deliveries MLflow gave up on (it retries a few times and keeps no
    queue). Every version an alias points at is in scope too, since MLflow records no time for
    an alias move. Then every alias in the policy's protected_aliases is judged as govern serve
    would: one on a version without a verified passing audit is moved back or removed, with an
    incident. Exit codes as govern audit (1 also when an alias had to be moved); 0 when there
    was nothing to do.

    \b
    Examples:
      govern reconcile --state /var/lib/govern --policy govern.yaml
      govern reconcile --since 7d --tracking-uri http://mlflow:5000
    """
    from govern.config.policy import load_policy
    from govern.events.queue import last_processed_at
    from govern.events.reconcile import parse_duration, select, window_start
    from govern.pipeline.audit import audit_and_write

    since_seconds = parse_duration(since) if since is not None else None
    policy = load_policy(policy_path)
    key = _checked_key(signing_key)
    registry = _registry(tracking_uri)
    last = last_processed_at(state_dir) if state_dir is not None else None
    start, source = window_start(last, since_seconds)
    selection = select(registry, start, source)
    from datetime import UTC, datetime

    shown = datetime.fromtimestamp(start, UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
    if not selection.to_audit:
        _say(
            f"nothing to audit: {selection.checked} version(s) created since {shown} "
            f"({source}) or aliased, all with an audit record"
        )
        sys.exit(max(EXIT_PASS, _guard_aliases(registry, policy, key, state_dir)))
    _say(
        f"reconciling {len(selection.to_audit)} version(s) without an audit record, of "
        f"{selection.checked} created since {shown} ({source}) or aliased: "
        + ", ".join(v.ref for v in selection.to_audit[:20])
        + (" ..." if len(selection.to_audit) > 20 else "")
    )
    run = audit_and_write(
        registry,
        policy,
        list(selection.to_audit),
        _outputs(None, None, None, False, "A4"),
        write=True,
        reuse=True,
        progress=_Progress(),
        signing_key=key,
    )
    _emit(run, fmt)
    code = _exit_code(run)
    guarded = _guard_aliases(registry, policy, key, state_dir)
    sys.exit(code if code != EXIT_PASS else guarded)


def _guard_aliases(
    registry: Registry, policy: Policy, key: str | None, state_dir: Path | None
) -> int:
    """Judge every protected alias as govern serve would (after the audits, so a version just
    audited is judged on its audit); 1 when one had to be moved back or removed."""
    if not policy.protected_aliases:
        return EXIT_PASS
    from govern.events.queue import Queue
    from govern.events.worker import Handlers, Settings

    queue = Queue(state_dir) if state_dir is not None else None
    try:
        handlers = Handlers(Settings(policy, registry.uri, key), queue, registry)
        outcomes = handlers.guard_all()
    finally:
        if queue is not None:
            queue.close()
    incidents = [h for h in outcomes if h.counter == "incidents"]
    for handled in outcomes:
        _say(f"{handled.model}: {handled.outcome}")
    return EXIT_VIOLATION if incidents else EXIT_PASS


# --- end of events ---------------------------------------------------------------------------
