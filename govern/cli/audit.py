"""The audit commands: scan the registry, audit versions, gate one version, re-render reports."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import click

from govern.cli.common import (
    _emit,
    _exit_code,
    _optional_policy,
    _out,
    _outputs,
    _Progress,
    _registry,
    _say,
    _selectors,
    handle_errors,
)
from govern.cli.options import (
    SCAN_FORMATS,
    RunArgs,
    format_option,
    paper_option,
    pdf_option,
    policy_option,
    run_options,
    tracking_option,
)
from govern.errors import EXIT_INFRA, EXIT_PASS, NotVerified


@click.command()
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


def _default_jobs(versions: int) -> int:
    """One process per CPU when there is enough work to pay for starting them (each worker
    imports mlflow and Great Expectations, several seconds); a few versions run serially."""
    cpus = os.cpu_count() or 1
    return cpus if versions >= 4 * cpus else 1


@click.command("audit")
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
      govern audit churn/4 --engine spark --spark-master spark://host:7077 --spark-predict cluster
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


@click.command("gate")
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
      SPARK_REMOTE=sc://spark:15002 govern gate churn/4 --engine spark --spark-predict cluster
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


@click.command("report")
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
