"""``govern scan``: what the registry holds, where each version's training data is, and the
verdict govern last recorded on it. Read-only."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from govern.errors import GovernError
from govern.redact import redact_uri
from govern.registry.client import Registry, VersionInfo
from govern.registry.lineage import find_lineage


@dataclass(frozen=True)
class ScanRow:
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


def scan_versions(registry: Registry, versions: Sequence[VersionInfo]) -> list[ScanRow]:
    rows = []
    for info in versions:
        name = source = digest = error = None
        run_id = info.run_id
        try:
            lineage = find_lineage(registry, info)
            run_id = lineage.run_id
            name = lineage.training.name
            source = redact_uri(lineage.training.uri)
            digest = lineage.training.digest
        except GovernError as exc:
            error = str(exc).removeprefix(f"{info.ref}: ")
        rows.append(
            ScanRow(
                model=info.model,
                version=info.version,
                aliases=info.aliases,
                run_id=run_id,
                status=info.status,
                dataset_name=name,
                dataset_source=source,
                dataset_digest=digest,
                lineage_error=error,
                governance_status=info.tags.get("govern.status"),
                audited_at=info.tags.get("govern.audited_at"),
            )
        )
    return rows
