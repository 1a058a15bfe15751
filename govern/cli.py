"""The ``govern`` command line: parse options, call the library, map errors to exit codes.

Nothing heavy is imported at module level (mlflow, Great Expectations and fairlearn each take
seconds), so ``govern --help`` answers at once; commands import what they use.
"""

from __future__ import annotations

import contextlib
import functools
import json
import os
import sys
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click

from govern import __version__
from govern.errors import EXIT_INFRA, EXIT_PASS, EXIT_VIOLATION, GovernError
from govern.redact import scrub

if TYPE_CHECKING:
    from govern.model.results import AuditRun
    from govern.registry.client import Registry

F = TypeVar("F", bound=Callable[..., Any])

EXIT_BY_VERDICT = {"pass": EXIT_PASS, "fail": EXIT_VIOLATION, "error": EXIT_INFRA}


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


def handle_errors(fn: F) -> F:
    """Turn every failure into one scrubbed line on stderr and the documented exit code."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        _STDOUT.append(sys.stdout)
        try:
            # Libraries print progress and URLs to stdout; only govern's output may go there.
            with contextlib.redirect_stdout(sys.stderr):
                return fn(*args, **kwargs)
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
        finally:
            _STDOUT.pop()

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


def _write_pdfs(run: AuditRun, out: Path, paper: str) -> None:
    from govern.render.pdf import write_pdfs

    written = write_pdfs(run, out, paper=paper)
    _say(f"{len(written)} PDF report(s) written under {out}")


def run_options(fn: F) -> F:
    """Options shared by audit and gate."""
    for option in reversed(
        [
            policy_option,
            click.option(
                "--out",
                type=click.Path(path_type=Path),
                help="Write results.json, index.html and one HTML report per version here.",
            ),
            click.option(
                "--format",
                "fmt",
                type=click.Choice(["table", "json", "markdown"]),
                default="table",
                show_default=True,
                help="What to print on stdout; markdown suits $GITHUB_STEP_SUMMARY.",
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
        ]
    ):
        fn = option(fn)
    return fn


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
                2 usage or policy error, 3 registry, data or internal error.
    """
    ctx.ensure_object(dict)
    ctx.obj["debug"] = debug
    if not debug:
        import warnings

        # Library deprecation and schema hints are for developers, not for a CI log.
        warnings.filterwarnings("ignore")


def _registry(tracking_uri: str | None) -> Registry:
    from govern.registry.client import Registry

    registry = Registry(tracking_uri)
    registry.ping()
    return registry


def _selectors(selectors: tuple[str, ...]) -> list[Any]:
    from govern.config.selectors import parse_selector

    return [parse_selector(s) for s in selectors]


@main.command()
@click.argument("selectors", nargs=-1, metavar="[SELECTOR]...")
@click.option("--all", "all_models", is_flag=True, help="Every registered model.")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["table", "json"]),
    default="table",
    show_default=True,
    help="Output format on stdout.",
)
@tracking_option
@handle_errors
def scan(selectors: tuple[str, ...], all_models: bool, fmt: str, tracking_uri: str | None) -> None:
    """List model versions with their lineage and last governance status.

    Reads every page of the registry. For each version: aliases, run id, the training dataset
    found through lineage (name, source, digest) and the status govern last recorded on it.

    \b
    Examples:
      govern scan --all
      govern scan credit-risk --format json
    """
    from govern.pipeline.scan import scan_versions

    registry = _registry(tracking_uri)
    versions = registry.resolve(_selectors(selectors), all_models=all_models or not selectors)
    rows = scan_versions(registry, versions)
    if fmt == "json":
        _out(json.dumps([r.to_dict() for r in rows], indent=2, ensure_ascii=False))
        return
    from govern.render.table import render_table

    _out(
        render_table(
            ["MODEL", "VERSION", "ALIASES", "RUN", "TRAINING DATA", "DIGEST", "STATUS"],
            [
                [
                    r.model,
                    r.version,
                    ",".join(r.aliases) or "-",
                    (r.run_id or "-")[:12],
                    r.dataset_label,
                    r.dataset_digest or "-",
                    r.status_label,
                ]
                for r in rows
            ],
        )
    )


def _emit(
    run: AuditRun,
    fmt: str,
    out: Path | None,
    templates: Path | None,
    junit: Path | None,
    pdf: bool = False,
    paper: str = "A4",
) -> AuditRun:
    if out is not None:
        from govern.render.html import write_outputs

        run = write_outputs(run, out, templates=templates)
        _say(f"report: {out / 'index.html'}")
        if pdf:
            _write_pdfs(run, out, paper)
    if junit is not None:
        from govern._io import atomic_write_text
        from govern.render.junit import render_junit

        atomic_write_text(junit, render_junit(run))
    if fmt == "markdown":
        from govern.render.markdown import render_summary

        _out(render_summary(run))
    elif fmt == "json":
        _out(json.dumps(run.to_dict(), indent=2, ensure_ascii=False, allow_nan=False))
    else:
        from govern.render.table import render_table

        rows = []
        for v in run.versions:
            bad = v.failing_checks()
            rows.append(
                [
                    v.model,
                    v.version,
                    v.verdict.upper(),
                    f"{len(v.checks) - len(bad)}/{len(v.checks)}",
                    bad[0].summary if bad else "",
                ]
            )
        _out(render_table(["MODEL", "VERSION", "VERDICT", "PASSED", "FIRST PROBLEM"], rows))
    counts = run.counts()
    _say(
        f"{len(run.versions)} version(s): {counts['pass']} passed, {counts['fail']} failed, "
        f"{counts['error']} error(s); verdict {run.verdict.upper()}"
    )
    return run


