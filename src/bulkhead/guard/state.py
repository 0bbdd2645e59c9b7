"""What the risk guard remembers, and the interfaces it is built on: the trading states,
``GuardState`` (peak equity, period starts, error times, round-tripping through JSON),
where it is kept (``GuardMemory``: the bot's Redis live, ``InProcessMemory`` in backtests)
and where the state is enforced (``StateSink``: the gateway)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, Protocol

ACTIVE, REDUCING, HALTED = "ACTIVE", "REDUCING", "HALTED"
#: from the laxest to the strictest
ORDER = (ACTIVE, REDUCING, HALTED)
#: how far back exchange and strategy errors are counted
ERROR_WINDOW = timedelta(minutes=10)
#: how often the rules' readings are written when nothing else changed
READINGS_EVERY_S = 5.0
#: the state a sink reports when it could not be asked
UNKNOWN = "UNKNOWN"


@dataclass(frozen=True)
class SinkReading:
    """The gateway's view of the bot: its state and who set it, the critical upstream
    answers of the last ten minutes as (ms, code), and the exchange's status."""

    state: str
    by: str = ""
    errors: tuple[tuple[int, str], ...] = ()
    exchange_status: str = ""


class StateSink(Protocol):
    """Where the trading state is enforced (the gateway). ``request`` asks for a state and
    returns the state that holds afterwards with who set it; ``current`` reads it, with
    what the gateway saw go wrong upstream. Both raise on failure (the guard then enforces
    its own view locally)."""

    def request(self, state: str, reason: str) -> tuple[str, str]: ...

    def current(self) -> SinkReading: ...


class GuardMemory(Protocol):
    def load(self) -> dict[str, Any]: ...

    def save(self, data: dict[str, Any]) -> None: ...


class InProcessMemory:
    """Backtests: the guard's state lives and dies with the process."""

    def __init__(self) -> None:
        self.data: dict[str, Any] = {}

    def load(self) -> dict[str, Any]:
        return dict(self.data)

    def save(self, data: dict[str, Any]) -> None:
        self.data = dict(data)


@dataclass
class GuardState:
    """What the guard remembers; plain numbers, so it round-trips through JSON."""

    peak: float = 0.0
    day: str = ""
    day_start_equity: float = 0.0
    week: str = ""
    week_start_equity: float = 0.0
    drawdown_tripped: bool = False
    state: str = ACTIVE
    reason: str = ""
    exchange_errors: list[float] = field(default_factory=list)
    strategy_errors: list[float] = field(default_factory=list)
    #: the newest upstream error (ms) already counted, so a restart never counts one twice
    errors_seen_ms: int = 0

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> GuardState:
        known = {k: v for k, v in data.items() if k in cls.__dataclass_fields__}
        try:
            loaded = cls(**known)
        except TypeError:
            return cls()
        if loaded.state not in (ACTIVE, REDUCING, HALTED):
            loaded.state = HALTED  # nobody wrote that through here: trust nothing
        return loaded
