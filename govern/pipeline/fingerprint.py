"""Incremental reuse: an audit is a pure function of what it read, so an unchanged version can
get its last recorded result back instead of a recomputation.

The fingerprint names everything that decides the outcome; anything unexpected while looking up
the previous result means recomputing, never trusting.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import replace

from govern import __version__
from govern.model.results import AuditRun, VersionResult
from govern.registry.client import Registry, VersionInfo
from govern.registry.record import RUN_TAG_VERDICT, TAG_AUDIT_RUN, TAG_FINGERPRINT


def fingerprint(
    info: VersionInfo, *, model_sha256: str | None, data_sha256: str, policy_sha256: str
) -> str | None:
    """What an audit of this version is a pure function of; ``None`` if not fully known."""
    if not model_sha256:
        return None
    parts = {
        "model": info.model,
        "version": info.version,
        "model_sha256": model_sha256,
        "data_sha256": data_sha256,
        "policy_sha256": policy_sha256,
        "govern_version": __version__,
    }
    return hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()


def reusable(registry: Registry, info: VersionInfo, current: str | None) -> VersionResult | None:
    """The last recorded result of this version, if its fingerprint equals ``current``.

    Errors are never reused (they are usually transient).
    """
    run_id = info.tags.get(TAG_AUDIT_RUN)
    if current is None or not run_id:
        return None
    try:
        run = registry.client.get_run(run_id)
        if run.data.tags.get(TAG_FINGERPRINT) != current:
            return None
        if run.data.tags.get(RUN_TAG_VERDICT) not in ("pass", "fail"):
            return None
        text = registry.client.download_artifacts(run_id, "results.json", None)
        with open(text, encoding="utf-8") as fh:
            previous = AuditRun.from_dict(json.load(fh))
    except Exception:
        return None
    for version in previous.versions:
        if (version.model, version.version) == (info.model, info.version):
            if version.verdict != run.data.tags.get(RUN_TAG_VERDICT):
                return None
            return replace(
                version,
                aliases=info.aliases,
                report=None,
                metadata={
                    **version.metadata,
                    "fingerprint": current,
                    "reused_from": {"audit_run_id": run_id, "audited_at": version.finished_at},
                },
            )
    return None
