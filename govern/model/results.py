"""The result objects every output reads: JSON, HTML, the table, the gate and the registry tags.

One set of frozen dataclasses so that the report a reviewer signs, the JSON a machine reads and the
decision the gate takes can never disagree. ``to_dict`` produces the documented ``results.json``
contract; ``from_dict`` reads it back (``govern report`` re-renders from it).
"""

from __future__ import annotations

import math
import typing
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

SCHEMA_VERSION = 1

Status = Literal["pass", "fail", "error", "waived"]
"""What one check came to; an error is never a pass, and a waived check is a failure that an
approved, unexpired waiver accepts for now: never a pass either."""
Verdict = Literal["pass", "fail", "error"]
"""What one version or one run came to: waived checks do not fail a version, but they are listed
wherever its verdict is shown."""
CheckKind = Literal[
    "policy", "lineage", "integrity", "quality", "fairness", "registry", "review", "internal"
]
STATUSES: tuple[Status, ...] = typing.get_args(Status)
VERDICTS: tuple[Verdict, ...] = typing.get_args(Verdict)
KINDS: tuple[CheckKind, ...] = typing.get_args(CheckKind)


def jsonable(value: Any) -> Any:
    """Turn numpy scalars, tuples and non-finite floats into plain JSON values.

    GX and fairlearn hand back numpy types and NaN; JSON has neither, and a NaN written as ``NaN``
    makes ``results.json`` unreadable by strict parsers. Non-finite floats become ``None``.
    """
    if value is None or isinstance(value, bool | str):
        return value
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, Mapping):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        items = list(value)
        if isinstance(value, set | frozenset):
            items = sorted(items, key=repr)
        return [jsonable(v) for v in items]
    item = getattr(value, "item", None)  # numpy scalar
    if callable(item):
        try:
            return jsonable(item())
        except (TypeError, ValueError):
            pass
    tolist = getattr(value, "tolist", None)  # numpy array
    if callable(tolist):
        return jsonable(tolist())
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return str(value)


@dataclass(frozen=True)
class WaiverRef:
    """The waiver that accepted a failed check, as the evidence must show it: who asked, who
    approved, why, and until when (dates as ``YYYY-MM-DD``)."""

    id: str
    reason: str
    requested_by: str
    approved_by: str
    created: str
    expires: str
    ticket: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "reason": self.reason,
            "ticket": self.ticket,
            "requested_by": self.requested_by,
            "approved_by": self.approved_by,
            "created": self.created,
            "expires": self.expires,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> WaiverRef:
        return cls(
            id=data["id"],
            reason=data.get("reason", ""),
            requested_by=data.get("requested_by", ""),
            approved_by=data.get("approved_by", ""),
            created=str(data.get("created", "")),
            expires=str(data.get("expires", "")),
            ticket=data.get("ticket"),
        )


@dataclass(frozen=True)
class CheckResult:
    """One check of one version; the unit a verdict is made of."""

    id: str
    """Stable identifier, e.g. ``quality.expect_column_values_to_not_be_null.sex``."""
    kind: CheckKind
    """``lineage``, ``integrity``, ``quality``, ``fairness``; ``policy`` (no entry matched),
    ``registry`` (the verdict could not be recorded) and ``internal`` (a bug) are errors."""
    status: Status
    """``pass``, ``fail`` or ``error``; an error is never a pass."""
    summary: str
    """One line a reviewer can read without the details."""
    observed: Any = None
    """The measured value (JSON-able)."""
    threshold: Any = None
    """What the value was compared with (JSON-able), if anything."""
    details: Mapping[str, Any] = field(default_factory=dict)
    """Everything else: for quality checks ``expectation_type``, ``kwargs`` and GX's ``result``."""
    waiver: WaiverRef | None = None
    """The waiver that accepted this failure; set exactly when the status is ``waived``."""

    def __post_init__(self) -> None:
        if self.status not in STATUSES:
            raise ValueError(f"check {self.id}: unknown status {self.status!r}")
        if self.kind not in KINDS:
            raise ValueError(f"check {self.id}: unknown kind {self.kind!r}")
        if (self.status == "waived") != (self.waiver is not None):
            raise ValueError(f"check {self.id}: a waived check names its waiver, no other does")

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "kind": self.kind,
            "status": self.status,
            "summary": self.summary,
            "observed": jsonable(self.observed),
            "threshold": jsonable(self.threshold),
            "details": jsonable(self.details),
            "waiver": self.waiver.to_dict() if self.waiver else None,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> CheckResult:
        waiver = data.get("waiver")
        return cls(
            id=data["id"],
            kind=data["kind"],
            status=data["status"],
            summary=data["summary"],
            observed=data.get("observed"),
            threshold=data.get("threshold"),
            details=data.get("details") or {},
            waiver=WaiverRef.from_dict(waiver) if waiver else None,
        )


