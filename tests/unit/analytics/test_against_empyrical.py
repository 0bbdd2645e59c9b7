"""The textbook metrics equal empyrical's (the library quantstats' definitions come from)
on the same daily returns: Sharpe, Sortino and max drawdown, over random histories."""

from __future__ import annotations

import empyrical
import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bulkhead.analytics.metrics import compute, daily_returns
from bulkhead.analytics.trades import DAY_MS, Trades

T0 = 1_795_824_000_000  # a UTC midnight


@settings(max_examples=60, deadline=None)
@given(
    # at most 20 days of at most -4: the equity (from 100) stays positive
    st.lists(st.floats(min_value=-4.0, max_value=4.0, allow_nan=False), min_size=3, max_size=20),
)
def test_sharpe_sortino_and_drawdown_match_empyrical(pnl: list[float]) -> None:
    """One trade a day (opened and closed within it), so the daily equity is the trade
    equity and every metric is on the same returns."""
    n = len(pnl)
    opens = T0 + np.arange(n) * DAY_MS + 3_600_000
    trades = Trades.from_arrays(pnl=pnl, stake=[50.0] * n, open_ms=opens, close_ms=opens + 60_000)
    ours = compute(trades, 100.0)
    returns = pd.Series(
        daily_returns(trades, 100.0), index=pd.date_range("2026-11-28", periods=n, tz="UTC")
    )

    theirs_sharpe = empyrical.sharpe_ratio(returns, annualization=365)
    theirs_sortino = empyrical.sortino_ratio(returns, annualization=365)
    if np.isfinite(theirs_sharpe) and ours.sharpe is not None:
        assert ours.sharpe == pytest.approx(theirs_sharpe, rel=1e-6, abs=1e-9)
    if np.isfinite(theirs_sortino) and ours.sortino is not None:
        assert ours.sortino == pytest.approx(theirs_sortino, rel=1e-6, abs=1e-9)
    assert ours.max_drawdown == pytest.approx(-empyrical.max_drawdown(returns), abs=1e-9)
