"""Freqtrade's definitions differ from the textbook ones where it matters; both are kept."""

from __future__ import annotations

import math

from bulkhead.analytics.freqtrade_compat import freqtrade_numbers
from bulkhead.analytics.metrics import compute
from bulkhead.analytics.trades import DAY_MS, Trades

T0 = 1_795_824_000_000


def test_with_no_losing_trade_freqtrades_profit_factor_is_0_and_the_textbook_one_infinite():
    trades = Trades.from_arrays(
        pnl=[1.0, 2.0],
        stake=[10, 10],
        open_ms=[T0, T0 + DAY_MS],
        close_ms=[T0 + 1, T0 + 2 * DAY_MS],
    )

    assert freqtrade_numbers(trades, 100.0).profit_factor == 0.0
    assert compute(trades, 100.0).profit_factor == math.inf


def test_no_trades_give_freqtrades_zeros_and_the_textbook_nones():
    empty = Trades.from_arrays(pnl=[], stake=[], open_ms=[], close_ms=[])

    numbers = freqtrade_numbers(empty, 100.0)

    assert (numbers.sharpe, numbers.sortino, numbers.calmar, numbers.cagr) == (0, 0, 0, 0)
    assert compute(empty, 100.0).sharpe is None
