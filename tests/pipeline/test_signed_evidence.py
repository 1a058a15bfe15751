"""Signed evidence end to end: real sqlite registries, real models, the CLI as users run it.

Each forgery here is one a user with EDIT rights on the registry, or write access to a report
folder, could make; each must be caught.
"""

from __future__ import annotations

import json
import shutil
import uuid

import pytest
from helpers import audit_json, recorded, register, results_of, run_cli, write_policy
from mlflow.tracking import MlflowClient

from govern.attest.keys import generate_keypair


def _name(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


@pytest.fixture
def keys(tmp_path):
    return generate_keypair(tmp_path / "keys")


def _trusting_policy(tmp_path, keys):
    policy = write_policy(tmp_path / "govern.yaml")
    text = policy.read_text() + f"trust:\n  auditors: [{keys.public}]\n"
    policy.write_text(text)
    return policy


@pytest.fixture
def signed_registry(sqlite_uri, tmp_path, adult, trained, keys):
    """One passing and one failing version, each audited and recorded with a signature."""
    plain, mitigated = trained
    good, bad = _name("good"), _name("bad")
    register(sqlite_uri, good, adult, mitigated, tmp_path / "d" / "g.parquet")
    register(sqlite_uri, bad, adult, plain, tmp_path / "d" / "b.parquet")
    policy = _trusting_policy(tmp_path, keys)
    out = tmp_path / "out"
    for name in (good, bad):
        result = audit_json(
            sqlite_uri,
            name,
            policy,
            "--signing-key",
            str(keys.private),
            "--out",
            str(out / name),
            write=True,
        )
        assert result.exit_code in (0, 1), result.output
    return sqlite_uri, policy, good, bad, out


def test_signed_results_verify_offline_and_an_edit_is_refused(signed_registry, tmp_path, keys):
    uri, policy, good, bad, out = signed_registry
    results = out / bad / "results.json"
    ok = run_cli("verify", str(results), "--policy", str(policy), "--format", "json")
    assert ok.exit_code == 0, ok.output
    (row,) = json.loads(ok.stdout)
    assert row == {
        "subject": f"{bad}/1",
        "outcome": "verified",
        "verified": True,
        "problem": None,
        "keyid": keys.keyid,
    }
    (envelope,) = (out / bad / "attestations").glob("*.intoto.json")
    assert run_cli("verify", str(envelope), "--key", str(keys.public)).exit_code == 0

    # Turn the failing version into a pass by editing results.json.
    data = json.loads(results.read_text())
    version = data["versions"][0]
    for check in version["checks"]:
        check["status"] = "pass"
    version["verdict"] = data["verdict"] = "pass"
    edited = tmp_path / "edited.json"
    edited.write_text(json.dumps(data))

    refused = run_cli("verify", str(edited), "--policy", str(policy), "--format", "json")
    assert refused.exit_code == 1
    (row,) = json.loads(refused.stdout)
    assert row["outcome"] == "not-verified"
    assert row["problem"].startswith("results differ from what was attested")
    report = run_cli("report", str(edited), "--out", str(tmp_path / "rendered"))
    assert report.exit_code == 1
    assert "does not match its attestations" in report.stderr
    assert not (tmp_path / "rendered").exists()  # nothing written


def test_a_forged_status_is_not_verified_by_scan_or_verify(signed_registry):
    uri, policy, good, bad, _ = signed_registry
    client = MlflowClient(uri, uri)
    record = recorded(client.get_model_version(bad, "1").tags)
    assert record["status"] == "fail" and record["keyid"]
    client.set_model_version_tag(bad, "1", "govern.audit", json.dumps({**record, "status": "pass"}))

    scan = run_cli(
        "scan", "--all", "--policy", str(policy), "--tracking-uri", uri, "--format", "json"
    )
    assert scan.exit_code == 0, scan.output
    rows = {r["model"]: r["governance"] for r in json.loads(scan.stdout)}
    assert rows[good]["verified"] is True and rows[good]["problem"] is None
    assert rows[bad]["verified"] is False
    assert rows[bad]["problem"] == "the record says pass, its audit run says fail"
    table = run_cli("scan", bad, "--policy", str(policy), "--tracking-uri", uri)
    assert "NOT VERIFIED" in table.stdout

    verify = run_cli("verify", bad, good, "--policy", str(policy), "--tracking-uri", uri)
    assert verify.exit_code == 1
    lines = {line.split()[0]: line for line in verify.stdout.splitlines()[1:]}
    assert "NOT-VERIFIED" in lines[f"{bad}/1"] and " verified " in lines[f"{good}/1"] + " "


def test_a_record_written_by_hand_on_an_unaudited_version_is_not_verified(
    sqlite_uri, tmp_path, adult, trained, keys
):
    _, mitigated = trained
    name = _name("never")
    register(sqlite_uri, name, adult, mitigated, tmp_path / "d" / "t.parquet")
    forged = {
        "format": 1,
        "status": "pass",
        "audited_at": "2026-12-01T00:00:00Z",
        "audit_run_id": "0" * 32,
        "policy_sha256": "0" * 64,
        "govern_version": "0.1.0",
        "proof": "training-hash",
        "proof_detail": None,
    }
    MlflowClient(sqlite_uri, sqlite_uri).set_model_version_tag(
        name, "1", "govern.audit", json.dumps(forged)
    )
    # Without any trust list too: a record no attestation backs is never shown as a pass.
    scan = run_cli("scan", name, "--tracking-uri", sqlite_uri, "--format", "json")
    (row,) = json.loads(scan.stdout)
    assert row["governance"]["verified"] is False
    assert row["governance"]["problem"] == (
        "the record names no attestation (written by hand, or by an older govern)"
    )


def test_verify_rehashes_the_data_now_at_its_source(signed_registry):
    uri, policy, good, _, _ = signed_registry
    client = MlflowClient(uri, uri)
    version = client.get_model_version(good, "1")
    run = client.get_run(version.run_id)
    (dataset_input,) = run.inputs.dataset_inputs
    source = json.loads(dataset_input.dataset.source)
    path = source.get("uri") or source.get("path")
    assert path
    local = path.removeprefix("file://")
    shutil.copy(local, local + ".orig")
    import pandas as pd

    df = pd.read_parquet(local)
    df.iloc[-1, 0] = df.iloc[0, 0]
    df.to_parquet(local)

    verify = run_cli(
        "verify", good, "--policy", str(policy), "--tracking-uri", uri, "--format", "json"
    )
    assert verify.exit_code == 1
    (row,) = json.loads(verify.stdout)
    assert (
        row["problem"].startswith("training-data") and "changed since the audit" in row["problem"]
    )


def test_an_unsigned_audit_is_not_verified_where_the_policy_requires_signatures(
    sqlite_uri, tmp_path, adult, trained, keys
):
    _, mitigated = trained
    name = _name("unsigned")
    register(sqlite_uri, name, adult, mitigated, tmp_path / "d" / "t.parquet")
    plain_policy = write_policy(tmp_path / "plain.yaml")
    out = tmp_path / "out"
    assert audit_json(sqlite_uri, name, plain_policy, "--out", str(out), write=True).exit_code == 0
    # No trust list: accepted, and said to be unsigned everywhere.
    free = run_cli("verify", str(out / "results.json"), "--policy", str(plain_policy))
    assert free.exit_code == 0 and "unsigned" in free.stdout
    html = next((out / "reports").glob("*.html")).read_text()
    assert "<strong>Unsigned.</strong>" in html
    # A trust list requires signatures: the same evidence is now not verified.
    policy = _trusting_policy(tmp_path, keys)
    strict = run_cli(
        "verify", str(out / "results.json"), "--policy", str(policy), "--format", "json"
    )
    assert strict.exit_code == 1
    assert json.loads(strict.stdout)[0]["problem"] == (
        "unsigned, and the policy requires signatures from its auditors"
    )
    scan = run_cli(
        "scan", name, "--policy", str(policy), "--tracking-uri", sqlite_uri, "--format", "json"
    )
    assert json.loads(scan.stdout)[0]["governance"]["verified"] is False
    # and it is never reused as verified evidence: the next audit recomputes it
    again = audit_json(sqlite_uri, name, policy, "--signing-key", str(keys.private), write=True)
    assert "reused_from" not in results_of(again)["versions"][0]["metadata"]
