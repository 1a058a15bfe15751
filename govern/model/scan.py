"""What ``govern scan`` reports of one version: where its training data is and its last verdict."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


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
    governance_status: str | None
    audited_at: str | None

    @property
    def dataset_label(self) -> str:
        if self.lineage_error:
            return f"lineage error: {self.lineage_error}"
        return f"{self.dataset_name} ({self.dataset_source})"

    @property
    def status_label(self) -> str:
        if not self.governance_status:
            return "never audited"
        return f"{self.governance_status} ({self.audited_at or 'unknown time'})"

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
            "governance": {"status": self.governance_status, "audited_at": self.audited_at},
        }
