"""What went wrong upstream for each bot lately: the exchange errors its risk guard counts.

The gateway sees every answer KuCoin gives a bot; Freqtrade retries and hides most of them
from the strategy. So the gateway keeps, per bot, the last ten minutes of critical answers
(5xx, lost or garbled answers, ``411100`` user frozen) and hands them to the bot's guard
with its trading state (``guard_route``), which halts the bot past ``risk.guard.max_errors``.
Rate limits (429) and ordinary refusals (insufficient balance, bad parameters) are not
trouble: they say the exchange works.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable

import orjson

from bulkhead.gateway.upstream import Answer

WINDOW_MS = 10 * 60 * 1000
#: per bot, at most this many kept (a storm of errors must not grow memory)
MAX_KEPT = 200
USER_FROZEN = "411100"
CRITICAL_CODES = frozenset({USER_FROZEN})
_OK_PREFIX = b'{"code":"200000"'


class UpstreamTrouble:
    def __init__(self, clock_ms: Callable[[], int] | None = None) -> None:
        self._clock_ms = clock_ms or (lambda: time.time_ns() // 1_000_000)
        self._seen: dict[str, deque[tuple[int, str]]] = {}

    def note(self, bot: str, answer: Answer) -> None:
        """Look at one answer to ``bot`` (cheap for the usual ``200000``)."""
        code = _critical_code(answer)
        if code is None:
            return
        kept = self._seen.setdefault(bot, deque(maxlen=MAX_KEPT))
        kept.append((self._clock_ms(), code))

    def recent(self, bot: str) -> list[tuple[int, str]]:
        """(ms, code) of the critical answers to ``bot`` in the last ten minutes."""
        kept = self._seen.get(bot)
        if not kept:
            return []
        horizon = self._clock_ms() - WINDOW_MS
        while kept and kept[0][0] < horizon:
            kept.popleft()
        return list(kept)


def _critical_code(answer: Answer) -> str | None:
    if answer.outcome != "answered":
        return answer.outcome  # lost, garbage
    if answer.status >= 500:
        return str(answer.status)
    if answer.body.startswith(_OK_PREFIX):
        return None
    try:
        parsed = orjson.loads(answer.body)
    except orjson.JSONDecodeError:
        return "garbage"
    code = str(parsed.get("code", "")) if isinstance(parsed, dict) else ""
    return code if code in CRITICAL_CODES else None
