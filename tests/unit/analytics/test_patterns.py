"""Patterns: a real difference is found with its interval and said in plain words; small
groups and differences within chance are not reported."""

from __future__ import annotations

import numpy as np
import pytest

from bulkhead.analytics.patterns import patterns
from bulkhead.analytics.trades import Trades

T0 = 1_795_824_000_000
H = 3_600_000


def trades(pairs: list[str], ratios: np.ndarray) -> Trades:
    n = len(pairs)
    opens = T0 + np.arange(n) * 7 * H  # spread over hours and weekdays
    return Trades.from_arrays(
        pnl=ratios * 10.0,
        stake=np.full(n, 10.0),
        open_ms=opens,
        close_ms=opens + H,
        pair=pairs,
    )


def test_a_losing_pair_is_found_with_its_interval_and_plain_words():
    rng = np.random.default_rng(4)
    ratios = np.concatenate([rng.normal(-0.018, 0.005, 23), rng.normal(0.002, 0.005, 60)])
    found = patterns(trades(["XRP/USDT"] * 23 + ["ADA/USDT"] * 60, ratios))

    xrp = next(p for p in found if p.feature == "pair" and p.value == "XRP/USDT")
    assert xrp.trades == 23
    assert xrp.mean == pytest.approx(ratios[:23].mean())
    assert xrp.high < 0
    assert xrp.low < xrp.difference < xrp.high
    assert xrp.text.startswith("XRP/USDT entries lost 1.")
    assert "over 23 trades" in xrp.text
    assert "95 % CI" in xrp.text
    # the mirror image (ADA against the rest) is the same finding, not a new one to hide
    assert any(p.value == "ADA/USDT" and p.low > 0 for p in found)


def test_groups_under_the_minimum_are_not_reported():
    rng = np.random.default_rng(4)
    ratios = np.concatenate([rng.normal(-0.05, 0.001, 10), rng.normal(0.002, 0.005, 60)])

    found = patterns(trades(["XRP/USDT"] * 10 + ["ADA/USDT"] * 60, ratios))

    assert not [p for p in found if p.feature == "pair"]


def test_no_difference_no_pattern_and_too_few_trades_nothing_at_all():
    same = np.full(80, 0.01)

    assert patterns(trades(["XRP/USDT"] * 40 + ["ADA/USDT"] * 40, same)) == []
    assert patterns(trades(["XRP/USDT"] * 30, np.full(30, -0.05))) == []


def test_a_regime_that_loses_is_said_in_the_issues_words():
    rng = np.random.default_rng(6)
    ratios = np.concatenate([rng.normal(-0.018, 0.005, 23), rng.normal(0.002, 0.005, 60)])
    n = ratios.size
    opens = T0 + np.arange(n) * 7 * H
    trades = Trades.from_arrays(
        pnl=ratios * 10.0,
        stake=np.full(n, 10.0),
        open_ms=opens,
        close_ms=opens + H,
        regime=["high"] * 23 + ["normal"] * 60,
    )

    high = next(p for p in patterns(trades) if p.feature == "regime" and p.value == "high")

    assert high.text.startswith("entries in the high-volatility regime lost 1.")
    assert "over 23 trades" in high.text
