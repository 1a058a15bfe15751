"""``govern review``: a trusted reviewer signs off (or rejects) a version's latest audit.

Who reviews is decided by the key that signs, never by a name on the command line: the signing
key must be the key of a reviewer in the policy's ``trust.reviewers``, holding the role claimed.
The review binds to what was audited (the model files' and data's SHA-256 as the audit attested
them, and the policy's SHA-256), so the gate can count it for any later audit of the same
files, data and policy, and for nothing else.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from govern import __version__
from govern.attest.review import (
    REVIEW_PREDICATE_TYPE,
    ReviewContext,
    build_review_statement,
    subject_digests,
)
from govern.attest.statement import (
    decode_payload,
    envelope_digest,
    make_envelope,
    open_envelope,
)
from govern.config.policy import Policy
from govern.config.review import RequiredReview
from govern.config.trust import Reviewer
from govern.errors import GovernError, NotVerified, ReviewRefused, UsageError
from govern.registry.client import Registry, VersionInfo, one_line
from govern.registry.record import chain_head
from govern.registry.review import record_review, review_runs

DECISIONS = ("approve", "reject")


@dataclass(frozen=True)
class ReviewOutcome:
    """A recorded review: what ``govern review`` reports."""

    ref: str
    decision: str
    role: str
    reviewer: str
    keyid: str
    run_id: str
    envelope_sha256: str
    audit_attestation_sha256: str

    def to_dict(self) -> dict[str, str]:
        return {
            "version": self.ref,
            "decision": self.decision,
            "role": self.role,
            "reviewer": self.reviewer,
            "keyid": self.keyid,
            "run_id": self.run_id,
            "envelope_sha256": self.envelope_sha256,
            "audit_attestation_sha256": self.audit_attestation_sha256,
        }


@dataclass(frozen=True)
class FoundReview:
    """A review read back from the registry, verified against the policy's reviewers."""

    run_id: str
    role: str
    reviewer: str
    decision: str
    reviewed_at: str
    keyid: str | None
    verified: bool
    problem: str | None
    subjects: Mapping[str, str]
    policy_sha256: str | None
    audit_attestation_sha256: str | None

    def to_dict(self) -> dict[str, Any]:
        """What the report shows (``metadata["reviews"]`` of a version's results)."""
        return {
            "role": self.role,
            "reviewer": self.reviewer,
            "decision": self.decision,
            "reviewed_at": self.reviewed_at,
            "keyid": self.keyid,
            "verified": self.verified,
            "problem": self.problem,
            "run_id": self.run_id,
            "audit_attestation_sha256": self.audit_attestation_sha256,
            "policy_sha256": self.policy_sha256,
        }


def _reviewer_keys(policy: Policy) -> list[tuple[Reviewer, Any]]:
    from govern.attest.keys import load_public_key

    reviewers = policy.trust.reviewers if policy.trust else ()
    return [(r, load_public_key(r.key)) for r in reviewers]


def _same_person(a: str, b: str | None) -> bool:
    """``alice`` is ``Alice@example.com``: ids compare trimmed, case-insensitive, and by the
    part before ``@`` when either side has no domain or both share the local part."""
    if not b:
        return False
    x, y = a.strip().casefold(), b.strip().casefold()
    if not x or not y:
        return False
    return x == y or x.split("@", 1)[0] == y.split("@", 1)[0]


def _check_independence(registry: Registry, reviewer: Reviewer, info: VersionInfo) -> None:
    """A reviewer may not review what they made: the version's creator or the training run's
    user, as MLflow recorded them."""
    authors: list[tuple[str | None, str]] = [
        (info.user_id, f"registered version {info.version} of {info.model}")
    ]
    if info.run_id:
        try:
            run = registry.client.get_run(info.run_id)
            authors.append((run.info.user_id, f"started its training run {info.run_id}"))
        except Exception as exc:
            raise GovernError(
                f"cannot read the training run {info.run_id} to check the reviewer's "
                f"independence ({one_line(exc)})"
            ) from None
    for user, what in authors:
        if _same_person(reviewer.id, user):
            raise UsageError(
                f"{user} {what}: reviewer '{reviewer.id}' cannot review their own model "
                "(a review must be independent)"
            )


