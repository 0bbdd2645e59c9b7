"""Trading states: what the gateway lets a bot do, persisted in Redis out of the bot's reach.

ACTIVE: everything the allowlist allows (buys within the ledger's cap).
REDUCING: only what reduces exposure: sells and cancels pass, buys are refused.
HALTED: no new orders at all; cancels pass. Set by ``bulkhead kill`` or by the gateway
itself on critical errors; only ``bulkhead resume`` lifts it (the gateway never resumes
a bot by itself, and neither does a restart of anything).

The state lives in ``bhgw:{bot}:state`` (``memory/keys.py``): every gateway process and
the operator's CLI see the same one, and it survives restarts of the bot, the gateway and
(with Redis persistence) Redis. A state that cannot be read is treated as HALTED for buys
(fail closed); sells and cancels do not depend on reading it except to tell HALTED apart,
so when Redis is down they pass (exits stay possible).

Every change is also one entry on the bot's decision stream (``bhgw:{bot}:decisions``),
which ``bulkhead guard BOT`` shows.
"""

from __future__ import annotations

import contextlib
import json
import time
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

import redis

from bulkhead.errors import TemporaryError
from bulkhead.memory import scripts
from bulkhead.memory.keys import GatewayKeys
from bulkhead.plumbing import as_text

#: how many decisions each bot's stream keeps (approximately: MAXLEN ~)
DECISIONS_KEPT = 10_000
_REDIS_DOWN = (redis.ConnectionError, redis.TimeoutError)


class TradingState(StrEnum):
    ACTIVE = "ACTIVE"
    REDUCING = "REDUCING"
    HALTED = "HALTED"


class StateUnavailable(TemporaryError):
    """Redis did not answer: the state cannot be read or changed now."""


@dataclass(frozen=True)
class StateRecord:
    state: TradingState
    reason: str = ""
    since_ms: int = 0
    by: str = ""

    def as_dict(self) -> dict[str, Any]:
        return {
            "state": self.state.value,
            "reason": self.reason,
            "since_ms": self.since_ms,
            "by": self.by,
        }


@dataclass(frozen=True)
class Decision:
    """One recorded gateway decision, as read back from the stream."""

    at_ms: int
    fields: dict[str, str]


class TradingStates:
    """Read and change bots' trading states, and append decisions, on one Redis client."""

    def __init__(self, client: redis.Redis) -> None:
        self.client = client
        self._guard_script: Any = None

    def get(self, bot: str) -> StateRecord:
        """The bot's state; a bot never set is ACTIVE. Raises ``StateUnavailable``."""
        try:
            raw = self.client.hgetall(GatewayKeys(bot).state)
        except _REDIS_DOWN as e:
            raise StateUnavailable(f"trading state of {bot}: Redis unreachable ({e})") from e
        if not raw:
            return StateRecord(TradingState.ACTIVE)
        fields = {as_text(k): as_text(v) for k, v in raw.items()}
        try:
            state = TradingState(fields.get("state", ""))
        except ValueError:
            # a value nobody wrote through this module: trust nothing, stop new orders
            return StateRecord(TradingState.HALTED, f"unreadable state {fields.get('state')!r}")
        return StateRecord(
            state,
            fields.get("reason", ""),
            int(fields.get("since", "0") or 0),
            fields.get("by", ""),
        )

    def set(self, bot: str, state: TradingState, reason: str, *, by: str) -> StateRecord:
        """Set the state (persisted at once) and record the change as a decision."""
        record = StateRecord(state, reason[:500], _now_ms(), by)
        keys = GatewayKeys(bot)
        try:
            with self.client.pipeline(transaction=True) as pipe:
                pipe.hset(
                    keys.state,
                    mapping={
                        "state": state.value,
                        "reason": record.reason,
                        "since": record.since_ms,
                        "by": by,
                    },
                )
                pipe.xadd(
                    keys.decisions,
                    {
                        "kind": "state",
                        "decision": state.value,
                        "reason": record.reason,
                        "by": by,
                    },
                    maxlen=DECISIONS_KEPT,
                    approximate=True,
                )
                pipe.execute()
        except _REDIS_DOWN as e:
            raise StateUnavailable(f"trading state of {bot}: Redis unreachable ({e})") from e
        return record

    def request_by_guard(self, bot: str, state: TradingState, reason: str) -> tuple[bool, str, str]:
        """The bot's risk guard asks for ``state``: granted only to tighten (ACTIVE ->
        REDUCING -> HALTED) or to lift a REDUCING the guard set itself (``guard_state.lua``,
        atomic). Returns (granted, the state that holds, who set it)."""
        keys = GatewayKeys(bot)
        if self._guard_script is None:
            self._guard_script = scripts.register(self.client, "guard_state")
        try:
            granted, held, by = self._guard_script(
                keys=[keys.state, keys.decisions],
                args=[state.value, reason[:500], _now_ms(), DECISIONS_KEPT],
            )
        except _REDIS_DOWN as e:
            raise StateUnavailable(f"trading state of {bot}: Redis unreachable ({e})") from e
        return bool(granted), as_text(held), as_text(by)

    def halt(self, bot: str, reason: str, *, by: str = "gateway") -> StateRecord:
        return self.set(bot, TradingState.HALTED, reason, by=by)

    def record(self, bot: str, **fields: object) -> None:
        """Append one decision (``kind``, ``decision``, ``reason``, ...) to the bot's stream.

        Best effort: a decision that cannot be recorded here is still in the logs."""
        with contextlib.suppress(*_REDIS_DOWN):
            self.record_in(self.client, bot, **fields)

    @staticmethod
    def record_in(target: Any, bot: str, **fields: object) -> None:
        """``record`` on ``target``: the client, or a pipeline sharing another write's
        round trip."""
        target.xadd(
            GatewayKeys(bot).decisions,
            {k: json.dumps(v) if isinstance(v, dict | list) else str(v) for k, v in fields.items()},
            maxlen=DECISIONS_KEPT,
            approximate=True,
        )

    def last_decisions(self, bot: str, count: int = 20) -> list[Decision]:
        """The newest ``count`` decisions, oldest first (none for a count of 0 or less)."""
        if count <= 0:
            return []
        try:
            entries = self.client.xrevrange(GatewayKeys(bot).decisions, count=count)
        except _REDIS_DOWN as e:
            raise StateUnavailable(f"decisions of {bot}: Redis unreachable ({e})") from e
        found = []
        for entry_id, fields in reversed(list(entries or [])):
            at_ms = int(as_text(entry_id).split("-")[0])
            found.append(
                Decision(at_ms, {as_text(k): as_text(v) for k, v in (fields or {}).items()})
            )
        return found


def _now_ms() -> int:
    return time.time_ns() // 1_000_000
