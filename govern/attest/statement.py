"""The in-toto Statement v1 of one audited version, in a DSSE envelope, and its verification.

What is signed: the model files, training data and evaluation data as subjects (by SHA-256),
and a govern predicate (``PREDICATE_TYPE``, documented in ``docs/governance.md``) holding the
verdict, every check's id, status and observed value, the digests of the policy, its packs and
the waivers, the versions of govern and its libraries, the times, and ``results_sha256``: the
RFC 8785 canonical SHA-256 of the version exactly as ``results.json`` holds it. That last digest
is what makes an edited ``results.json`` detectable: change one character of a check and it no
longer matches the signed statement.
"""

from __future__ import annotations

import base64
import copy
import hashlib
import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from govern.errors import NotVerified

STATEMENT_TYPE = "https://in-toto.io/Statement/v1"
PAYLOAD_TYPE = "application/vnd.in-toto+json"
PREDICATE_TYPE = "urn:govern:attestation:audit:v1"
UNSIGNED_FIELDS = ("report", "attestation")
"""Keys of a version's results that are not evidence and are left out of ``results_sha256``:
the report's file name (chosen when outputs are written) and the attestation itself."""
_SAFE_INT = 2**53 - 1


def _canonical_ready(value: Any) -> Any:
    """JSON that RFC 8785 can encode: non-finite floats and integers beyond 2**53 as text,
    the same on both sides, so a digest never depends on which side made it."""
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return value
    if isinstance(value, int):
        return value if abs(value) <= _SAFE_INT else str(value)
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)
    if isinstance(value, Mapping):
        return {str(k): _canonical_ready(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_canonical_ready(v) for v in value]
    return str(value)


def canonical(value: Any) -> bytes:
    """RFC 8785 canonical JSON: the bytes every digest in an attestation is taken over."""
    import rfc8785

    return rfc8785.dumps(_canonical_ready(value))


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def results_digest(version: Mapping[str, Any]) -> str:
    """SHA-256 of a version's results, as ``results.json`` holds them, minus ``UNSIGNED_FIELDS``."""
    evidence = {k: v for k, v in version.items() if k not in UNSIGNED_FIELDS}
    return sha256_hex(canonical(evidence))


@dataclass(frozen=True)
class RunContext:
    """What the predicate says about the run around the version."""

    policy_sha256: str
    policy_digest: str
    packs_sha256: Mapping[str, str]
    waivers_sha256: str | None
    govern_version: str
    libraries: Mapping[str, str]
    signed_at: str
    previous_record: str | None = None
    """SHA-256 of the version's previous record envelope: the chain back to the first audit."""


def build_statement(version: Mapping[str, Any], context: RunContext) -> dict[str, Any]:
    """The statement for one version's results (``VersionResult.to_dict()``)."""
    ref = f"{version['model']}/{version['version']}"
    digest = results_digest(version)
    subjects = [{"name": f"govern-results:{ref}", "digest": {"sha256": digest}}]
    model_sha = (version.get("metadata") or {}).get("model_artifact_sha256")
    if model_sha:
        subjects.append({"name": f"model:{ref}", "digest": {"sha256": model_sha}})
    for key, kind in (("training_data", "training-data"), ("evaluation_data", "evaluation-data")):
        data = version.get(key) or {}
        if data.get("sha256"):
            subjects.append(
                {"name": f"{kind}:{data.get('name')}", "digest": {"sha256": data["sha256"]}}
            )
    checks = [
        {
            "id": c.get("id"),
            "kind": c.get("kind"),
            "status": c.get("status"),
            "observed": c.get("observed"),
        }
        for c in version.get("checks") or ()
    ]
    predicate = {
        "model": version["model"],
        "version": version["version"],
        "verdict": version.get("verdict"),
        "checks": checks,
        "results_sha256": digest,
        "audit_run_id": (version.get("metadata") or {}).get("audit_run_id"),
        "started_at": version.get("started_at"),
        "finished_at": version.get("finished_at"),
        "signed_at": context.signed_at,
        "policy": {
            "sha256": context.policy_sha256,
            "resolved_sha256": context.policy_digest,
            "packs": dict(context.packs_sha256),
        },
        "waivers_sha256": context.waivers_sha256,
        "govern_version": context.govern_version,
        "libraries": dict(context.libraries),
        "previous_record": context.previous_record,
    }
    return {
        "_type": STATEMENT_TYPE,
        "subject": subjects,
        "predicateType": PREDICATE_TYPE,
        "predicate": _canonical_ready(predicate),
    }


def make_envelope(statement: Mapping[str, Any], signer: Any | None) -> dict[str, Any]:
    """The statement in a DSSE envelope, signed when there is a signer (else no signatures:
    still consistent evidence, marked unsigned everywhere)."""
    from securesystemslib.dsse import Envelope

    envelope = Envelope(canonical(statement), PAYLOAD_TYPE, {})
    if signer is not None:
        envelope.sign(signer)
    return dict(envelope.to_dict())


def envelope_digest(envelope: Mapping[str, Any]) -> str:
    return sha256_hex(canonical(envelope))


@dataclass(frozen=True)
class OpenedEnvelope:
    """An envelope read back: its statement, and who (if anyone trusted) signed it."""

    statement: Mapping[str, Any]
    signed: bool
    keyids: tuple[str, ...]
    """Key ids of the signatures present, verified or not."""
    verified_by: tuple[str, ...]
    """Key ids of trusted keys whose signature verified; empty when not checked or none."""

    @property
    def predicate(self) -> Mapping[str, Any]:
        value = self.statement.get("predicate")
        return value if isinstance(value, Mapping) else {}


def open_envelope(
    envelope: Any,
    trusted: Sequence[Any] | None,
    accepted: str | Sequence[str] = PREDICATE_TYPE,
) -> OpenedEnvelope:
    """Parse an envelope and, when ``trusted`` keys are given, require a signature by one.

    ``accepted`` is the kind of statement expected (an audit unless said otherwise), so a
    review can never be read as an audit nor the other way round.

    Raises NotVerified naming what is wrong: not an envelope, not an in-toto statement of this
    predicate type, or (with ``trusted``) no signature a trusted key verifies.
    """
    from securesystemslib.dsse import Envelope
    from securesystemslib.exceptions import VerificationError

    accepted_types = (accepted,) if isinstance(accepted, str) else tuple(accepted)
    if not isinstance(envelope, Mapping):
        raise NotVerified("not a DSSE envelope (expected a JSON object)")
    try:
        # securesystemslib rewrites the signature dicts it is given: it gets a copy.
        parsed = Envelope.from_dict(copy.deepcopy(dict(envelope)))
    except Exception as exc:
        raise NotVerified(f"not a DSSE envelope: {type(exc).__name__}") from None
    if parsed.payload_type != PAYLOAD_TYPE:
        raise NotVerified(f"payload type '{parsed.payload_type}' is not {PAYLOAD_TYPE}")
    keyids = tuple(parsed.signatures)
    verified: tuple[str, ...] = ()
    if trusted is not None:
        if not keyids:
            raise NotVerified("unsigned, and the policy requires signatures from its auditors")
        if not trusted:
            raise NotVerified("no trusted keys to verify the signature with")
        try:
            verified = tuple(parsed.verify(list(trusted), 1))
        except VerificationError:
            raise NotVerified(
                f"signed by {', '.join(k[:12] for k in keyids)}, which no trusted key verifies "
                "(forged, altered after signing, or signed by an untrusted key)"
            ) from None
    try:
        statement = json.loads(parsed.payload)
    except ValueError:
        raise NotVerified("the envelope's payload is not JSON") from None
    if not isinstance(statement, Mapping) or statement.get("_type") != STATEMENT_TYPE:
        raise NotVerified("the payload is not an in-toto Statement v1")
    if statement.get("predicateType") not in accepted_types:
        raise NotVerified(f"predicate type '{statement.get('predicateType')}' is not govern's")
    return OpenedEnvelope(statement, bool(keyids), keyids, verified)


def check_results(opened: OpenedEnvelope, version: Mapping[str, Any]) -> None:
    """Require the version's results to be exactly what the statement signed."""
    predicate = opened.predicate
    if (predicate.get("model"), predicate.get("version")) != (
        version.get("model"),
        version.get("version"),
    ):
        raise NotVerified(
            f"the attestation is of {predicate.get('model')}/{predicate.get('version')}"
        )
    digest = results_digest(version)
    if predicate.get("results_sha256") != digest:
        raise NotVerified(
            f"results differ from what was attested (SHA-256 {digest[:12]}…, attested "
            f"{str(predicate.get('results_sha256'))[:12]}…): edited after the audit"
        )
    if predicate.get("verdict") != version.get("verdict"):
        raise NotVerified("the verdict differs from the attested one")


def decode_payload(envelope: Mapping[str, Any]) -> bytes:
    """The raw payload bytes (for tools that want the statement without verification)."""
    return base64.b64decode(str(envelope.get("payload", "")))


PROMOTION_PREDICATE_TYPE = "urn:govern:attestation:promotion:v1"
INCIDENT_PREDICATE_TYPE = "urn:govern:attestation:incident:v1"
RECORD_PREDICATE_TYPES = (PREDICATE_TYPE, PROMOTION_PREDICATE_TYPE, INCIDENT_PREDICATE_TYPE)


def build_promotion_statement(
    model: str,
    version: str,
    audit_envelope_sha256: str,
    model_sha256: str | None,
    predicate: Mapping[str, Any],
) -> dict[str, Any]:
    """A signed record that govern moved an alias, bound to the audit that allowed it."""
    ref = f"{model}/{version}"
    subjects = [{"name": f"audit-attestation:{ref}", "digest": {"sha256": audit_envelope_sha256}}]
    if model_sha256:
        subjects.append({"name": f"model:{ref}", "digest": {"sha256": model_sha256}})
    return {
        "_type": STATEMENT_TYPE,
        "subject": subjects,
        "predicateType": PROMOTION_PREDICATE_TYPE,
        "predicate": _canonical_ready(dict(predicate)),
    }


def build_incident_statement(
    model: str,
    version: str,
    audit_envelope_sha256: str | None,
    predicate: Mapping[str, Any],
) -> dict[str, Any]:
    """A signed record that a protected alias was found on this version without the evidence
    it needs, and what govern did about it.

    The subjects are the version itself (by the SHA-256 of ``model/version``: MLflow gives a
    version no content digest of its own) and, when it has one, its audit attestation.
    """
    ref = f"{model}/{version}"
    subjects = [{"name": f"model-version:{ref}", "digest": {"sha256": sha256_hex(ref.encode())}}]
    if audit_envelope_sha256:
        subjects.append(
            {"name": f"audit-attestation:{ref}", "digest": {"sha256": audit_envelope_sha256}}
        )
    return {
        "_type": STATEMENT_TYPE,
        "subject": subjects,
        "predicateType": INCIDENT_PREDICATE_TYPE,
        "predicate": _canonical_ready(dict(predicate)),
    }
