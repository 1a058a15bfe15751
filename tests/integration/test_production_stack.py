"""govern against the production MLflow stack: PostgreSQL registry, artifacts in S3 (moto).

The registry is built the way teams build it: plain MLflow calls and ``govern.track``; the CLI
is run as users run it. What is checked is where things really land: rows in PostgreSQL,
objects in the bucket.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import pytest
from helpers import recorded, register, run_cli, write_policy
from mlflow.tracking import MlflowClient
from receiver import Receiver

SECRET = "integration-test-webhook-secret-0123"


@dataclass(frozen=True)
class Built:
    uri: str
    policy: Path
    key: Path
    out: Path
    audit: dict
    """``govern audit --format json`` of every version, as recorded."""


def _trusting_policy(folder: Path, public: Path) -> Path:
    policy = write_policy(folder / "govern.yaml")
    policy.write_text(policy.read_text() + f"trust:\n  auditors: [{public}]\n")
    return policy


@pytest.fixture(scope="module")
def built(stack, tmp_path_factory, adult, trained) -> Built:
    """credit/1 (govern.track, data as a runs:/ artifact in S3) passes, credit/2 (the
    unmitigated model) fails fairness, plain/1 (plain MLflow, data in a local file) passes;
    each audited once, signed and recorded."""
    plain, mitigated = trained
    work = tmp_path_factory.mktemp("stack-build")
    assert register(stack.uri, "credit", adult, mitigated, work / "a" / "t.parquet", artifact=True)
    assert register(stack.uri, "credit", adult, plain, work / "b" / "t.parquet", artifact=True)
    assert register(stack.uri, "plain", adult, mitigated, work / "c" / "t.parquet", track=False)
    keygen = run_cli("keygen", "--out", str(work / "keys"))
    assert keygen.exit_code == 0, keygen.output
    key = work / "keys" / "govern-signing.key"
    policy = _trusting_policy(work, work / "keys" / "govern-signing.pub")
    out = work / "out"
    result = run_cli(
        "audit", "credit", "plain", "--policy", str(policy), "--tracking-uri", stack.uri,
        "--signing-key", str(key), "--out", str(out), "--format", "json",
    )  # fmt: skip
    assert result.exit_code == 1, result.output
    return Built(stack.uri, policy, key, out, json.loads(result.stdout))


def _verdicts(audit: dict) -> dict[str, str]:
    return {f"{v['model']}/{v['version']}": v["verdict"] for v in audit["versions"]}


def test_audit_records_land_in_postgresql(built, stack):
    import psycopg2

    assert _verdicts(built.audit) == {"credit/1": "pass", "credit/2": "fail", "plain/1": "pass"}
    conn = psycopg2.connect(stack.backend.replace("postgresql+psycopg2://", "postgresql://"))
    try:
        with conn.cursor() as cur:
            cur.execute(
                "SELECT name, version, value FROM model_version_tags WHERE key = 'govern.audit'"
            )
            rows = cur.fetchall()
    finally:
        conn.close()
    status = {f"{name}/{version}": json.loads(value)["status"] for name, version, value in rows}
    assert status == {"credit/1": "pass", "credit/2": "fail", "plain/1": "pass"}
    assert all(json.loads(value)["keyid"] for _, _, value in rows)


def test_results_attestations_and_data_are_objects_in_the_bucket(built, stack):
    client = MlflowClient(stack.uri, stack.uri)
    keys = set(stack.s3.keys(f"{stack.prefix}/"))
    for ref in ("credit/1", "credit/2", "plain/1"):
        name, version = ref.split("/")
        record = recorded(client.get_model_version(name, version).tags)
        run = client.get_run(record["audit_run_id"])
        assert run.info.artifact_uri.startswith("mlflow-artifacts:/")
        # mlflow-artifacts:/<experiment>/<run>/artifacts -> s3://bucket/proxied/<same>
        prefix = f"{stack.prefix}/{run.info.artifact_uri.removeprefix('mlflow-artifacts:/')}"
        assert f"{prefix}/results.json" in keys, ref
        assert f"{prefix}/attestation.intoto.json" in keys, ref
    # credit/1's training data was logged by govern.track as a run artifact: the audit read it
    # from S3 through the server, and hashed what it read.
    version = next(
        v for v in built.audit["versions"] if v["model"] == "credit" and v["version"] == "1"
    )
    training_run = client.get_run(client.get_model_version("credit", "1").run_id)
    data_prefix = (
        f"{stack.prefix}/{training_run.info.artifact_uri.removeprefix('mlflow-artifacts:/')}/"
    )
    assert [k for k in keys if k.startswith(data_prefix) and k.endswith("t.parquet")]
    checks = {c["id"]: c for c in version["checks"]}
    assert checks["integrity.sha256"]["status"] == "pass"
    source = version["training_data"]["source"]
    assert source == f"runs:/{training_run.info.run_id}/training-data/t.parquet"
    assert f"{data_prefix}training-data/t.parquet" in keys


def test_scan_and_verify_read_the_signed_records_back(built, stack):
    scan = run_cli(
        "scan", "--all", "--policy", str(built.policy), "--tracking-uri", stack.uri,
        "--format", "json",
    )  # fmt: skip
    assert scan.exit_code == 0, scan.output
    rows = {f"{r['model']}/{r['version']}": r["governance"] for r in json.loads(scan.stdout)}
    assert {ref: (g["status"], g["verified"]) for ref, g in rows.items()} == {
        "credit/1": ("pass", True),
        "credit/2": ("fail", True),
        "plain/1": ("pass", True),
    }
    verify = run_cli(
        "verify", "credit/1", "plain/1", "--policy", str(built.policy),
        "--tracking-uri", stack.uri, "--format", "json",
    )  # fmt: skip
    assert verify.exit_code == 0, verify.output
    assert [row["verified"] for row in json.loads(verify.stdout)] == [True, True]
    offline = run_cli("verify", str(built.out / "results.json"), "--policy", str(built.policy))
    assert offline.exit_code == 0, offline.output


def test_gate_promotes_the_passing_version_only(built, stack):
    client = MlflowClient(stack.uri, stack.uri)
    refused = run_cli(
        "gate", "credit/2", "--promote-to", "production", "--policy", str(built.policy),
        "--tracking-uri", stack.uri, "--signing-key", str(built.key),
    )  # fmt: skip
    assert refused.exit_code == 1, refused.output
    assert "production" not in client.get_registered_model("credit").aliases
    promoted = run_cli(
        "gate", "credit/1", "--promote-to", "production", "--policy", str(built.policy),
        "--tracking-uri", stack.uri, "--signing-key", str(built.key),
    )  # fmt: skip
    assert promoted.exit_code == 0, promoted.output
    assert client.get_model_version_by_alias("credit", "production").version == "1"


def test_report_renders_the_results(built, tmp_path):
    result = run_cli("report", str(built.out / "results.json"), "--out", str(tmp_path / "r"))
    assert result.exit_code == 0, result.output
    assert (tmp_path / "r" / "index.html").is_file()
    copied = json.loads((tmp_path / "r" / "results.json").read_text())
    assert _verdicts(copied) == _verdicts(built.audit)


def test_clients_that_write_straight_to_s3(direct_stack, tmp_path, adult, trained, monkeypatch):
    """--default-artifact-root s3://... --no-serve-artifacts: the client (govern) holds the
    S3 credentials and writes the results itself."""
    for key, value in direct_stack.s3.env.items():
        monkeypatch.setenv(key, value)
    _, mitigated = trained
    uri = direct_stack.uri
    register(uri, "direct", adult, mitigated, tmp_path / "d" / "t.parquet", artifact=True)
    policy = write_policy(tmp_path / "govern.yaml")
    result = run_cli(
        "audit", "direct/1", "--policy", str(policy), "--tracking-uri", uri, "--format", "json"
    )
    assert result.exit_code == 0, result.output
    client = MlflowClient(uri, uri)
    run = client.get_run(recorded(client.get_model_version("direct", "1").tags)["audit_run_id"])
    bucket_prefix = f"s3://{direct_stack.s3.bucket}/"
    assert run.info.artifact_uri.startswith(bucket_prefix + direct_stack.prefix + "/")
    key = f"{run.info.artifact_uri.removeprefix(bucket_prefix)}/results.json"
    assert key in direct_stack.s3.keys(f"{direct_stack.prefix}/")


def test_webhook_install_and_a_real_event_on_the_stack(stack):
    with Receiver() as receiver:
        install = run_cli(
            "webhook", "install", "--url", receiver.url, "--tracking-uri", stack.uri,
            env={"GOVERN_WEBHOOK_SECRET": SECRET},
        )  # fmt: skip
        assert install.exit_code == 0, install.output
        assert install.stdout.splitlines()[1] == (
            "test delivery (registered_model.created) accepted: HTTP 200"
        )
        # A real registry event, delivered by the server from PostgreSQL's webhook table.
        MlflowClient(stack.uri, stack.uri).create_registered_model("webhook-event")
        deliveries = receiver.wait_for(2)
    assert len(deliveries) == 2
    assert all(d.signature_valid(SECRET) for d in deliveries)
    event = json.loads(deliveries[1].body)
    assert (event["entity"], event["action"]) == ("registered_model", "created")
    assert event["data"]["name"] == "webhook-event"
    removed = run_cli("webhook", "remove", "--tracking-uri", stack.uri)
    assert removed.exit_code == 0, removed.output
