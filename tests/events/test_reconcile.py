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


def test_reconcile_audits_what_has_no_record_and_guards_protected_aliases(
    sqlite_uri, tmp_path, adult, trained
):
    _, mitigated = trained
    policy = write_policy(tmp_path / "govern.yaml")
    policy.write_text(policy.read_text() + "protected_aliases: [production]\n")
    name = f"rec-{uuid.uuid4().hex[:6]}"
    client = MlflowClient(sqlite_uri, sqlite_uri)
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
    bad = adult.copy()
    bad.loc[:40, "age"] = 150  # the policy's expectation refuses these: the audit fails
    new = register(sqlite_uri, name, bad, mitigated, tmp_path / "d" / "b.parquet")
    args = ["--state", str(state), "--policy", str(policy), "--tracking-uri", sqlite_uri]

    first = run_cli("reconcile", *args, "--format", "json")
    assert first.exit_code == 1, first.output  # the audit found a violation
    audited = [(v["model"], v["version"]) for v in json.loads(first.stdout)["versions"]]
    assert audited == [(name, new)]
    assert "reconciling 1 version(s) without an audit record" in first.stderr
    tags = client.get_model_version(name, new).tags
    assert json.loads(tags["govern.audit"])["status"] == "fail"

    # A lost alias delivery: production put on the failing version; an unprotected alias on
    # the unaudited old version brings it into scope whenever it was created.
    client.set_registered_model_alias(name, "production", new)
    client.set_registered_model_alias(name, "staging", old)
    second = run_cli("reconcile", *args)
    assert second.exit_code == 1, second.output
    assert "reconciling 1 version(s) without an audit record, of 2 created since" in second.stderr
    assert second.stderr.split("or aliased: ", 1)[1].splitlines()[0] == f"{name}/{old}"
    assert (
        f"{name}: incident: alias 'production' was on version {new} (its audit verdict is "
        "fail); removed" in second.stderr
    )
    assert "production" not in client.get_registered_model(name).aliases
    incidents = client.search_runs(
        [client.get_experiment_by_name("govern-audits").experiment_id],
        filter_string="tags.`govern.kind` = 'incident'",
    )
    assert [r.data.tags["govern.version"] for r in incidents] == [new]

    third = run_cli("reconcile", *args)
    assert third.exit_code == 0, third.output
    assert third.stderr.startswith("nothing to audit: 2 version(s)")
    assert third.stdout == ""


def test_reconcile_rejects_a_bad_duration(tmp_path, sqlite_uri):
    policy = write_policy(tmp_path / "govern.yaml")
    result = run_cli(
        "reconcile", "--since", "yesterday", "--policy", str(policy), "--tracking-uri", sqlite_uri
    )
    assert result.exit_code == 2
    assert "invalid duration 'yesterday'" in result.stderr
