"""A waiver's approval, signed by its approver: a DSSE signature over the waiver's own fields.

The payload is not stored: it is the RFC 8785 canonical JSON of the waiver's fields (everything
but the signature), rebuilt from the file when verifying. Editing any field of a signed waiver
(its check, its expiry, its approver) therefore breaks the signature.
"""

from __future__ import annotations

import base64
from collections.abc import Mapping, Sequence
from typing import Any

from govern.attest.statement import canonical
from govern.errors import NotVerified

WAIVER_PAYLOAD_TYPE = "application/vnd.govern.waiver+json"
SIGNED_FIELDS = (
    "id",
    "model",
    "versions",
    "check",
    "reason",
    "ticket",
    "requested_by",
    "approved_by",
    "created",
    "expires",
)


def waiver_payload(fields: Mapping[str, Any]) -> bytes:
    """The bytes an approver signs: the waiver's fields as canonical JSON, dates as text."""
    return canonical({k: _plain(fields.get(k)) for k in SIGNED_FIELDS})


def _plain(value: Any) -> Any:
    if hasattr(value, "isoformat"):
        return value.isoformat()
    if isinstance(value, tuple | list):
        return [str(v) for v in value]
    return value


def sign_waiver(fields: Mapping[str, Any], signer: Any) -> dict[str, str]:
    """``{keyid, sig}``: the approver's DSSE signature of the waiver, for its ``signature`` key."""
    from securesystemslib.dsse import Envelope

    envelope = Envelope(waiver_payload(fields), WAIVER_PAYLOAD_TYPE, {})
    signature = envelope.sign(signer)
    return {
        "keyid": signature.keyid,
        "sig": base64.b64encode(bytes.fromhex(signature.signature)).decode(),
    }


def verify_waiver(fields: Mapping[str, Any], signature: Any, keys: Sequence[Any]) -> str:
    """The key id of the trusted key that signed this waiver as written; NotVerified if none."""
    from securesystemslib.dsse import Envelope
    from securesystemslib.exceptions import VerificationError
    from securesystemslib.signer import Signature

    if not isinstance(signature, Mapping) or not {"keyid", "sig"} <= set(signature):
        raise NotVerified("no approver's signature (sign it with govern waivers sign)")
    try:
        sig = Signature(str(signature["keyid"]), base64.b64decode(str(signature["sig"])).hex())
    except ValueError:
        raise NotVerified("the signature is not base64") from None
    envelope = Envelope(waiver_payload(fields), WAIVER_PAYLOAD_TYPE, {sig.keyid: sig})
    try:
        verified = envelope.verify(list(keys), 1)
    except (VerificationError, ValueError):
        raise NotVerified(
            "the signature does not verify: the waiver was edited after it was signed, or the "
            "signer is not a trusted reviewer"
        ) from None
    return next(iter(verified))