def review_version(
    registry: Registry,
    policy: Policy,
    info: VersionInfo,
    *,
    decision: str,
    role: str,
    note: str | None,
    signing_key: str,
) -> ReviewOutcome:
    """Sign and record one review of the version's latest verified audit."""
    from govern.attest.keys import load_signer
    from govern.pipeline.runner import shielded
    from govern.pipeline.verify import judge, open_record, trusted_keys

    if decision not in DECISIONS:
        raise UsageError(f"decision must be approve or reject, not '{decision}'")
    signer = load_signer(signing_key)
    keyid = signer.public_key.keyid
    reviewer = next((r for r, k in _reviewer_keys(policy) if k.keyid == keyid), None)
    if reviewer is None:
        raise UsageError(
            f"key {keyid} is not the key of a reviewer in the policy's trust.reviewers"
        )
    if role not in reviewer.roles:
        raise UsageError(
            f"reviewer '{reviewer.id}' does not hold the role '{role}' "
            f"(holds: {', '.join(reviewer.roles)})"
        )
    _check_independence(registry, reviewer, info)
    trust = trusted_keys(policy)
    try:
        found = open_record(registry, info, trust)
    except NotVerified as exc:
        raise ReviewRefused(f"{info.ref}: its audit record is not verified: {exc}") from None
    if found is None:
        raise ReviewRefused(f"{info.ref} has no recorded audit to review: run govern audit first")
    record, opened = found
    outcome, _ = judge(opened, trust)
    if outcome != "verified":
        why = "unsigned" if outcome == "unsigned" else "signed, but the policy lists no auditors"
        raise ReviewRefused(
            f"{info.ref}: its audit record is not verified ({why}): a review binds to an audit "
            "signed by a key in trust.auditors"
        )
    verdict = str(opened.predicate.get("verdict"))
    if decision == "approve" and verdict != "pass":
        raise ReviewRefused(
            f"{info.ref}: cannot approve an audit whose verdict is {verdict} "
            "(waive the failing checks and audit again, or reject)"
        )
    subjects = opened.statement.get("subject") or []
    if not subject_digests(subjects):
        raise ReviewRefused(f"{info.ref}: its audit attests no model files or data to review")
    audit_sha = str(record.attestation_sha256)
    head = chain_head(info.tags)
    reviewed_at = datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    context = ReviewContext(
        model=info.model,
        version=info.version,
        decision=decision,
        role=role,
        reviewer=reviewer.id,
        note=note,
        audit_attestation_sha256=audit_sha,
        audit_run_id=record.audit_run_id,
        policy_sha256=record.policy_sha256,
        verdict=verdict,
        reviewed_at=reviewed_at,
        govern_version=__version__,
        previous_record=head["sha256"] if head else audit_sha,
    )
    envelope = make_envelope(build_review_statement(subjects, context), signer)
    digest = envelope_digest(envelope)
    summary = {
        "role": role,
        "decision": decision,
        "reviewer": reviewer.id,
        "reviewed_at": reviewed_at,
        "audit_attestation_sha256": audit_sha,
    }
    with shielded():  # a review is recorded whole: the deadline waits for it
        run_id = record_review(registry, policy.audit_experiment, info, envelope, digest, summary)
    return ReviewOutcome(info.ref, decision, role, reviewer.id, keyid, run_id, digest, audit_sha)


def find_reviews(registry: Registry, policy: Policy, info: VersionInfo) -> list[FoundReview]:
    """Every review recorded for the version, oldest first, each verified: signed by the key
    of the reviewer it names, who holds the role it claims, and about this version."""
    keys = _reviewer_keys(policy)
    found = [
        _judge_review(run.run_id, run.started_at, run.envelope, run.problem, keys, info)
        for run in review_runs(registry, policy.audit_experiment, info)
    ]
    return sorted(found, key=lambda r: r.reviewed_at)


