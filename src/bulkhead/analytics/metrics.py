"""Textbook performance metrics of a bot's closed trades, in numpy.

Definitions (quantstats / empyrical conventions, a 365-day crypto year):

- the **equity curve** is the starting balance plus the cumulative net PnL at each close;
  **daily returns** are the day-over-day changes of the equity at the end of each UTC day
  from the first close's day to the last (a day without trades returns 0);
- **Sharpe** = mean(daily) / std(daily, ddof=1) x sqrt(365); **Sortino** = mean(daily) /
  sqrt(mean(min(daily, 0)^2)) x sqrt(365); **CAGR** = (final / start)^(365 / days) - 1
  over the window from the first open to the last close; **Calmar** = CAGR / max drawdown;
- **profit factor** = gross profit / gross loss; **expectancy** = mean net PnL per trade;
  **expectancy ratio** = (1 + avg win / |avg loss|) x win rate - 1;
- **drawdown** is from the running peak of the equity curve (the starting balance counts
  as the first peak); its duration is the longest stretch from a peak to the next time
  equity is back at or above it (or to the last close, if it never is).

Degenerate cases have a defined value, never a crash or a silent -100 %:
no trades -> every ratio ``None``; no losing trade -> profit factor ``inf`` (``None`` when
there is no winning trade either) and expectancy ratio ``None``; fewer than two days of
returns, or returns that never vary -> Sharpe ``None``; no negative day -> Sortino ``inf``
(``None`` if no positive day either); a window under one day -> CAGR and Calmar ``None``;
no drawdown -> Calmar ``inf`` when CAGR > 0, else ``None``.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from bulkhead.analytics.trades import DAY_MS, Trades

YEAR_DAYS = 365


@dataclass(frozen=True)
class Metrics:
    trades: int
    wins: int
    losses: int
    draws: int
    win_rate: float | None
    net_pnl: float
    gross_profit: float
    gross_loss: float
    profit_factor: float | None
    expectancy: float | None
    expectancy_ratio: float | None
    avg_win: float | None
    avg_loss: float | None
    best_ratio: float | None
    worst_ratio: float | None
    avg_duration_s: float | None
    fees: float
    fee_share_of_gross: float | None
    exposure: float | None
    start_balance: float
    final_balance: float
    max_drawdown: float
    max_drawdown_abs: float
    current_drawdown: float
    max_drawdown_duration_s: float
    days: float
    cagr: float | None
    sharpe: float | None
    sortino: float | None
    calmar: float | None

    def as_dict(self) -> dict[str, Any]:
        """JSON-safe: ``inf`` as the string "inf" (JSON has no infinity)."""
        return {
            k: ("inf" if isinstance(v, float) and math.isinf(v) else v)
            for k, v in asdict(self).items()
        }


def _ratio(
    numerator: float, denominator: float, *, zero_over_zero: float | None = None
) -> float | None:
    if denominator == 0:
        return zero_over_zero if numerator == 0 else math.inf
    return numerator / denominator


def exposure_ms(open_ms: np.ndarray, close_ms: np.ndarray) -> int:
    """Time during which at least one trade was open (the union of the intervals)."""
    if open_ms.size == 0:
        return 0
    order = np.argsort(open_ms, kind="stable")
    starts, ends = open_ms[order], close_ms[order]
    reach = np.maximum.accumulate(ends)
    new_block = np.empty(starts.size, dtype=bool)
    new_block[0] = True
    new_block[1:] = starts[1:] > reach[:-1]
    block = np.cumsum(new_block) - 1
    block_start = starts[new_block]
    block_end = np.zeros(block_start.size, dtype=np.int64)
    np.maximum.at(block_end, block, ends)
    return int(np.sum(block_end - block_start))


def daily_returns(trades: Trades, start_balance: float) -> np.ndarray:
    """Returns of the end-of-day equity, from the first close's UTC day to the last."""
    if len(trades) == 0:
        return np.zeros(0)
    day = trades.close_ms // DAY_MS
    first = int(day[0])
    span = int(day[-1]) - first + 1
    per_day = np.bincount(day - first, weights=trades.pnl, minlength=span)
    equity = start_balance + np.cumsum(per_day)
    previous = np.concatenate([[start_balance], equity[:-1]])
    with np.errstate(divide="ignore", invalid="ignore"):
        returns = np.where(previous > 0, equity / previous - 1, 0.0)
    return np.asarray(returns)


def drawdowns(trades: Trades, start_balance: float) -> tuple[float, float, float, float]:
    """(max ratio, max absolute, current ratio, longest duration in s) of the equity curve."""
    if len(trades) == 0:
        return 0.0, 0.0, 0.0, 0.0
    equity = np.concatenate([[start_balance], start_balance + np.cumsum(trades.pnl)])
    times = np.concatenate([[trades.open_ms[0]], trades.close_ms])
    peak = np.maximum.accumulate(equity)
    down = peak - equity
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.where(peak > 0, down / peak, 0.0)
    # a new peak (or its equal) ends a drawdown; measure from each one to the next
    at_peak = np.flatnonzero(equity >= peak)
    ends = np.concatenate([at_peak[1:], [equity.size - 1]])
    longest = float(np.max(times[ends] - times[at_peak])) / 1000 if at_peak.size else 0.0
    return float(ratio.max()), float(down.max()), float(ratio[-1]), max(0.0, longest)


