"""Keys, statements and DSSE envelopes, checked by govern and by independent implementations.

securesystemslib makes and verifies govern's envelopes; these tests also verify them with
``cryptography`` alone (the DSSE pre-authentication encoding written out from the spec) and
check the statement with in-toto's own ``in_toto_attestation`` library, so a bug shared by
govern's code and its verifier cannot hide.
"""

from __future__ import annotations

import base64
import copy
import json
import os
import stat

import pytest
from cryptography.hazmat.primitives.serialization import load_pem_public_key
from google.protobuf import json_format
from in_toto_attestation.v1 import statement as intoto
from securesystemslib.dsse import Envelope

from govern.attest.keys import generate_keypair, load_public_key, load_signer
from govern.attest.statement import (
    PAYLOAD_TYPE,
    PREDICATE_TYPE,
    RunContext,
    build_statement,
    check_results,
    make_envelope,
    open_envelope,
    results_digest,
)
from govern.errors import NotVerified, SigningKeyError

VERSION = {
    "model": "credit",
    "version": "3",
    "verdict": "fail",
    "report": "reports/credit-v3.html",
    "checks": [
        {
            "id": "fairness.demographic_parity_ratio",
            "kind": "fairness",
            "status": "fail",
            "observed": 0.331,
            "summary": "ratio 0.331 < 0.8",
        },
        {
            "id": "quality.rows",
            "kind": "quality",
            "status": "pass",
            "observed": 4200,
            "summary": "4200 rows",
        },
    ],
    "training_data": {"name": "train.parquet", "sha256": "a" * 64},
    "evaluation_data": {"name": "holdout.parquet", "sha256": "b" * 64},
    "metadata": {"model_artifact_sha256": "c" * 64, "audit_run_id": "run-1"},
    "attestation": None,
}
CONTEXT = RunContext(
    policy_sha256="d" * 64,
    policy_digest="e" * 64,
    packs_sha256={"four-fifths": "f" * 64},
    waivers_sha256=None,
    govern_version="0.1.0",
    libraries={"fairlearn": "0.15.0"},
    signed_at="2026-12-02T10:00:00Z",
)


def pae(payload_type: str, body: bytes) -> bytes:
    """DSSE v1 pre-authentication encoding, written from the spec, not taken from a library."""
    kind = payload_type.encode()
    return b"DSSEv1 %d %s %d %s" % (len(kind), kind, len(body), body)


@pytest.fixture
def keys(tmp_path):
    return generate_keypair(tmp_path / "keys")


def test_keygen_writes_a_private_key_only_its_owner_can_read(keys, tmp_path):
    assert stat.S_IMODE(os.stat(keys.private).st_mode) == 0o600
    assert keys.public.read_text().startswith("-----BEGIN PUBLIC KEY-----")
    assert load_public_key(keys.public).keyid == keys.keyid
    with pytest.raises(SigningKeyError, match="already exists"):
        generate_keypair(tmp_path / "keys")


def test_a_bad_key_file_is_named_and_its_content_never_shown(tmp_path):
    secret = tmp_path / "k.pem"
    secret.write_text("not-a-key-but-a-secret-4711")
    with pytest.raises(SigningKeyError) as info:
        load_signer(secret)
    assert str(info.value) == (
        f"signing key {secret}: not an unencrypted PEM private key (make one with govern keygen)"
    )
    assert "4711" not in str(info.value)
    with pytest.raises(SigningKeyError, match="No such file"):
        load_signer(tmp_path / "missing.pem")


