"""The persistent queue of deliveries: sqlite under ``--state``, one transaction per change.

A delivery is acknowledged to MLflow only once its row is committed, and a row leaves the queue
only when its work is done, so ``kill -9`` at any point loses nothing: work claimed by a process
that died is claimed again by the next one (``reclaim``). The delivery id is unique, so a
replayed delivery is recognised and not queued twice. The database runs in WAL mode with
``synchronous=FULL``: a commit that returned is on disk.
"""

from __future__ import annotations

import contextlib
import json
import os
import sqlite3
import threading
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from govern.errors import UsageError

DB_NAME = "queue.sqlite"
LOCK_NAME = "serve.lock"
BASE_BACKOFF = 2.0
"""Seconds before the first retry; each later retry waits twice as long, up to the maximum."""
DEFAULT_MAX_BACKOFF = 300.0
MAX_ATTEMPTS = 8
"""A delivery whose handling fails this often for a reason other than an unreachable registry
is set aside as ``dead`` (shown in /metrics and the log); an unreachable registry never counts."""

_SCHEMA = """
CREATE TABLE IF NOT EXISTS events (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    delivery_id TEXT NOT NULL UNIQUE,
    event TEXT NOT NULL,
    model TEXT NOT NULL DEFAULT '',
    payload TEXT NOT NULL,
    received_at REAL NOT NULL,
    state TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    next_at REAL NOT NULL,
    claimed_by TEXT,
    finished_at REAL,
    outcome TEXT,
    error TEXT
);
CREATE INDEX IF NOT EXISTS events_due ON events (state, next_at, seq);
CREATE INDEX IF NOT EXISTS events_model ON events (model, state, seq);
CREATE TABLE IF NOT EXISTS counters (name TEXT PRIMARY KEY, value INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS aliases (
    model TEXT NOT NULL,
    alias TEXT NOT NULL,
    version TEXT NOT NULL,
    seen_at REAL NOT NULL,
    PRIMARY KEY (model, alias)
);
"""

QUEUED, CLAIMED, DONE, DEAD = "queued", "claimed", "done", "dead"


@dataclass(frozen=True)
class Event:
    """One queued delivery, as claimed by a worker."""

    seq: int
    delivery_id: str
    event: str
    """``entity.action`` as MLflow names it, e.g. ``model_version.created``."""
    payload: Mapping[str, Any]
    """The delivery's ``data``."""
    received_at: float
    attempts: int


@dataclass(frozen=True)
class Enqueued:
    queued: bool
    """False for a replay: the delivery id was seen before, nothing new was queued."""
    seq: int


