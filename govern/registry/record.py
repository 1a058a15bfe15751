"""The audit record in the registry: a run in the audit experiment, then the version's record.

The training run is never touched. The run carries the evidence (``results.json`` and the report
as artifacts, disparities as metrics); the version's ``govern.audit`` tag points at it and is
written last, in one call, so a version never shows a verdict without the evidence behind it nor
a verdict beside another audit's run id (``govern.model.record``).
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from govern import __version__
from govern.model.record import AuditRecord, parse_record, proof_detail
from govern.model.results import HistoryEntry, VersionResult
from govern.registry.client import READY, Registry, VersionInfo

TAG_RECORD = "govern.audit"
"""The version's one record tag: status, date, audit run, policy and proof, as JSON."""
TAG_POLICY_SHA = "govern.policy_sha256"
ATTESTATION_ARTIFACT = "attestation.intoto.json"
"""The DSSE envelope of the audit, an artifact of its run."""
PROMOTION_ARTIFACT = "promotion.intoto.json"
"""The DSSE envelope of an alias move govern made, an artifact of the audit run that allowed it."""
INCIDENT_ARTIFACT = "incident.intoto.json"
"""The DSSE envelope of an incident (a protected alias found on a version without a verified
passing audit), an artifact of its own run (``govern.kind = incident``)."""
RECORD_ARTIFACTS = {
    ATTESTATION_ARTIFACT: "audit",
    PROMOTION_ARTIFACT: "promotion",
    INCIDENT_ARTIFACT: "incident",
}
TAG_FINGERPRINT = "govern.fingerprint"
TAG_TRAINING_SHA = "govern.training_sha256"
"""On each audit run: the full SHA-256 of the training data it read. The earliest one recorded
for a version is its pin (trust on first use)."""
TAG_EVALUATION_SHA = "govern.evaluation_sha256"
TAG_TRAINING_ROWS = "govern.training_row_fingerprint"
"""On an audit run by the Spark engine: the row fingerprint it measured; pinned with the hash."""
TAG_EVALUATION_ROWS = "govern.evaluation_row_fingerprint"
RUN_TAG_MODEL = "govern.model"
RUN_TAG_VERSION = "govern.version"
RUN_TAG_VERDICT = "govern.verdict"
RUN_TAG_KIND = "govern.kind"
"""Set on runs that are not audits (``review``, ``incident``); an audit run has none."""
KIND_INCIDENT = "incident"


