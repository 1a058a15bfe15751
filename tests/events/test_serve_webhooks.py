"""govern serve against a real mlflow server that delivers real signed webhooks.

Each audit here is a real one (lineage, GX, fairlearn, a prediction in a sandboxed child), a few
seconds each, so the cases are few: a new version audited and a protected alias moved back with
a signed incident; a replayed delivery audited once; kill -9 with work queued; the registry
down while events arrive.
"""

from __future__ import annotations

import json
import uuid

import pytest
from helpers import register, run_cli, write_policy
from mlflow.tracking import MlflowClient
from servers import _free_port, start_server, stop_server
from serving import (
    audit_record,
    audit_runs,
    hook_server,  # noqa: F401  (fixture)
    http,
    install_webhook,
    keys,  # noqa: F401  (fixture)
    make_serve,  # noqa: F401  (fixture)
    remove_webhook,
    wait_for,
)

AUDIT_WAIT = 240


@pytest.fixture
def policy(tmp_path, keys):  # noqa: F811
    path = write_policy(tmp_path / "govern.yaml")
    path.write_text(
        path.read_text() + f"protected_aliases: [production]\ntrust:\n  auditors: [{keys.public}]\n"
    )
    return path


def failing_data(adult):
    """The Adult sample with ages the policy's expectation refuses: a version that fails."""
    bad = adult.copy()
    bad.loc[:40, "age"] = 150
    return bad


def test_new_version_audited_and_protected_alias_moved_back_with_an_incident(
    hook_server,  # noqa: F811
    make_serve,  # noqa: F811
    policy,
    keys,  # noqa: F811
    adult,
    trained,
    tmp_path,
):
    uri, _, _ = hook_server
    _, mitigated = trained
    serve = make_serve(policy, uri, signing_key=keys.private)
    hook = install_webhook(uri, f"{serve.url}/webhook")
    client = MlflowClient(uri, uri)
    name = f"hooked-{uuid.uuid4().hex[:6]}"
    try:
        good = register(uri, name, adult, mitigated, tmp_path / "d" / "good.parquet")
        record = wait_for(
            lambda: audit_record(uri, name, good), AUDIT_WAIT, "the audit of the new version"
        )
        assert record["status"] == "pass" and record["keyid"]
        client.set_registered_model_alias(name, "production", good)
        wait_for(
            lambda: any((r["outcome"] or "").startswith("allowed") for r in serve.rows()),
            60,
            "the alias on the passing version to be allowed",
        )
        bad = register(uri, name, failing_data(adult), mitigated, tmp_path / "d" / "bad.parquet")
        record = wait_for(lambda: audit_record(uri, name, bad), AUDIT_WAIT, "the failing audit")
        assert record["status"] == "fail"
        # A person moves production to the failing version by hand.
        client.set_registered_model_alias(name, "production", bad)
        wait_for(
            lambda: audit_runs(uri, name, bad, kind="incident"), 60, "the incident to be recorded"
        )
        wait_for(
            lambda: client.get_registered_model(name).aliases.get("production") == good,
            30,
            "production to be moved back",
        )
    finally:
        remove_webhook(uri, hook)
    # Each version audited exactly once, whatever MLflow delivered (govern's own tag writes
    # came back as model_version_tag.set deliveries and were ignored, not queued).
    assert len(audit_runs(uri, name, good)) == 1 and len(audit_runs(uri, name, bad)) == 1
    assert {r["event"] for r in serve.rows()} == {
        "model_version.created",
        "model_version_alias.created",
    }
    assert "ignored: govern's own tag write" in serve.log_text()
    history = run_cli(
        "history",
        f"{name}/{bad}",
        "--policy",
        str(policy),
        "--tracking-uri",
        uri,
        "--format",
        "json",
    )
    assert history.exit_code == 0, history.output
    (chain,) = json.loads(history.stdout)
    assert chain["intact"] is True, chain["problems"]
    incident, audit = chain["records"]
    assert (incident["kind"], audit["kind"]) == ("incident", "audit")
    assert incident["signed"] is True and incident["problem"] is None
    assert incident["summary"].startswith(
        f"incident: alias 'production' restored to version {good} (its audit verdict is fail)"
    )
    metrics = serve.metrics()
    assert metrics["govern_incidents_total"] == 1
    assert metrics['govern_audits_total{verdict="pass"}'] == 1
    assert metrics['govern_audits_total{verdict="fail"}'] == 1
    assert f"incident: alias 'production' was on version {bad}" in serve.log_text()