def compute(trades: Trades, start_balance: float) -> Metrics:
    n = len(trades)
    pnl = trades.pnl
    wins_mask, loss_mask = pnl > 0, pnl < 0
    wins, losses = int(wins_mask.sum()), int(loss_mask.sum())
    gross_profit = float(pnl[wins_mask].sum())
    gross_loss = float(-pnl[loss_mask].sum())
    net = float(pnl.sum())
    fees = float(trades.fees.sum())
    avg_win = gross_profit / wins if wins else None
    avg_loss = -gross_loss / losses if losses else None
    win_rate = wins / n if n else None
    expectancy_ratio = None
    if avg_win is not None and avg_loss is not None and win_rate is not None:
        expectancy_ratio = (1 + avg_win / abs(avg_loss)) * win_rate - 1
    max_dd, max_dd_abs, current_dd, dd_duration = drawdowns(trades, start_balance)
    final = start_balance + net
    days = float(trades.close_ms[-1] - trades.open_ms.min()) / DAY_MS if n else 0.0
    cagr = None
    if days >= 1 and start_balance > 0:
        cagr = (max(final, 0.0) / start_balance) ** (YEAR_DAYS / days) - 1
    daily = daily_returns(trades, start_balance)
    sharpe = sortino = None
    if daily.size >= 2:
        std = float(daily.std(ddof=1))
        mean = float(daily.mean())
        sharpe = mean / std * math.sqrt(YEAR_DAYS) if std > 0 else None
        downside = float(np.sqrt(np.mean(np.minimum(daily, 0.0) ** 2)))
        if downside > 0:
            sortino = mean / downside * math.sqrt(YEAR_DAYS)
        elif mean > 0:
            sortino = math.inf
    calmar = None
    if cagr is not None:
        calmar = cagr / max_dd if max_dd > 0 else (math.inf if cagr > 0 else None)
    window = days * DAY_MS
    gross = net + fees
    return Metrics(
        trades=n,
        wins=wins,
        losses=losses,
        draws=n - wins - losses,
        win_rate=win_rate,
        net_pnl=net,
        gross_profit=gross_profit,
        gross_loss=gross_loss,
        profit_factor=_ratio(gross_profit, gross_loss) if n else None,
        expectancy=net / n if n else None,
        expectancy_ratio=expectancy_ratio,
        avg_win=avg_win,
        avg_loss=avg_loss,
        best_ratio=float(trades.ratio.max()) if n else None,
        worst_ratio=float(trades.ratio.min()) if n else None,
        avg_duration_s=float(np.mean(trades.close_ms - trades.open_ms)) / 1000 if n else None,
        fees=fees,
        fee_share_of_gross=fees / abs(gross) if n and gross != 0 else None,
        exposure=exposure_ms(trades.open_ms, trades.close_ms) / window if window > 0 else None,
        start_balance=start_balance,
        final_balance=final,
        max_drawdown=max_dd,
        max_drawdown_abs=max_dd_abs,
        current_drawdown=current_dd,
        max_drawdown_duration_s=dd_duration,
        days=days,
        cagr=cagr,
        sharpe=sharpe,
        sortino=sortino,
        calmar=calmar,
    )


@dataclass(frozen=True)
class Group:
    key: str
    trades: int
    wins: int
    net_pnl: float
    mean_ratio: float

    @property
    def win_rate(self) -> float:
        return self.wins / self.trades if self.trades else 0.0


def breakdown(codes: np.ndarray, names: tuple[str, ...], trades: Trades) -> list[Group]:
    """Per group of ``codes``: trades, wins, net PnL, mean ratio (groups with trades only),
    by net PnL, best first."""
    size = len(names)
    count = np.bincount(codes, minlength=size)
    wins = np.bincount(codes, weights=(trades.pnl > 0).astype(float), minlength=size)
    net = np.bincount(codes, weights=trades.pnl, minlength=size)
    ratio = np.bincount(codes, weights=trades.ratio, minlength=size)
    groups = [
        Group(names[i], int(count[i]), int(wins[i]), float(net[i]), float(ratio[i] / count[i]))
        for i in np.flatnonzero(count)
    ]
    return sorted(groups, key=lambda g: -g.net_pnl)


HOURS = tuple(f"{h:02d}" for h in range(24))
WEEKDAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")


def breakdowns(trades: Trades) -> dict[str, list[Group]]:
    """By pair, entry tag, exit reason, hour of entry (UTC), weekday of entry and the
    volatility regime at entry."""
    hour = (trades.open_ms // 3_600_000) % 24
    weekday = (trades.open_ms // DAY_MS + 3) % 7  # 1970-01-01 was a Thursday
    by: dict[str, tuple[np.ndarray, tuple[str, ...]]] = {
        "pair": (trades.pair.codes, trades.pair.names),
        "entry_tag": (trades.tag.codes, trades.tag.names),
        "exit_reason": (trades.exit.codes, trades.exit.names),
        "hour": (hour.astype(np.int64), HOURS),
        "weekday": (weekday.astype(np.int64), WEEKDAYS),
        "regime": (trades.regime.codes, trades.regime.names),
    }
    return {name: breakdown(codes, names, trades) for name, (codes, names) in by.items()}
