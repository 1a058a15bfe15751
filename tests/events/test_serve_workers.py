"""govern serve --workers 2 against a real mlflow server that delivers real signed webhooks.

The versions of the burst are registered in well under a second (copies of one trained and
logged version, as bench/bench_webhooks.py does), so their deliveries queue together and the two
workers have two models to take. Whether audits overlapped is read from the queue's own claim and
finish times and the worker that claimed each delivery, never from wall time.
"""

from __future__ import annotations

import os
import signal
import sqlite3
import uuid
from pathlib import Path

import pytest
from helpers import register, write_policy
from mlflow.tracking import MlflowClient
from serving import (
    audit_record,
    audit_runs,
    hook_server,  # noqa: F401  (fixture)
    install_webhook,
    make_serve,  # noqa: F401  (fixture)
    remove_webhook,
    wait_for,
)

AUDIT_WAIT = 300


@pytest.fixture
def template(hook_server, adult, trained, tmp_path):  # noqa: F811
    """A trained, logged and registered version (before any webhook): its source, run and
    logged model are what every version of the burst is registered from."""
    uri, _, _ = hook_server
    _, mitigated = trained
    name = f"template-{uuid.uuid4().hex[:6]}"
    version = register(uri, name, adult, mitigated, tmp_path / "d" / "t.parquet")
    return MlflowClient(uri, uri).get_model_version(name, version)


def burst(uri: str, template, models: list[str], per_model: int) -> dict[str, list[str]]:
    """``per_model`` versions of each model, registered round-robin as fast as MLflow allows."""
    client = MlflowClient(uri, uri)
    # MLflow accepts a models:/ source only with the logged model's id beside it.
    model_id = getattr(template, "model_id", None) or (
        template.source.removeprefix("models:/") if template.source.startswith("models:/") else None
    )
    for name in models:
        client.create_registered_model(name)
    created: dict[str, list[str]] = {name: [] for name in models}
    for _ in range(per_model):
        for name in models:
            mv = client.create_model_version(
                name,
                template.source,
                run_id=template.run_id,
                model_id=model_id,
                await_creation_for=0,
            )
            created[name].append(str(mv.version))
    return created


def spans(state: Path) -> list[dict]:
    """What each worker did, from the queue: model, version, worker, claimed and finished."""
    import json

    conn = sqlite3.connect(f"file:{state / 'queue.sqlite'}?mode=ro", uri=True)
    try:
        rows = conn.execute(
            "SELECT payload, claimed_by, claimed_at, finished_at, state, outcome FROM events "
            "WHERE event = 'model_version.created' ORDER BY seq"
        ).fetchall()
    finally:
        conn.close()
    out = []
    for payload, claimed_by, claimed_at, finished_at, state, outcome in rows:
        data = json.loads(payload)
        out.append(
            {
                "model": data["name"],
                "version": str(data["version"]),
                "worker": (claimed_by or "").rsplit("/", 1)[-1],
                "start": claimed_at,
                "end": finished_at,
                "state": state,
                "outcome": outcome,
            }
        )
    return out


def finished_runs(uri: str, name: str, version: str) -> list:
    """Audit runs that reached the end: a run cut by a kill stays RUNNING and carries no record."""
    return [r for r in audit_runs(uri, name, version) if r.info.status == "FINISHED"]


def test_two_workers_audit_two_models_at_once_and_each_model_in_order(
    hook_server,  # noqa: F811
    make_serve,  # noqa: F811
    template,
    tmp_path,
):
    uri, _, _ = hook_server
    policy = write_policy(tmp_path / "govern.yaml")
    serve = make_serve(policy, uri, extra=["--workers", "2"])
    assert serve.metrics()["govern_workers"] == 2
    hook = install_webhook(uri, f"{serve.url}/webhook")
    tag = uuid.uuid4().hex[:6]
    models = [f"par-a-{tag}", f"par-b-{tag}"]
    busy_seen = []
    try:
        created = burst(uri, template, models, 2)

        def all_done() -> bool:
            busy_seen.append(serve.metrics()["govern_worker_busy"])
            rows = spans(serve.state)
            return len(rows) == 4 and all(r["state"] == "done" for r in rows)

        wait_for(all_done, AUDIT_WAIT, "the four audits", every=0.3)
    finally:
        remove_webhook(uri, hook)
    rows = spans(serve.state)
    for name, versions in created.items():
        for version in versions:
            assert audit_record(uri, name, version)["status"] == "pass"
            assert len(audit_runs(uri, name, version)) == 1, f"{name}/{version} not audited once"
        mine = sorted((r for r in rows if r["model"] == name), key=lambda r: r["start"])
        # One model: in version order, the second claimed only after the first finished.
        assert [r["version"] for r in mine] == versions
        assert mine[0]["end"] <= mine[1]["start"], mine
    # Different models: audited at the same time, by different workers.
    first_a, first_b = (
        min((r for r in rows if r["model"] == name), key=lambda r: r["start"]) for name in models
    )
    assert first_a["start"] < first_b["end"] and first_b["start"] < first_a["end"], rows
    assert first_a["worker"] != first_b["worker"]
    assert {r["worker"] for r in rows} == {"1", "2"}
    assert max(busy_seen) == 2, busy_seen
    assert serve.metrics()["govern_worker_busy"] == 0
    assert serve.metrics()['govern_audits_total{verdict="pass"}'] == 4
    log = serve.log_text()
    assert "2 worker(s), each auditing in its own process" in log
    assert "worker=1" in log and "worker=2" in log