def test_the_statement_is_a_valid_in_toto_statement_naming_every_subject():
    statement = build_statement(VERSION, CONTEXT)
    parsed = json_format.ParseDict(statement, intoto.spb.Statement())
    intoto.Statement.copy_from_pb(parsed).validate()  # in-toto's own validator
    assert statement["predicateType"] == PREDICATE_TYPE
    assert [(s["name"], s["digest"]["sha256"]) for s in statement["subject"]] == [
        ("govern-results:credit/3", results_digest(VERSION)),
        ("model:credit/3", "c" * 64),
        ("training-data:train.parquet", "a" * 64),
        ("evaluation-data:holdout.parquet", "b" * 64),
    ]
    predicate = statement["predicate"]
    assert predicate["verdict"] == "fail" and predicate["audit_run_id"] == "run-1"
    assert predicate["checks"][0] == {
        "id": "fairness.demographic_parity_ratio",
        "kind": "fairness",
        "status": "fail",
        "observed": 0.331,
    }
    assert predicate["policy"] == {
        "sha256": "d" * 64,
        "resolved_sha256": "e" * 64,
        "packs": {"four-fifths": "f" * 64},
    }


def test_the_results_digest_ignores_only_the_report_path_and_the_attestation():
    moved = {**VERSION, "report": "elsewhere.html", "attestation": {"x": 1}}
    assert results_digest(moved) == results_digest(VERSION)
    edited = json.loads(json.dumps(VERSION))
    edited["checks"][0]["status"] = "pass"
    assert results_digest(edited) != results_digest(VERSION)


def test_a_signed_envelope_verifies_with_securesystemslib_and_with_cryptography_alone(keys):
    envelope = make_envelope(build_statement(VERSION, CONTEXT), load_signer(keys.private))
    (signature,) = envelope["signatures"]
    assert signature["keyid"] == keys.keyid and envelope["payloadType"] == PAYLOAD_TYPE
    # securesystemslib's verifier
    public = load_public_key(keys.public)
    assert list(Envelope.from_dict(copy.deepcopy(envelope)).verify([public], 1)) == [keys.keyid]
    # the spec and cryptography, nothing of govern or securesystemslib
    body = base64.b64decode(envelope["payload"])
    pem = load_pem_public_key(keys.public.read_bytes())
    pem.verify(base64.b64decode(signature["sig"]), pae(PAYLOAD_TYPE, body))  # type: ignore[union-attr, call-arg]
    assert json.loads(body)["predicate"]["results_sha256"] == results_digest(VERSION)
    # and govern's own, which leaves the envelope it reads as it was
    before = copy.deepcopy(envelope)
    opened = open_envelope(envelope, [public])
    assert envelope == before
    assert opened.verified_by == (keys.keyid,)
    check_results(opened, VERSION)


def test_a_forged_or_altered_envelope_is_not_verified(keys, tmp_path):
    public = load_public_key(keys.public)
    other = generate_keypair(tmp_path / "other")
    forged = make_envelope(build_statement(VERSION, CONTEXT), load_signer(other.private))
    with pytest.raises(NotVerified, match="which no trusted key verifies"):
        open_envelope(forged, [public])
    signed = make_envelope(build_statement(VERSION, CONTEXT), load_signer(keys.private))
    statement = json.loads(base64.b64decode(signed["payload"]))
    statement["predicate"]["verdict"] = "pass"
    altered = {**signed, "payload": base64.b64encode(json.dumps(statement).encode()).decode()}
    with pytest.raises(NotVerified, match="which no trusted key verifies"):
        open_envelope(altered, [public])


def test_unsigned_evidence_is_refused_only_where_signatures_are_required(keys):
    unsigned = make_envelope(build_statement(VERSION, CONTEXT), None)
    assert unsigned["signatures"] == []
    opened = open_envelope(unsigned, None)  # no trust list: consistent, and unsigned
    assert not opened.signed
    check_results(opened, VERSION)
    with pytest.raises(NotVerified, match="unsigned, and the policy requires signatures"):
        open_envelope(unsigned, [load_public_key(keys.public)])


def test_edited_results_do_not_match_their_statement(keys):
    opened = open_envelope(make_envelope(build_statement(VERSION, CONTEXT), None), None)
    edited = json.loads(json.dumps(VERSION))
    edited["checks"][0]["observed"] = 0.95
    with pytest.raises(NotVerified, match="results differ from what was attested"):
        check_results(opened, edited)
    other = {**VERSION, "version": "4"}
    with pytest.raises(NotVerified, match="the attestation is of credit/3"):
        check_results(opened, other)