def test_replayed_delivery_is_acknowledged_and_audited_once(
    hook_server,  # noqa: F811
    make_serve,  # noqa: F811
    policy,
    adult,
    trained,
    tmp_path,
):
    """MLflow's real delivery is captured by a first receiver and replayed to govern serve."""
    from test_serve_bad_input import signed

    uri, _, _ = hook_server
    _, mitigated = trained
    serve = make_serve(policy, uri)
    name = f"replayed-{uuid.uuid4().hex[:6]}"
    version = register(uri, name, adult, mitigated, tmp_path / "d" / "t.parquet")
    message = {
        "entity": "model_version",
        "action": "created",
        "timestamp": "2026-01-01T00:00:00+00:00",
        "data": {"name": name, "version": version, "source": "", "run_id": None, "tags": {}},
    }
    body, headers = signed(message)
    first = http("POST", f"{serve.url}/webhook", body, headers)
    again = http("POST", f"{serve.url}/webhook", body, headers)
    assert first == (200, b'{"status":"queued"}')
    assert again == (200, b'{"status":"duplicate"}')
    wait_for(lambda: audit_record(uri, name, version), AUDIT_WAIT, "the audit")
    wait_for(lambda: serve.rows()[0]["state"] == "done", 30, "the delivery to be done")
    assert len(serve.rows()) == 1
    assert len(audit_runs(uri, name, version)) == 1
    assert serve.metrics()['govern_deliveries_total{result="duplicate"}'] == 1


def test_kill_9_with_work_queued_loses_nothing(
    hook_server,  # noqa: F811
    make_serve,  # noqa: F811
    policy,
    adult,
    trained,
    tmp_path,
):
    uri, _, _ = hook_server
    _, mitigated = trained
    serve = make_serve(policy, uri)
    hook = install_webhook(uri, f"{serve.url}/webhook")
    name = f"killed-{uuid.uuid4().hex[:6]}"
    try:
        versions = [
            register(uri, name, adult, mitigated, tmp_path / "d" / f"t{i}.parquet")
            for i in range(2)
        ]
        wait_for(
            lambda: sum(r["event"] == "model_version.created" for r in serve.rows()) == 2,
            60,
            "both deliveries to be queued",
            every=0.1,
        )
    finally:
        remove_webhook(uri, hook)
    serve.stop(kill=True)
    states = [r["state"] for r in serve.rows()]
    assert set(states) - {"done"}, f"nothing was left to do at the kill: {states}"
    serve.start()
    for version in versions:
        record = wait_for(lambda v=version: audit_record(uri, name, v), AUDIT_WAIT, "the audit")
        assert record["status"] == "pass"
    wait_for(
        lambda: all(r["state"] == "done" for r in serve.rows()), 30, "every delivery to be done"
    )
    if "claimed" in states:
        assert "reclaimed 1 delivery(ies)" in serve.log_text()


def test_registry_down_while_events_arrive(
    hook_server,  # noqa: F811
    make_serve,  # noqa: F811
    policy,
    keys,  # noqa: F811
    adult,
    trained,
    tmp_path,
):
    """MLflow delivers while the registry govern reads (a second server on the same store,
    not started yet) is down: the events wait in the queue; when it comes up the version is
    audited, and the protected alias a person put on it meanwhile is removed with an incident.
    """
    uri, root, env = hook_server
    _, mitigated = trained
    port = _free_port()
    later = f"http://127.0.0.1:{port}"
    serve = make_serve(policy, later, signing_key=keys.private)
    hook = install_webhook(uri, f"{serve.url}/webhook")
    client = MlflowClient(uri, uri)
    name = f"down-{uuid.uuid4().hex[:6]}"
    proc = None
    try:
        version = register(
            uri, name, failing_data(adult), mitigated, tmp_path / "d" / "bad.parquet"
        )
        client.set_registered_model_alias(name, "production", version)
        wait_for(lambda: len(serve.rows()) == 2, 60, "both deliveries to be queued")
        wait_for(lambda: serve.metrics()["govern_retries_total"] >= 2, 60, "govern to have retried")
        assert all(r["state"] in ("queued", "claimed") for r in serve.rows())
        assert audit_record(uri, name, version) == {}
        proc, _ = start_server(root, port=port, env=env)
        record = wait_for(lambda: audit_record(uri, name, version), AUDIT_WAIT, "the audit")
        assert record["status"] == "fail"
        wait_for(lambda: all(r["state"] == "done" for r in serve.rows()), 60, "every delivery done")
    finally:
        remove_webhook(uri, hook)
        if proc is not None:
            stop_server(proc)
    assert "production" not in client.get_registered_model(name).aliases
    (incident,) = audit_runs(uri, name, version, kind="incident")
    assert incident.data.tags["govern.incident.action"] == "removed"
    # The alias waited for the audit of its version (deliveries of a model are handled in
    # order), so it was judged on that audit, not on its absence.
    assert incident.data.tags["govern.incident.reason"] == "its audit verdict is fail"
    assert serve.metrics()["govern_incidents_total"] == 1
