"""``govern scan``: what the registry holds, where each version's training data is, and the
verdict govern last recorded on it. Read-only."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from govern.config.policy import DEFAULT_AUDIT_EXPERIMENT, Policy
from govern.errors import GovernError
from govern.model.record import AuditRecord, RecordError
from govern.model.scan import ScanRow
from govern.pipeline.verify import TrustedKeys, verify_record
from govern.redact import redact_uri
from govern.registry.client import Registry, VersionInfo
from govern.registry.lineage import find_lineage
from govern.registry.record import read_record


def scan_versions(
    registry: Registry,
    versions: Sequence[VersionInfo],
    trust: TrustedKeys | None = None,
    policy: Policy | None = None,
) -> list[ScanRow]:
    """One row per version; each recorded status checked against its attestation (signature
    and record; ``govern verify`` also re-hashes the model and the data)."""
    trust = trust or TrustedKeys((), False)
    promotions: dict[str, list[Any]] = {}
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
        record: AuditRecord | None = None
        record_error = None
        try:
            record = read_record(info.tags)
        except RecordError as exc:
            record_error = str(exc)
        checked = verify_record(registry, info, trust, policy=policy)
        ungoverned: tuple[str, ...] = ()
        if info.aliases:
            from govern.pipeline.history import alias_moves, promotion_runs

            experiment = policy.audit_experiment if policy else DEFAULT_AUDIT_EXPERIMENT
            try:
                if info.model not in promotions:  # one search per model, not per version
                    promotions[info.model] = promotion_runs(registry, experiment, info.model)
                moves = alias_moves(registry, experiment, info, promotions[info.model])
            except GovernError:
                moves = []
            ungoverned = tuple(m["alias"] for m in moves if not m["governed"])
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
                record=record,
                record_error=record_error,
                verification=checked.outcome if checked else None,
                verification_problem=checked.problem if checked else None,
                ungoverned=ungoverned,
            )
        )
    return rows
