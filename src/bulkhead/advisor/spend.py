"""What LLM calls cost, and the ledger that keeps them under every cap.

Before each call its worst case (every prompt token it could be, plus the most output it
may get, at the model's price) is reserved atomically against the bot's day and month and
the fleet's day and month, and against the bot's calls in the last hour; a call that does
not fit is not made. After the answer, the reservation is settled to the real usage. A
caller that dies between the two leaves a reservation that the next reservation folds in
at its worst case: a call is never free because its answer was lost.

Amounts are integers of 1e-9 € (exact in Redis and in Lua's doubles up to millions of €).
"""

from __future__ import annotations

import math
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import ROUND_CEILING, Decimal
from typing import Any
from zoneinfo import ZoneInfo

import redis

from bulkhead.config.advisor import AdvisorCaps, Price
from bulkhead.memory.keys import ADVISOR_RESERVATIONS, AdvisorKeys, fleet_spend
from bulkhead.memory.scripts import register
from bulkhead.plumbing import as_text

NANO = Decimal(1_000_000_000)
#: alert levels, % of a cap
ALERT_LEVELS = (50, 80, 100)
#: a reservation older than this is a dead caller's: counted at its worst case
RESERVATION_TIMEOUT_S = 15 * 60
#: how long spend records are kept, for `bulkhead llm usage`
KEEP_SPEND_S = 400 * 24 * 3600
SCOPES = ("bot_day", "bot_month", "fleet_day", "fleet_month")


def cost_nano(price: Price, input_tokens: int, output_tokens: int) -> int:
    """The € cost of a call in 1e-9 €, rounded up (a price is never rounded to free)."""
    eur = (
        Decimal(input_tokens) * price.input_eur_per_mtok
        + Decimal(output_tokens) * price.output_eur_per_mtok
    ) / Decimal(1_000_000)
    return int((eur * NANO).to_integral_value(ROUND_CEILING))


def eur(nano: int | float | str) -> float:
    return float(Decimal(int(float(nano))) / NANO)


def caps_nano(caps: AdvisorCaps) -> tuple[int, int, int, int]:
    """The caps in ``SCOPES`` order, in 1e-9 €."""
    return (
        int(caps.bot_daily_eur * NANO),
        int(caps.bot_monthly_eur * NANO),
        int(caps.fleet_daily_eur * NANO),
        int(caps.fleet_monthly_eur * NANO),
    )


@dataclass(frozen=True)
class Periods:
    day: str  # day:YYYY-MM-DD
    month: str  # month:YYYY-MM


def periods(at: float, zone: str) -> Periods:
    local = datetime.fromtimestamp(at, ZoneInfo(zone))
    return Periods(f"day:{local:%Y-%m-%d}", f"month:{local:%Y-%m}")


@dataclass(frozen=True)
class Reservation:
    id: str
    bot: str
    amount: int


@dataclass(frozen=True)
class Refusal:
    """Why a call was not made: ``CAP`` (which scope, with its numbers) or ``RATE``."""

    code: str
    scope: str
    numbers: dict[str, float]

    def __str__(self) -> str:
        shown = " ".join(f"{k}={v:g}" for k, v in self.numbers.items())
        return f"LLM_{self.code} scope={self.scope} {shown}".strip()


@dataclass(frozen=True)
class Alert:
    scope: str  # the Redis key of the spend it is about
    level: int  # percent
    spent_eur: float
    cap_eur: float