def session_processes(sid: int) -> list[int]:
    """Live processes of a session (govern serve is started in its own), zombies excluded."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2 :].split()
        if fields[0] != "Z" and int(fields[3]) == sid:
            found.append(int(entry.name))
    return found


def test_kill_9_of_the_server_alone_with_two_audits_in_flight(
    hook_server,  # noqa: F811
    make_serve,  # noqa: F811
    template,
    tmp_path,
):
    """SIGKILL to the server process only (not its group): its worker processes notice and
    exit, so no audit carries on unseen; the restarted server reclaims both deliveries and
    each version ends with exactly one finished audit and one record."""
    uri, _, _ = hook_server
    policy = write_policy(tmp_path / "govern.yaml")
    serve = make_serve(policy, uri, extra=["--workers", "2"])
    hook = install_webhook(uri, f"{serve.url}/webhook")
    tag = uuid.uuid4().hex[:6]
    models = [f"kill-a-{tag}", f"kill-b-{tag}"]
    try:
        created = burst(uri, template, models, 1)
        wait_for(
            lambda: [r["state"] for r in spans(serve.state)] == ["claimed", "claimed"],
            120,
            "both deliveries to be claimed",
            every=0.1,
        )
    finally:
        remove_webhook(uri, hook)
    assert serve.proc is not None
    sid = serve.proc.pid
    os.kill(sid, signal.SIGKILL)
    serve.proc.wait(timeout=30)
    # The forkserver and the audit processes it started were left behind by the kill.
    wait_for(lambda: not session_processes(sid), 60, "govern serve's processes to exit")
    assert [r["state"] for r in spans(serve.state)] == ["claimed", "claimed"]
    serve.start()
    for name, (version,) in created.items():
        record = wait_for(lambda n=name, v=version: audit_record(uri, n, v), AUDIT_WAIT, "audit")
        assert record["status"] == "pass"
    wait_for(
        lambda: all(r["state"] == "done" for r in spans(serve.state)), 60, "every delivery done"
    )
    assert "reclaimed 2 delivery(ies)" in serve.log_text()
    for name, (version,) in created.items():
        assert len(finished_runs(uri, name, version)) == 1


def test_an_audit_process_killed_mid_audit_is_retried_not_lost(
    hook_server,  # noqa: F811
    make_serve,  # noqa: F811
    template,
    tmp_path,
):
    """A worker process dies (the OOM killer, an operator): the delivery goes back in the
    queue, the pool is rebuilt and the version is audited; the server itself stays up."""
    uri, _, _ = hook_server
    policy = write_policy(tmp_path / "govern.yaml")
    serve = make_serve(policy, uri, extra=["--workers", "1"])
    hook = install_webhook(uri, f"{serve.url}/webhook")
    name = f"oom-{uuid.uuid4().hex[:6]}"
    try:
        ((version,),) = burst(uri, template, [name], 1).values()
        wait_for(lambda: serve.metrics()["govern_worker_busy"] == 1, 120, "the audit to start")
    finally:
        remove_webhook(uri, hook)
    assert serve.proc is not None
    server = serve.proc.pid

    def audit_processes() -> list[int]:
        """Children of the server's children: the forkserver's audit process."""
        children = [p for p in session_processes(server) if _ppid(p) == server]
        return [p for p in session_processes(server) if _ppid(p) in children]

    (worker,) = wait_for(audit_processes, 60, "the audit process", every=0.1)
    os.kill(worker, signal.SIGKILL)
    record = wait_for(lambda: audit_record(uri, name, version), AUDIT_WAIT, "the audit")
    assert record["status"] == "pass"
    assert serve.proc.poll() is None
    assert "the audit's worker process died" in serve.log_text()
    assert serve.metrics()["govern_retries_total"] >= 1
    assert len(finished_runs(uri, name, version)) == 1


def _ppid(pid: int) -> int:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return -1
    return int(stat[stat.rindex(")") + 2 :].split()[1])
