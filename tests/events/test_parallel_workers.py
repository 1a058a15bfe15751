"""Several workers on one queue: the claim is atomic, one model's deliveries are handled in order
and one at a time, different models at the same time.

The queue is the real sqlite queue; the workers are govern serve's real worker threads
(``Workers``) and, for the claim across processes, real ``python`` processes each with its own
connection. Only the handler is the test's: it records when it ran instead of auditing.
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from pathlib import Path

from govern.events.queue import Queue
from govern.events.worker import EventLog, Handled, Workers

REPO = Path(__file__).resolve().parents[2]
MODELS = ("a", "b", "c")
PER_MODEL = 6


def fill(queue: Queue) -> None:
    """Deliveries of three models, interleaved as a burst would arrive."""
    for i in range(PER_MODEL):
        for model in MODELS:
            queue.enqueue(f"{model}-{i}", "model_version.created", {"name": model, "version": i})


def check_order(spans: list[tuple[str, int, float, float]]) -> None:
    """Each delivery once; per model, by version order, each one after the previous ended."""
    assert sorted((m, v) for m, v, _, _ in spans) == sorted(
        (m, v) for m in MODELS for v in range(PER_MODEL)
    )
    for model in MODELS:
        mine = sorted((s for s in spans if s[0] == model), key=lambda s: s[2])
        assert [s[1] for s in mine] == list(range(PER_MODEL)), mine
        for before, after in zip(mine, mine[1:], strict=False):
            assert before[3] <= after[2], f"{model}: {before} overlaps {after}"


def test_worker_threads_keep_each_model_in_order_and_run_models_in_parallel(tmp_path):
    queue = Queue(tmp_path / "state")
    fill(queue)
    spans: list[tuple[str, int, float, float]] = []
    lock = threading.Lock()
    running: dict[str, int] = {}
    most_at_once = [0]

    def handle(event):
        model, version = event.payload["name"], int(event.payload["version"])
        started = time.monotonic()
        with lock:
            assert model not in running, f"{model} handled by two workers at once"
            running[model] = version
            most_at_once[0] = max(most_at_once[0], len(running))
        time.sleep(0.05)
        with lock:
            del running[model]
        spans.append((model, version, started, time.monotonic()))
        return Handled("done", None, model, str(version))

    workers = Workers(queue, handle, EventLog(), 4, poll=0.02)
    workers.start()
    try:
        deadline = time.monotonic() + 30
        while queue.stats()["states"]["done"] < len(MODELS) * PER_MODEL:
            assert time.monotonic() < deadline, queue.rows()
            time.sleep(0.02)
    finally:
        workers.stop()
        workers.join(5)
    assert not workers.any_alive()
    check_order(spans)
    # Three models, four workers: all three were handled at once (the fourth had nothing it
    # was allowed to take).
    assert most_at_once[0] == len(MODELS)
    claimed_by = {r["delivery_id"]: r for r in queue.rows()}
    assert len(claimed_by) == len(MODELS) * PER_MODEL
    queue.close()


CLAIMER = """
import json, sys, time
from pathlib import Path
from govern.events.queue import Queue

queue = Queue(Path(sys.argv[1]))
out = []
idle_since = None
while True:
    event = queue.claim(worker=sys.argv[2])
    if event is None:
        idle_since = idle_since or time.monotonic()
        if time.monotonic() - idle_since > 1.5:
            break
        time.sleep(0.01)
        continue
    idle_since = None
    started = time.time()
    time.sleep(0.03)
    out.append([event.payload["name"], int(event.payload["version"]), started, time.time()])
    queue.ack(event.seq, "done")
