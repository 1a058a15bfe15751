"""Promotion gate: audit exactly one version and move an alias only if every check passed.

The alias is the last thing written. Before moving it the gate re-reads the version and refuses if
it changed status since the audit; it then reads the alias back so the record shows where it
really points, not where govern meant it to point.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

from govern import __version__
from govern.config.policy import Policy
from govern.config.selectors import Selector, validate_promotion
from govern.errors import UsageError
from govern.model.results import AuditRun, VersionResult
from govern.pipeline.attestation import attest
from govern.pipeline.audit import audit, environment
from govern.pipeline.review import review_requirement
from govern.pipeline.runner import Progress, shielded
from govern.pipeline.version import check, utcnow
from govern.registry.client import READY, Registry, VersionInfo
from govern.registry.record import (
    PROMOTION_ARTIFACT,
    chain_head,
    log_signed_record,
    read_record,
    record_promotion,
    set_chain_head,
)
from govern.registry.spark_session import SparkSettings
from govern.render.charts import reuse_drawings
from govern.render.outputs import OutputRequest, write_requested

REVIEW_CHECK = "review.required"


@dataclass(frozen=True)
class GateResult:
    run: AuditRun
    promote_to: str | None
    alias_before: str | None
    """Version the alias pointed at before the gate, ``None`` if unset."""
    alias_after: str | None
    promoted: bool
    message: str
    """One line saying what happened to the alias, for stderr and the record."""

    @property
    def verdict(self) -> str:
        return self.run.verdict


def gate(
    registry: Registry,
    policy: Policy,
    selector: Selector,
    *,
    promote_to: str | None = None,
    write: bool = True,
    load_model: bool = True,
    templates: Path | None = None,
    progress: Progress | None = None,
    timeout: float | None = None,
    outputs: OutputRequest | None = None,
    signing_key: str | None = None,
    env_manager: str = "local",
    engine: str = "auto",
    spark: SparkSettings | None = None,
) -> GateResult:
    """Audit the one version ``selector`` names; move ``promote_to`` only if it passed.

    With ``outputs`` the requested files are written too (checked before any work), and the
    report recorded in the registry and the one written to a folder share their charts.
    ``env_manager`` says where the model predicts (``govern.pipeline.sandbox``).
    """
    if outputs is not None:
        outputs.check()
    with reuse_drawings():
        result = _gate(
            registry,
            policy,
            selector,
            promote_to=promote_to,
            write=write,
            load_model=load_model,
            templates=outputs.templates if outputs is not None else templates,
            progress=progress,
            timeout=timeout,
            signing_key=signing_key,
            env_manager=env_manager,
            engine=engine,
            spark=spark,
        )
        if outputs is None:
            return result
        say = (lambda message: progress(message, False)) if progress else None
        return replace(result, run=write_requested(result.run, outputs, say=say))


def _gate(
    registry: Registry,
    policy: Policy,
    selector: Selector,
    *,
    promote_to: str | None,
    write: bool,
    load_model: bool,
    templates: Path | None,
    progress: Progress | None,
    timeout: float | None,
    signing_key: str | None,
    env_manager: str,
    engine: str = "auto",
    spark: SparkSettings | None = None,
) -> GateResult:
    if not selector.single:
        raise UsageError(
            f"gate audits exactly one version: use {selector.name}/VERSION or "
            f"{selector.name}@ALIAS, not '{selector}'"
        )
    validate_promotion(promote_to, write=write)
    versions = registry.resolve([selector])
    info = versions[0]
    before = registry.alias_target(info.model, promote_to) if promote_to else None
    run = audit(
        registry,
        policy,
        [info],
        write=write,
        load_model=load_model,
        templates=templates,
        progress=progress,
        timeout=timeout,
        signing_key=signing_key,
        env_manager=env_manager,
        engine=engine,
        spark=spark,
    )
    result = run.versions[0]
    if promote_to is None:
        return GateResult(run, None, None, None, False, f"{info.ref}: {result.verdict}")
    if result.verdict == "pass" and policy.review is not None:
        needed = ", ".join(f"{r.role} x{r.count}" for r in policy.review.required)
        run = _require_reviews(registry, policy, info, run, signing_key, needed)
        result = run.versions[0]
    refusal = None
    if any(c.id == REVIEW_CHECK and c.status == "fail" for c in result.checks):
        missing = next(c.summary for c in result.checks if c.id == REVIEW_CHECK)
        refusal = f"{missing} (it stays on {_show(before)})"
    elif result.verdict != "pass":
        refusal = f"{info.ref} did not pass (it stays on {_show(before)})"
    else:
        current = registry.version(info.model, info.version)
        if current.status != READY:
            refusal = f"{info.ref} is now {current.status}"
    if refusal is not None:
        return GateResult(
            run, promote_to, before, before, False, f"alias '{promote_to}' not moved: {refusal}"
        )
    registry.set_alias(info, promote_to)
    after = registry.alias_target(info.model, promote_to)
    audit_run_id = result.metadata.get("audit_run_id")
    if audit_run_id:
        record_promotion(registry, str(audit_run_id), promote_to, before, after)
    promoted = after == info.version
    if audit_run_id and result.attestation:
        with shielded():
            _sign_promotion(
                registry, info, result, str(audit_run_id), promote_to, before, after, signing_key
            )
    message = (
        f"alias '{promote_to}' moved from {_show(before)} to version {info.version}"
        if promoted
        else f"alias '{promote_to}' now points at {_show(after)}, not {info.version}: "
        "another promotion won"
    )
    return GateResult(run, promote_to, before, after, promoted, message)


def _sign_promotion(
    registry: Registry,
    info: VersionInfo,
    result: VersionResult,
    audit_run_id: str,
    alias: str,
    before: str | None,
    after: str | None,
    signing_key: str | None,
) -> None:
    """The alias move as a signed record in the version's chain, bound to the audit that
    allowed it: ``govern history`` tells these moves from ones govern did not make."""
    from govern.attest.statement import (
        build_promotion_statement,
        envelope_digest,
        make_envelope,
    )
    from govern.pipeline.attestation import signer_for

    # Bound to the audit as recorded in the registry (the gate's own results may have been
    # attested again with its review check).
    tags = registry.version(info.model, info.version).tags
    record = read_record(tags)
    if record is None or not record.attestation_sha256 or record.audit_run_id != audit_run_id:
        return
    audit_sha = record.attestation_sha256
    head = chain_head(tags)
    statement = build_promotion_statement(
        info.model,
        info.version,
        audit_sha,
        result.metadata.get("model_artifact_sha256"),
        {
            "model": info.model,
            "version": info.version,
            "alias": alias,
            "alias_before": before,
            "alias_after": after,
            "audit_attestation_sha256": audit_sha,
            "audit_run_id": audit_run_id,
            "promoted_at": utcnow(),
            "govern_version": __version__,
            "previous_record": head["sha256"] if head else audit_sha,
        },
    )
    envelope = make_envelope(statement, signer_for(signing_key))
    log_signed_record(registry, audit_run_id, PROMOTION_ARTIFACT, envelope)
    set_chain_head(registry, info, envelope_digest(envelope), "promotion", audit_run_id)


def _require_reviews(
    registry: Registry,
    policy: Policy,
    info: VersionInfo,
    run: AuditRun,
    signing_key: str | None,
    needed: str,
) -> AuditRun:
    """The run with a ``review.required`` check: pass when the policy's sign-offs exist for the
    files, data and policy this audit attested, fail (naming each missing role) otherwise.

    The audit recorded in the registry is the audit alone; the gate's own results carry the
    check, attested again so that its results.json still verifies.
    """
    result = run.versions[0]
    envelope = (result.attestation or {}).get("envelope")
    if not envelope:
        missing: str | None = "review required: the audit has no attestation to bind reviews to"
    else:
        missing = review_requirement(registry, policy, info, envelope)
    checked = check(
        REVIEW_CHECK,
        "review",
        "fail" if missing else "pass",
        missing or f"required sign-offs present: {needed}",
        threshold=needed,
    )
    current = registry.version(info.model, info.version)
    updated = attest(
        replace(result, checks=(*result.checks, checked)),
        policy,
        signing_key,
        libraries=environment(),
        signed_at=utcnow(),
        info=current,
    )
    return replace(run, versions=(updated, *run.versions[1:]))


def _show(version: str | None) -> str:
    return f"version {version}" if version else "no version (unset)"