def _default_jobs(versions: int) -> int:
    """One process per CPU when there is enough work to pay for starting them (each worker
    imports mlflow and Great Expectations, several seconds); a few versions run serially."""
    cpus = os.cpu_count() or 1
    return cpus if versions >= 4 * cpus else 1


def _check_out(out: Path | None, pdf: bool = False) -> None:
    """Refuse an unusable --out (or --pdf without one) before spending minutes on an audit."""
    if pdf and out is None:
        raise click.UsageError("--pdf needs --out: the PDFs are written beside the HTML reports")
    if out is None:
        return
    from govern.errors import OutputError

    if out.exists() and not out.is_dir():
        raise OutputError(f"--out {out} is a file, not a folder")
    probe = out if out.exists() else next((p for p in out.parents if p.exists()), Path("."))
    if not os.access(probe, os.W_OK | os.X_OK):
        raise OutputError(f"--out {out}: folder {probe} is not writable")


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
@tracking_option
@handle_errors
def audit_cmd(
    selectors: tuple[str, ...],
    all_models: bool,
    latest: int | None,
    aliased_only: bool,
    jobs: int | None,
    force: bool,
    policy_path: Path | None,
    out: Path | None,
    fmt: str,
    junit: Path | None,
    no_write: bool,
    no_load_model: bool,
    templates: Path | None,
    pdf: bool,
    paper: str,
    timeout: float | None,
    tracking_uri: str | None,
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
    from govern.pipeline.audit import audit

    _check_out(out, pdf)
    policy = load_policy(policy_path)
    registry = _registry(tracking_uri)
    versions = registry.resolve(
        _selectors(selectors), all_models=all_models, latest=latest, aliased_only=aliased_only
    )
    run = audit(
        registry,
        policy,
        versions,
        write=not no_write,
        load_model=not no_load_model,
        templates=templates,
        progress=_Progress(),
        timeout=timeout,
        reuse=not force,
        jobs=jobs if jobs is not None else _default_jobs(len(versions)),
    )
    run = _emit(run, fmt, out, templates, junit, pdf, paper)
    sys.exit(EXIT_BY_VERDICT[run.verdict])


@main.command("gate")
@click.argument("selector", metavar="SELECTOR")
@click.option(
    "--promote-to",
    metavar="ALIAS",
    help="Move this alias to the version, only if every check passed.",
)
@run_options
@tracking_option
@handle_errors
def gate_cmd(
    selector: str,
    promote_to: str | None,
    policy_path: Path | None,
    out: Path | None,
    fmt: str,
    junit: Path | None,
    no_write: bool,
    no_load_model: bool,
    templates: Path | None,
    pdf: bool,
    paper: str,
    timeout: float | None,
    tracking_uri: str | None,
) -> None:
    """Audit exactly one version; with --promote-to, move an alias only if it passed.

    Exits 0 when the version passed (and the alias moved), 1 on a policy violation, 3 when a
    check could not run. The alias never moves on a failure or an error.

    \b
    Examples:
      govern gate credit-risk/7 --promote-to production
      govern gate models:/credit-risk@candidate --policy govern.yaml
    """
    from govern.config.policy import load_policy
    from govern.config.selectors import parse_selector, validate_alias
    from govern.pipeline.gate import gate

    if promote_to is not None and no_write:
        raise click.UsageError(
            "--promote-to and --no-write cannot be used together: a "
            "promotion must leave an audit record"
        )
    sel = parse_selector(selector)
    if promote_to is not None:
        validate_alias(promote_to)
    _check_out(out, pdf)
    policy = load_policy(policy_path)
    registry = _registry(tracking_uri)
    result = gate(
        registry,
        policy,
        sel,
        promote_to=promote_to,
        write=not no_write,
        load_model=not no_load_model,
        templates=templates,
        progress=_Progress(),
        timeout=timeout,
    )
    _emit(result.run, fmt, out, templates, junit, pdf, paper)
    _say(result.message)
    code = EXIT_BY_VERDICT[result.verdict]
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
    from govern.render.html import load_results, write_outputs

    _check_out(out)
    run = load_results(results)
    run = write_outputs(run, out, templates=templates)
    if pdf:
        _write_pdfs(run, out, paper)
    _out(str(out / "index.html"))


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
