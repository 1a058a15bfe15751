"""The run loop's deadline: it interrupts work, never the writing of a record."""

from __future__ import annotations

import time

import pytest

from govern.pipeline.runner import DeadlineExceeded, _deadline_passed, interrupt_at, shielded


def test_the_deadline_interrupts_unshielded_work() -> None:
    started = time.monotonic()
    with pytest.raises(DeadlineExceeded), interrupt_at(time.monotonic() + 0.2):
        time.sleep(5)
    assert time.monotonic() - started < 2


def test_a_shielded_block_finishes_and_the_deadline_is_kept_for_after() -> None:
    finished = False
    with interrupt_at(time.monotonic() + 0.2):
        with shielded():
            time.sleep(0.6)  # the alarm fires in here and must wait
            finished = True
    assert finished
    assert _deadline_passed(None)  # deferred: the loop stops before the next version
    assert not _deadline_passed(None)  # and only once
