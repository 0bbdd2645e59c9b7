"""The advisor's schedule inside a bot's supervisor: a consultation every
``advisor.every_minutes`` while Freqtrade trades, each on a thread of its own.

A consultation waits on the provider for up to its timeout (and retries); on the
supervisor's own loop it would delay stop requests and healing, so it never runs there.
One at a time: a consultation still running when the next is due skips that turn. A
consultation that raises is logged and the schedule goes on; the bot never notices.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from bulkhead.logs import event

logger = logging.getLogger("bulkhead.advisor")


@dataclass
class AdviceSchedule:
    consult: Callable[[], Any]
    every_s: float
    clock: Callable[[], float] = time.monotonic
    next_at: float | None = None
    thread: threading.Thread | None = field(default=None, repr=False)

    def tick(self, trading: bool) -> bool:
        """Start a consultation if one is due (the first ``every_s`` after trading began);
        whether one was started."""
        now = self.clock()
        if not trading:
            return False
        if self.next_at is None:
            self.next_at = now + self.every_s
        if now < self.next_at or (self.thread is not None and self.thread.is_alive()):
            return False
        self.next_at = now + self.every_s
        self.thread = threading.Thread(target=self._run, name="advisor", daemon=True)
        self.thread.start()
        return True

    def _run(self) -> None:
        try:
            self.consult()
        except Exception as error:  # the bot trades on whatever the advisor does
            event(
                logger,
                "advisor_failed",
                logging.ERROR,
                error=f"{type(error).__name__}: {str(error)[:300]}",
            )

    def join(self, timeout_s: float) -> None:
        if self.thread is not None:
            self.thread.join(timeout_s)
