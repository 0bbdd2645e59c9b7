"""Freqtrade's own numbers for the same trades, computed by Freqtrade's own functions
(``freqtrade.data.metrics``), so they match its backtest report by construction.

Shown beside the textbook metrics because Freqtrade's definitions differ, and a user
comparing a report with Freqtrade's output deserves to see both, labelled:

- **Sharpe**: the sum of trade returns (on the starting balance) per day of the window,
  divided by the standard deviation of the *per-trade* returns, x sqrt(365);
- **Sortino**: the same mean over the deviation of the *losing trades'* returns only;
- **Calmar**: that per-day mean x 100 over the max relative drawdown, x sqrt(365) (not
  CAGR over drawdown);
- **CAGR** over whole days (``(max - min).days``, at least 1);
- **profit factor** 0 when there is no losing trade (the textbook one is infinite);
- each ratio is 0 with no trades or an empty window, and -100 when its deviation is 0.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Any

import pandas as pd

from bulkhead.analytics.trades import Trades


@dataclass(frozen=True)
class FreqtradeNumbers:
    sharpe: float
    sortino: float
    calmar: float
    cagr: float
    expectancy: float
    expectancy_ratio: float
    profit_factor: float
    max_drawdown_account: float

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _frame(trades: Trades) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "profit_abs": trades.pnl,
            "open_date": pd.to_datetime(trades.open_ms, unit="ms", utc=True),
            "close_date": pd.to_datetime(trades.close_ms, unit="ms", utc=True),
        }
    )


def freqtrade_numbers(
    trades: Trades,
    start_balance: float,
    min_date: datetime | None = None,
    max_date: datetime | None = None,
) -> FreqtradeNumbers:
    """Freqtrade's metrics of ``trades`` over [min_date, max_date] (a backtest's window;
    by default the first entry to the last exit)."""
    from freqtrade.data.metrics import (
        calculate_cagr,
        calculate_calmar,
        calculate_expectancy,
        calculate_max_drawdown,
        calculate_sharpe,
        calculate_sortino,
    )

    frame = _frame(trades)
    if len(trades):
        min_date = min_date or datetime.fromtimestamp(int(trades.open_ms.min()) / 1000, UTC)
        max_date = max_date or datetime.fromtimestamp(int(trades.close_ms.max()) / 1000, UTC)
    days = ((max_date - min_date).days or 1) if min_date and max_date else 1
    final = start_balance + float(trades.pnl.sum())
    expectancy, expectancy_ratio = calculate_expectancy(frame)
    winning = float(trades.pnl[trades.pnl > 0].sum())
    losing = float(trades.pnl[trades.pnl < 0].sum())
    try:
        drawdown = calculate_max_drawdown(
            frame, value_col="profit_abs", starting_balance=start_balance
        ).relative_account_drawdown
    except ValueError:  # no losing stretch at all
        drawdown = 0.0
    return FreqtradeNumbers(
        sharpe=float(calculate_sharpe(frame, min_date, max_date, start_balance)),
        sortino=float(calculate_sortino(frame, min_date, max_date, start_balance)),
        calmar=float(calculate_calmar(frame, min_date, max_date, start_balance)),
        cagr=float(calculate_cagr(days, start_balance, final)),
        expectancy=float(expectancy),
        expectancy_ratio=float(expectancy_ratio),
        profit_factor=winning / abs(losing) if losing else 0.0,
        max_drawdown_account=float(drawdown),
    )


def freqtrade_api_numbers(
    trades: Trades, start_balance: float, first_open_ms: int, last_open_ms: int
) -> FreqtradeNumbers:
    """The numbers a running bot's ``/api/v1/profit`` shows for ``trades`` (its closed
    ones). The API takes its window from the first trade's open to the *last trade's
    open* (open trades included), and gives an infinite profit factor when nothing lost.
    Its CAGR uses the current balance, open trades included, so it is not reproduced
    here (0)."""
    window = freqtrade_numbers(
        trades,
        start_balance,
        datetime.fromtimestamp(first_open_ms / 1000, UTC),
        datetime.fromtimestamp(last_open_ms / 1000, UTC),
    )
    losing = float(trades.pnl[trades.pnl < 0].sum())
    winning = float(trades.pnl[trades.pnl > 0].sum())
    factor = winning / abs(losing) if losing else float("inf")
    return FreqtradeNumbers(
        sharpe=window.sharpe,
        sortino=window.sortino,
        calmar=window.calmar,
        cagr=0.0,
        expectancy=window.expectancy,
        expectancy_ratio=window.expectancy_ratio,
        profit_factor=factor,
        max_drawdown_account=window.max_drawdown_account,
    )
