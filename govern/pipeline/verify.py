"""``govern verify``: is this evidence what a trusted auditor signed?

Offline for files: a ``results.json`` must match, version by version, the statements signed
for it, and each signature must come from a key the policy trusts (or ``--key``). For the
registry, each version's record must be backed by a valid attestation of its audit run, and the
attestation must still cover the model files in the registry and the data at its source.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from govern.attest.review import REVIEW_PREDICATE_TYPE
from govern.attest.statement import (
    OpenedEnvelope,
    check_results,
    decode_payload,
    envelope_digest,
    open_envelope,
)
from govern.config.policy import Policy
from govern.errors import GovernError, NotVerified, UsageError
from govern.model.record import AuditRecord, RecordError
from govern.model.results import run_verdict_of
from govern.registry.client import Registry, VersionInfo, one_line
from govern.registry.record import ATTESTATION_ARTIFACT, RUN_TAG_VERDICT, read_record

NO_ATTESTATION = "no attestation"
Outcome = Literal["verified", "unsigned", "unchecked", "not-verified"]


@dataclass(frozen=True)
class Verification:
    """The verdict on one piece of evidence."""

    subject: str
    outcome: Outcome
    problem: str | None = None
    keyid: str | None = None

    @property
    def ok(self) -> bool:
        return self.outcome != "not-verified"

    def to_dict(self) -> dict[str, Any]:
        return {
            "subject": self.subject,
            "outcome": self.outcome,
            "verified": self.outcome == "verified",
            "problem": self.problem,
            "keyid": self.keyid,
        }


@dataclass(frozen=True)
class TrustedKeys:
    """The keys signatures are checked against; ``required``: an unsigned record fails."""

    keys: tuple[Any, ...]
    required: bool
    reviewers: tuple[tuple[str | None, tuple[str, ...], Any], ...] = ()
    """``(id, roles, key)`` of each key whose signature makes a review verified: the policy's
    reviewers, and ``--key`` files (``None``: anyone, any role)."""

    @property
    def checking(self) -> bool:
        return bool(self.keys) or self.required


def trusted_keys(policy: Policy | None, key_files: Sequence[Path] = ()) -> TrustedKeys:
    """The policy's auditors plus ``--key`` files. With neither, signatures are not checked and
    unsigned evidence is accepted (and said to be unsigned)."""
    from govern.attest.keys import load_public_key

    paths = list(key_files)
    reviewers: list[tuple[str | None, tuple[str, ...], Any]] = [
        (None, (), load_public_key(p)) for p in key_files
    ]
    if policy is not None and policy.trust is not None:
        paths.extend(policy.trust.auditors)
        reviewers.extend((r.id, r.roles, load_public_key(r.key)) for r in policy.trust.reviewers)
    required = bool(key_files) or bool(policy and policy.trust and policy.trust.requires_signatures)
    return TrustedKeys(tuple(load_public_key(p) for p in paths), required, tuple(reviewers))


def judge(opened: OpenedEnvelope, trust: TrustedKeys) -> tuple[Outcome, str | None]:
    """Signed and verified, unsigned, or signed with nothing to check it against."""
    if opened.verified_by:
        return "verified", opened.verified_by[0]
    if not opened.signed:
        return "unsigned", None
    return "unchecked", opened.keyids[0]


def open_with(envelope: Any, trust: TrustedKeys) -> OpenedEnvelope:
    return open_envelope(envelope, list(trust.keys) if trust.checking else None)


def verify_version(version: Mapping[str, Any], trust: TrustedKeys) -> Verification:
    """One version of a results.json against its own attestation."""
    subject = f"{version.get('model')}/{version.get('version')}"
    attestation = version.get("attestation")
    if not isinstance(attestation, Mapping) or not attestation.get("envelope"):
        return Verification(subject, "not-verified", NO_ATTESTATION)
    envelope = attestation["envelope"]
    try:
        if attestation.get("envelope_sha256") != envelope_digest(envelope):
            raise NotVerified("the attestation's recorded digest does not match its envelope")
        opened = open_with(envelope, trust)
        check_results(opened, version)
    except NotVerified as exc:
        return Verification(subject, "not-verified", str(exc))
    outcome, keyid = judge(opened, trust)
    return Verification(subject, outcome, None, keyid)


def read_json(path: Path) -> Any:
    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise UsageError(f"{path}: not a readable JSON file ({exc})") from None


def verify_results(data: Mapping[str, Any], trust: TrustedKeys) -> list[Verification]:
    """Every version of a results.json, then the run around them: its verdict is theirs."""
    versions = data.get("versions")
    if not isinstance(versions, list):
        raise UsageError("not a govern results.json (no versions)")
    found = [verify_version(v, trust) for v in versions if isinstance(v, Mapping)]
    verdicts = [v.get("verdict") for v in versions if isinstance(v, Mapping)]
    if data.get("verdict") != run_verdict_of(verdicts):
        found.append(
            Verification(
                "run",
                "not-verified",
                f"the run's verdict '{data.get('verdict')}' is not its versions' verdict",
            )
        )
    return found


def verify_results_file(path: Path, trust: TrustedKeys) -> list[Verification]:
    return verify_results(read_json(path), trust)


def verify_envelope_file(path: Path, trust: TrustedKeys) -> Verification:
    """A DSSE envelope on its own: signature and statement shape only. A review
    (``govern review``) is checked against the reviewers' keys, an audit against the auditors'."""
    envelope = read_json(path)
    if _predicate_type(envelope) == REVIEW_PREDICATE_TYPE:
        return _verify_review_file(path, envelope, trust)
    try:
        opened = open_with(envelope, trust)
    except NotVerified as exc:
        return Verification(str(path), "not-verified", str(exc))
    predicate = opened.predicate
    subject = f"{predicate.get('model')}/{predicate.get('version')} ({path.name})"
    outcome, keyid = judge(opened, trust)
    return Verification(subject, outcome, None, keyid)


def _predicate_type(envelope: Any) -> str | None:
    try:
        statement = json.loads(decode_payload(envelope))
    except (ValueError, TypeError, AttributeError):
        return None
    return statement.get("predicateType") if isinstance(statement, Mapping) else None


def _verify_review_file(path: Path, envelope: Any, trust: TrustedKeys) -> Verification:
    """Signed by the key of the reviewer the review names, who holds the role it claims (or by
    a ``--key``)."""
    checking = bool(trust.reviewers) or trust.required
    try:
        claimed = open_envelope(envelope, None, REVIEW_PREDICATE_TYPE).predicate
        name, role = claimed.get("reviewer"), claimed.get("role")
        keys = [
            key
            for rid, roles, key in trust.reviewers
            if rid is None or (rid == name and role in roles)
        ]
        if checking and not keys and trust.reviewers:
            raise NotVerified(f"'{name}' is not a reviewer holding the role '{role}'")
        opened = open_envelope(envelope, keys if checking else None, REVIEW_PREDICATE_TYPE)
    except NotVerified as exc:
        return Verification(str(path), "not-verified", str(exc))
    predicate = opened.predicate
    subject = (
        f"{predicate.get('model')}/{predicate.get('version')} {predicate.get('decision')} "
        f"by {predicate.get('reviewer')} ({path.name})"
    )
    outcome, keyid = judge(opened, trust)
    return Verification(subject, outcome, None, keyid)


def is_results_file(data: Any) -> bool:
    return isinstance(data, Mapping) and "schema_version" in data and "versions" in data


# --- the registry ---------------------------------------------------------------------------


def verify_record(
    registry: Registry,
    info: VersionInfo,
    trust: TrustedKeys,
    *,
    policy: Policy | None = None,
    rehash: bool = False,
) -> Verification | None:
    """Is the version's recorded verdict backed by a valid attestation of its audit run?

    ``None`` when the version has no record. With ``rehash`` the attestation must also cover
    the model files now in the registry and the data now at its source (what ``govern verify``
    does; ``scan`` stops at the signature and the record, which needs no download of data).
    """
    subject = info.ref
    try:
        found = open_record(registry, info, trust)
    except NotVerified as exc:
        return Verification(subject, "not-verified", str(exc))
    if found is None:
        return None
    _, opened = found
    try:
        if rehash:
            _check_subjects(registry, info, opened, policy)
    except NotVerified as exc:
        return Verification(subject, "not-verified", str(exc))
    outcome, keyid = judge(opened, trust)
    return Verification(subject, outcome, None, keyid)


def open_record(
    registry: Registry, info: VersionInfo, trust: TrustedKeys
) -> tuple[AuditRecord, OpenedEnvelope] | None:
    """The version's audit record and its attestation, opened and checked against each other
    (not re-hashed); ``None`` when never audited. Raises NotVerified saying what is wrong."""
    try:
        record = read_record(info.tags)
    except RecordError as exc:
        raise NotVerified(f"unreadable record: {exc}") from None
    if record is None:
        return None
    opened = _record_attestation(registry, record, trust)
    _check_record(opened, record, info)
    return record, opened


def _record_attestation(registry: Registry, record: AuditRecord, trust: TrustedKeys) -> Any:
    if not record.attestation_sha256:
        raise NotVerified(
            "the record names no attestation (written by hand, or by an older govern)"
        )
    try:
        run = registry.client.get_run(record.audit_run_id)
        path = registry.client.download_artifacts(record.audit_run_id, ATTESTATION_ARTIFACT, None)
        envelope = json.loads(Path(path).read_text(encoding="utf-8"))
    except Exception as exc:
        raise NotVerified(
            f"audit run {record.audit_run_id} has no readable attestation ({one_line(exc)})"
        ) from None
    if envelope_digest(envelope) != record.attestation_sha256:
        raise NotVerified("the audit run's attestation is not the one the record names")
    if run.data.tags.get(RUN_TAG_VERDICT) != record.status:
        raise NotVerified(
            f"the record says {record.status}, its audit run says "
            f"{run.data.tags.get(RUN_TAG_VERDICT)}"
        )
    return open_with(envelope, trust)


def _check_record(opened: OpenedEnvelope, record: AuditRecord, info: VersionInfo) -> None:
    predicate = opened.predicate
    if (predicate.get("model"), predicate.get("version")) != (info.model, info.version):
        raise NotVerified(
            f"the attestation is of {predicate.get('model')}/{predicate.get('version')}"
        )
    if predicate.get("verdict") != record.status:
        raise NotVerified(
            f"the record says {record.status}, the attestation says {predicate.get('verdict')}"
        )
    if predicate.get("audit_run_id") != record.audit_run_id:
        raise NotVerified("the attestation is of another audit run than the record names")
    policy = predicate.get("policy")
    if not isinstance(policy, Mapping) or policy.get("sha256") != record.policy_sha256:
        raise NotVerified("the record's policy is not the attested one")


def _subjects(opened: OpenedEnvelope) -> dict[str, str]:
    found: dict[str, str] = {}
    for subject in opened.statement.get("subject") or ():
        if isinstance(subject, Mapping):
            digest = subject.get("digest")
            if isinstance(digest, Mapping):
                found[str(subject.get("name"))] = str(digest.get("sha256"))
    return found


def _check_subjects(
    registry: Registry, info: VersionInfo, opened: OpenedEnvelope, policy: Policy | None
) -> None:
    """Re-hash the model files and the data now, and compare with what was attested."""
    import tempfile

    from govern.registry.datasets import download_model, fetch_training_data, sha256_of
    from govern.registry.lineage import find_lineage

    subjects = _subjects(opened)
    with tempfile.TemporaryDirectory(prefix="govern-verify-") as tmp:
        model_key = f"model:{info.ref}"
        if model_key in subjects:
            try:
                now = sha256_of(download_model(registry, info.model, info.version, Path(tmp) / "m"))
            except GovernError as exc:
                raise NotVerified(f"cannot re-hash the model files: {exc}") from None
            if now != subjects[model_key]:
                raise NotVerified(
                    f"the model files changed since the audit (SHA-256 {now[:12]}…, attested "
                    f"{subjects[model_key][:12]}…)"
                )
        data = {
            k: v
            for k, v in subjects.items()
            if k.startswith(("training-data:", "evaluation-data:"))
        }
        if not data:
            return
        entry = policy.for_model(info.model) if policy else None
        try:
            lineage = find_lineage(
                registry,
                info,
                entry.dataset if entry else None,
                **(
                    {
                        "training_contexts": entry.training_contexts,
                        "evaluation_contexts": entry.evaluation_contexts,
                    }
                    if entry
                    else {}
                ),
            )
        except GovernError as exc:
            raise NotVerified(f"cannot find the data to re-hash: {exc}") from None
        inputs = [("training-data", lineage.training)]
        inputs += [("evaluation-data", e) for e in lineage.evaluation]
        for i, (kind, dataset) in enumerate(inputs):
            key = f"{kind}:{dataset.name}"
            if key not in data:
                continue
            try:
                now = sha256_of(fetch_training_data(registry, dataset, Path(tmp) / f"d{i}"))
            except (GovernError, OSError) as exc:
                raise NotVerified(f"cannot re-hash {kind} '{dataset.name}': {exc}") from None
            if now != data.pop(key):
                raise NotVerified(
                    f"{kind} '{dataset.name}' changed since the audit (SHA-256 {now[:12]}…)"
                )
        if data:
            raise NotVerified(f"attested data no longer in the run's lineage: {', '.join(data)}")
