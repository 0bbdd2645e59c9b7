"""The risk guard's rules as pure functions: numbers in, a ``Verdict`` out.

Kept free of Freqtrade, Redis and clocks so that each rule is tested on crafted numbers and
runs the same live and in backtests. ``engine.Guard`` holds the state (peak equity, period
starts, pauses) and feeds these.

Every verdict carries its rule's reason code and the numbers behind it, rendered as the
issue asks (``DRAWDOWN_LIMIT peak=104.20 equity=88.10 limit=0.15``).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from enum import StrEnum

import numpy as np

from bulkhead.config.guard_rules import VolatilityRules

# reason codes
DRAWDOWN_LIMIT = "DRAWDOWN_LIMIT"
DRAWDOWN_RECOVERED = "DRAWDOWN_RECOVERED"
DAILY_LOSS_LIMIT = "DAILY_LOSS_LIMIT"
WEEKLY_LOSS_LIMIT = "WEEKLY_LOSS_LIMIT"
LOSS_STREAK = "LOSS_STREAK"
STALE_DATA = "STALE_DATA"
DATA_GAP = "DATA_GAP"
ZERO_VOLUME = "ZERO_VOLUME"
VOLATILITY_EXTREME = "VOLATILITY_EXTREME"
VOLATILITY_HIGH = "VOLATILITY_HIGH"
TRADE_CAP = "TRADE_CAP"
PAIR_CAP = "PAIR_CAP"
STATE_NOT_ACTIVE = "STATE_NOT_ACTIVE"
EXCHANGE_ERRORS = "EXCHANGE_ERRORS"
EXCHANGE_CLOSED = "EXCHANGE_CLOSED"
MEMORY_UNREACHABLE = "MEMORY_UNREACHABLE"
STRATEGY_ERRORS = "STRATEGY_ERRORS"
INSIGHT_PAUSE = "INSIGHT_PAUSE"
RULES_CLEAR = "RULES_CLEAR"
INSIGHT_SCALE = "INSIGHT_SCALE"


class Decision(StrEnum):
    ALLOW = "allow"
    SCALE = "scale"
    DENY = "deny"


class Regime(StrEnum):
    CALM = "calm"
    NORMAL = "normal"
    HIGH = "high"
    EXTREME = "extreme"
    UNKNOWN = "unknown"  # too little history to rank: treated as normal


@dataclass(frozen=True)
class Verdict:
    """One rule's answer, with what it saw."""

    rule: str
    decision: Decision
    code: str = ""
    numbers: dict[str, float | str] = field(default_factory=dict)

    @property
    def reason(self) -> str:
        shown = " ".join(f"{k}={_shown(v)}" for k, v in self.numbers.items())
        return f"{self.code} {shown}".strip()

    @property
    def denies(self) -> bool:
        return self.decision is Decision.DENY


def allow(rule: str, **numbers: float | str) -> Verdict:
    return Verdict(rule, Decision.ALLOW, "", dict(numbers))


def _shown(value: float | str) -> str:
    if isinstance(value, str):
        return value
    if value != value or math.isinf(value):  # NaN, inf: say so, never crash formatting
        return str(value)
    return f"{value:.2f}" if abs(value) >= 1 or value == 0 else f"{value:.4g}"


# -- account rules (drive the trading state) ----------------------------------------------


def drawdown(peak: float, equity: float, limit: float) -> Verdict:
    """Deny (-> REDUCING) once equity is more than ``limit`` below its peak.

    ``peak`` must already include ``equity`` (``max(peak, equity)``); a peak of zero or
    less (no money) is a drawdown of 0."""
    down = 0.0 if peak <= 0 else max(0.0, (peak - equity) / peak)
    numbers: dict[str, float | str] = {"peak": peak, "equity": equity, "limit": limit}
    if down > limit:
        return Verdict("drawdown", Decision.DENY, DRAWDOWN_LIMIT, {**numbers, "drawdown": down})
    return Verdict("drawdown", Decision.ALLOW, "", {**numbers, "drawdown": down})


def period_loss(
    rule: str, code: str, start_equity: float, equity: float, budget: float, limit: float
) -> Verdict:
    """Deny once the loss since the period's start (realized and open) exceeds ``limit``
    of the budget."""
    loss = max(0.0, start_equity - equity)
    share = loss / budget if budget > 0 else 0.0
    numbers: dict[str, float | str] = {"loss": loss, "budget": budget, "limit": limit}
    if share > limit:
        return Verdict(rule, Decision.DENY, code, {**numbers, "share": share})
    return Verdict(rule, Decision.ALLOW, "", {**numbers, "share": share})


def day_start(now: datetime) -> datetime:
    """00:00 UTC of ``now``'s day: when the daily loss limit resets."""
    at = now.astimezone(UTC)
    return at.replace(hour=0, minute=0, second=0, microsecond=0)


def week_start(now: datetime) -> datetime:
    """Monday 00:00 UTC of ``now``'s week: when the weekly loss limit resets."""
    return day_start(now) - timedelta(days=now.astimezone(UTC).weekday())


def losing_streak(profits: Sequence[float]) -> int:
    """Losing trades in a row at the end of ``profits`` (closed trades, oldest first);
    a trade at exactly zero ends a streak (it did not lose)."""
    streak = 0
    for profit in reversed(profits):
        if profit >= 0:
            break
        streak += 1
    return streak


