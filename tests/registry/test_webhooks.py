"""govern webhook install | list | remove against real ``mlflow server`` processes.

Three servers: one configured for a local receiver (encryption key, http allowed, private
addresses allowed), one with MLflow's defaults (https only, no private addresses), and one
without the encryption key, restarted to show what that does. MLflow itself signs and sends
the test deliveries; the receiver is a stdlib HTTP server in a thread.
"""

from __future__ import annotations

import json
import socket

import pytest
from cryptography.fernet import Fernet
from helpers import run_cli
from receiver import Receiver
from servers import start_server, stop_server

from govern.registry.webhooks import EVENTS, KEY_MISSING

SECRET = "test-only-webhook-secret-0123456789"
LOCAL_ENV = {
    "MLFLOW_WEBHOOK_ALLOWED_SCHEMES": "http,https",
    "MLFLOW_WEBHOOK_ALLOW_PRIVATE_IPS": "true",
}


@pytest.fixture(scope="module")
def hook_server(tmp_path_factory):
    """A server that may deliver to 127.0.0.1 over http, with a persistent encryption key."""
    env = {**LOCAL_ENV, "MLFLOW_WEBHOOK_SECRET_ENCRYPTION_KEY": Fernet.generate_key().decode()}
    proc, uri = start_server(tmp_path_factory.mktemp("hook-server"), env=env)
    yield uri
    stop_server(proc)


@pytest.fixture(scope="module")
def strict_server(tmp_path_factory):
    """MLflow's defaults: https only, no private addresses."""
    env = {"MLFLOW_WEBHOOK_SECRET_ENCRYPTION_KEY": Fernet.generate_key().decode()}
    proc, uri = start_server(tmp_path_factory.mktemp("strict-server"), env=env)
    yield uri
    stop_server(proc)


def install(uri: str, url: str, *extra: str, secret: str = SECRET):
    return run_cli(
        "webhook", "install", "--url", url, "--tracking-uri", uri, *extra,
        env={"GOVERN_WEBHOOK_SECRET": secret},
    )  # fmt: skip


def listed(uri: str) -> list[dict]:
    result = run_cli("webhook", "list", "--tracking-uri", uri, "--format", "json")
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)["webhooks"]


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_install_creates_the_webhook_and_mlflow_delivers_a_signed_test(hook_server):
    with Receiver() as receiver:
        result = install(hook_server, receiver.url, "--name", "govern-signed")
        deliveries = receiver.wait_for(1)
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0].startswith("created webhook 'govern-signed' (")
    assert lines[0].endswith(f") -> {receiver.url} for 6 events")
    assert lines[1] == "test delivery (registered_model.created) accepted: HTTP 200"
    assert SECRET not in result.output
    assert len(deliveries) == 1
    delivery = deliveries[0]
    assert delivery.path == "/webhook"
    assert delivery.signature_valid(SECRET)
    assert not delivery.signature_valid(SECRET + "x")
    payload = json.loads(delivery.body)
    assert (payload["entity"], payload["action"]) == ("registered_model", "created")
    assert payload["data"]["name"] == "example_model"
    [hook] = [h for h in listed(hook_server) if h["name"] == "govern-signed"]
    assert hook["url"] == receiver.url
    assert sorted(hook["events"]) == sorted(EVENTS)
    assert hook["status"] == "ACTIVE"
    assert "secret" not in hook


def test_install_again_updates_in_place_with_the_new_url_and_secret(hook_server):
    new_secret = "another-test-only-secret-9876543210"
    with Receiver() as first, Receiver() as second:
        created = install(hook_server, first.url, "--name", "govern-again")
        updated = install(hook_server, second.url, "--name", "govern-again", secret=new_secret)
        deliveries = second.wait_for(1)
    assert created.exit_code == 0, created.output
    assert updated.exit_code == 0, updated.output
    hook_id = created.stdout.split("(", 1)[1].split(")", 1)[0]
    assert updated.stdout.splitlines()[0] == (
        f"updated webhook 'govern-again' ({hook_id}) -> {second.url} for 6 events"
    )
    assert [h["id"] for h in listed(hook_server) if h["name"] == "govern-again"] == [hook_id]
    assert len(deliveries) == 1
    assert deliveries[0].signature_valid(new_secret)
    assert not deliveries[0].signature_valid(SECRET)


def test_list_shows_only_govern_webhooks_as_a_table(hook_server):
    from mlflow.tracking import MlflowClient

    MlflowClient(hook_server, hook_server).create_webhook(
        "someone-else", "http://127.0.0.1:9/hook", ["model_version.created"]
    )
    with Receiver() as receiver:
        assert install(hook_server, receiver.url, "--name", "govern-table").exit_code == 0
    names = [h["name"] for h in listed(hook_server)]
    assert "govern-table" in names
    assert "someone-else" not in names
    table = run_cli("webhook", "list", "--tracking-uri", hook_server)
    assert table.exit_code == 0, table.output
    header, *rows = table.stdout.splitlines()
    assert header.split() == ["NAME", "ID", "URL", "EVENTS", "STATUS"]
    [row] = [r.split() for r in rows if r.startswith("govern-table ")]
    assert row[2:] == [receiver.url, ",".join(sorted(EVENTS)), "ACTIVE"]
    # govern neither replaces nor removes a webhook it did not install.
    clash = install(hook_server, receiver.url, "--name", "someone-else", "--no-test")
    assert clash.exit_code == 2
    assert "a webhook named 'someone-else'" in clash.stderr
    assert "govern did not install it: pass another --name" in clash.stderr
    refused = run_cli("webhook", "remove", "someone-else", "--tracking-uri", hook_server)
    assert refused.exit_code == 2
    assert "was not installed by govern: govern removes only its own webhooks" in refused.stderr
    ours = [h.name for h in MlflowClient(hook_server, hook_server).list_webhooks()]
    assert "someone-else" in ours


