"""Reviewer sign-off end to end: real sqlite registries, real keys, the CLI as reviewers run it."""

from __future__ import annotations

import base64
import copy
import json
import uuid
from pathlib import Path

import pytest
from google.protobuf import json_format
from helpers import audit_json, register, run_cli, write_policy
from in_toto_attestation.v1 import statement as intoto
from mlflow.tracking import MlflowClient
from securesystemslib.dsse import Envelope

from govern.attest.keys import generate_keypair, load_public_key, load_signer
from govern.attest.statement import make_envelope
from govern.config.review import RequiredReview
from govern.config.trust import Reviewer
from govern.errors import UsageError
from govern.pipeline.review import (
    FoundReview,
    _check_independence,
    _same_person,
    missing_reviews,
)
from govern.pipeline.verify import trusted_keys, verify_record
from govern.registry.client import Registry, VersionInfo

TRAINER = "dave"


def _name(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


@pytest.fixture
def people(tmp_path):
    return {
        who: generate_keypair(tmp_path / "keys" / who)
        for who in ("auditor", "carol", "dave", "stranger")
    }


def _policy(tmp_path, people, *, required: bool = False, extra: str = ""):
    policy = write_policy(tmp_path / "govern.yaml")
    text = policy.read_text() + (
        "trust:\n"
        f"  auditors: [{people['auditor'].public}]\n"
        "  reviewers:\n"
        f"    - {{id: Carol@example.com, key: {people['carol'].public}, roles: [validator]}}\n"
        f"    - {{id: dave@example.com, key: {people['dave'].public}, roles: [validator]}}\n"
    )
    if required:
        text += "review:\n  required: [{role: validator, count: 1}]\n"
    policy.write_text(text + extra)
    return policy


@pytest.fixture
def audited(sqlite_uri, tmp_path, adult, trained, people, monkeypatch):
    """One passing and one failing version, trained by dave, audited with a signature."""
    plain, mitigated = trained
    monkeypatch.setenv("LOGNAME", TRAINER)  # MLflow records the run's user from $LOGNAME
    good, bad = _name("good"), _name("bad")
    register(sqlite_uri, good, adult, mitigated, tmp_path / "d" / "g.parquet")
    register(sqlite_uri, bad, adult, plain, tmp_path / "d" / "b.parquet")
    policy = _policy(tmp_path, people)
    for name in (good, bad):
        signed = ("--signing-key", str(people["auditor"].private))
        result = audit_json(sqlite_uri, name, policy, *signed, write=True)
        assert result.exit_code in (0, 1), result.output
    return sqlite_uri, policy, good, bad


def _review(uri, policy, selector, key, *args):
    return run_cli(
        "review", selector, *args, "--signing-key", str(key.private),
        "--policy", str(policy), "--tracking-uri", uri,
    )  # fmt: skip


def test_an_approval_by_a_trusted_validator_is_signed_and_recorded(audited, people):
    uri, policy, good, _ = audited
    client = MlflowClient(uri, uri)
    audit_sha = json.loads(client.get_model_version(good, "1").tags["govern.audit"])[
        "attestation_sha256"
    ]
    result = _review(
        uri, policy, f"{good}/1", people["carol"], "--approve", "--role", "validator",
        "--note", "fairness margins checked",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    outcome = json.loads(result.stdout)
    assert outcome["reviewer"] == "Carol@example.com"
    assert outcome["keyid"] == people["carol"].keyid
    assert outcome["audit_attestation_sha256"] == audit_sha

    tags = client.get_model_version(good, "1").tags
    tag = json.loads(tags["govern.review.validator"])
    assert tag["decision"] == "approve" and tag["reviewer"] == "Carol@example.com"
    assert tag["run_id"] == outcome["run_id"] and tag["audit_attestation_sha256"] == audit_sha
    head = json.loads(tags["govern.head"])
    assert head == {"sha256": tag["envelope_sha256"], "kind": "review", "run_id": tag["run_id"]}

    run = client.get_run(tag["run_id"])
    assert run.data.tags["govern.kind"] == "review"
    assert run.data.tags["govern.review.role"] == "validator"
    assert run.data.tags["govern.review.decision"] == "approve"
    assert run.data.tags["govern.review.reviewer"] == "Carol@example.com"
    path = client.download_artifacts(tag["run_id"], "review.intoto.json")
    envelope = json.loads(open(path, encoding="utf-8").read())
    key = load_public_key(people["carol"].public)
    Envelope.from_dict(copy.deepcopy(envelope)).verify([key], 1)  # raises unless signed by carol
    statement = json.loads(base64.b64decode(envelope["payload"]))
    parsed = json_format.ParseDict(statement, intoto.spb.Statement())
    intoto.Statement.copy_from_pb(parsed).validate()
    predicate = statement["predicate"]
    assert statement["predicateType"] == "urn:govern:attestation:review:v1"
    assert predicate["decision"] == "approve" and predicate["role"] == "validator"
    assert predicate["note"] == "fairness margins checked"
    assert predicate["audit"]["attestation_sha256"] == audit_sha
    assert predicate["previous_record"] == audit_sha  # the audit was the chain head
    # Offline, like an audit's envelope: against the policy's reviewers, or a given key.
    ok = run_cli("verify", path, "--policy", str(policy), "--format", "json")
    assert ok.exit_code == 0, ok.output
    (row,) = json.loads(ok.stdout)
    assert (row["outcome"], row["keyid"]) == ("verified", people["carol"].keyid)
    assert row["subject"].endswith("approve by Carol@example.com (review.intoto.json)")
    edited = json.loads(base64.b64decode(envelope["payload"]))
    edited["predicate"]["decision"] = "reject"
    forged = policy.parent / "forged.intoto.json"
    payload = base64.b64encode(json.dumps(edited).encode()).decode()
    forged.write_text(json.dumps({**envelope, "payload": payload}))
    refused = run_cli("verify", str(forged), "--policy", str(policy))
    assert refused.exit_code == 1 and "NOT-VERIFIED" in refused.stdout
    # A trusted reviewer's signature on a review naming someone else is not that review.
    claimed = json.loads(base64.b64decode(envelope["payload"]))
    claimed["predicate"]["reviewer"] = "dave@example.com"
    impostor = policy.parent / "impostor.intoto.json"
    impostor.write_text(json.dumps(make_envelope(claimed, load_signer(people["carol"].private))))
    named = run_cli("verify", str(impostor), "--policy", str(policy), "--format", "json")
    assert named.exit_code == 1
    assert "which no trusted key verifies" in json.loads(named.stdout)[0]["problem"]
    names = {s["name"] for s in statement["subject"]}
    assert names == {f"model:{good}/1", "training-data:g.parquet"}

    registry = Registry(uri)
    info = registry.version(good, "1")
    from govern.config.policy import load_policy

    checked = verify_record(registry, info, trusted_keys(load_policy(policy)), rehash=False)
    assert checked is not None and checked.outcome == "verified", checked

    # The report of the next audit lists the sign-off.
    out = audit_json(uri, good, policy, "--out", str(policy.parent / "out"))
    assert out.exit_code == 0, out.output
    (reviews,) = [v["metadata"]["reviews"] for v in json.loads(out.stdout)["versions"]]
    assert [(r["role"], r["reviewer"], r["decision"], r["verified"]) for r in reviews] == [
        ("validator", "Carol@example.com", "approve", True)
    ]
    html = next((policy.parent / "out" / "reports").glob("*.html")).read_text()
    assert "Carol@example.com" in html and people["carol"].keyid[:16] in html


def test_the_models_author_cannot_review_it(audited, people):
    uri, policy, good, _ = audited
    result = _review(uri, policy, f"{good}/1", people["dave"], "--approve", "--role", "validator")
    assert result.exit_code == 2
    assert "dave started its training run" in result.stderr
    assert "govern.review.validator" not in MlflowClient(uri, uri).get_model_version(good, "1").tags


def test_the_versions_creator_cannot_review_it(sqlite_uri):
    # MLflow's sqlite store records no creator (ModelVersion.user_id is None): the rule for
    # registries that do (Databricks, servers with auth) is checked on the version as read.
    info = VersionInfo("m", "3", (), None, "", "READY", user_id="carol@example.com")
    carol = Reviewer("Carol", Path(__file__), ("validator",))
    with pytest.raises(UsageError, match="carol@example.com registered version 3 of m"):
        _check_independence(Registry(sqlite_uri), carol, info)
    assert _same_person("alice", "Alice@Example.com ")
    assert not _same_person("alice@example.com", "alicia")


def test_an_untrusted_key_or_a_role_not_held_is_refused(audited, people):
    uri, policy, good, _ = audited
    stranger = _review(
        uri, policy, f"{good}/1", people["stranger"], "--approve", "--role", "validator"
    )
    assert stranger.exit_code == 2
    assert people["stranger"].keyid in stranger.stderr
    role = _review(uri, policy, f"{good}/1", people["carol"], "--approve", "--role", "risk")
    assert role.exit_code == 2
    assert "does not hold the role 'risk'" in role.stderr


def test_a_failed_audit_cannot_be_approved_but_can_be_rejected(audited, people):
    uri, policy, _, bad = audited
    approve = _review(uri, policy, f"{bad}/1", people["carol"], "--approve", "--role", "validator")
    assert approve.exit_code == 1
    assert "cannot approve an audit whose verdict is fail" in approve.stderr
    reject = _review(
        uri, policy, f"{bad}/1", people["carol"], "--reject", "--role", "validator",
        "--note", "disparity too high",
    )  # fmt: skip
    assert reject.exit_code == 0, reject.output
    tag = json.loads(
        MlflowClient(uri, uri).get_model_version(bad, "1").tags["govern.review.validator"]
    )
    assert tag["decision"] == "reject"


def test_the_gate_waits_for_the_required_sign_off_of_the_same_files_data_and_policy(
    audited, people, tmp_path
):
    uri, _, good, _ = audited
    policy = _policy(tmp_path, people, required=True)
    signed = ("--signing-key", str(people["auditor"].private))
    client = MlflowClient(uri, uri)

    def gate(policy_file, *extra):
        return run_cli(
            "gate", f"{good}/1", "--promote-to", "production", "--policy", str(policy_file),
            "--tracking-uri", uri, "--format", "json", *signed, *extra,
        )  # fmt: skip

    refused = gate(policy, "--out", str(tmp_path / "refused"))
    assert refused.exit_code == 1, refused.output
    # The gate's results carry the review check and still verify against their attestation.
    results = tmp_path / "refused" / "results.json"
    verified = run_cli("verify", str(results), "--policy", str(policy))
    assert verified.exit_code == 0, verified.output
    assert "review required: validator x1" in refused.stderr
    checks = {c["id"]: c for c in json.loads(refused.stdout)["versions"][0]["checks"]}
    assert checks["review.required"]["status"] == "fail"
    assert checks["review.required"]["kind"] == "review"
    assert not client.get_registered_model(good).aliases

    # Carol approves the audit the gate just recorded; the gate's next audit keeps it.
    approve = _review(uri, policy, f"{good}/1", people["carol"], "--approve", "--role", "validator")
    assert approve.exit_code == 0, approve.output
    allowed = gate(policy)
    assert allowed.exit_code == 0, allowed.output
    assert {k: str(v) for k, v in client.get_registered_model(good).aliases.items()} == {
        "production": "1"
    }
    client.delete_registered_model_alias(good, "production")

    # Another policy (one more line) is another contract: the approval does not carry over.
    other = tmp_path / "other.yaml"
    other.write_text(policy.read_text() + "# reviewed again after the change\n")
    again = gate(other)
    assert again.exit_code == 1, again.output
    assert "review required: validator x1" in again.stderr
    assert not client.get_registered_model(good).aliases


def _found(reviewer, decision, at, *, data="d1", policy="p1", verified=True):
    return FoundReview(
        run_id=at, role="validator", reviewer=reviewer, decision=decision, reviewed_at=at,
        keyid="k", verified=verified, problem=None,
        subjects={"model:m/1": "m1", "training-data:t": data}, policy_sha256=policy,
        audit_attestation_sha256="a",
    )  # fmt: skip


def test_an_approval_counts_only_for_the_same_subjects_and_policy_until_its_reviewer_rejects():
    need = [RequiredReview("validator", 1)]
    subjects = {"model:m/1": "m1", "training-data:t": "d1"}

    def missing(*reviews):
        return missing_reviews(reviews, need, subjects, "p1")

    assert missing() == need
    assert missing(_found("carol", "approve", "2026-01-01T00:00:00.000Z")) == []
    assert missing(_found("carol", "approve", "2026-01-01T00:00:00.000Z", data="d2")) == need
    assert missing(_found("carol", "approve", "2026-01-01T00:00:00.000Z", policy="p2")) == need
    assert missing(_found("carol", "approve", "2026-01-01T00:00:00.000Z", verified=False)) == need
    approve, reject = (
        _found("carol", "approve", "2026-01-01T00:00:00.000Z"),
        _found("carol", "reject", "2026-01-02T00:00:00.000Z"),
    )
    assert missing(approve, reject) == need
    again = _found("carol", "approve", "2026-01-03T00:00:00.000Z")
    assert missing(approve, reject, again) == []
    two = [RequiredReview("validator", 2)]
    other = _found("erin", "approve", "2026-01-01T00:00:00.000Z")
    assert missing_reviews([approve, again], two, subjects, "p1") == two  # one reviewer, twice
    assert missing_reviews([approve, other], two, subjects, "p1") == []