class SpendLedger:
    """Reservations and settlements of LLM calls in Redis, shared by every process that
    consults (the supervisors, ``bulkhead advise``): the caps hold across all of them."""

    def __init__(
        self, client: redis.Redis, caps: AdvisorCaps, clock: Callable[[], float] = time.time
    ) -> None:
        self.client = client
        self.caps = caps
        self.clock = clock
        self._reserve = register(client, "llm_reserve")
        self._settle = register(client, "llm_settle")

    def keys(self, bot: str, at: float) -> list[str]:
        when = periods(at, self.caps.timezone)
        own = AdvisorKeys(bot)
        return [
            own.spend(when.day),
            own.spend(when.month),
            fleet_spend(when.day),
            fleet_spend(when.month),
        ]

    def reserve(self, bot: str, amount: int) -> Reservation | Refusal:
        """Hold ``amount`` (1e-9 €) for one call of ``bot``, or say why it cannot be made.
        Redis errors propagate: a call whose cost cannot be recorded is not made."""
        now = self.clock()
        reservation = Reservation(uuid.uuid4().hex, bot, amount)
        answer = self._reserve(
            keys=[*self.keys(bot, now), AdvisorKeys(bot).calls, ADVISOR_RESERVATIONS],
            args=[
                reservation.id,
                amount,
                *caps_nano(self.caps),
                self.caps.calls_per_hour,
                int(now * 1000),
                int((now + RESERVATION_TIMEOUT_S) * 1000),
                KEEP_SPEND_S,
            ],
        )
        if int(answer[0]) == 1:
            return reservation
        code = as_text(answer[1])
        if code == "CAP":
            index = int(answer[2]) - 1
            numbers = {
                "spent_eur": eur(as_text(answer[3])),
                "reserved_eur": eur(as_text(answer[4])),
                "call_eur": eur(amount),
                "cap_eur": eur(as_text(answer[5])),
            }
            return Refusal("CAP", SCOPES[index], numbers)
        return Refusal(
            "RATE", "bot_hour", {"calls": int(answer[2]), "calls_per_hour": int(answer[3])}
        )

    def settle(
        self, reservation: Reservation, cost: int, input_tokens: int, output_tokens: int
    ) -> list[Alert]:
        """Turn the reservation into what the call cost; the alerts it crossed."""
        answer = self._settle(
            keys=[ADVISOR_RESERVATIONS],
            args=[
                reservation.id,
                max(0, cost),
                max(0, input_tokens),
                max(0, output_tokens),
                *caps_nano(self.caps),
                *ALERT_LEVELS,
            ],
        )
        return [
            Alert(
                as_text(answer[i]),
                int(answer[i + 1]),
                eur(as_text(answer[i + 2])),
                eur(as_text(answer[i + 3])),
            )
            for i in range(0, len(answer), 4)
        ]

    def usage(self, bot: str | None, at: float | None = None) -> dict[str, dict[str, Any]]:
        """Spend, calls and tokens of ``bot`` (or the fleet) today and this month, with caps."""
        when = periods(self.clock() if at is None else at, self.caps.timezone)
        caps = dict(zip(SCOPES, caps_nano(self.caps), strict=True))
        shown: dict[str, dict[str, Any]] = {}
        for period, label in ((when.day, "day"), (when.month, "month")):
            key = AdvisorKeys(bot).spend(period) if bot else fleet_spend(period)
            raw = {as_text(k): as_text(v) for k, v in self.client.hgetall(key).items()}
            cap = caps[f"{'bot' if bot else 'fleet'}_{label}"]
            spent = int(raw.get("spent", 0))
            shown[label] = {
                "period": period.split(":", 1)[1],
                "spent_eur": eur(spent),
                "reserved_eur": eur(raw.get("reserved", 0)),
                "cap_eur": eur(cap),
                "used": spent / cap if cap else (math.inf if spent else 0.0),
                "calls": int(raw.get("calls", 0)),
                "input_tokens": int(raw.get("input_tokens", 0)),
                "output_tokens": int(raw.get("output_tokens", 0)),
            }
        return shown


def worst_case_input_tokens(texts: Sequence[str], messages: int) -> int:
    """An upper bound on a prompt's tokens: its UTF-8 bytes (no tokenizer makes a token of
    less than a byte) plus each message's framing. Over-reserves about four times, which
    at advisor prices is fractions of a cent, and is never too low."""
    return sum(len(t.encode()) for t in texts) + 16 * messages + 64
