"""Metrics against hand-computed small cases, and the defined values of degenerate ones."""

from __future__ import annotations

import math

import numpy as np
import pytest

from bulkhead.analytics.metrics import breakdowns, compute, exposure_ms
from bulkhead.analytics.trades import DAY_MS, Trades

H = 3_600_000
T0 = 1_700_006_400_000 - (1_700_006_400_000 % DAY_MS)  # a UTC midnight (a Wednesday)


def three_trades() -> Trades:
    return Trades.from_arrays(
        pnl=[10.0, -5.0, 2.5],
        stake=[50.0, 50.0, 50.0],
        open_ms=[T0, T0 + DAY_MS, T0 + 2 * DAY_MS],
        close_ms=[T0 + 12 * H, T0 + DAY_MS + 6 * H, T0 + 2 * DAY_MS + 1 * H],
        fees=[0.1, 0.1, 0.1],
        pair=["XRP/USDT", "ADA/USDT", "XRP/USDT"],
        tag=["dip", "dip", "breakout"],
        exit_reason=["roi", "stop_loss", "roi"],
    )


def test_counts_pnl_and_ratios_match_the_hand_computation():
    m = compute(three_trades(), 100.0)

    assert (m.trades, m.wins, m.losses, m.draws) == (3, 2, 1, 0)
    assert m.win_rate == pytest.approx(2 / 3)
    assert m.net_pnl == pytest.approx(7.5)
    assert m.profit_factor == pytest.approx(12.5 / 5)
    assert m.expectancy == pytest.approx(2.5)
    assert (m.avg_win, m.avg_loss) == (pytest.approx(6.25), pytest.approx(-5.0))
    assert m.expectancy_ratio == pytest.approx((1 + 6.25 / 5) * (2 / 3) - 1)
    assert (m.best_ratio, m.worst_ratio) == (pytest.approx(0.2), pytest.approx(-0.1))
    assert m.avg_duration_s == pytest.approx((12 + 6 + 1) * 3600 / 3)
    assert m.fees == pytest.approx(0.3)
    assert m.fee_share_of_gross == pytest.approx(0.3 / 7.8)


def test_drawdown_from_the_equity_curve_with_its_duration():
    m = compute(three_trades(), 100.0)

    # equity 100 -> 110 -> 105 -> 107.5: the peak 110 is never regained
    assert m.max_drawdown == pytest.approx(5 / 110)
    assert m.max_drawdown_abs == pytest.approx(5.0)
    assert m.current_drawdown == pytest.approx(2.5 / 110)
    assert m.max_drawdown_duration_s == pytest.approx(37 * 3600)


def test_returns_based_ratios_use_daily_equity_and_a_365_day_year():
    m = compute(three_trades(), 100.0)
    daily = np.array([0.10, 105 / 110 - 1, 107.5 / 105 - 1])
    days = (2 * DAY_MS + H) / DAY_MS

    assert m.days == pytest.approx(days)
    assert m.cagr == pytest.approx(1.075 ** (365 / days) - 1)
    assert m.sharpe == pytest.approx(daily.mean() / daily.std(ddof=1) * math.sqrt(365))
    downside = math.sqrt(np.mean(np.minimum(daily, 0) ** 2))
    assert m.sortino == pytest.approx(daily.mean() / downside * math.sqrt(365))
    assert m.calmar == pytest.approx(m.cagr / (5 / 110))
    assert m.exposure == pytest.approx(19 / 49)


def test_no_trades_gives_none_not_a_crash_or_minus_100_percent():
    m = compute(Trades.from_arrays(pnl=[], stake=[], open_ms=[], close_ms=[]), 100.0)

    assert m.trades == 0
    assert m.final_balance == 100.0
    for name in ("win_rate", "profit_factor", "expectancy", "sharpe", "sortino", "cagr",
                 "calmar", "best_ratio", "exposure"):  # fmt: skip
        assert getattr(m, name) is None, name
    assert m.max_drawdown == 0.0


def test_only_winners_in_one_day_give_infinite_profit_factor_and_no_cagr():
    trades = Trades.from_arrays(
        pnl=[1.0, 2.0], stake=[10, 10], open_ms=[T0, T0 + H], close_ms=[T0 + H, T0 + 2 * H]
    )
    m = compute(trades, 100.0)

    assert m.profit_factor == math.inf
    assert m.as_dict()["profit_factor"] == "inf"
    assert m.expectancy_ratio is None
    assert m.cagr is None
    assert m.calmar is None
    assert m.sharpe is None  # one day of returns
    assert m.max_drawdown == 0.0


def test_overlapping_trades_count_once_in_exposure():
    opens = np.array([0, 5, 20], dtype=np.int64)
    closes = np.array([10, 8, 30], dtype=np.int64)

    assert exposure_ms(opens, closes) == 20


def test_breakdowns_group_by_pair_tag_exit_hour_and_weekday():
    by = breakdowns(three_trades())

    pairs = {g.key: (g.trades, g.wins, round(g.net_pnl, 6)) for g in by["pair"]}
    assert pairs == {"XRP/USDT": (2, 2, 12.5), "ADA/USDT": (1, 0, -5.0)}
    assert [g.key for g in by["exit_reason"]] == ["roi", "stop_loss"]
    assert {g.key for g in by["hour"]} == {"00"}
    assert [g.key for g in sorted(by["weekday"], key=lambda g: g.key)] == ["Fri", "Thu", "Wed"]


def test_trades_break_down_by_their_regime_at_entry_unknown_where_not_recorded():
    trades = Trades.from_arrays(
        pnl=[1.0, -2.0, 3.0],
        stake=[10.0] * 3,
        open_ms=[T0, T0 + H, T0 + 2 * H],
        close_ms=[T0 + H, T0 + 2 * H, T0 + 3 * H],
        regime=["high", "high", "calm"],
    )
    unrecorded = Trades.from_arrays(pnl=[1.0], stake=[10.0], open_ms=[T0], close_ms=[T0 + H])

    by = {g.key: (g.trades, g.net_pnl) for g in breakdowns(trades)["regime"]}

    assert by == {"calm": (1, 3.0), "high": (2, -1.0)}
    assert [g.key for g in breakdowns(unrecorded)["regime"]] == ["unknown"]
