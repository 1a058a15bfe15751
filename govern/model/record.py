"""The verdict govern leaves on a model version: one tag, one JSON object, written in one call.

A record spread over several tags can be read half-written: a new status beside the previous
audit's run id, or a status left behind when the write after it failed. MLflow writes one tag in
one request, so a reader sees the previous complete record, the new complete record, or (before
the first audit) none; never a mixture.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

RECORD_FORMAT = 1
MAX_PROOF_DETAIL = 300
"""Characters of the proof's detail kept in the tag (MLflow caps a tag value at 5,000)."""


class RecordError(ValueError):
    """The tag is there but is not a record this govern can read: shown, never trusted."""


@dataclass(frozen=True)
class AuditRecord:
    """The last recorded audit of a version, as ``govern scan`` and incremental reuse read it."""

    status: str
    """``pass``, ``fail`` or ``error``."""
    audited_at: str
    audit_run_id: str
    policy_sha256: str
    proof: str | None
    """The integrity proof the audit had: ``training-hash``, ``pinned``, ``mlflow-digest``, or
    ``None`` when it never got as far as the data."""
    proof_detail: str | None
    """For ``pinned``: when the hash was pinned; for ``mlflow-digest``: the columns covered."""
    govern_version: str
    attestation_sha256: str | None = None
    """SHA-256 of the audit's DSSE envelope (the run's ``attestation.intoto.json``); the next
    record of the version names it, which chains the records."""
    keyid: str | None = None
    """The key that signed the attestation; ``None`` when it is unsigned."""
    format: int = RECORD_FORMAT

    def to_tag(self) -> str:
        return json.dumps(asdict(self), sort_keys=True, separators=(",", ":"))

    @property
    def proof_label(self) -> str:
        """The proof in the words reports use."""
        if self.proof == "training-hash":
            return "full hash recorded at training (govern.track)"
        if self.proof == "pinned":
            return f"pinned at the first audit on {self.proof_detail or 'an unknown date'}"
        if self.proof == "mlflow-digest":
            return f"MLflow digest only (columns: {self.proof_detail or 'none'})"
        return "no proof (the audit did not reach the data)"


def parse_record(text: str) -> AuditRecord:
    """The record in a ``govern.audit`` tag; RecordError when it is not one."""
    try:
        data = json.loads(text)
    except ValueError:
        raise RecordError("not JSON") from None
    if not isinstance(data, Mapping):
        raise RecordError("not a JSON object")
    if data.get("format") != RECORD_FORMAT:
        raise RecordError(f"record format {data.get('format')!r}, this govern reads 1")
    fields: dict[str, Any] = {}
    for name in ("status", "audited_at", "audit_run_id", "policy_sha256", "govern_version"):
        value = data.get(name)
        if not isinstance(value, str) or not value:
            raise RecordError(f"'{name}' is missing or not text")
        fields[name] = value
    if fields["status"] not in ("pass", "fail", "error"):
        raise RecordError(f"unknown status '{fields['status']}'")
    for name in ("proof", "proof_detail", "attestation_sha256", "keyid"):
        value = data.get(name)
        if value is not None and not isinstance(value, str):
            raise RecordError(f"'{name}' is not text")
        fields[name] = value
    return AuditRecord(**fields)


def proof_detail(proof: str | None, pinned_at: str | None, columns: Sequence[str]) -> str | None:
    """What a reader needs next to the proof's name, short enough for a tag."""
    if proof == "pinned":
        return pinned_at
    if proof == "mlflow-digest":
        text = ", ".join(columns) if columns else "none"
        if len(text) > MAX_PROOF_DETAIL:
            text = text[: MAX_PROOF_DETAIL - 1].rsplit(", ", 1)[0] + ", …"
        return text
    return None
