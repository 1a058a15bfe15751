"""The persistent queue: de-duplication, claim/ack/fail, backoff, and what survives a crash."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

from govern.errors import UsageError
from govern.events.queue import (
    BASE_BACKOFF,
    MAX_ATTEMPTS,
    Queue,
    last_processed_at,
    state_lock,
)


def test_replay_is_acknowledged_but_not_queued_twice(tmp_path):
    q = Queue(tmp_path)
    first = q.enqueue("d-1", "model_version.created", {"name": "m", "version": "1"})
    again = q.enqueue("d-1", "model_version.created", {"name": "m", "version": "1"})
    assert first.queued and not again.queued and first.seq == again.seq
    assert len(q.rows()) == 1
    assert q.stats()["counters"] == {"accepted": 1, "duplicates": 1}


def test_claim_is_oldest_first_and_ack_finishes(tmp_path):
    q = Queue(tmp_path)
    q.enqueue("a", "model_version.created", {"name": "m", "version": "1"}, now=100)
    q.enqueue("b", "model_version.created", {"name": "n", "version": "2"}, now=101)
    first = q.claim(now=200)
    assert first is not None and first.delivery_id == "a"
    assert first.payload == {"name": "m", "version": "1"}
    second = q.claim(now=200)
    assert second is not None and second.delivery_id == "b"
    assert q.claim(now=200) is None
    q.ack(first.seq, "audited: pass", "audits_passed")
    stats = q.stats()
    assert stats["states"] == {"queued": 0, "claimed": 1, "done": 1, "dead": 0}
    assert stats["counters"]["audits_passed"] == 1
    assert stats["last_processed_at"] == 100


def test_failure_backs_off_then_retries(tmp_path):
    q = Queue(tmp_path, max_backoff=10)
    q.enqueue("a", "model_version.created", {}, now=0)
    event = q.claim(now=0)
    assert event is not None
    assert q.fail(event.seq, "registry down", retry_forever=True, now=0) == "queued"
    assert q.claim(now=BASE_BACKOFF - 0.1) is None  # not due yet
    again = q.claim(now=BASE_BACKOFF)
    assert again is not None and again.attempts == 1
    q.fail(again.seq, "registry down", retry_forever=True, now=10)
    assert q.claim(now=10 + 2 * BASE_BACKOFF - 0.1) is None
    assert q.claim(now=10 + 2 * BASE_BACKOFF) is not None


def test_unreachable_registry_never_kills_a_delivery(tmp_path):
    q = Queue(tmp_path, max_backoff=1)
    q.enqueue("a", "model_version.created", {}, now=0)
    for i in range(MAX_ATTEMPTS + 5):
        event = q.claim(now=i * 10)
        assert event is not None
        assert q.fail(event.seq, "down", retry_forever=True, now=i * 10) == "queued"


def test_other_failures_are_set_aside_after_max_attempts(tmp_path):
    q = Queue(tmp_path, max_backoff=1)
    q.enqueue("a", "model_version.created", {}, now=0)
    states = []
    for i in range(MAX_ATTEMPTS):
        event = q.claim(now=i * 10)
        assert event is not None
        states.append(q.fail(event.seq, "bug", retry_forever=False, now=i * 10))
    assert states[-1] == "dead" and set(states[:-1]) == {"queued"}
    assert q.claim(now=10_000) is None
    assert q.stats()["states"]["dead"] == 1


def test_work_claimed_by_a_killed_process_is_reclaimed(tmp_path):
    """A child claims a delivery and dies by SIGKILL; the next queue gets it back."""
    code = textwrap.dedent(
        f"""
        import os, signal
        from pathlib import Path
        from govern.events.queue import Queue
        q = Queue(Path({str(tmp_path)!r}))
        q.enqueue("a", "model_version.created", {{"name": "m", "version": "1"}})
        q.enqueue("b", "model_version.created", {{"name": "m", "version": "2"}})
        assert q.claim() is not None
        os.kill(os.getpid(), signal.SIGKILL)
        """
    )
    proc = subprocess.run([sys.executable, "-c", code], check=False)
    assert proc.returncode == -9
    q = Queue(tmp_path)
    assert [r["state"] for r in q.rows()] == ["claimed", "queued"]
    assert q.reclaim() == 1
    first = q.claim()
    assert first is not None and first.delivery_id == "a"
    q.ack(first.seq, "done")
    second = q.claim()
    assert second is not None and second.delivery_id == "b"


def test_alias_memory(tmp_path):
    q = Queue(tmp_path)
    assert q.accepted_alias("m", "production") is None
    q.accept_alias("m", "production", "3")
    q.accept_alias("m", "production", "4")
    assert Queue(tmp_path).accepted_alias("m", "production") == "4"


def test_last_processed_reads_without_the_lock(tmp_path):
    assert last_processed_at(tmp_path / "none") is None
    q = Queue(tmp_path)
    q.enqueue("a", "model_version.created", {}, now=123.0)
    assert last_processed_at(tmp_path) is None  # received, not yet processed
    event = q.claim(now=200)
    assert event is not None
    q.ack(event.seq, "done")
    assert last_processed_at(tmp_path) == 123.0


def test_one_server_per_state_folder(tmp_path):
    with state_lock(tmp_path):
        code = (
            "from pathlib import Path; from govern.events.queue import state_lock\n"
            f"with state_lock(Path({str(tmp_path)!r})): pass"
        )
        proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
        assert proc.returncode != 0 and "another govern serve" in proc.stderr
    with pytest.raises(UsageError), state_lock(tmp_path), state_lock(tmp_path):
        pass


def test_a_model_waits_for_its_earlier_deliveries_other_models_do_not(tmp_path):
    q = Queue(tmp_path, max_backoff=100)
    q.enqueue("created", "model_version.created", {"name": "m", "version": "2"}, now=0)
    q.enqueue("alias", "model_version_alias.created", {"name": "m", "alias": "p"}, now=1)
    q.enqueue("other", "model_version.created", {"name": "n", "version": "1"}, now=2)
    first = q.claim(now=10)
    assert first is not None and first.delivery_id == "created"
    q.fail(first.seq, "registry down", retry_forever=True, now=10)
    # The created delivery backs off; the alias on the same model waits behind it.
    second = q.claim(now=10)
    assert second is not None and second.delivery_id == "other"
    assert q.claim(now=10) is None
    retried = q.claim(now=10 + BASE_BACKOFF)
    assert retried is not None and retried.delivery_id == "created"
    assert q.claim(now=10 + BASE_BACKOFF) is None  # still claimed
    q.ack(retried.seq, "audited: pass")
    last = q.claim(now=10 + BASE_BACKOFF)
    assert last is not None and last.delivery_id == "alias"
