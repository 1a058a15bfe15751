"""What ``govern scan`` reports of one version: where its training data is and its last verdict."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from govern.model.record import AuditRecord


@dataclass(frozen=True)
class ScanRow:
    """One version as ``govern scan`` lists it; read-only, nothing is recomputed."""

    model: str
    version: str
    aliases: tuple[str, ...]
    run_id: str | None
    status: str
    """MLflow's registration status (READY, PENDING_REGISTRATION, ...)."""
    dataset_name: str | None
    dataset_source: str | None
    dataset_digest: str | None
    lineage_error: str | None
    record: AuditRecord | None
    """The version's last audit record, ``None`` before its first audit."""
    record_error: str | None = None
    """Why the record tag could not be read: shown, never taken as a verdict."""
    verification: str | None = None
    """``verified``, ``unsigned``, ``unchecked`` (signed, no trust list) or ``not-verified``;
    ``None`` when there is no record."""
    verification_problem: str | None = None
    ungoverned: tuple[str, ...] = ()
    """Aliases on this version that no govern gate moved there (ungoverned promotions)."""

    @property
    def dataset_label(self) -> str:
        if self.lineage_error:
            return f"lineage error: {self.lineage_error}"
        return f"{self.dataset_name} ({self.dataset_source})"

    @property
    def status_label(self) -> str:
        if self.record_error:
            return f"unreadable record: {self.record_error}"
        if self.record is None:
            return "never audited" + self._ungoverned_note
        shown = {"not-verified": "NOT VERIFIED", "unchecked": "signed, key not checked"}
        mark = shown.get(self.verification or "", self.verification or "")
        text = f"{self.record.status} ({self.record.audited_at}) {mark}".rstrip()
        return text + self._ungoverned_note

    @property
    def _ungoverned_note(self) -> str:
        if not self.ungoverned:
            return ""
        return "; UNGOVERNED alias " + ", ".join(f"'{a}'" for a in self.ungoverned)

    @property
    def proof_label(self) -> str:
        """The integrity proof of the last audit, short enough for a table column."""
        record = self.record
        if record is None or record.proof is None:
            return "-"
        if record.proof == "pinned":
            return f"pinned {(record.proof_detail or '?')[:10]}"
        if record.proof == "mlflow-digest":
            columns = record.proof_detail.split(", ") if record.proof_detail else []
            return f"mlflow-digest ({len(columns)} col{'s' if len(columns) != 1 else ''})"
        return record.proof

    def to_dict(self) -> dict[str, Any]:
        return {
            "model": self.model,
            "version": self.version,
            "aliases": list(self.aliases),
            "run_id": self.run_id,
            "status": self.status,
            "training_data": None
            if self.lineage_error
            else {
                "name": self.dataset_name,
                "source": self.dataset_source,
                "mlflow_digest": self.dataset_digest,
            },
            "lineage_error": self.lineage_error,
            "ungoverned_promotions": list(self.ungoverned),
            "governance": (
                {"error": self.record_error, "verified": False, "problem": self.record_error}
                if self.record_error
                else {
                    **asdict(self.record),
                    "proof_label": self.record.proof_label,
                    "verification": self.verification,
                    "verified": self.verification == "verified",
                    "problem": self.verification_problem,
                }
                if self.record
                else None
            ),
        }
