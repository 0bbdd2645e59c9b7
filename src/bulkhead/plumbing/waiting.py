"""The one way to wait for something: poll with a deadline, and say what never came.

Sleeping a fixed time is either too short on a slow machine or wasted on a fast one;
polling until a deadline returns as soon as the thing is there and, when it never is,
fails with a message that names it instead of hanging or failing somewhere later.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


class WaitTimeout(TimeoutError):
    """What was awaited did not come within the timeout; ``what`` names it."""

    def __init__(self, what: str, timeout: float) -> None:
        super().__init__(f"timed out after {timeout:g} s waiting for {what}")
        self.what = what
        self.timeout = timeout


def wait_until(
    predicate: Callable[[], T | None],
    timeout: float,
    interval: float = 0.05,
    *,
    what: str,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> T:
    """Call ``predicate`` every ``interval`` s until it returns something truthy, and
    return that; WaitTimeout naming ``what`` once ``timeout`` s have passed.

    The predicate is always called at least once, and once more at the deadline, so a
    zero timeout is a single check. To give up early (the awaited process died), let
    the predicate raise: its error goes to the caller as it is. ``clock`` and ``sleep``
    are for tests that fake time.
    """
    deadline = clock() + timeout
    while True:
        value = predicate()
        if value:
            return value
        remaining = deadline - clock()
        if remaining <= 0:
            raise WaitTimeout(what, timeout)
        sleep(min(interval, remaining))