def test_remove_deletes_by_name_and_by_id(hook_server):
    first = install(hook_server, "http://127.0.0.1:9/x", "--name", "govern-rm1", "--no-test")
    second = install(hook_server, "http://127.0.0.1:9/y", "--name", "govern-rm2", "--no-test")
    assert first.exit_code == 0 and second.exit_code == 0, first.output + second.output
    second_id = second.stdout.split("(", 1)[1].split(")", 1)[0]
    by_name = run_cli("webhook", "remove", "govern-rm1", "--tracking-uri", hook_server)
    assert by_name.exit_code == 0, by_name.output
    assert by_name.stdout.startswith("removed webhook 'govern-rm1' (")
    by_id = run_cli("webhook", "remove", second_id, "--tracking-uri", hook_server)
    assert by_id.exit_code == 0, by_id.output
    assert by_id.stdout == f"removed webhook 'govern-rm2' ({second_id})\n"
    names = {h["name"] for h in listed(hook_server)}
    assert not names & {"govern-rm1", "govern-rm2"}
    again = run_cli("webhook", "remove", "govern-rm1", "--tracking-uri", hook_server)
    assert again.exit_code == 2
    assert again.stderr == "govern: error: webhook 'govern-rm1': not found\n"


def test_a_receiver_that_refuses_the_signature_exits_2(hook_server):
    with Receiver(status=401) as receiver:
        result = install(hook_server, receiver.url, "--name", "govern-401")
    assert result.exit_code == 2
    assert result.stderr == (
        f"govern: error: MLflow's test delivery to {receiver.url} was refused with HTTP 401: "
        "the receiver does not accept the signature (is govern serve running with the same "
        "secret?)\n"
    )


def test_an_unreachable_receiver_exits_4_and_leaves_the_webhook_installed(hook_server):
    url = f"http://127.0.0.1:{_closed_port()}/webhook"
    result = install(hook_server, url, "--name", "govern-down")
    assert result.exit_code == 4
    assert result.stdout.startswith("created webhook 'govern-down'")
    assert result.stderr == (
        f"govern: error: MLflow's test delivery to {url} failed: connection refused (the "
        "webhook is installed; start govern serve where the MLflow server can reach it, then "
        "run install again to test)\n"
    )
    assert [h["url"] for h in listed(hook_server) if h["name"] == "govern-down"] == [url]


def test_the_server_refuses_http_and_private_addresses_by_default(strict_server):
    http = install(strict_server, "http://127.0.0.1:9/webhook")
    assert http.exit_code == 2
    assert http.stderr == (
        "govern: error: the MLflow server refuses webhook URLs with scheme 'http' (it allows: "
        "https): give an https URL, or start the server with "
        "MLFLOW_WEBHOOK_ALLOWED_SCHEMES=https,http (test setups only)\n"
    )
    private = install(strict_server, "https://127.0.0.1:9/webhook")
    assert private.exit_code == 2
    assert private.stderr == (
        "govern: error: the MLflow server refuses webhook URLs that resolve to a private "
        "address (127.0.0.1 is 127.0.0.1): give a public address, or start the server with "
        "MLFLOW_WEBHOOK_ALLOW_PRIVATE_IPS=true when govern serve runs on the same host or "
        "network\n"
    )
    assert listed(strict_server) == []


def test_a_server_without_the_encryption_key_is_named_after_a_restart(tmp_path):
    root = tmp_path / "no-key"
    root.mkdir()
    proc, uri = start_server(root, env=LOCAL_ENV)
    try:
        with Receiver() as receiver:
            # One process encrypts and decrypts with the same random key: all seems well.
            first = install(uri, receiver.url)
            assert first.exit_code == 0, first.output
    finally:
        stop_server(proc)
    proc, uri = start_server(root, env=LOCAL_ENV)
    try:
        result = run_cli("webhook", "list", "--tracking-uri", uri)
        again = install(uri, "http://127.0.0.1:9/webhook", "--no-test")
    finally:
        stop_server(proc)
    assert result.exit_code == 2
    assert result.stderr == f"govern: error: {KEY_MISSING}\n"
    assert again.exit_code == 2
    assert again.stderr == f"govern: error: {KEY_MISSING}\n"


def test_a_secret_is_required_and_must_be_long(hook_server):
    missing = run_cli(
        "webhook", "install", "--url", "http://127.0.0.1:9/x", "--tracking-uri", hook_server,
        env={"GOVERN_WEBHOOK_SECRET": ""},
    )  # fmt: skip
    assert missing.exit_code == 2
    assert missing.stderr == (
        "govern: error: no webhook secret: pass --secret or set GOVERN_WEBHOOK_SECRET (govern "
        "serve rejects unsigned deliveries)\n"
    )
    short = install(hook_server, "http://127.0.0.1:9/x", secret="tooshort-secret")
    assert short.exit_code == 2
    assert "shorter than 16 characters" in short.stderr
    assert "tooshort-secret" not in short.output


def test_webhooks_need_a_tracking_server_not_a_database(sqlite_uri):
    result = install(sqlite_uri, "http://127.0.0.1:9/x")
    assert result.exit_code == 2
    assert result.stderr.startswith(
        "govern: error: webhooks are delivered only by 'mlflow server': --tracking-uri must be "
        "the server's http(s) URL, not sqlite:///"
    )
