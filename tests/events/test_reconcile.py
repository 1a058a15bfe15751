"""govern reconcile: the versions a lost delivery would have named get their audit."""

from __future__ import annotations

import json
import time
import uuid

import pytest
from helpers import register, run_cli, write_policy
from mlflow.tracking import MlflowClient

from govern.errors import UsageError
from govern.events.queue import Queue
from govern.events.reconcile import parse_duration, window_start


def test_durations():
    assert [parse_duration(t) for t in ("90s", "30m", "24h", "7d", "2w")] == [
        90,
        1800,
        86400,
        7 * 86400,
        14 * 86400,
    ]
    for bad in ("", "24", "h", "-1h", "0d", "1y"):
        with pytest.raises(UsageError):
            parse_duration(bad)


def test_window_takes_the_earlier_start():
    assert window_start(1000.0, None, now=5000) == (1000.0, "the last event govern serve processed")
    assert window_start(None, 600, now=5000) == (4400, "--since")
    assert window_start(4900.0, 600, now=5000) == (4400, "--since")
    assert window_start(None, None, now=90000) == (3600, "the default --since 24h")


def test_reconcile_audits_what_has_no_record_then_nothing(sqlite_uri, tmp_path, adult, trained):
    _, mitigated = trained
    policy = write_policy(tmp_path / "govern.yaml")
    name = f"rec-{uuid.uuid4().hex[:6]}"
    old = register(sqlite_uri, name, adult, mitigated, tmp_path / "d" / "a.parquet")
    # The server processed an event after the first version was created: the window starts
    # there, so version 1 is out of scope until an alias names it.
    state = tmp_path / "state"
    queue = Queue(state)
    queue.enqueue("d-1", "model_version.created", {"name": name, "version": old})
    event = queue.claim()
    assert event is not None
    queue.ack(event.seq, "audited: pass")
    queue.close()
    time.sleep(0.05)
    new = register(sqlite_uri, name, adult, mitigated, tmp_path / "d" / "b.parquet")
    args = ["--state", str(state), "--policy", str(policy), "--tracking-uri", sqlite_uri]
    first = run_cli("reconcile", *args, "--format", "json")
    assert first.exit_code == 0, first.output
    audited = [(v["model"], v["version"]) for v in json.loads(first.stdout)["versions"]]
    assert audited == [(name, new)]
    assert "reconciling 1 version(s) without an audit record" in first.stderr
    tags = MlflowClient(sqlite_uri, sqlite_uri).get_model_version(name, new).tags
    assert json.loads(tags["govern.audit"])["status"] == "pass"
    # An aliased version is in scope whenever it was created.
    MlflowClient(sqlite_uri, sqlite_uri).set_registered_model_alias(name, "production", old)
    second = run_cli("reconcile", *args)
    assert second.exit_code == 0, second.output
    assert f"{name}/{old}" in second.stderr and f"{name}/{new}" not in second.stderr
    third = run_cli("reconcile", *args)
    assert third.exit_code == 0, third.output
    assert third.stderr.startswith("nothing to reconcile: 2 version(s)")
    assert third.stdout == ""


def test_reconcile_rejects_a_bad_duration(tmp_path, sqlite_uri):
    policy = write_policy(tmp_path / "govern.yaml")
    result = run_cli(
        "reconcile", "--since", "yesterday", "--policy", str(policy), "--tracking-uri", sqlite_uri
    )
    assert result.exit_code == 2
    assert "invalid duration 'yesterday'" in result.stderr