print(json.dumps(out))
"""


def test_claims_from_separate_processes_never_overlap_within_a_model(tmp_path):
    """Three processes, three connections, one sqlite file: ``BEGIN IMMEDIATE`` makes the
    read-then-mark of a claim one step, so no delivery is taken twice and a model never runs
    in two processes at once."""
    state = tmp_path / "state"
    queue = Queue(state)
    fill(queue)
    env = {"PYTHONPATH": str(REPO), "PATH": "/usr/bin:/bin"}
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", CLAIMER, str(state), str(n)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=env,
            text=True,
        )
        for n in range(3)
    ]
    spans = []
    per_process = []
    for proc in procs:
        out, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err
        mine = json.loads(out)
        per_process.append(len(mine))
        spans.extend(tuple(s) for s in mine)
    check_order(spans)
    assert sum(per_process) == len(MODELS) * PER_MODEL
    assert all(state == "done" for state in (r["state"] for r in queue.rows()))
    queue.close()


def test_claim_records_worker_and_time_and_reclaim_puts_all_back(tmp_path):
    queue = Queue(tmp_path / "state")
    fill(queue)
    first = queue.claim(worker="1", now=time.time())
    second = queue.claim(worker="2", now=time.time())
    third = queue.claim(worker="3", now=time.time())
    assert first is not None and second is not None and third is not None
    assert {first.payload["name"], second.payload["name"], third.payload["name"]} == set(MODELS)
    # Every model has one delivery in flight: nothing else may be claimed.
    assert queue.claim(worker="4") is None
    conn = queue._conn
    rows = conn.execute(
        "SELECT claimed_by, claimed_at FROM events WHERE state = 'claimed' ORDER BY seq"
    ).fetchall()
    assert [r[0].rsplit("/", 1)[1] for r in rows] == ["1", "2", "3"]
    assert all(r[0].startswith(queue.owner) and r[1] is not None for r in rows)
    queue.close()
    # A kill -9 with three in flight: the next server puts all three back, in order.
    again = Queue(tmp_path / "state")
    assert again.reclaim() == 3
    assert again.claim(worker="1").payload == {"name": "a", "version": 0}
    again.close()


def test_a_state_folder_from_before_workers_gains_the_claim_time(tmp_path):
    """A queue written by the single-worker govern serve (no ``claimed_at``) opens and works."""
    import sqlite3

    state = tmp_path / "state"
    state.mkdir()
    conn = sqlite3.connect(state / "queue.sqlite")
    conn.executescript(
        """
        CREATE TABLE events (
            seq INTEGER PRIMARY KEY AUTOINCREMENT, delivery_id TEXT NOT NULL UNIQUE,
            event TEXT NOT NULL, model TEXT NOT NULL DEFAULT '', payload TEXT NOT NULL,
            received_at REAL NOT NULL, state TEXT NOT NULL, attempts INTEGER NOT NULL DEFAULT 0,
            next_at REAL NOT NULL, claimed_by TEXT, finished_at REAL, outcome TEXT, error TEXT);
        INSERT INTO events (delivery_id, event, model, payload, received_at, state, next_at)
        VALUES ('old', 'model_version.created', 'm', '{"name": "m", "version": "1"}', 1,
                'queued', 1);
        """
    )
    conn.close()
    queue = Queue(state)
    event = queue.claim(worker="2")
    assert event is not None and event.delivery_id == "old"
    queue.close()


def test_an_audit_ended_by_the_server_stopping_stays_claimed_not_failed(tmp_path):
    """At shutdown the audit processes are ended; the delivery they were on is not counted as
    a failed attempt (eight of those would set it aside as dead), it stays claimed and the next
    start takes it up again."""
    queue = Queue(tmp_path / "state")
    queue.enqueue("only", "model_version.created", {"name": "m", "version": "1"})
    started, release = threading.Event(), threading.Event()

    def handle(event):
        started.set()
        release.wait(10)
        raise RuntimeError("the audit's worker process was ended")

    workers = Workers(queue, handle, EventLog(), 1, poll=0.02)
    workers.start()
    assert started.wait(10)
    assert workers.busy() == 1
    workers.stop()
    release.set()
    workers.join(5)
    assert not workers.any_alive()
    (row,) = queue.rows()
    assert (row["state"], row["attempts"]) == ("claimed", 0)
    queue.close()
