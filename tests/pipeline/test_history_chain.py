"""The chain of signed records and the alias moves, against a real sqlite registry.

The edits here are the ones a user with EDIT rights can make: overwrite an artifact of a govern
run, delete a run, move an alias by hand. Each must be named by ``govern history`` and make
``govern verify`` fail.
"""

from __future__ import annotations

import json
import uuid

import pytest
from helpers import register, run_cli, write_policy
from mlflow.tracking import MlflowClient

from govern.attest.keys import generate_keypair


@pytest.fixture
def promoted(sqlite_uri, tmp_path, adult, trained):
    """Version 1 gated into 'production' with a signature; version 2 registered, not gated."""
    _, mitigated = trained
    name = f"chain-{uuid.uuid4().hex[:8]}"
    register(sqlite_uri, name, adult, mitigated, tmp_path / "d" / "t1.parquet")
    register(sqlite_uri, name, adult, mitigated, tmp_path / "d" / "t2.parquet")
    keys = generate_keypair(tmp_path / "keys")
    policy = write_policy(tmp_path / "govern.yaml")
    policy.write_text(policy.read_text() + f"trust:\n  auditors: [{keys.public}]\n")
    gate = run_cli(
        "gate",
        f"{name}/1",
        "--promote-to",
        "production",
        "--policy",
        str(policy),
        "--tracking-uri",
        sqlite_uri,
        "--signing-key",
        str(keys.private),
    )
    assert gate.exit_code == 0, gate.output
    return sqlite_uri, name, policy


def _history(uri, selector, policy):
    result = run_cli(
        "history", selector, "--policy", str(policy), "--tracking-uri", uri, "--format", "json"
    )
    return result.exit_code, json.loads(result.stdout)


def test_a_governed_promotion_is_an_intact_chain_of_signed_records(promoted):
    uri, name, policy = promoted
    code, (chain,) = _history(uri, f"{name}@production", policy)
    assert code == 0, chain
    assert chain["intact"] is True and chain["problems"] == []
    kinds = [r["kind"] for r in chain["records"]]
    assert kinds == ["promotion", "audit"]  # newest first
    promotion, audit = chain["records"]
    assert promotion["previous"] == audit["sha256"] and audit["previous"] is None
    assert all(r["signed"] and r["problem"] is None for r in chain["records"])
    assert promotion["summary"] == "promotion: alias 'production' from unset to 1"
    assert chain["aliases"] == [
        {
            "alias": "production",
            "governed": True,
            "audit_run_id": promotion["run_id"],
            "problem": None,
        }
    ]
    verify = run_cli("verify", f"{name}/1", "--policy", str(policy), "--tracking-uri", uri)
    assert verify.exit_code == 0, verify.output


def test_an_alias_moved_by_hand_is_an_ungoverned_promotion(promoted):
    uri, name, policy = promoted
    MlflowClient(uri, uri).set_registered_model_alias(name, "production", "2")
    code, (chain,) = _history(uri, f"{name}/2", policy)
    assert code == 1
    (move,) = chain["aliases"]
    assert move["governed"] is False
    assert move["problem"] == (
        "ungoverned promotion: alias 'production' points at version 2, but govern last moved "
        "it to version 1"
    )
    scan = run_cli("scan", name, "--policy", str(policy), "--tracking-uri", uri, "--format", "json")
    rows = {r["version"]: r for r in json.loads(scan.stdout)}
    assert rows["2"]["ungoverned_promotions"] == ["production"]
    assert rows["1"]["ungoverned_promotions"] == []
    table = run_cli("scan", name, "--policy", str(policy), "--tracking-uri", uri)
    assert "never audited; UNGOVERNED alias 'production'" in table.stdout


def test_an_edited_record_breaks_the_chain(promoted):
    uri, name, policy = promoted
    client = MlflowClient(uri, uri)
    code, (chain,) = _history(uri, f"{name}/1", policy)
    audit = chain["records"][1]
    path = client.download_artifacts(audit["run_id"], "attestation.intoto.json")
    envelope = json.loads(open(path).read())
    envelope["payload"] = envelope["payload"][:-8] + "AAAAAAA="  # a changed statement
    client.log_text(audit["run_id"], json.dumps(envelope), "attestation.intoto.json")

    code, (chain,) = _history(uri, f"{name}/1", policy)
    assert code == 1 and chain["intact"] is False
    assert any(
        p.startswith(f"record {audit['sha256'][:12]}… named by the promotion record")
        and p.endswith("is missing or was edited")
        for p in chain["problems"]
    ), chain["problems"]
    assert any("is not in the chain" in p for p in chain["problems"])
    verify = run_cli("verify", f"{name}/1", "--policy", str(policy), "--tracking-uri", uri)
    assert verify.exit_code == 1


def test_a_deleted_record_is_missing_from_the_chain(promoted, tmp_path, adult, trained):
    uri, name, policy = promoted
    code, (chain,) = _history(uri, f"{name}/1", policy)
    client = MlflowClient(uri, uri)
    client.delete_run(chain["records"][1]["run_id"])  # the audit run, and its attestation
    code, (chain,) = _history(uri, f"{name}/1", policy)
    assert code == 1
    assert any(p.endswith("is missing or was edited") for p in chain["problems"])


def test_a_review_joins_the_chain_after_the_promotion(promoted, tmp_path):
    uri, name, policy = promoted
    carol = generate_keypair(tmp_path / "carol")
    policy.write_text(
        policy.read_text()
        + "  reviewers:\n"
        + f"    - {{id: carol@example.com, key: {carol.public}, roles: [validator]}}\n"
    )
    # The policy changed (a reviewer): audit again so the review binds to a verified audit.
    keys = tmp_path / "keys" / "govern-signing.key"
    again = run_cli(
        "audit",
        f"{name}/1",
        "--policy",
        str(policy),
        "--tracking-uri",
        uri,
        "--signing-key",
        str(keys),
        "--force",
    )
    assert again.exit_code == 0, again.output
    review = run_cli(
        "review",
        f"{name}/1",
        "--approve",
        "--role",
        "validator",
        "--policy",
        str(policy),
        "--tracking-uri",
        uri,
        "--signing-key",
        str(carol.private),
    )
    assert review.exit_code == 0, review.output
    code, (chain,) = _history(uri, f"{name}/1", policy)
    assert code == 0, chain["problems"]
    assert [r["kind"] for r in chain["records"]] == ["review", "audit", "promotion", "audit"]
    assert chain["records"][0]["summary"] == ("review: approve as validator by carol@example.com")
    assert all(r["problem"] is None for r in chain["records"])
