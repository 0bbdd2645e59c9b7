"""Restart delays for a crashing bot: exponential, capped, and forgiven after a calm run."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class Backoff:
    initial_s: float = 1.0
    maximum_s: float = 60.0
    factor: float = 2.0
    #: a run that lasted this long resets the delay: it was a new failure, not a loop
    calm_after_s: float = 120.0
    _next_s: float = 0.0

    def next_delay(self, run_duration_s: float) -> float:
        if run_duration_s >= self.calm_after_s or self._next_s == 0.0:
            self._next_s = self.initial_s
        else:
            self._next_s = min(self._next_s * self.factor, self.maximum_s)
        return self._next_s
