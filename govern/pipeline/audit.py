"""The library's front door for auditing: one version, many versions, or many versions and every
output a user asked for.

``audit_and_write`` is what the CLI, the demo and the bench scripts call, so a run from Python
produces exactly the evidence a run from the command line does.
"""

from __future__ import annotations

import platform
from collections.abc import Sequence
from dataclasses import replace
from importlib import metadata as importlib_metadata
from pathlib import Path
from typing import Any

from govern import __version__
from govern.config.policy import Policy
from govern.errors import GovernError
from govern.model.results import AuditRun, VersionResult
from govern.pipeline.attestation import attest
from govern.pipeline.runner import (
    AuditOptions,
    Executor,
    PoolExecutor,
    Progress,
    SerialExecutor,
    interrupt_at,
    run_versions,
    shielded,
)
from govern.pipeline.version import VersionAudit, check, error_result, utcnow
from govern.pipeline.waivers import unused_waivers
from govern.registry.client import Registry, VersionInfo, one_line
from govern.registry.record import audit_history, finish_audit_run, start_audit_run
from govern.registry.spark_session import SparkSettings
from govern.render.outputs import OutputRequest, results_json, write_requested

DEPENDENCIES = ("mlflow", "great-expectations", "fairlearn", "pandas", "scikit-learn", "jinja2")

__all__ = [
    "AuditOptions",
    "OutputRequest",
    "audit",
    "audit_and_write",
    "audit_one",
    "environment",
    "new_run",
]


def environment() -> dict[str, str]:
    """Versions of what produced the evidence, for the report and results.json."""
    env = {"python": platform.python_version(), "govern": __version__}
    for dist in DEPENDENCIES:
        try:
            env[dist] = importlib_metadata.version(dist)
        except importlib_metadata.PackageNotFoundError:
            env[dist] = "not installed"
    return env


def new_run(
    registry: Registry, policy: Policy, versions: Sequence[VersionResult], started: str
) -> AuditRun:
    return AuditRun(
        govern_version=__version__,
        started_at=started,
        finished_at=utcnow(),
        policy_sha256=policy.sha256,
        policy_path=policy.path,
        tracking_uri=registry.display_uri,
        versions=tuple(versions),
        policy_text=policy.text,
        environment=environment(),
        waivers_path=policy.waivers.path if policy.waivers else None,
        waivers_sha256=policy.waivers.sha256 if policy.waivers else None,
        unused_waivers=unused_waivers(policy.waivers, versions),
    )


def audit_one(
    registry: Registry,
    policy: Policy,
    info: VersionInfo,
    *,
    write: bool = True,
    load_model: bool = True,
    templates: Path | None = None,
    reuse: bool = False,
    options: AuditOptions | None = None,
    env_manager: str = "local",
) -> VersionResult:
    """Audit one version and, unless ``write`` is false, record the verdict.

    With ``reuse``, a version whose model files, training data, policy and govern version are
    unchanged since its last recorded pass or fail gets that recorded result back (marked in
    ``metadata.reused_from``) instead of a recomputation; nothing new is written for it.
    ``options`` gives them all at once (what the runner passes to workers). ``env_manager``
    says where the model predicts (``govern.pipeline.sandbox.MODEL_ENV_MANAGERS``).
    """
    options = options or AuditOptions(write, load_model, templates, reuse, env_manager=env_manager)
    try:
        result = VersionAudit(
            registry,
            policy,
            info,
            options.load_model,
            options.reuse,
            options.write,
            options.env_manager,
            options.engine,
            options.spark,
        ).run()
    except Exception as exc:  # a bug or fault in a step must still end as an error verdict
        why = exc if isinstance(exc, GovernError) else one_line(exc)
        result = error_result(
            info, check("audit.internal", "internal", "error", f"audit stopped: {why}")
        )
    try:
        history = audit_history(registry, policy.audit_experiment, info.model, info.version)
        result = replace(result, history=history)
    except GovernError as exc:
        result = replace(result, metadata={**result.metadata, "history_error": str(exc)})
    if policy.trust and policy.trust.reviewers:
        from govern.pipeline.review import review_summaries

        try:  # the report lists the sign-offs recorded so far; context, like history
            reviews = review_summaries(registry, policy, info)
            result = replace(result, metadata={**result.metadata, "reviews": reviews})
        except GovernError as exc:
            result = replace(result, metadata={**result.metadata, "reviews_error": str(exc)})
    libraries = environment()

    def attested(version: VersionResult) -> VersionResult:
        return attest(
            version,
            policy,
            options.signing_key,
            libraries=libraries,
            signed_at=utcnow(),
            info=info,
        )

    if not options.write or result.metadata.get("reused_from"):
        return attested(result)
    from govern.render.html import render_version_report

    try:
        with shielded():  # a record is written whole: the deadline waits for it
            run_id = start_audit_run(registry, policy.audit_experiment, policy.sha256, result)
            result = attested(replace(result, metadata={**result.metadata, "audit_run_id": run_id}))
            single = new_run(registry, policy, [result], result.started_at)
            html = render_version_report(result, single, templates=options.templates)
            payload = results_json(single)
            finish_audit_run(registry, run_id, policy.sha256, result, html, payload)
    except GovernError as exc:
        failed = replace(
            result,
            checks=(
                *result.checks,
                check("registry.record", "registry", "error", f"verdict not recorded: {exc}"),
            ),
        )
        return attested(failed)
    return result


