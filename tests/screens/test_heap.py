"""The garbage collector's passes wait for a pause in the scanning, and come back after."""

from __future__ import annotations

import gc

import pytest

from screens.heap import QuietCollector


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


def garbage(n: int) -> list[object]:
    """`n` container allocations for the young generation's count (while they live: the
    count is allocations less deallocations)."""
    return [[] for _ in range(n)]


def test_holding_turns_automatic_collection_off_until_the_last_holder_lets_go(
    clock: Clock,
) -> None:
    collector = QuietCollector(clock)
    assert gc.isenabled()
    try:
        collector.hold()
        collector.hold()  # a second pack screen over the first
        assert not gc.isenabled()
        collector.release()
        assert not gc.isenabled()
        collector.release()
        assert gc.isenabled()
        collector.release()  # one too many: nothing happens
        assert gc.isenabled()
    finally:
        gc.enable()


def test_it_collects_after_an_answer_or_in_a_pause_not_while_scans_come(clock: Clock) -> None:
    collector = QuietCollector(clock)
    collector.hold()
    try:
        kept = garbage(gc.get_threshold()[0] * 2)
        assert collector.scanned()  # an answer drawn with a pass due: now, before the next
        assert gc.get_count()[0] < gc.get_threshold()[0]
        assert not collector.scanned()  # nothing due now
        kept += garbage(gc.get_threshold()[0] * 2)
        clock.now += collector.QUIET / 2
        assert not collector.tick()  # a scanner is at work: the next answer collects
        clock.now += collector.QUIET
        assert collector.tick()  # the pause
        assert not collector.tick()  # nothing waiting now
        assert collector.passes == 2
        del kept
    finally:
        collector.release()
    assert gc.isenabled()


def test_a_long_wait_for_an_answer_still_collects_now_and_then(clock: Clock) -> None:
    collector = QuietCollector(clock)
    collector.hold()
    kept: list[object] = []
    try:
        collector.scanned()
        for _ in range(int(collector.AT_MOST / 0.01) + 1):
            kept += garbage(50)
            clock.now += 0.01
            collector.last_scan = clock.now  # busy, never a pause, no answer drawn
            collector.tick()
        assert collector.passes >= 1
    finally:
        collector.release()


def test_ticks_do_nothing_when_nobody_holds_it(clock: Clock) -> None:
    collector = QuietCollector(clock)
    garbage(gc.get_threshold()[0] * 2)
    clock.now += 10
    assert not collector.tick()
    assert gc.isenabled()
