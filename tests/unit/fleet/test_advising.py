"""The advisor's schedule in a supervisor: only while Freqtrade trades, one consultation at
a time, on its own thread, and a failing one never stops the next."""

from __future__ import annotations

import threading

from bulkhead.fleet.advising import AdviceSchedule


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_consultations_start_every_period_while_trading() -> None:
    clock, calls = Clock(), []
    schedule = AdviceSchedule(lambda: calls.append(clock.now), every_s=60, clock=clock)
    assert not schedule.tick(trading=False)
    assert not schedule.tick(trading=True)  # the first comes a period after trading began
    clock.now += 60
    assert schedule.tick(trading=True)
    schedule.join(5)
    clock.now += 30
    assert not schedule.tick(trading=True)
    clock.now += 30
    assert schedule.tick(trading=True)
    schedule.join(5)
    assert calls == [160.0, 220.0]


def test_a_running_consultation_skips_the_next_turn_and_failures_are_survived() -> None:
    clock, release = Clock(), threading.Event()
    schedule = AdviceSchedule(lambda: release.wait(5), every_s=10, clock=clock)
    schedule.tick(trading=True)
    clock.now += 10
    assert schedule.tick(trading=True)
    clock.now += 10
    assert not schedule.tick(trading=True)  # still running
    release.set()
    schedule.join(5)

    def broken() -> None:
        raise RuntimeError("provider exploded")

    failing = AdviceSchedule(broken, every_s=1, clock=clock)
    failing.tick(trading=True)
    clock.now += 1
    assert failing.tick(trading=True)
    failing.join(5)
    clock.now += 1
    assert failing.tick(trading=True)  # the schedule goes on
    failing.join(5)
