"""The advisor's circuit breaker, per bot, in Redis (so ``bulkhead advise`` and the
supervisor see the same one): after ``failures`` failed consultations in a row, no call for
``cooldown_minutes``. The first success closes it."""

from __future__ import annotations

import time
from collections.abc import Callable

import redis

from bulkhead.config.advisor import Breaker
from bulkhead.memory.keys import AdvisorKeys


class CircuitBreaker:
    def __init__(
        self,
        client: redis.Redis,
        bot: str,
        settings: Breaker,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.client = client
        self.key = AdvisorKeys(bot).breaker
        self.settings = settings
        self.clock = clock

    def open_until(self) -> float | None:
        """When calls may resume (seconds), or None when the breaker is closed."""
        raw = self.client.hget(self.key, "open_until_ms")
        until = int(raw) / 1000 if raw else 0.0
        return until if until > self.clock() else None

    def failed(self, reason: str) -> float | None:
        """Count a failure; the time the breaker stays open until when this one opened it."""
        failures = int(self.client.hincrby(self.key, "failures", 1))
        if failures < self.settings.failures:
            return None
        until = self.clock() + self.settings.cooldown_minutes * 60
        self.client.hset(
            self.key,
            mapping={"open_until_ms": int(until * 1000), "reason": reason[:200], "failures": 0},
        )
        return until

    def succeeded(self) -> None:
        self.client.hset(self.key, mapping={"failures": 0, "open_until_ms": 0})
