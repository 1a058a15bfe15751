"""Fixtures and helpers for the webhook tests: a real ``mlflow server`` that delivers real,
signed webhooks, and real ``govern serve`` processes that receive them. The test modules import
this (a second conftest.py would shadow the root one, which other modules import by name).

The server gets MLflow's own webhook variables: a Fernet key to encrypt webhook secrets, http
allowed and private addresses allowed (govern serve listens on 127.0.0.1), and a one-second
webhook cache so a webhook created by a test is used for the next event at once.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from servers import _free_port, start_server, stop_server

from govern.attest.keys import generate_keypair

REPO = Path(__file__).resolve().parents[1]

SECRET = "whsec-test-0123456789abcdef"
EVENTS = [
    "model_version.created",
    "model_version_alias.created",
    "model_version_tag.set",
    "registered_model.created",
]


def webhook_env() -> dict[str, str]:
    from cryptography.fernet import Fernet

    return {
        "MLFLOW_WEBHOOK_SECRET_ENCRYPTION_KEY": Fernet.generate_key().decode(),
        "MLFLOW_WEBHOOK_ALLOWED_SCHEMES": "http,https",
        "MLFLOW_WEBHOOK_ALLOW_PRIVATE_IPS": "true",
        "MLFLOW_WEBHOOK_CACHE_TTL": "1",
    }


@pytest.fixture(scope="module")
def hook_server(tmp_path_factory):
    """(uri, root, env) of an mlflow server that delivers webhooks."""
    root = tmp_path_factory.mktemp("mlflow-webhooks")
    env = webhook_env()
    proc, uri = start_server(root, env=env)
    yield uri, root, env
    stop_server(proc)


@pytest.fixture(scope="module")
def keys(tmp_path_factory):
    return generate_keypair(tmp_path_factory.mktemp("keys"))


def http(method: str, url: str, body: bytes | None = None, headers: dict[str, str] | None = None):
    """(status, body bytes) of one request; an HTTP error status is returned, not raised."""
    request = urllib.request.Request(url, data=body, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=10) as resp:
            return resp.status, resp.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


@dataclass
class Serve:
    """One ``govern serve`` subprocess; stop() or kill() it, start() it again on the same
    port and state folder."""

    port: int
    state: Path
    policy: Path
    tracking_uri: str
    log: Path
    signing_key: Path | None = None
    extra: list[str] = field(default_factory=list)
    proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> Serve:
        args = [
            sys.executable,
            "-m",
            "govern",
            "serve",
            "--port",
            str(self.port),
            "--state",
            str(self.state),
            "--policy",
            str(self.policy),
            "--tracking-uri",
            self.tracking_uri,
            "--max-backoff",
            "2",
            *(["--signing-key", str(self.signing_key)] if self.signing_key else []),
            *self.extra,
        ]
        env = {
            **os.environ,
            "GOVERN_WEBHOOK_SECRET": SECRET,
            "PYTHONPATH": str(REPO),
        }
        # govern's own bounded HTTP settings, not the test session's single try: a busy
        # registry must not look like an unreachable one.
        for name in ("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "MLFLOW_HTTP_REQUEST_TIMEOUT"):
            env.pop(name, None)
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(
                args, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
            )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                status, _ = http("GET", f"{self.url}/healthz")
                if status == 200:
                    return self
            except OSError:
                pass
            if self.proc.poll() is not None:
                break
            time.sleep(0.2)
        raise RuntimeError("govern serve did not start:\n" + self.log.read_text()[-3000:])

    def stop(self, *, kill: bool = False) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        os.killpg(self.proc.pid, signal.SIGKILL if kill else signal.SIGTERM)
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=30)

    def metrics(self) -> dict[str, float]:
        status, body = http("GET", f"{self.url}/metrics")
        assert status == 200
        found = {}
        for line in body.decode().splitlines():
            if line and not line.startswith("#"):
                name, value = line.rsplit(" ", 1)
                found[name] = float(value)
        return found

    def rows(self) -> list[dict[str, Any]]:
        import sqlite3

        conn = sqlite3.connect(f"file:{self.state / 'queue.sqlite'}?mode=ro", uri=True)
        try:
            cursor = conn.execute(
                "SELECT delivery_id, event, payload, state, attempts, outcome FROM events "
                "ORDER BY seq"
            )
            names = [d[0] for d in cursor.description]
            return [dict(zip(names, r, strict=True)) for r in cursor.fetchall()]
        finally:
            conn.close()

    def log_text(self) -> str:
        return self.log.read_text(errors="replace")


@pytest.fixture
def make_serve(tmp_path):
    """Start govern serve processes for a test; every one is stopped at the end."""
    started: list[Serve] = []

    def make(policy: Path, tracking_uri: str, **kw: Any) -> Serve:
        serve = Serve(
            port=_free_port(),
            state=tmp_path / f"state-{len(started)}",
            policy=policy,
            tracking_uri=tracking_uri,
            log=tmp_path / f"serve-{len(started)}.log",
            **kw,
        )
        started.append(serve)
        return serve.start()

    yield make
    for serve in started:
        serve.stop(kill=True)
        # Shown by pytest with a failing test's report ("Captured stdout teardown").
        print(f"--- govern serve log ({serve.log.name}) ---\n{serve.log_text()[-6000:]}")


def install_webhook(uri: str, url: str) -> str:
    from mlflow.tracking import MlflowClient

    hook = MlflowClient(uri, uri).create_webhook(
        name=f"govern-{uuid.uuid4().hex[:6]}", url=url, events=EVENTS, secret=SECRET
    )
    return str(hook.webhook_id)


def remove_webhook(uri: str, webhook_id: str) -> None:
    from mlflow.tracking import MlflowClient

    MlflowClient(uri, uri).delete_webhook(webhook_id)


def wait_for(predicate, timeout: float, what: str, every: float = 0.5):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(every)
    raise AssertionError(f"timed out after {timeout:g} s waiting for {what}")


def audit_record(uri: str, name: str, version: str) -> dict[str, Any]:
    from mlflow.tracking import MlflowClient

    tags = MlflowClient(uri, uri).get_model_version(name, version).tags
    text = tags.get("govern.audit")
    return json.loads(text) if text else {}


def audit_runs(uri: str, name: str, version: str, kind: str | None = None) -> list[Any]:
    """govern's runs of one version: audits (``kind`` None) or runs of that kind."""
    from mlflow.tracking import MlflowClient

    client = MlflowClient(uri, uri)
    exp = client.get_experiment_by_name("govern-audits")
    if exp is None:
        return []
    runs = client.search_runs(
        [exp.experiment_id],
        filter_string=f"tags.`govern.model` = '{name}' and tags.`govern.version` = '{version}'",
    )
    return [r for r in runs if r.data.tags.get("govern.kind") == kind]
