"""The webhook path end to end on the production stack: ``mlflow server`` on PostgreSQL with
artifacts in S3 delivers real signed webhooks (read from PostgreSQL's webhook table) to a real
``govern serve``, installed with ``govern webhook install`` as an operator would.

One new passing version, one failing version, and a hand-made alias move to the failing one:
govern audits both as they are created (evidence in the bucket), then undoes the move with a
signed incident. Each audit is a real one (a few seconds), so this is one test, not several.
"""

from __future__ import annotations

import json
import uuid

from helpers import register, run_cli, write_policy
from mlflow.tracking import MlflowClient
from serving import SECRET, audit_record, audit_runs, make_serve, wait_for  # noqa: F401

AUDIT_WAIT = 300


def test_serve_audits_new_versions_and_undoes_a_protected_alias_move(
    stack,
    make_serve,  # noqa: F811
    adult,
    trained,
    tmp_path,
):
    _, mitigated = trained
    keygen = run_cli("keygen", "--out", str(tmp_path / "keys"))
    assert keygen.exit_code == 0, keygen.output
    policy = write_policy(tmp_path / "govern.yaml")
    policy.write_text(
        policy.read_text()
        + "protected_aliases: [production]\n"
        + f"trust:\n  auditors: [{tmp_path / 'keys' / 'govern-signing.pub'}]\n"
    )
    serve = make_serve(policy, stack.uri, signing_key=tmp_path / "keys" / "govern-signing.key")
    name = f"served-{uuid.uuid4().hex[:6]}"
    install = run_cli(
        "webhook", "install", "--url", f"{serve.url}/webhook", "--name", name,
        "--tracking-uri", stack.uri, env={"GOVERN_WEBHOOK_SECRET": SECRET},
    )  # fmt: skip
    assert install.exit_code == 0, install.output
    client = MlflowClient(stack.uri, stack.uri)
    try:
        good = register(stack.uri, name, adult, mitigated, tmp_path / "d" / "good.parquet")
        record = wait_for(
            lambda: audit_record(stack.uri, name, good), AUDIT_WAIT, "the new version's audit"
        )
        assert record["status"] == "pass" and record["keyid"]
        bad_data = adult.copy()
        bad_data.loc[:40, "age"] = 150  # the policy's expectation refuses ages over 90
        bad = register(stack.uri, name, bad_data, mitigated, tmp_path / "d" / "bad.parquet")
        record = wait_for(
            lambda: audit_record(stack.uri, name, bad), AUDIT_WAIT, "the failing version's audit"
        )
        assert record["status"] == "fail"
        # Someone points production at the failing version by hand; nothing held it before.
        client.set_registered_model_alias(name, "production", bad)
        wait_for(lambda: audit_runs(stack.uri, name, bad, kind="incident"), 120, "the incident")
        wait_for(
            lambda: "production" not in client.get_registered_model(name).aliases,
            60,
            "production to be removed",
        )
    finally:
        removed = run_cli("webhook", "remove", name, "--tracking-uri", stack.uri)
        assert removed.exit_code == 0, removed.output
    # Each version audited exactly once; the evidence is in the bucket, not on local disk.
    runs = {v: audit_runs(stack.uri, name, v) for v in (good, bad)}
    assert {v: len(r) for v, r in runs.items()} == {good: 1, bad: 1}
    bucket = set(stack.s3.keys(f"{stack.prefix}/"))
    for run in runs.values():
        run_id = run[0].info.run_id
        assert any(k.endswith(f"{run_id}/artifacts/attestation.intoto.json") for k in bucket)
    history = run_cli(
        "history", f"{name}/{bad}", "--policy", str(policy), "--tracking-uri", stack.uri,
        "--format", "json",
    )  # fmt: skip
    assert history.exit_code == 0, history.output
    (chain,) = json.loads(history.stdout)
    assert chain["intact"] is True, chain["problems"]
    incident, audit = chain["records"]
    assert (incident["kind"], audit["kind"]) == ("incident", "audit")
    assert incident["signed"] is True and incident["problem"] is None
    assert incident["summary"].startswith(
        "incident: alias 'production' removed (its audit verdict is fail)"
    )
