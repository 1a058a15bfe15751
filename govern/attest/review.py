"""The in-toto statement of a reviewer's sign-off: a decision bound to one audited version.

A review names what was reviewed by content, not by name: its subjects are the model files and
the data exactly as the audit it reviews attested them (SHA-256), and its predicate names that
audit's attestation digest and the policy's SHA-256. A later audit of the same files, data and
policy therefore keeps its reviews; any change to one of them leaves them behind.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from govern.attest.statement import STATEMENT_TYPE, _canonical_ready

REVIEW_PREDICATE_TYPE = "urn:govern:attestation:review:v1"
DECISIONS = ("approve", "reject")
BOUND_SUBJECT_PREFIXES = ("model:", "training-data:", "evaluation-data:")
"""The subjects of an audit a review binds to: what was audited, not the audit's own results."""


@dataclass(frozen=True)
class ReviewContext:
    """Everything the review's predicate states besides the subjects."""

    model: str
    version: str
    decision: str
    role: str
    reviewer: str
    note: str | None
    audit_attestation_sha256: str
    audit_run_id: str
    policy_sha256: str
    verdict: str
    reviewed_at: str
    govern_version: str
    previous_record: str | None


def bound_subjects(subjects: Sequence[Any]) -> list[dict[str, Any]]:
    """The model and data subjects of an audit statement, as a review copies them."""
    found = []
    for subject in subjects:
        if not isinstance(subject, Mapping):
            continue
        name = str(subject.get("name", ""))
        digest = subject.get("digest")
        if name.startswith(BOUND_SUBJECT_PREFIXES) and isinstance(digest, Mapping):
            found.append({"name": name, "digest": {"sha256": str(digest.get("sha256"))}})
    return sorted(found, key=lambda s: s["name"])


def subject_digests(subjects: Sequence[Any]) -> dict[str, str]:
    """``{name: sha256}`` of the bound subjects: what two statements must share to match."""
    return {s["name"]: s["digest"]["sha256"] for s in bound_subjects(subjects)}


def build_review_statement(audit_subjects: Sequence[Any], context: ReviewContext) -> dict[str, Any]:
    """The review statement; ``audit_subjects`` are the reviewed audit statement's subjects."""
    if context.decision not in DECISIONS:
        raise ValueError(f"decision must be one of {DECISIONS}, not {context.decision!r}")
    predicate = {
        "model": context.model,
        "version": context.version,
        "decision": context.decision,
        "role": context.role,
        "reviewer": context.reviewer,
        "note": context.note,
        "audit": {
            "attestation_sha256": context.audit_attestation_sha256,
            "run_id": context.audit_run_id,
            "verdict": context.verdict,
        },
        "policy": {"sha256": context.policy_sha256},
        "reviewed_at": context.reviewed_at,
        "govern_version": context.govern_version,
        "previous_record": context.previous_record,
    }
    return {
        "_type": STATEMENT_TYPE,
        "subject": bound_subjects(audit_subjects),
        "predicateType": REVIEW_PREDICATE_TYPE,
        "predicate": _canonical_ready(predicate),
    }