def audit(
    registry: Registry,
    policy: Policy,
    versions: Sequence[VersionInfo],
    *,
    write: bool = True,
    load_model: bool = True,
    templates: Path | None = None,
    reuse: bool = False,
    progress: Progress | None = None,
    timeout: float | None = None,
    jobs: int = 1,
    signing_key: str | None = None,
    env_manager: str = "local",
    engine: str = "auto",
    spark: SparkSettings | None = None,
) -> AuditRun:
    """Audit versions; every version ends with a verdict, in input order.

    With ``timeout`` (seconds for the whole run) the version in progress is interrupted and the
    rest are reported as not audited. With ``jobs`` > 1 versions are audited by that many
    processes (this one and ``jobs - 1`` warm workers); the results are the same as with
    ``jobs=1``, in the same order.
    """
    from govern.pipeline.waivers import check_waiver_signatures

    check_waiver_signatures(policy)  # before any work: an unsigned waiver is a policy error
    if engine == "spark":  # known up front: expectations Spark cannot run are a policy error
        from govern.pipeline.spark_version import refuse_unsupported

        refuse_unsupported(policy)
    options = AuditOptions(
        write,
        load_model,
        templates,
        reuse,
        signing_key=signing_key,
        env_manager=env_manager,
        engine=engine,
        spark=spark,
    )
    started = utcnow()

    def one(info: VersionInfo) -> VersionResult:
        return audit_one(registry, policy, info, options=options)

    executor: Executor
    if jobs > 1 and len(versions) > 1:
        executor = PoolExecutor(
            min(jobs, len(versions)),
            one,
            _audit_in_worker,
            _init_worker,
            (registry.uri, policy, options),
        )
        if progress:
            progress(
                f"auditing {len(versions)} versions with {min(jobs, len(versions))} processes",
                False,
            )
    else:
        executor = SerialExecutor(one, progress)
    results = run_versions(versions, executor, registry, progress=progress, timeout=timeout)
    # Versions the run could not reach (deadline, registry gone) were never attested by a worker.
    libraries = environment()
    results = [
        r
        if r.attestation
        else attest(r, policy, signing_key, libraries=libraries, signed_at=utcnow())
        for r in results
    ]
    return new_run(registry, policy, results, started)


_WORKER: dict[str, Any] = {}


def _init_worker(uri: str, policy: Policy, options: AuditOptions) -> None:
    """Runs once per worker process: the environment, one registry connection.

    Anything a worker prints (a model's own ``print``) goes to stderr: stdout carries only the
    parent's requested output, the JSON a CI job parses.
    """
    import os
    import sys
    import warnings

    from govern.registry.client import quiet_mlflow

    os.dup2(2, 1)
    sys.stdout = sys.stderr
    warnings.filterwarnings("ignore")
    quiet_mlflow()
    _WORKER.update(registry=Registry(uri), policy=policy, options=options)


def _audit_in_worker(info: VersionInfo, deadline: float | None) -> VersionResult:
    with interrupt_at(deadline):
        return audit_one(_WORKER["registry"], _WORKER["policy"], info, options=_WORKER["options"])


def audit_and_write(
    registry: Registry,
    policy: Policy,
    versions: Sequence[VersionInfo],
    outputs: OutputRequest,
    *,
    write: bool = True,
    load_model: bool = True,
    reuse: bool = False,
    progress: Progress | None = None,
    timeout: float | None = None,
    jobs: int = 1,
    signing_key: str | None = None,
    env_manager: str = "local",
    engine: str = "auto",
    spark: SparkSettings | None = None,
) -> AuditRun:
    """Audit, then write every output ``outputs`` asks for; returns the run as written.

    The outputs are checked before the audit starts, so an unusable ``--out`` costs nothing.
    The reports recorded in the registry use the same templates as the ones written to ``out``.
    """
    from govern.render.charts import reuse_drawings

    outputs.check()
    say = (lambda message: progress(message, False)) if progress else None
    with reuse_drawings():
        run = audit(
            registry,
            policy,
            versions,
            write=write,
            load_model=load_model,
            templates=outputs.templates,
            reuse=reuse,
            progress=progress,
            timeout=timeout,
            jobs=jobs,
            signing_key=signing_key,
            env_manager=env_manager,
            engine=engine,
            spark=spark,
        )
        return write_requested(run, outputs, say=say)
