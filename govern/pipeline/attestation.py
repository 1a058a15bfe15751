"""Attach a (signed, when a key is given) in-toto statement to each audited version.

The digest is taken over the version as ``results.json`` will hold it (serialised and read back),
so verifying a written file recomputes exactly the bytes that were signed.
"""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Any

from govern import __version__
from govern.attest.statement import (
    RunContext,
    build_statement,
    envelope_digest,
    make_envelope,
)
from govern.config.policy import Policy
from govern.model.record import RecordError
from govern.model.results import VersionResult
from govern.registry.client import VersionInfo
from govern.registry.record import chain_head, read_record

_SIGNERS: dict[str, Any] = {}


def signer_for(path: str | None) -> Any | None:
    """The signer for a key file, loaded once per process; ``None`` signs nothing."""
    if path is None:
        return None
    if path not in _SIGNERS:
        from govern.attest.keys import load_signer

        _SIGNERS[path] = load_signer(path)
    return _SIGNERS[path]


def previous_record(info: VersionInfo | None) -> str | None:
    """The envelope digest of the version's newest record (the chain head, else its audit
    record), which the new one chains to."""
    if info is None:
        return None
    head = chain_head(info.tags)
    if head is not None:
        return head["sha256"]
    try:
        record = read_record(info.tags)
    except RecordError:
        return None
    return record.attestation_sha256 if record else None


def attest(
    result: VersionResult,
    policy: Policy,
    signing_key: str | None,
    *,
    libraries: dict[str, str],
    signed_at: str,
    info: VersionInfo | None = None,
) -> VersionResult:
    """The result with its attestation; the previous attestation (of a reused result) is
    replaced, since this run vouches for what it reports now."""
    signer = signer_for(signing_key)
    as_written = json.loads(
        json.dumps(replace(result, attestation=None).to_dict(), allow_nan=False)
    )
    context = RunContext(
        policy_sha256=policy.sha256,
        policy_digest=policy.digest,
        packs_sha256=policy.packs_sha256(),
        waivers_sha256=policy.waivers.sha256 if policy.waivers else None,
        govern_version=__version__,
        libraries=libraries,
        signed_at=signed_at,
        previous_record=previous_record(info),
    )
    envelope = make_envelope(build_statement(as_written, context), signer)
    keyids = [s["keyid"] for s in envelope.get("signatures", [])]
    return replace(
        result,
        attestation={
            "envelope": envelope,
            "envelope_sha256": envelope_digest(envelope),
            "signed": bool(keyids),
            "keyids": keyids,
        },
    )