class Queue:
    """The queue in ``state_dir``; safe to share between the server's threads."""

    def __init__(self, state_dir: Path, *, max_backoff: float = DEFAULT_MAX_BACKOFF) -> None:
        state_dir.mkdir(parents=True, exist_ok=True)
        self.path = state_dir / DB_NAME
        self.max_backoff = max_backoff
        self._lock = threading.Lock()
        self._conn = sqlite3.connect(
            self.path, check_same_thread=False, isolation_level=None, timeout=30
        )
        self._conn.execute("PRAGMA journal_mode=WAL")
        self._conn.execute("PRAGMA synchronous=FULL")
        self._conn.executescript(_SCHEMA)
        self.owner = f"{os.getpid()}-{time.time_ns()}"

    def close(self) -> None:
        with self._lock:
            self._conn.close()

    @contextlib.contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        """One change, one transaction: committed whole or not at all."""
        with self._lock:
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                yield self._conn
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise
            self._conn.execute("COMMIT")

    def _bump(self, conn: sqlite3.Connection, name: str, by: int = 1) -> None:
        conn.execute(
            "INSERT INTO counters (name, value) VALUES (?, ?) "
            "ON CONFLICT(name) DO UPDATE SET value = value + excluded.value",
            (name, by),
        )

    # -- the server side -------------------------------------------------------------------

    def enqueue(
        self, delivery_id: str, event: str, payload: Mapping[str, Any], *, now: float | None = None
    ) -> Enqueued:
        """Queue a verified delivery; a delivery id seen before is acknowledged, not re-queued."""
        at = time.time() if now is None else now
        with self._tx() as conn:
            row = conn.execute(
                "SELECT seq FROM events WHERE delivery_id = ?", (delivery_id,)
            ).fetchone()
            if row is not None:
                self._bump(conn, "duplicates")
                return Enqueued(False, int(row[0]))
            cursor = conn.execute(
                "INSERT INTO events (delivery_id, event, model, payload, received_at, state, "
                "next_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
                (
                    delivery_id,
                    event,
                    str(payload.get("name") or ""),
                    json.dumps(dict(payload)),
                    at,
                    QUEUED,
                    at,
                ),
            )
            self._bump(conn, "accepted")
            return Enqueued(True, int(cursor.lastrowid or 0))

    def reclaim(self) -> int:
        """Put back work claimed by a process that is gone; call once, holding the state lock."""
        with self._tx() as conn:
            cursor = conn.execute(
                "UPDATE events SET state = ?, claimed_by = NULL WHERE state = ?", (QUEUED, CLAIMED)
            )
            return int(cursor.rowcount)

    # -- the worker side -------------------------------------------------------------------

    def claim(self, *, now: float | None = None) -> Event | None:
        """The oldest delivery that is due, marked as this process's; ``None`` when idle.

        In order within a model: a delivery waits while an earlier one about the same model is
        still queued (backing off) or claimed, so a version's ``created`` is always handled
        before an alias set on it later, even when the registry was down in between (else the
        alias would be judged before the audit that may allow it). Models do not wait for
        each other.
        """
        at = time.time() if now is None else now
        with self._tx() as conn:
            row = conn.execute(
                "SELECT seq, delivery_id, event, payload, received_at, attempts FROM events e "
                "WHERE state = ? AND next_at <= ? AND NOT EXISTS (SELECT 1 FROM events p "
                "WHERE p.model = e.model AND p.seq < e.seq AND p.state IN (?, ?)) "
                "ORDER BY seq LIMIT 1",
                (QUEUED, at, QUEUED, CLAIMED),
            ).fetchone()
            if row is None:
                return None
            conn.execute(
                "UPDATE events SET state = ?, claimed_by = ? WHERE seq = ?",
                (CLAIMED, self.owner, row[0]),
            )
        return Event(row[0], row[1], row[2], json.loads(row[3]), row[4], row[5])

    def ack(self, seq: int, outcome: str, counter: str | None = None) -> None:
        """The work is done; ``counter`` (e.g. ``audits_passed``) counts it in the metrics."""
        with self._tx() as conn:
            conn.execute(
                "UPDATE events SET state = ?, finished_at = ?, outcome = ?, error = NULL "
                "WHERE seq = ?",
                (DONE, time.time(), outcome[:2000], seq),
            )
            if counter:
                self._bump(conn, counter)

    def fail(self, seq: int, error: str, *, retry_forever: bool, now: float | None = None) -> str:
        """Handling failed: back in the queue after a backoff, or ``dead`` after too many tries
        (never for an unreachable registry: ``retry_forever``). Returns the new state."""
        at = time.time() if now is None else now
        with self._tx() as conn:
            row = conn.execute("SELECT attempts FROM events WHERE seq = ?", (seq,)).fetchone()
            attempts = int(row[0]) + 1 if row else 1
            counted = attempts if not retry_forever else min(attempts, 30)
            delay = min(BASE_BACKOFF * 2 ** (counted - 1), self.max_backoff)
            state = DEAD if attempts >= MAX_ATTEMPTS and not retry_forever else QUEUED
            conn.execute(
                "UPDATE events SET state = ?, attempts = ?, next_at = ?, claimed_by = NULL, "
                "error = ?, finished_at = ? WHERE seq = ?",
                (
                    state,
                    attempts,
                    at + delay,
                    error[:2000],
                    at if state == DEAD else None,
                    seq,
                ),
            )
            self._bump(conn, "retries" if state == QUEUED else "dead")
            return state

    # -- what govern last saw of protected aliases -----------------------------------------

    def accepted_alias(self, model: str, alias: str) -> str | None:
        """The version govern last let this alias stay on, if any."""
        with self._lock:
            row = self._conn.execute(
                "SELECT version FROM aliases WHERE model = ? AND alias = ?", (model, alias)
            ).fetchone()
        return str(row[0]) if row else None

    def accept_alias(self, model: str, alias: str, version: str) -> None:
        with self._tx() as conn:
            conn.execute(
                "INSERT INTO aliases (model, alias, version, seen_at) VALUES (?, ?, ?, ?) "
                "ON CONFLICT(model, alias) DO UPDATE SET version = excluded.version, "
                "seen_at = excluded.seen_at",
                (model, alias, version, time.time()),
            )

    # -- reading, for /metrics and reconcile -----------------------------------------------

    def stats(self) -> dict[str, Any]:
        """Queue depth by state, the counters, and the time of the last event received and
        the last one processed (Unix seconds, ``None`` before the first)."""
        with self._lock:
            states = dict(
                self._conn.execute("SELECT state, COUNT(*) FROM events GROUP BY state").fetchall()
            )
            counters = dict(self._conn.execute("SELECT name, value FROM counters").fetchall())
            last_received = self._conn.execute("SELECT MAX(received_at) FROM events").fetchone()
            last_done = self._conn.execute(
                "SELECT MAX(received_at) FROM events WHERE state = ?", (DONE,)
            ).fetchone()
        return {
            "states": {s: int(states.get(s, 0)) for s in (QUEUED, CLAIMED, DONE, DEAD)},
            "counters": {str(k): int(v) for k, v in counters.items()},
            "last_event_at": last_received[0] if last_received else None,
            "last_processed_at": last_done[0] if last_done else None,
        }

    def rows(self) -> list[dict[str, Any]]:
        """Every row (for tests and inspection), oldest first."""
        with self._lock:
            cursor = self._conn.execute(
                "SELECT seq, delivery_id, event, state, attempts, outcome, error FROM events "
                "ORDER BY seq"
            )
            names = [d[0] for d in cursor.description]
            return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


def last_processed_at(state_dir: Path) -> float | None:
    """When the newest event the server finished handling was received; ``None`` when the
    state holds none (or does not exist). Read without taking the server's lock."""
    path = state_dir / DB_NAME
    if not path.is_file():
        return None
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=30)
    try:
        row = conn.execute(
            "SELECT MAX(received_at) FROM events WHERE state = ?", (DONE,)
        ).fetchone()
    except sqlite3.DatabaseError:
        return None
    finally:
        conn.close()
    return float(row[0]) if row and row[0] is not None else None


@contextlib.contextmanager
def state_lock(state_dir: Path) -> Iterator[None]:
    """One ``govern serve`` per state folder: a second would claim the first one's work."""
    import fcntl

    state_dir.mkdir(parents=True, exist_ok=True)
    handle = (state_dir / LOCK_NAME).open("a+")
    try:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            raise UsageError(
                f"another govern serve is using the state folder {state_dir}"
            ) from None
        handle.seek(0)
        handle.truncate()
        handle.write(f"{os.getpid()}\n")
        handle.flush()
        yield
    finally:
        handle.close()
