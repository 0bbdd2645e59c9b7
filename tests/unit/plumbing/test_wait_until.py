"""Waiting returns as soon as the thing is there, and a timeout names what never came."""

from __future__ import annotations

import time

import pytest

from bulkhead.plumbing import WaitTimeout, wait_until


class Clock:
    """Fake time: ``sleep`` moves it on, and every sleep is recorded."""

    def __init__(self) -> None:
        self.now = 0.0
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


def test_the_first_truthy_value_is_returned() -> None:
    answers = iter([None, 0, "", {"state": "running"}])
    clock = Clock()
    got = wait_until(lambda: next(answers), 10, 1, what="the bot", clock=clock, sleep=clock.sleep)
    assert got == {"state": "running"}
    assert clock.slept == [1, 1, 1]


def test_a_wait_that_times_out_names_what_it_waited_for() -> None:
    clock = Clock()
    with pytest.raises(WaitTimeout, match=r"after 2 s waiting for redis-server to start") as e:
        wait_until(
            lambda: False, 2, 0.5, what="redis-server to start", clock=clock, sleep=clock.sleep
        )
    assert isinstance(e.value, TimeoutError)
    assert e.value.what == "redis-server to start"
    assert e.value.timeout == 2


def test_the_last_check_is_made_at_the_deadline_not_after_it() -> None:
    clock = Clock()
    calls: list[float] = []

    def probe() -> bool:
        calls.append(clock.now)
        return False

    with pytest.raises(WaitTimeout):
        wait_until(probe, 1, 0.4, what="x", clock=clock, sleep=clock.sleep)
    assert calls == pytest.approx([0, 0.4, 0.8, 1.0])
    assert sum(clock.slept) == pytest.approx(1.0)


def test_a_zero_timeout_is_a_single_check() -> None:
    calls = []
    with pytest.raises(WaitTimeout):
        wait_until(lambda: calls.append(1), 0, what="nothing")
    assert calls == [1]


def test_an_error_in_the_predicate_ends_the_wait_at_once() -> None:
    def died() -> bool:
        raise RuntimeError("the process exited")

    started = time.monotonic()
    with pytest.raises(RuntimeError, match="exited"):
        wait_until(died, 30, what="the process")
    assert time.monotonic() - started < 1


def test_a_real_wait_returns_soon_after_the_thing_is_there() -> None:
    ready_at = time.monotonic() + 0.1
    started = time.monotonic()
    assert wait_until(lambda: time.monotonic() >= ready_at, 5, 0.01, what="a moment")
    assert time.monotonic() - started < 1