def _judge_review(
    run_id: str,
    started_at: str | None,
    envelope: Mapping[str, Any] | None,
    problem: str | None,
    keys: Sequence[tuple[Reviewer, Any]],
    info: VersionInfo,
) -> FoundReview:
    statement: Mapping[str, Any] = {}
    if envelope is not None:
        try:
            statement = json.loads(decode_payload(envelope))
        except (ValueError, TypeError):
            problem = problem or "the review's payload is not JSON"
    predicate = statement.get("predicate") if isinstance(statement, Mapping) else None
    predicate = predicate if isinstance(predicate, Mapping) else {}
    signatures = envelope.get("signatures") if envelope else None
    keyid = None
    if isinstance(signatures, list) and signatures and isinstance(signatures[0], Mapping):
        keyid = str(signatures[0].get("keyid"))
    name, role = str(predicate.get("reviewer", "")), str(predicate.get("role", ""))
    verified = False
    if problem is None and envelope is not None:
        mine = [(r, k) for r, k in keys if r.id == name]
        try:
            if not mine:
                raise NotVerified(f"'{name}' is not a reviewer in trust.reviewers")
            reviewer, key = mine[0]
            open_envelope(envelope, [key], REVIEW_PREDICATE_TYPE)
            if role not in reviewer.roles:
                raise NotVerified(f"'{name}' does not hold the role '{role}'")
            if (predicate.get("model"), predicate.get("version")) != (info.model, info.version):
                raise NotVerified("the review is of another version")
            verified = True
        except NotVerified as exc:
            problem = str(exc)
    audit = predicate.get("audit")
    audit = audit if isinstance(audit, Mapping) else {}
    policy = predicate.get("policy")
    policy = policy if isinstance(policy, Mapping) else {}
    return FoundReview(
        run_id=run_id,
        role=role,
        reviewer=name,
        decision=str(predicate.get("decision", "")),
        reviewed_at=str(predicate.get("reviewed_at") or started_at or ""),
        keyid=keyid,
        verified=verified,
        problem=problem,
        subjects=subject_digests(statement.get("subject") or []) if statement else {},
        policy_sha256=policy.get("sha256"),
        audit_attestation_sha256=audit.get("attestation_sha256"),
    )


def missing_reviews(
    reviews: Sequence[FoundReview],
    required: Sequence[RequiredReview],
    subjects: Mapping[str, str],
    policy_sha256: str,
) -> list[RequiredReview]:
    """The required roles short of approvals.

    An approval counts when verified, bound to exactly these model/data subjects and this
    policy, and not superseded by a later verified reject from the same reviewer and role.
    """
    verified = [r for r in reviews if r.verified]
    short = []
    for need in required:
        approvers = set()
        for r in verified:
            if r.role != need.role or r.decision != "approve":
                continue
            if dict(r.subjects) != dict(subjects) or r.policy_sha256 != policy_sha256:
                continue
            later_reject = any(
                o.reviewer == r.reviewer
                and o.role == r.role
                and o.decision == "reject"
                and o.reviewed_at > r.reviewed_at
                for o in verified
            )
            if not later_reject:
                approvers.add(r.reviewer)
        if len(approvers) < need.count:
            short.append(need)
    return short


def review_requirement(
    registry: Registry, policy: Policy, info: VersionInfo, audit_envelope: Mapping[str, Any]
) -> str | None:
    """``None`` when the policy's required sign-offs exist for what ``audit_envelope`` (the
    gate's own audit) attests, else the one line saying what is missing."""
    if policy.review is None:
        return None
    statement = json.loads(decode_payload(audit_envelope))
    subjects = subject_digests(statement.get("subject") or [])
    reviews = find_reviews(registry, policy, info)
    short = missing_reviews(reviews, policy.review.required, subjects, policy.sha256)
    if not short:
        return None
    return "review required: " + ", ".join(f"{r.role} x{r.count}" for r in short)


def review_summaries(registry: Registry, policy: Policy, info: VersionInfo) -> list[dict[str, Any]]:
    """The reviews for a version's report; ``[]`` when the policy lists no reviewers."""
    if not (policy.trust and policy.trust.reviewers):
        return []
    return [r.to_dict() for r in find_reviews(registry, policy, info)]
