"""Each rule of the risk guard, deny case and allow case, on crafted numbers and candles."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from bulkhead.config.guard_rules import VolatilityRules
from bulkhead.guard import rules as r
from bulkhead.guard.rules import Decision, Regime

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)  # a Wednesday
FIVE = timedelta(minutes=5)


def test_drawdown_over_the_limit_denies_with_peak_equity_and_limit():
    verdict = r.drawdown(peak=104.2, equity=88.1, limit=0.15)

    assert verdict.denies
    assert verdict.reason.startswith("DRAWDOWN_LIMIT peak=104.20 equity=88.10 limit=0.15")


def test_drawdown_at_or_under_the_limit_allows():
    assert not r.drawdown(peak=100.0, equity=85.0, limit=0.15).denies  # exactly 15 %
    assert not r.drawdown(peak=100.0, equity=120.0, limit=0.15).denies
    assert not r.drawdown(peak=0.0, equity=0.0, limit=0.15).denies


@given(
    st.lists(st.floats(min_value=-0.2, max_value=0.2, allow_nan=False), min_size=1, max_size=200),
    st.floats(min_value=0.01, max_value=0.9),
)
def test_drawdown_engages_at_the_first_step_past_the_limit_and_never_before(
    returns: list[float], limit: float
):
    """Over a random equity path (peak tracked as the guard tracks it), the rule denies
    exactly at the steps where equity is more than ``limit`` below the running peak."""
    equity, peak = 100.0, 0.0
    for step in returns:
        equity *= 1 + step
        peak = max(peak, equity)
        past_limit = (peak - equity) / peak > limit
        assert r.drawdown(peak, equity, limit).denies is past_limit


def test_daily_loss_over_its_share_of_the_budget_denies():
    verdict = r.period_loss("daily_loss", r.DAILY_LOSS_LIMIT, 100.0, 94.0, 100.0, 0.05)

    assert verdict.denies
    assert verdict.reason.startswith("DAILY_LOSS_LIMIT loss=6.00 budget=100.00 limit=0.05")


def test_daily_loss_within_its_limit_or_a_gain_allows():
    assert not r.period_loss("daily_loss", r.DAILY_LOSS_LIMIT, 100, 95.5, 100, 0.05).denies
    assert not r.period_loss("daily_loss", r.DAILY_LOSS_LIMIT, 100, 130, 100, 0.05).denies


def test_periods_reset_at_midnight_utc_and_on_monday():
    assert r.day_start(NOW) == datetime(2026, 11, 25, tzinfo=UTC)
    assert r.week_start(NOW) == datetime(2026, 11, 23, tzinfo=UTC)  # Monday


def test_a_loss_streak_pauses_entries_until_the_pause_has_passed():
    last = NOW - timedelta(minutes=30)
    pause = timedelta(hours=2)

    paused = r.loss_streak([1.0, -1.0, -2.0, -0.5], last, NOW, 3, pause)
    over = r.loss_streak([1.0, -1.0, -2.0, -0.5], last, NOW + 2 * pause, 3, pause)

    assert paused.denies
    assert paused.code == r.LOSS_STREAK
    assert "until=2026-11-25T13:30Z" in paused.reason
    assert not over.denies


def test_a_win_or_a_breakeven_trade_ends_a_streak():
    assert r.losing_streak([-1.0, -1.0, 0.0]) == 0
    assert r.losing_streak([-1.0, 2.0, -1.0]) == 1
    assert not r.loss_streak([-1, -1, 0.5], NOW, NOW, 2, timedelta(hours=1)).denies


def times(count: int, last_open: datetime) -> list[datetime]:
    return [last_open - FIVE * (count - 1 - i) for i in range(count)]


def test_fresh_complete_candles_with_volume_allow():
    verdict = r.market_data(times(20, NOW - FIVE), [5.0] * 20, NOW, FIVE, 2)

    assert verdict.decision is Decision.ALLOW


def test_a_last_candle_older_than_two_timeframes_is_stale():
    verdict = r.market_data(times(20, NOW - 4 * FIVE), [5.0] * 20, NOW, FIVE, 2)

    assert verdict.denies
    assert verdict.code == r.STALE_DATA
    assert "age_timeframes=3.00 limit=2.00" in verdict.reason


def test_a_gap_among_recent_candles_or_zero_volume_or_no_candles_denies():
    gappy = times(20, NOW - FIVE)
    del gappy[-3]

    assert r.market_data(gappy, [5.0] * 19, NOW, FIVE, 2).code == r.DATA_GAP
    assert r.market_data(times(20, NOW - FIVE), [5.0] * 19 + [0.0], NOW, FIVE, 2).code == (
        r.ZERO_VOLUME
    )
    assert r.market_data([], [], NOW, FIVE, 2).code == r.STALE_DATA


RULES = VolatilityRules(window=10, history=100, calm=0.2, high=0.8, extreme=0.95)


def walk(last: float, seed: int = 1) -> np.ndarray:
    """A history half quiet (0.5 %) and half lively (2 %), then ten candles at ``last``."""
    rng = np.random.default_rng(seed)
    returns = np.concatenate([rng.normal(0, 0.005, 70), rng.normal(0, 0.02, 70)])
    returns = np.concatenate([returns, rng.normal(0, last, 10)])
    return np.exp(np.cumsum(returns))


@pytest.mark.parametrize(
    ("last", "regime", "decision"),
    [
        (0.0005, Regime.CALM, Decision.ALLOW),
        (0.01, Regime.NORMAL, Decision.ALLOW),
        (0.08, Regime.EXTREME, Decision.DENY),
    ],
)
def test_volatility_sorts_the_last_candle_among_its_own_history(
    last: float, regime: Regime, decision: Decision
):
    reading = r.volatility_regime(walk(last), RULES)

    assert reading.regime is regime
    assert r.regime_verdict(reading, RULES).decision is decision


def test_high_volatility_scales_the_stake_down():
    reading = r.RegimeReading(Regime.HIGH, 0.03, 0.85)

    verdict = r.regime_verdict(reading, RULES)

    assert verdict.decision is Decision.SCALE
    assert verdict.numbers["scale"] == RULES.high_stake_scale


def test_too_little_history_is_unknown_and_not_denied():
    reading = r.volatility_regime(walk(0.05)[:15], RULES)

    assert reading.regime is Regime.UNKNOWN
    assert not r.regime_verdict(reading, RULES).denies


def test_stakes_are_capped_per_trade_and_per_pair():
    capped = r.size_entry(80, budget=100, pair_open_stake=0, max_trade_share=0.25,
                          max_pair_share=1.0)  # fmt: skip
    pair_left = r.size_entry(40, budget=100, pair_open_stake=30, max_trade_share=1.0,
                             max_pair_share=0.5)  # fmt: skip
    pair_full = r.size_entry(40, budget=100, pair_open_stake=50, max_trade_share=1.0,
                             max_pair_share=0.5)  # fmt: skip
    within = r.size_entry(20, budget=100, pair_open_stake=0, max_trade_share=0.25,
                          max_pair_share=0.5, scale=0.5)  # fmt: skip

    assert capped.stake == 25
    assert capped.verdicts[0].code == r.TRADE_CAP
    assert pair_left.stake == 20
    assert pair_left.verdicts[0].decision is Decision.SCALE
    assert pair_full.stake == 0
    assert pair_full.verdicts[0].denies
    assert within.stake == 10
    assert within.verdicts == ()