def loss_streak(
    profits: Sequence[float],
    last_close: datetime | None,
    now: datetime,
    limit: int,
    pause: timedelta,
) -> Verdict:
    """Deny entries for ``pause`` after the ``limit``-th losing trade in a row."""
    streak = losing_streak(profits)
    numbers: dict[str, float | str] = {"streak": float(streak), "limit": float(limit)}
    if streak >= limit and last_close is not None and now < last_close + pause:
        until = (last_close + pause).astimezone(UTC).strftime("%Y-%m-%dT%H:%MZ")
        return Verdict("loss_streak", Decision.DENY, LOSS_STREAK, {**numbers, "until": until})
    return Verdict("loss_streak", Decision.ALLOW, "", numbers)


# -- market data rules (per pair, per entry) ----------------------------------------------


def market_data(
    candle_times: Sequence[datetime],
    volumes: Sequence[float],
    now: datetime,
    timeframe: timedelta,
    stale_after: float,
    recent: int = 10,
) -> Verdict:
    """Deny entries on a pair whose data cannot be trusted: the last candle older than
    ``stale_after`` timeframes (its open time plus one timeframe is when it closed), a gap
    among the last ``recent`` candles, or zero volume on the last one."""
    if not candle_times:
        return Verdict("market_data", Decision.DENY, STALE_DATA, {"candles": 0.0})
    last = candle_times[-1]
    age = (now - (last + timeframe)) / timeframe
    if age > stale_after:
        numbers: dict[str, float | str] = {"age_timeframes": age, "limit": stale_after}
        return Verdict("market_data", Decision.DENY, STALE_DATA, numbers)
    tail = list(candle_times[-recent:])
    for before, after in itertools.pairwise(tail):
        missing = (after - before) / timeframe - 1
        if missing >= 1:
            at = after.astimezone(UTC).strftime("%Y-%m-%dT%H:%MZ")
            gap: dict[str, float | str] = {"missing_candles": missing, "before": at}
            return Verdict("market_data", Decision.DENY, DATA_GAP, gap)
    if volumes and not volumes[-1] > 0:
        return Verdict("market_data", Decision.DENY, ZERO_VOLUME, {"volume": float(volumes[-1])})
    return allow("market_data", age_timeframes=age)


@dataclass(frozen=True)
class RegimeReading:
    regime: Regime
    volatility: float  # the last window's standard deviation of log returns
    percentile: float  # its rank among the pair's own history, 0..1 (nan when unknown)


def volatility_regime(
    closes: Sequence[float] | np.ndarray, rules: VolatilityRules
) -> RegimeReading:
    """The regime of the last candle: its rolling volatility ranked among the previous
    ``history`` rolling values of the same pair."""
    prices = np.asarray(closes, dtype=float)[-(rules.history + rules.window + 1) :]
    if len(prices) < rules.window + 2 or not np.all(prices > 0):
        return RegimeReading(Regime.UNKNOWN, math.nan, math.nan)
    returns = np.diff(np.log(prices))
    windows = np.lib.stride_tricks.sliding_window_view(returns, rules.window)
    vols = windows.std(axis=1)
    current, past = float(vols[-1]), vols[:-1]
    if len(past) < rules.window:  # too little history to rank against
        return RegimeReading(Regime.UNKNOWN, current, math.nan)
    percentile = float(np.count_nonzero(past < current) / len(past))
    if percentile >= rules.extreme:
        regime = Regime.EXTREME
    elif percentile >= rules.high:
        regime = Regime.HIGH
    elif percentile < rules.calm:
        regime = Regime.CALM
    else:
        regime = Regime.NORMAL
    return RegimeReading(regime, current, percentile)


def regime_verdict(reading: RegimeReading, rules: VolatilityRules) -> Verdict:
    numbers: dict[str, float | str] = {
        "regime": reading.regime.value,
        "volatility": reading.volatility,
        "percentile": reading.percentile,
    }
    if reading.regime is Regime.EXTREME:
        limit = {"limit": rules.extreme}
        return Verdict("volatility", Decision.DENY, VOLATILITY_EXTREME, {**numbers, **limit})
    if reading.regime is Regime.HIGH:
        scale = {"scale": rules.high_stake_scale}
        return Verdict("volatility", Decision.SCALE, VOLATILITY_HIGH, {**numbers, **scale})
    return Verdict("volatility", Decision.ALLOW, "", numbers)


# -- sizing (custom_stake_amount) ---------------------------------------------------------


@dataclass(frozen=True)
class Sizing:
    stake: float
    verdicts: tuple[Verdict, ...]


def size_entry(
    proposed: float,
    budget: float,
    pair_open_stake: float,
    max_trade_share: float,
    max_pair_share: float,
    scale: float = 1.0,
) -> Sizing:
    """The stake an entry may have: ``proposed`` x the regime's ``scale``, then capped at
    ``max_trade_share`` of the budget and at what is left of ``max_pair_share`` on the pair.
    A stake of 0 means no entry."""
    verdicts: list[Verdict] = []
    stake = max(0.0, proposed) * scale  # the regime's verdict says why, beside this
    trade_cap = budget * max_trade_share
    if stake > trade_cap:
        numbers: dict[str, float | str] = {"stake": stake, "cap": trade_cap}
        verdicts.append(Verdict("trade_cap", Decision.SCALE, TRADE_CAP, numbers))
        stake = trade_cap
    pair_left = max(0.0, budget * max_pair_share - pair_open_stake)
    if stake > pair_left:
        numbers = {"stake": stake, "held": pair_open_stake, "cap": budget * max_pair_share}
        decision = Decision.DENY if pair_left <= 0 else Decision.SCALE
        verdicts.append(Verdict("pair_cap", decision, PAIR_CAP, numbers))
        stake = pair_left
    return Sizing(stake, tuple(verdicts))
