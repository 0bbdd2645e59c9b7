"""Directives: what the advisor (or the operator, accepting a proposal) told the guard.

Only restraints: a pair paused until a time, and a stake scale at most 1. They live in the
bot's memory (``bh:{bot}:directives``, one JSON string) and the guard reads them every few
seconds. Whatever the key holds, reading it can only restrain the bot: an unreadable
document means no directive, a scale above 1 is 1, an unknown pair pauses nothing.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

import orjson

from bulkhead.guard.rules import Decision, Verdict

#: a document larger than this is not read (it was not written by Bulkhead)
MAX_BYTES = 64 * 1024
ADVISOR_PAUSE = "ADVISOR_PAUSE"
ADVISOR_SCALE = "ADVISOR_SCALE"


@dataclass(frozen=True)
class Pause:
    id: str
    until_ms: int
    text: str = ""


@dataclass(frozen=True)
class Directives:
    pauses: dict[str, Pause] = field(default_factory=dict)
    stake_scale: float = 1.0
    scale_id: str = ""
    scale_until_ms: int = 0

    def active(self, now_ms: int) -> Directives:
        """Without what has expired."""
        pauses = {p: v for p, v in self.pauses.items() if v.until_ms > now_ms}
        if self.stake_scale < 1.0 and self.scale_until_ms <= now_ms:
            return Directives(pauses)
        return replace(self, pauses=pauses)

    def as_json(self) -> bytes:
        return orjson.dumps(
            {
                "pauses": {
                    p: {"id": v.id, "until_ms": v.until_ms, "text": v.text}
                    for p, v in self.pauses.items()
                },
                "stake_scale": self.stake_scale,
                "scale_id": self.scale_id,
                "scale_until_ms": self.scale_until_ms,
            }
        )

    @classmethod
    def from_json(cls, raw: bytes | str | None) -> Directives:
        if not raw or len(raw) > MAX_BYTES:
            return cls()
        try:
            data = orjson.loads(raw)
        except orjson.JSONDecodeError:
            return cls()
        return cls.from_dict(data) if isinstance(data, dict) else cls()

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Directives:
        pauses: dict[str, Pause] = {}
        raw_pauses = data.get("pauses")
        for pair, value in (raw_pauses if isinstance(raw_pauses, dict) else {}).items():
            if isinstance(value, dict) and isinstance(value.get("until_ms"), int):
                pauses[str(pair)] = Pause(
                    str(value.get("id", ""))[:64], value["until_ms"], str(value.get("text", ""))
                )
        scale = data.get("stake_scale", 1.0)
        if not isinstance(scale, int | float) or not math.isfinite(scale) or scale <= 0:
            scale = 1.0
        until = data.get("scale_until_ms", 0)
        return cls(
            pauses,
            min(1.0, float(scale)),
            str(data.get("scale_id", ""))[:64],
            until if isinstance(until, int) else 0,
        )


def pause_verdict(directives: Directives, pair: str, now_ms: int) -> Verdict | None:
    """An entry on ``pair`` denied while a directive pauses it."""
    pause = directives.pauses.get(pair)
    if pause is None or pause.until_ms <= now_ms:
        return None
    until = datetime.fromtimestamp(pause.until_ms / 1000, UTC).strftime("%Y-%m-%dT%H:%MZ")
    return Verdict("directive", Decision.DENY, ADVISOR_PAUSE, {"id": pause.id, "until": until})


def stake_scale(directives: Directives, now_ms: int) -> tuple[float, str]:
    """The scale a directive puts on every stake now (1.0: none), and its citation."""
    active = directives.active(now_ms)
    if active.stake_scale >= 1.0:
        return 1.0, ""
    return active.stake_scale, f"{ADVISOR_SCALE} id={active.scale_id} scale={active.stake_scale:g}"
