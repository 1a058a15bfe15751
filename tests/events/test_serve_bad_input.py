"""Bad input to govern serve, each case on its own: nothing reaches the queue but what MLflow
signed, fresh, well-formed and about an event govern acts on.

Deliveries are signed with MLflow's own signing function, so these are the bytes MLflow would
send; the server is a real ``govern serve`` process.
"""

from __future__ import annotations

import json
import time
import uuid

import pytest
from helpers import write_policy
from mlflow.webhooks.delivery import _generate_hmac_signature
from servers import _free_port
from serving import SECRET, Serve, http


@pytest.fixture(scope="module")
def serve(tmp_path_factory, server):
    root = tmp_path_factory.mktemp("serve-bad-input")
    policy = write_policy(root / "govern.yaml")
    policy.write_text(policy.read_text() + "protected_aliases: [production]\n")
    proc = Serve(
        port=_free_port(),
        state=root / "state",
        policy=policy,
        tracking_uri=server,
        log=root / "serve.log",
        extra=["--log-format", "json"],
    ).start()
    yield proc
    proc.stop()


def signed(
    message: dict | bytes, *, secret: str = SECRET, at: int | None = None, delivery: str = ""
) -> tuple[bytes, dict[str, str]]:
    body = message if isinstance(message, bytes) else json.dumps(message).encode()
    delivery_id = delivery or str(uuid.uuid4())
    ts = str(int(time.time()) if at is None else at)
    headers = {
        "Content-Type": "application/json",
        "X-MLflow-Delivery-Id": delivery_id,
        "X-MLflow-Timestamp": ts,
        "X-MLflow-Signature": _generate_hmac_signature(
            secret, delivery_id, ts, body.decode("utf-8", "replace")
        ),
    }
    return body, headers


def created(name: str = "no-such-model", version: str = "1") -> dict:
    return {
        "entity": "model_version",
        "action": "created",
        "timestamp": "2026-01-01T00:00:00+00:00",
        "data": {"name": name, "version": version, "source": "", "run_id": None, "tags": {}},
    }


def post(serve: Serve, body: bytes, headers: dict[str, str]) -> tuple[int, bytes]:
    return http("POST", f"{serve.url}/webhook", body, headers)


def queued_ids(serve: Serve) -> set[str]:
    return {r["delivery_id"] for r in serve.rows()}


def test_wrong_signature_is_401_and_nothing_queued(serve):
    body, headers = signed(created(), secret="not-the-secret")
    status, answer = post(serve, body, headers)
    assert status == 401 and json.loads(answer) == {"error": "the signature does not match"}
    assert headers["X-MLflow-Delivery-Id"] not in queued_ids(serve)
    assert serve.metrics()['govern_deliveries_rejected_total{reason="bad_signature"}'] >= 1


def test_missing_signature_is_401_and_nothing_queued(serve):
    body, headers = signed(created())
    del headers["X-MLflow-Signature"]
    status, _ = post(serve, body, headers)
    assert status == 401
    assert headers["X-MLflow-Delivery-Id"] not in queued_ids(serve)


def test_stale_timestamp_is_401_even_when_correctly_signed(serve):
    body, headers = signed(created(), at=int(time.time()) - 6 * 60)
    status, answer = post(serve, body, headers)
    assert status == 401 and b"old" in answer
    assert headers["X-MLflow-Delivery-Id"] not in queued_ids(serve)


def test_body_over_one_megabyte_is_413_before_it_is_read(serve):
    """The headers alone get the answer: the server never reads the megabyte."""
    import http.client

    message = created()
    message["data"]["description"] = "x" * (1024 * 1024 + 1)
    body, headers = signed(message)
    conn = http.client.HTTPConnection("127.0.0.1", serve.port, timeout=10)
    try:
        conn.putrequest("POST", "/webhook")
        for key, value in {**headers, "Content-Length": str(len(body))}.items():
            conn.putheader(key, value)
        conn.endheaders()  # no body sent
        response = conn.getresponse()
        assert response.status == 413
        assert json.loads(response.read()) == {"error": "body over 1048576 bytes"}
    finally:
        conn.close()
    assert headers["X-MLflow-Delivery-Id"] not in queued_ids(serve)
    assert serve.metrics()['govern_deliveries_rejected_total{reason="too_large"}'] >= 1


def test_malformed_json_is_400(serve):
    body, headers = signed(b'{"entity": "model_version", "action": ')
    status, answer = post(serve, body, headers)
    assert status == 400 and json.loads(answer) == {"error": "the body is not JSON"}
    assert headers["X-MLflow-Delivery-Id"] not in queued_ids(serve)


def test_unknown_event_is_204(serve):
    body, headers = signed({"entity": "prompt", "action": "created", "data": {"name": "p"}})
    status, answer = post(serve, body, headers)
    assert (status, answer) == (204, b"")
    assert headers["X-MLflow-Delivery-Id"] not in queued_ids(serve)


def test_govern_own_tag_write_is_ignored(serve):
    message = {
        "entity": "model_version_tag",
        "action": "set",
        "data": {"name": "m", "version": "1", "key": "govern.audit", "value": "{}"},
    }
    body, headers = signed(message)
    assert post(serve, body, headers) == (204, b"")
    assert headers["X-MLflow-Delivery-Id"] not in queued_ids(serve)


def test_unprotected_alias_is_ignored(serve):
    message = {
        "entity": "model_version_alias",
        "action": "created",
        "data": {"name": "m", "alias": "staging", "version": "1"},
    }
    body, headers = signed(message)
    assert post(serve, body, headers) == (204, b"")


def test_a_good_delivery_is_queued_answered_fast_and_logged_as_json(serve):
    body, headers = signed(created("no-such-model", "7"))
    started = time.monotonic()
    status, answer = post(serve, body, headers)
    assert time.monotonic() - started < 1.0
    assert status == 200 and json.loads(answer) == {"status": "queued"}
    delivery = headers["X-MLflow-Delivery-Id"]
    assert delivery in queued_ids(serve)
    # The worker handles it: the model does not exist, so it is skipped, not retried forever.
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        row = next(r for r in serve.rows() if r["delivery_id"] == delivery)
        if row["state"] == "done":
            break
        time.sleep(0.2)
    assert row["state"] == "done" and row["outcome"] == "skipped: the version no longer exists"
    lines = [json.loads(line) for line in serve.log_text().splitlines() if line.startswith("{")]
    mine = [entry for entry in lines if entry.get("delivery_id") == delivery]
    assert [e["outcome"] for e in mine] == ["queued", "skipped: the version no longer exists"]
    assert mine[-1]["model"] == "no-such-model" and mine[-1]["version"] == "7"
    assert SECRET not in serve.log_text()


def test_metrics_and_healthz(serve):
    status, body = http("GET", f"{serve.url}/healthz")
    assert status == 200 and json.loads(body)["status"] == "ok"
    metrics = serve.metrics()
    for name in (
        'govern_queue_depth{state="queued"}',
        'govern_audits_total{verdict="pass"}',
        'govern_audits_total{verdict="fail"}',
        "govern_incidents_total",
    ):
        assert name in metrics


def test_serve_without_a_secret_is_a_usage_error(tmp_path, server):
    from helpers import run_cli

    policy = write_policy(tmp_path / "govern.yaml")
    result = run_cli(
        "serve",
        "--state",
        str(tmp_path / "s"),
        "--policy",
        str(policy),
        "--tracking-uri",
        server,
        env={"GOVERN_WEBHOOK_SECRET": ""},
    )
    assert result.exit_code == 2
    assert "no webhook secret" in result.stderr