@dataclass(frozen=True)
class GroupMetrics:
    """One group of the sensitive features (their intersection when there are several)."""

    group: Mapping[str, str]
    """Feature name -> the group's value, as text."""
    count: int
    """Rows in the group."""
    positives: int
    """Rows whose true label is the positive label."""
    metrics: Mapping[str, float | None]
    """fairlearn metric name -> value; ``None`` where undefined (a TPR with no positive labels)."""
    flags: tuple[str, ...] = ()
    """Why the group cannot be trusted: ``below_min_group_size``, ``no_positive_labels``, ..."""
    metrics_ci: Mapping[str, tuple[float, float] | None] = field(default_factory=dict)
    """Metric name -> bootstrap confidence interval ``(low, high)``; ``None`` where the metric is
    undefined; empty when intervals were not computed (see ``FairnessResult.ci_note``)."""

    def to_dict(self) -> dict[str, Any]:
        return {
            "group": dict(self.group),
            "count": self.count,
            "positives": self.positives,
            "metrics": jsonable(self.metrics),
            "flags": list(self.flags),
            "metrics_ci": jsonable(self.metrics_ci),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> GroupMetrics:
        return cls(
            group=dict(data["group"]),
            count=int(data["count"]),
            positives=int(data.get("positives", 0)),
            metrics=dict(data.get("metrics") or {}),
            flags=tuple(data.get("flags") or ()),
            metrics_ci={
                str(k): None if v is None or None in v else (float(v[0]), float(v[1]))
                for k, v in (data.get("metrics_ci") or {}).items()
            },
        )


def group_key(group: Mapping[str, str]) -> str:
    """The label a reviewer reads for a group, and the key of ``by_group`` details."""
    return ", ".join(f"{feature}={value}" for feature, value in group.items())


@dataclass(frozen=True)
class FairnessResult:
    """Per-group metrics and disparities computed on the model's own predictions."""

    sensitive_features: tuple[str, ...]
    groups: tuple[GroupMetrics, ...]
    disparities: Mapping[str, float | None]
    """fairlearn disparity name -> value (``demographic_parity_ratio``, ...)."""
    min_group_size: int
    positive_label: Any = 1
    rows: int = 0
    disparities_ci: Mapping[str, tuple[float, float] | None] = field(default_factory=dict)
    """Disparity name -> bootstrap confidence interval ``(low, high)``; ``None`` where the
    disparity is undefined; empty when intervals were not computed."""
    ci_level: float | None = None
    """Confidence level of every interval (0.95), ``None`` when none were computed."""
    ci_note: str | None = None
    """For the report: how the intervals were computed, or why they were omitted."""
    data: Mapping[str, Any] = field(default_factory=dict)
    """The data the metrics were computed on: ``context``, ``name``, ``source``, ``sha256``,
    ``rows`` and ``in_sample`` (true when it is the data the model was fitted on, which hides
    overfitting: held-out evaluation data is used whenever the run logged it)."""

    @property
    def in_sample(self) -> bool:
        return bool(self.data.get("in_sample"))

    def to_dict(self) -> dict[str, Any]:
        return {
            "data": jsonable(self.data) if self.data else None,
            "sensitive_features": list(self.sensitive_features),
            "groups": [g.to_dict() for g in self.groups],
            "disparities": jsonable(self.disparities),
            "min_group_size": self.min_group_size,
            "positive_label": jsonable(self.positive_label),
            "rows": self.rows,
            "disparities_ci": jsonable(self.disparities_ci),
            "ci_level": jsonable(self.ci_level),
            "ci_note": self.ci_note,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> FairnessResult:
        level = data.get("ci_level")
        return cls(
            sensitive_features=tuple(data["sensitive_features"]),
            groups=tuple(GroupMetrics.from_dict(g) for g in data.get("groups") or ()),
            disparities=dict(data.get("disparities") or {}),
            min_group_size=int(data.get("min_group_size", 0)),
            positive_label=data.get("positive_label", 1),
            rows=int(data.get("rows", 0)),
            disparities_ci={
                str(k): None if v is None or None in v else (float(v[0]), float(v[1]))
                for k, v in (data.get("disparities_ci") or {}).items()
            },
            ci_level=None if level is None else float(level),
            ci_note=data.get("ci_note"),
            data=dict(data.get("data") or {}),
        )


@dataclass(frozen=True)
class TrainingData:
    """The dataset lineage led to, and what govern measured of it."""

    name: str
    source: str
    """Source URI with any credentials removed."""
    source_type: str
    mlflow_digest: str
    """The digest MLflow logged with the dataset input."""
    recomputed_digest: str | None = None
    """MLflow's digest recomputed on the loaded data (MLflow hashes only the first 10,000 rows)."""
    sha256: str | None = None
    """SHA-256 of the full data file(s) as loaded."""
    logged_sha256: str | None = None
    """The full-data SHA-256 recorded at training time by ``govern.track``, if any."""
    rows: int | None = None
    columns: tuple[str, ...] = ()
    dtypes: Mapping[str, str] = field(default_factory=dict)
    label: str | None = None
    positive_label: Any = None
    sensitive_features: tuple[str, ...] = ()
    missing: Mapping[str, int] = field(default_factory=dict)
    """Column -> number of missing values."""
    label_balance: Mapping[str, int] = field(default_factory=dict)
    """Label value (as text) -> rows; missing labels under ``(missing)``."""
    proof: str | None = None
    """The strongest proof that this is the data the model was trained on: ``training-hash``
    (a full SHA-256 recorded at training by ``govern.track``), ``pinned`` (the full SHA-256
    pinned at the first recorded audit, trust on first use) or ``mlflow-digest`` (only MLflow's
    digest of the first 10,000 rows of the columns in ``digest_columns``)."""
    pinned: Mapping[str, Any] = field(default_factory=dict)
    """The pin compared with: ``sha256``, ``pinned_at`` and ``audit_run_id`` of the earliest
    recorded audit; empty when this audit is the first (it pins the hash it measured)."""
    digest_columns: tuple[str, ...] = ()
    """The columns MLflow's digest covers (numbers and all-text columns; it skips booleans,
    categories, dates and text columns with missing values)."""
    manifest_sha256: str | None = None
    """The Spark engine's digest of the snapshot: SHA-256 of the canonical manifest of its files
    (path, size, SHA-256 of each; ``govern.registry.spark_integrity``). For one file it is the
    file's SHA-256. ``sha256`` holds the digest the proofs compared."""
    files: int | None = None
    """How many files the snapshot has (the manifest's entries)."""
    row_fingerprint: str | None = None
    """The Spark engine's order-independent fingerprint of the rows as read (two 64-bit sums of
    xxHash64 row hashes, 32 hex characters): detects accidental change, not a proof."""
    logged_row_fingerprint: str | None = None
    """The row fingerprint govern.track recorded at training, if any."""
    delta_version: int | None = None
    """The Delta table version read (time travel), for a Delta source."""

    def to_dict(self) -> dict[str, Any]:
        return {
            "manifest_sha256": self.manifest_sha256,
            "files": self.files,
            "row_fingerprint": self.row_fingerprint,
            "logged_row_fingerprint": self.logged_row_fingerprint,
            "delta_version": self.delta_version,
            "proof": self.proof,
            "pinned": dict(self.pinned) or None,
            "digest_columns": list(self.digest_columns),
            "name": self.name,
            "source": self.source,
            "source_type": self.source_type,
            "mlflow_digest": self.mlflow_digest,
            "recomputed_digest": self.recomputed_digest,
            "sha256": self.sha256,
            "logged_sha256": self.logged_sha256,
            "rows": self.rows,
            "columns": list(self.columns),
            "dtypes": dict(self.dtypes),
            "label": self.label,
            "positive_label": jsonable(self.positive_label),
            "sensitive_features": list(self.sensitive_features),
            "missing": dict(self.missing),
            "label_balance": dict(self.label_balance),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> TrainingData:
        return cls(
            name=data["name"],
            source=data["source"],
            source_type=data.get("source_type", ""),
            mlflow_digest=data.get("mlflow_digest", ""),
            recomputed_digest=data.get("recomputed_digest"),
            sha256=data.get("sha256"),
            logged_sha256=data.get("logged_sha256"),
            rows=data.get("rows"),
            columns=tuple(data.get("columns") or ()),
            dtypes=dict(data.get("dtypes") or {}),
            label=data.get("label"),
            positive_label=data.get("positive_label"),
            sensitive_features=tuple(data.get("sensitive_features") or ()),
            missing=dict(data.get("missing") or {}),
            label_balance=dict(data.get("label_balance") or {}),
            proof=data.get("proof"),
            pinned=dict(data.get("pinned") or {}),
            digest_columns=tuple(data.get("digest_columns") or ()),
            manifest_sha256=data.get("manifest_sha256"),
            files=data.get("files"),
            row_fingerprint=data.get("row_fingerprint"),
            logged_row_fingerprint=data.get("logged_row_fingerprint"),
            delta_version=data.get("delta_version"),
        )


@dataclass(frozen=True)
class RepresentationGroup:
    """How much of the training data one group is, and how often it carries the positive label."""

    group: Mapping[str, str]
    count: int
    share: float
    """Share of all rows."""
    positives: int | None
    """Rows with the positive label; ``None`` when the label is unusable."""
    positive_share: float | None
    below_min_group_size: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {
            "group": dict(self.group),
            "count": self.count,
            "share": jsonable(self.share),
            "positives": self.positives,
            "positive_share": jsonable(self.positive_share),
            "below_min_group_size": self.below_min_group_size,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> RepresentationGroup:
        return cls(
            group=dict(data["group"]),
            count=int(data["count"]),
            share=float(data.get("share") or 0.0),
            positives=data.get("positives"),
            positive_share=data.get("positive_share"),
            below_min_group_size=bool(data.get("below_min_group_size")),
        )


@dataclass(frozen=True)
class Representation:
    """Groups of one sensitive feature, or of the intersection of several."""

    features: tuple[str, ...]
    groups: tuple[RepresentationGroup, ...]
    min_group_size: int

    def to_dict(self) -> dict[str, Any]:
        return {
            "features": list(self.features),
            "groups": [g.to_dict() for g in self.groups],
            "min_group_size": self.min_group_size,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Representation:
        return cls(
            features=tuple(data["features"]),
            groups=tuple(RepresentationGroup.from_dict(g) for g in data.get("groups") or ()),
            min_group_size=int(data.get("min_group_size", 0)),
        )


@dataclass(frozen=True)
class HistoryEntry:
    """An earlier audit of the same version, read from the audit experiment."""

    audit_run_id: str
    audited_at: str
    verdict: str
    policy_sha256: str | None
    disparities: Mapping[str, float] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "audit_run_id": self.audit_run_id,
            "audited_at": self.audited_at,
            "verdict": self.verdict,
            "policy_sha256": self.policy_sha256,
            "disparities": jsonable(self.disparities),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> HistoryEntry:
        return cls(
            audit_run_id=data["audit_run_id"],
            audited_at=data.get("audited_at", ""),
            verdict=data.get("verdict", ""),
            policy_sha256=data.get("policy_sha256"),
            disparities=dict(data.get("disparities") or {}),
        )


def verdict_of(checks: tuple[CheckResult, ...] | list[CheckResult]) -> Verdict:
    """Fail closed: no checks is an error, any error beats any fail, then a pass (waived checks
    do not fail a version: the waiver's approver accepted them until it expires)."""
    if not checks:
        return "error"
    statuses = {c.status for c in checks}
    if "error" in statuses:
        return "error"
    if "fail" in statuses:
        return "fail"
    return "pass"


@dataclass(frozen=True)
class VersionResult:
    """The audit of one model version."""

    model: str
    version: str
    aliases: tuple[str, ...]
    run_id: str | None
    checks: tuple[CheckResult, ...]
    started_at: str
    finished_at: str
    training_data: TrainingData | None = None
    fairness: FairnessResult | None = None
    policy_match: str | None = None
    """The ``match`` glob of the policy entry applied, ``None`` when no entry matched."""
    packs: tuple[str, ...] = ()
    model_source: str | None = None
    description: str | None = None
    report: str | None = None
    """Path of the HTML report relative to ``results.json``, once written."""
    metadata: Mapping[str, Any] = field(default_factory=dict)
    """Identity extras for the report: creator, creation time, signature, artifact hash, tags."""
    representation: tuple[Representation, ...] = ()
    """Per sensitive feature, then their intersection when there are several."""
    history: tuple[HistoryEntry, ...] = ()
    """Earlier audits of this version, newest first."""
    evaluation_data: TrainingData | None = None
    """The held-out data the run logged (context ``evaluation``, ``eval``, ...), as measured."""
    attestation: Mapping[str, Any] | None = None
    """The signed statement of these results: ``envelope`` (DSSE), ``envelope_sha256``,
    ``signed`` and ``keyids``. Not part of what it signs (``govern.attest.statement``)."""

    @property
    def verdict(self) -> Verdict:
        return verdict_of(self.checks)

    @property
    def ref(self) -> str:
        return f"{self.model}/{self.version}"

    def failing_checks(self) -> tuple[CheckResult, ...]:
        """Checks that fail or could not run; waived checks are listed by ``waived_checks``."""
        return tuple(c for c in self.checks if c.status in ("fail", "error"))

    def waived_checks(self) -> tuple[CheckResult, ...]:
        return tuple(c for c in self.checks if c.status == "waived")

    def passed_checks(self) -> tuple[CheckResult, ...]:
        return tuple(c for c in self.checks if c.status == "pass")

    @property
    def waivers(self) -> tuple[WaiverRef, ...]:
        """The waivers applied to this version, once each, in check order."""
        seen: dict[str, WaiverRef] = {}
        for c in self.waived_checks():
            if c.waiver is not None:
                seen.setdefault(c.waiver.id, c.waiver)
        return tuple(seen.values())

    @property
    def verdict_label(self) -> str:
        """The verdict as every output words it: ``PASS · 1 waiver`` when waivers made it pass."""
        count = len(self.waivers)
        if self.verdict != "pass" or not count:
            return self.verdict.upper()
        return f"PASS · {count} waiver{'s' if count != 1 else ''}"

    @property
    def engine(self) -> str | None:
        """The data engine that produced the results (``pandas``, ``spark``); ``None`` when no
        data was read (no policy entry, no lineage) or the results predate engines."""
        engine = self.metadata.get("engine") if isinstance(self.metadata, Mapping) else None
        return str(engine) if engine else None

    @property
    def predicted_on_cluster(self) -> bool:
        """Whether the model ran on a Spark cluster's executors (``--spark-predict cluster``),
        outside govern's sandbox: every output that names the engine says so."""
        meta = self.metadata if isinstance(self.metadata, Mapping) else {}
        spark = meta.get("spark")
        return (
            isinstance(spark, Mapping)
            and spark.get("predict") == "cluster"
            and bool(meta.get("predicted_on"))
        )

    @property
    def engine_label(self) -> str | None:
        """``engine``, with where the model ran when that was a cluster."""
        engine = self.engine
        return f"{engine} (model on cluster)" if engine and self.predicted_on_cluster else engine

    def to_dict(self) -> dict[str, Any]:
        return {
            "model": self.model,
            "version": self.version,
            "aliases": list(self.aliases),
            "run_id": self.run_id,
            "verdict": self.verdict,
            "report": self.report,
            "started_at": self.started_at,
            "finished_at": self.finished_at,
            "policy_match": self.policy_match,
            "packs": list(self.packs),
            "model_source": self.model_source,
            "description": self.description,
            "training_data": self.training_data.to_dict() if self.training_data else None,
            "evaluation_data": self.evaluation_data.to_dict() if self.evaluation_data else None,
            "checks": [c.to_dict() for c in self.checks],
            "waivers": [
                {**w.to_dict(), "checks": [c.id for c in self.waived_checks() if c.waiver == w]}
                for w in self.waivers
            ],
            "fairness": self.fairness.to_dict() if self.fairness else None,
            "representation": [r.to_dict() for r in self.representation],
            "history": [h.to_dict() for h in self.history],
            "metadata": jsonable(self.metadata),
            "attestation": jsonable(self.attestation) if self.attestation else None,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> VersionResult:
        td = data.get("training_data")
        ed = data.get("evaluation_data")
        fr = data.get("fairness")
        return cls(
            model=data["model"],
            version=str(data["version"]),
            aliases=tuple(data.get("aliases") or ()),
            run_id=data.get("run_id"),
            checks=tuple(CheckResult.from_dict(c) for c in data.get("checks") or ()),
            started_at=data.get("started_at", ""),
            finished_at=data.get("finished_at", ""),
            training_data=TrainingData.from_dict(td) if td else None,
            fairness=FairnessResult.from_dict(fr) if fr else None,
            policy_match=data.get("policy_match"),
            packs=tuple(data.get("packs") or ()),
            model_source=data.get("model_source"),
            description=data.get("description"),
            report=data.get("report"),
            metadata=dict(data.get("metadata") or {}),
            representation=tuple(
                Representation.from_dict(r) for r in data.get("representation") or ()
            ),
            history=tuple(HistoryEntry.from_dict(h) for h in data.get("history") or ()),
            evaluation_data=TrainingData.from_dict(ed) if ed else None,
            attestation=data.get("attestation"),
        )


def run_verdict(versions: tuple[VersionResult, ...] | list[VersionResult]) -> Verdict:
    """The run's verdict: an error anywhere is an error, then any fail, and nothing audited is an
    error (an empty audit proves nothing)."""
    return run_verdict_of([v.verdict for v in versions])


def run_verdict_of(verdicts: Sequence[Any]) -> Verdict:
    """``run_verdict`` over the verdicts alone, as a results.json states them."""
    if not verdicts:
        return "error"
    if "error" in verdicts or any(v not in ("pass", "fail") for v in verdicts):
        return "error"
    if "fail" in verdicts:
        return "fail"
    return "pass"


@dataclass(frozen=True)
class AuditRun:
    """One invocation of ``govern audit`` or ``govern gate``: the contents of ``results.json``."""

    govern_version: str
    started_at: str
    finished_at: str
    policy_sha256: str
    policy_path: str
    tracking_uri: str
    """Tracking URI with credentials removed."""
    versions: tuple[VersionResult, ...]
    policy_text: str = ""
    environment: Mapping[str, str] = field(default_factory=dict)
    """Versions of govern's dependencies used for the run (mlflow, great-expectations, ...)."""
    schema_version: int = SCHEMA_VERSION
    waivers_path: str | None = None
    """The waivers file the run applied, ``None`` without one."""
    waivers_sha256: str | None = None
    """SHA-256 of that file's bytes: which exceptions the verdicts rest on."""
    unused_waivers: tuple[str, ...] = ()
    """Ids of waivers that matched no check of the audited versions (a warning, not a failure)."""

    @property
    def verdict(self) -> Verdict:
        return run_verdict(self.versions)

    @property
    def error_kind(self) -> str | None:
        """What a scheduler should do about an error verdict: ``retry`` when a version was not
        audited because the registry stopped answering or the deadline passed (the same run
        later may succeed), ``fix`` for any other error; ``None`` without an error."""
        if self.verdict != "error":
            return None
        retry = any(
            isinstance(c.details, Mapping) and c.details.get("retry") is True
            for v in self.versions
            for c in v.checks
        )
        return "retry" if retry else "fix"

    def counts(self) -> dict[str, int]:
        counts: dict[str, int] = dict.fromkeys(VERDICTS, 0)
        for v in self.versions:
            counts[v.verdict] += 1
        return counts

    def to_dict(self) -> dict[str, Any]:
        return {
            "schema_version": self.schema_version,
            "govern_version": self.govern_version,
            "started_at": self.started_at,
            "finished_at": self.finished_at,
            "policy_sha256": self.policy_sha256,
            "policy_path": self.policy_path,
            "tracking_uri": self.tracking_uri,
            "verdict": self.verdict,
            "error": {"kind": self.error_kind} if self.error_kind else None,
            "counts": self.counts(),
            "environment": dict(self.environment),
            "policy_text": self.policy_text,
            "waivers_path": self.waivers_path,
            "waivers_sha256": self.waivers_sha256,
            "unused_waivers": list(self.unused_waivers),
            "versions": [v.to_dict() for v in self.versions],
        }

    def passed_with_waivers(self) -> int:
        return sum(1 for v in self.versions if v.verdict == "pass" and v.waivers)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> AuditRun:
        return cls(
            govern_version=data["govern_version"],
            started_at=data["started_at"],
            finished_at=data["finished_at"],
            policy_sha256=data["policy_sha256"],
            policy_path=data.get("policy_path", ""),
            tracking_uri=data.get("tracking_uri", ""),
            versions=tuple(VersionResult.from_dict(v) for v in data.get("versions") or ()),
            policy_text=data.get("policy_text", ""),
            environment=dict(data.get("environment") or {}),
            schema_version=int(data.get("schema_version", SCHEMA_VERSION)),
            waivers_path=data.get("waivers_path"),
            waivers_sha256=data.get("waivers_sha256"),
            unused_waivers=tuple(data.get("unused_waivers") or ()),
        )
