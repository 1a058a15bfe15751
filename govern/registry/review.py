"""Reviews in the registry: a run per sign-off in the audit experiment, and the version's tags.

The run carries the signed envelope (``review.intoto.json``); the version's
``govern.review.<role>`` tag is a convenience for people browsing the registry and is never
read as evidence: the gate and the report read the runs and verify their envelopes.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from govern import __version__
from govern.registry.client import Registry, VersionInfo, one_line
from govern.registry.record import (
    RUN_TAG_KIND,
    RUN_TAG_MODEL,
    RUN_TAG_VERSION,
    _version_runs,
    iso_ms,
    log_signed_record,
    set_chain_head,
)

REVIEW_ARTIFACT = "review.intoto.json"
KIND_REVIEW = "review"
TAG_REVIEW_PREFIX = "govern.review."
RUN_TAG_ROLE = "govern.review.role"
RUN_TAG_DECISION = "govern.review.decision"
RUN_TAG_REVIEWER = "govern.review.reviewer"
MAX_REVIEWS = 200


@dataclass(frozen=True)
class ReviewRun:
    """A review run read back: its envelope (``None`` when unreadable, with the reason)."""

    run_id: str
    started_at: str | None
    envelope: Mapping[str, Any] | None
    problem: str | None = None


def record_review(
    registry: Registry,
    experiment: str,
    info: VersionInfo,
    envelope: Mapping[str, Any],
    envelope_sha256: str,
    summary: Mapping[str, str],
) -> str:
    """The review run with its envelope, then the chain head, then the version's review tag.

    The head goes before the tag for the reason an audit's does: if the tag then fails, the
    chain still holds the signed review. ``summary``: role, decision, reviewer, reviewed_at,
    audit_attestation_sha256.
    """
    client = registry.client
    experiment_id = registry.audit_experiment_id(experiment)
    run = registry.call(
        "creating the review run",
        client.create_run,
        experiment_id,
        run_name=f"review-{info.model}-v{info.version}-{summary['role']}"[:250],
        tags={
            RUN_TAG_MODEL: info.model,
            RUN_TAG_VERSION: info.version,
            RUN_TAG_KIND: KIND_REVIEW,
            RUN_TAG_ROLE: summary["role"],
            RUN_TAG_DECISION: summary["decision"],
            RUN_TAG_REVIEWER: summary["reviewer"],
            "govern.version_tag": __version__,
        },
    )
    run_id = str(run.info.run_id)
    try:
        log_signed_record(registry, run_id, REVIEW_ARTIFACT, envelope)
        registry.call("finishing the review run", client.set_terminated, run_id, "FINISHED")
    except BaseException:
        with contextlib.suppress(Exception):
            client.set_terminated(run_id, "FAILED")
        raise
    set_chain_head(registry, info, envelope_sha256, KIND_REVIEW, run_id)
    tag = {
        "decision": summary["decision"],
        "reviewer": summary["reviewer"],
        "reviewed_at": summary["reviewed_at"],
        "run_id": run_id,
        "envelope_sha256": envelope_sha256,
        "audit_attestation_sha256": summary["audit_attestation_sha256"],
    }
    registry.set_version_tags(
        info, {TAG_REVIEW_PREFIX + summary["role"]: json.dumps(tag, sort_keys=True)}
    )
    return run_id


def review_runs(registry: Registry, experiment: str, info: VersionInfo) -> list[ReviewRun]:
    """Every finished review run of the version, oldest first, with its envelope."""
    runs = _version_runs(
        registry,
        experiment,
        info.model,
        info.version,
        what=f"reading the reviews of {info.ref}",
        order="ASC",
        limit=MAX_REVIEWS,
        kind=KIND_REVIEW,
    )
    found = []
    for run in runs:
        if run.info.status != "FINISHED":
            continue
        run_id = str(run.info.run_id)
        started = iso_ms(run.info.start_time)
        try:
            path = registry.client.download_artifacts(run_id, REVIEW_ARTIFACT, None)
            envelope = json.loads(Path(path).read_text(encoding="utf-8"))
        except Exception as exc:
            found.append(ReviewRun(run_id, started, None, f"unreadable review ({one_line(exc)})"))
            continue
        found.append(ReviewRun(run_id, started, envelope))
    return found