def _quoted(value: str) -> str:
    """A value inside an MLflow search filter, quotes and backslashes escaped."""
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def iso_ms(ms: int | None) -> str | None:
    """An MLflow timestamp (milliseconds) as the ISO text govern writes everywhere."""
    if not ms:
        return None
    return (
        datetime.fromtimestamp(ms / 1000, UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
    )


def record_audit(
    registry: Registry,
    experiment: str,
    policy_sha256: str,
    result: VersionResult,
    report_html: str,
    results_json: str,
) -> str:
    """Record the audit as a run in the audit experiment, then write the version's record."""
    run_id = start_audit_run(registry, experiment, policy_sha256, result)
    finish_audit_run(registry, run_id, policy_sha256, result, report_html, results_json)
    return run_id


def start_audit_run(
    registry: Registry, experiment: str, policy_sha256: str, result: VersionResult
) -> str:
    """Create the audit run, so its id can be part of what the attestation signs."""
    client = registry.client
    experiment_id = registry.audit_experiment_id(experiment)
    run = registry.call(
        "creating the audit run",
        client.create_run,
        experiment_id,
        run_name=f"{result.model}-v{result.version}"[:250],
        tags={
            RUN_TAG_MODEL: result.model,
            RUN_TAG_VERSION: result.version,
            RUN_TAG_VERDICT: result.verdict,
            TAG_POLICY_SHA: policy_sha256,
            "govern.training_run_id": result.run_id or "",
            TAG_TRAINING_SHA: (result.training_data.sha256 if result.training_data else "") or "",
            TAG_EVALUATION_SHA: (result.evaluation_data.sha256 if result.evaluation_data else "")
            or "",
            TAG_TRAINING_ROWS: (
                result.training_data.row_fingerprint if result.training_data else ""
            )
            or "",
            TAG_EVALUATION_ROWS: (
                result.evaluation_data.row_fingerprint if result.evaluation_data else ""
            )
            or "",
            "govern.version_tag": __version__,
            TAG_FINGERPRINT: str(result.metadata.get("fingerprint") or ""),
            # a pass that rests on waivers says so wherever the run is listed
            "govern.waivers": ",".join(w.id for w in result.waivers)[:5000],
        },
    )
    return str(run.info.run_id)


def finish_audit_run(
    registry: Registry,
    run_id: str,
    policy_sha256: str,
    result: VersionResult,
    report_html: str,
    results_json: str,
) -> None:
    """Upload the evidence (results, report, attestation), then write the version's record.

    The record goes last, in one tag: if anything before it fails, the version keeps its previous
    complete record (or none) and the half-written run is marked FAILED. The training run is
    never touched.
    """
    try:
        _log_evidence(registry, run_id, result, report_html, results_json)
    except BaseException:
        with contextlib.suppress(Exception):
            registry.client.set_terminated(run_id, "FAILED")
        raise
    record = record_of(result, run_id, policy_sha256)
    info = VersionInfo(result.model, result.version, (), None, "", READY)
    if record.attestation_sha256:
        # The chain's head first: if the record tag then fails, the chain still holds this
        # signed audit, and the version keeps its previous record.
        set_chain_head(registry, info, record.attestation_sha256, "audit", run_id)
    registry.set_version_tags(info, {TAG_RECORD: record.to_tag()})


TAG_HEAD = "govern.head"
"""The version's newest govern record of any kind (audit, review, promotion): ``{"sha256",
"kind", "run_id"}``. Each new record names this one as ``previous_record``: the chain that
``govern verify`` and ``govern history`` walk back."""


def chain_head(tags: Mapping[str, str]) -> dict[str, str] | None:
    """The version's newest record, ``None`` before the first or when the tag is unreadable."""
    text = tags.get(TAG_HEAD)
    if not text:
        return None
    try:
        head = json.loads(text)
    except ValueError:
        return None
    if not isinstance(head, dict) or not isinstance(head.get("sha256"), str):
        return None
    return {k: str(v) for k, v in head.items()}


def set_chain_head(
    registry: Registry, info: VersionInfo, sha256: str, kind: str, run_id: str
) -> None:
    value = json.dumps({"sha256": sha256, "kind": kind, "run_id": run_id}, sort_keys=True)
    registry.set_version_tags(info, {TAG_HEAD: value})


def _log_evidence(
    registry: Registry, run_id: str, result: VersionResult, report_html: str, results_json: str
) -> None:
    from mlflow.entities import Metric

    client = registry.client
    now_ms = int(datetime.now(UTC).timestamp() * 1000)
    metrics = []
    if result.fairness:
        for name, value in result.fairness.disparities.items():
            if value is not None:
                metrics.append(Metric(name, float(value), now_ms, 0))
    counts = {
        s: sum(1 for c in result.checks if c.status == s)
        for s in ("pass", "fail", "error", "waived")
    }
    metrics.extend(Metric(f"checks_{s}", float(n), now_ms, 0) for s, n in counts.items())
    registry.call("logging audit metrics", client.log_batch, run_id, metrics=metrics)
    registry.call("uploading results.json", client.log_text, run_id, results_json, "results.json")
    registry.call("uploading report.html", client.log_text, run_id, report_html, "report.html")
    if result.attestation:
        log_signed_record(registry, run_id, ATTESTATION_ARTIFACT, result.attestation["envelope"])
    registry.call("finishing the audit run", client.set_terminated, run_id, "FINISHED")


def record_of(result: VersionResult, run_id: str, policy_sha256: str) -> AuditRecord:
    """The version's record of this audit; the proof as its report states it."""
    data = result.training_data
    proof = data.proof if data else None
    pinned_at = (data.pinned.get("pinned_at") if data else None) or result.finished_at
    attestation = result.attestation or {}
    keyids = attestation.get("keyids") or ()
    return AuditRecord(
        attestation_sha256=attestation.get("envelope_sha256"),
        keyid=keyids[0] if keyids else None,
        status=result.verdict,
        audited_at=result.finished_at,
        audit_run_id=run_id,
        policy_sha256=policy_sha256,
        proof=proof,
        proof_detail=proof_detail(proof, pinned_at, data.digest_columns if data else ()),
        govern_version=__version__,
    )


def read_record(tags: Mapping[str, str]) -> AuditRecord | None:
    """The version's last record; ``None`` before its first audit. A tag that is not a record
    raises RecordError: it is shown as unreadable, never read as a verdict."""
    text = tags.get(TAG_RECORD)
    if text is None:
        return None
    return parse_record(text)


def _version_runs(
    registry: Registry,
    experiment: str,
    model: str,
    version: str,
    *,
    what: str,
    order: str,
    limit: int,
    with_tag: str | None = None,
    kind: str | None = None,
    any_kind: bool = False,
) -> list[Any]:
    """Audit runs of one version in the audit experiment (``[]`` before the first audit),
    ``order`` by start time, optionally only those where ``with_tag`` is set and non-empty, or
    (``kind``) only govern's runs of that kind (``review``); ``any_kind``: runs of every kind."""
    client = registry.client
    experiment_id = registry.experiment_id(experiment)
    if experiment_id is None:
        return []
    condition = (
        f"tags.`{RUN_TAG_MODEL}` = {_quoted(model)} and tags.`{RUN_TAG_VERSION}` = "
        f"{_quoted(version)}"
    )
    if with_tag is not None:
        condition += f" and tags.`{with_tag}` != ''"
    if kind is not None:
        condition += f" and tags.`{RUN_TAG_KIND}` = {_quoted(kind)}"
    runs = registry.call(
        what,
        client.search_runs,
        [experiment_id],
        filter_string=condition,
        order_by=[f"attributes.start_time {order}"],
        max_results=limit,
    )
    # The filter is MLflow's; the exact match is checked here too, so a name that the filter
    # syntax reads differently can never borrow another version's records.
    return [
        run
        for run in runs
        if run.data.tags.get(RUN_TAG_MODEL) == model
        and run.data.tags.get(RUN_TAG_VERSION) == version
        and (any_kind or run.data.tags.get(RUN_TAG_KIND) == kind)
    ]


def audit_history(
    registry: Registry, experiment: str, model: str, version: str, limit: int = 20
) -> tuple[HistoryEntry, ...]:
    """Earlier audits of this version from the audit experiment, newest first.

    History is context for a reviewer, not evidence for the verdict: if it cannot be read the
    report says so and the audit goes on.
    """
    runs = _version_runs(
        registry,
        experiment,
        model,
        version,
        what=f"reading audit history of {model}/{version}",
        order="DESC",
        limit=limit,
    )
    return tuple(
        HistoryEntry(
            audit_run_id=run.info.run_id,
            audited_at=iso_ms(run.info.start_time) or "",
            verdict=run.data.tags.get(RUN_TAG_VERDICT, ""),
            policy_sha256=run.data.tags.get(TAG_POLICY_SHA),
            disparities={
                k: float(v) for k, v in run.data.metrics.items() if not k.startswith("checks_")
            },
        )
        for run in runs
    )


def record_promotion(
    registry: Registry, audit_run_id: str, alias: str, before: str | None, after: str | None
) -> None:
    """Write on the audit run where the alias pointed before the gate and where it points now,
    as read back from the registry (another promotion may have won)."""
    for key, value in (
        ("govern.promote_to", alias),
        ("govern.alias_before", before or ""),
        ("govern.alias_after", after or ""),
    ):
        registry.call("recording the promotion", registry.client.set_tag, audit_run_id, key, value)


def earliest_pins(
    registry: Registry, experiment: str, model: str, version: str
) -> dict[str, dict[str, str]]:
    """The full data hashes pinned by the earliest recorded audits of this version.

    ``{"training": {...}, "evaluation": {...}}``, each ``{sha256, pinned_at, audit_run_id}``
    (and ``row_fingerprint`` when that audit ran on Spark), a key absent when no recorded audit
    carries that hash. Every later audit is compared with
    the pin, like SSH's known_hosts: the first recorded audit vouches for the data, and a change
    after it cannot pass.
    """
    pins: dict[str, dict[str, str]] = {}
    tags = (
        ("training", TAG_TRAINING_SHA, TAG_TRAINING_ROWS),
        ("evaluation", TAG_EVALUATION_SHA, TAG_EVALUATION_ROWS),
    )
    for key, tag, rows_tag in tags:
        earliest = _version_runs(
            registry,
            experiment,
            model,
            version,
            what=f"reading the pinned data hashes of {model}/{version}",
            order="ASC",
            limit=1,
            with_tag=tag,
        )
        if earliest:
            run = earliest[0]
            pins[key] = {
                "sha256": run.data.tags[tag],
                "pinned_at": iso_ms(run.info.start_time) or "",
                "audit_run_id": run.info.run_id,
            }
            if run.data.tags.get(rows_tag):
                pins[key]["row_fingerprint"] = run.data.tags[rows_tag]
    return pins


def log_signed_record(
    registry: Registry, run_id: str, artifact: str, envelope: Mapping[str, Any]
) -> None:
    """Upload a signed record (audit, promotion, review) as an artifact of a govern run."""
    registry.call(
        f"uploading {artifact}",
        registry.client.log_text,
        run_id,
        json.dumps(envelope, indent=2),
        artifact,
    )


def version_runs(
    registry: Registry, experiment: str, model: str, version: str, limit: int = 1000
) -> list[Any]:
    """Every govern run of one version (audits, reviews), oldest first."""
    return _version_runs(
        registry,
        experiment,
        model,
        version,
        what=f"reading the records of {model}/{version}",
        order="ASC",
        limit=limit,
        any_kind=True,
    )


def record_incident(
    registry: Registry,
    experiment: str,
    info: VersionInfo,
    envelope: Mapping[str, Any],
    envelope_sha256: str,
    summary: Mapping[str, str],
) -> str:
    """The incident run with its signed envelope, then the version's chain head.

    Like a review, an incident is a run of its own in the audit experiment, so that it joins
    the version's chain without touching the audit run it may name. ``summary``: alias,
    action, reason (short, for people browsing the runs; the envelope is the evidence).
    """
    client = registry.client
    experiment_id = registry.audit_experiment_id(experiment)
    run = registry.call(
        "creating the incident run",
        client.create_run,
        experiment_id,
        run_name=f"incident-{info.model}-v{info.version}-{summary['alias']}"[:250],
        tags={
            RUN_TAG_MODEL: info.model,
            RUN_TAG_VERSION: info.version,
            RUN_TAG_KIND: KIND_INCIDENT,
            "govern.incident.alias": summary["alias"],
            "govern.incident.action": summary["action"],
            "govern.incident.reason": summary["reason"][:5000],
            "govern.version_tag": __version__,
        },
    )
    run_id = str(run.info.run_id)
    try:
        log_signed_record(registry, run_id, INCIDENT_ARTIFACT, envelope)
        registry.call("finishing the incident run", client.set_terminated, run_id, "FINISHED")
    except BaseException:
        with contextlib.suppress(Exception):
            client.set_terminated(run_id, "FAILED")
        raise
    set_chain_head(registry, info, envelope_sha256, KIND_INCIDENT, run_id)
    return run_id
