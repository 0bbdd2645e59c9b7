"""What the risk guard needs from Freqtrade, read from inside the strategy: the guard built
for the run mode, the bot's equity with open positions at the last close, its closed
results, a pair's candles and what it already holds in a pair.

Live and dry runs keep the guard's memory in the bot's Redis and send its state to the
gateway; backtests and hyperopt keep both in the process (the same rules on simulated
time), so a user sees on history how often each rule would have fired.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from freqtrade.enums import RunMode
from freqtrade.persistence import Trade

from bulkhead.config.guard_rules import GuardRules
from bulkhead.freqtrade.candles import MINUTES
from bulkhead.guard.engine import Emit, Guard
from bulkhead.guard.insights import ClosedTrade
from bulkhead.guard.state import GuardMemory, InProcessMemory
from bulkhead.guard.wiring import RecorderGuardMemory, sink_from_config
from bulkhead.logs import event
from bulkhead.memory.recorder import Recorder

logger = logging.getLogger("bulkhead.guard")

SIMULATED = {RunMode.BACKTEST, RunMode.HYPEROPT}


def build_guard(
    config: dict[str, Any], timeframe: str, recorder: Recorder | None, emit: Emit
) -> Guard | None:
    """The bot's guard, or None when the spec turns it off (``risk.guard.enabled``)."""
    section = config.get("bulkhead", {})
    raw = section.get("guard")
    rules = GuardRules.model_validate(raw) if isinstance(raw, dict) else GuardRules()
    if not rules.enabled:
        event(logger, "guard_off", reason="risk.guard.enabled is false")
        return None
    budget = float(section.get("budget") or config.get("available_capital") or 0.0)
    simulated = config.get("runmode") in SIMULATED
    memory: GuardMemory
    if simulated or recorder is None:
        memory = InProcessMemory()
    else:
        memory = RecorderGuardMemory(recorder.store)
    sink = None if simulated else sink_from_config(config, os.environ)
    minutes = MINUTES.get(timeframe, 5)
    guard = Guard(
        rules,
        budget,
        timedelta(minutes=minutes),
        memory=memory,
        emit=emit,
        sink=sink,
    )
    event(
        logger,
        "guard_start",
        budget=budget,
        simulated=simulated,
        enforced_at="gateway" if sink is not None else "strategy",
        memory="process" if isinstance(memory, InProcessMemory) else "redis",
        state=guard.state.state,
        peak=guard.state.peak,
    )
    return guard


def closed_results(
    regimes: dict[int, str] | None = None,
) -> tuple[list[float], datetime | None, list[ClosedTrade]]:
    """Closed trades' profits, oldest close first, when the last one closed, and the
    trades as the guard's insights read them."""
    closed = sorted(
        Trade.get_trades_proxy(is_open=False),
        key=lambda t: t.close_date_utc or datetime.min.replace(tzinfo=UTC),
    )
    profits = [float(t.close_profit_abs or 0.0) for t in closed]
    last = closed[-1].close_date_utc if closed else None
    trades = [
        ClosedTrade(
            str(t.pair),
            float(t.close_profit or 0.0),
            t.close_date_utc,
            (regimes or {}).get(int(t.id), "unknown"),
        )
        for t in closed
        if t.close_date_utc is not None
    ]
    return profits, last, trades


def equity(
    budget: float, profits: list[float], last_close_of: Callable[[str], float | None]
) -> float:
    """Budget + realized results + open trades valued at their pair's last close (fees
    included, as Freqtrade counts them); an open trade without a price counts at its cost."""
    total = budget + sum(profits)
    for trade in Trade.get_trades_proxy(is_open=True):
        rate = last_close_of(trade.pair)
        if rate is None or not rate > 0:
            continue
        total += float(trade.calc_profit(rate))
    return total


def open_stake(pair: str) -> float:
    return sum(
        float(t.stake_amount or 0.0) for t in Trade.get_trades_proxy(pair=pair, is_open=True)
    )


#: the candles whose open times the market-data rule looks at (gaps among the recent ones)
RECENT_CANDLES = 11


def candles(
    dp: Any, pair: str, timeframe: str, closes_needed: int
) -> tuple[list[datetime], list[float], Any]:
    """What the entry rules read of a pair's analyzed candles: the last open times, the
    last volume, and the last ``closes_needed`` closes (a numpy array); empty when none.
    Only these are converted: the whole frame would cost milliseconds per entry."""
    if dp is None:
        return [], [], []
    frame, _ = dp.get_analyzed_dataframe(pair, timeframe)
    if frame is None or frame.empty:
        return [], [], []
    times = [ts.to_pydatetime() for ts in frame["date"].iloc[-RECENT_CANDLES:]]
    volumes = [float(frame["volume"].iloc[-1])]
    closes = frame["close"].to_numpy(dtype=float)[-closes_needed:]
    return times, volumes, closes


def last_close(dp: Any, timeframe: str) -> Callable[[str], float | None]:
    def read(pair: str) -> float | None:
        if dp is None:
            return None
        frame, _ = dp.get_analyzed_dataframe(pair, timeframe)
        if frame is None or frame.empty:
            return None
        return float(frame["close"].iloc[-1])

    return read
