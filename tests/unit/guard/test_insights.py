"""Insights from the bot's own history become guard decisions that cite them."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np

from bulkhead.config.guard_rules import GuardRules, InsightRules
from bulkhead.guard.engine import Guard
from bulkhead.guard.insights import ClosedTrade, derive
from bulkhead.guard.state import InProcessMemory

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
FIVE = timedelta(minutes=5)
RULES = InsightRules(min_trades=20, recent_trades=20, pause_hours=24, losing_stake_scale=0.5)


def history(pair: str, mean: float, n: int, seed: int = 2) -> list[ClosedTrade]:
    rng = np.random.default_rng(seed)
    return [
        ClosedTrade(pair, float(r), NOW - timedelta(hours=n - i))
        for i, r in enumerate(rng.normal(mean, 0.004, n))
    ]


def test_a_pair_that_loses_reliably_is_paused_with_its_evidence():
    trades = sorted(history("XRP/USDT", -0.01, 25) + history("ADA/USDT", 0.01, 25, 3),
                    key=lambda t: t.close)  # fmt: skip

    (pause,) = [i for i in derive(trades, RULES, NOW) if i.kind == "pause_pair"]

    assert pause.pair == "XRP/USDT"
    assert pause.until == NOW + timedelta(hours=24)
    assert pause.evidence["trades"] == 25
    assert float(pause.evidence["ci95_high"]) < 0
    assert pause.text.startswith("XRP/USDT lost 1.")


def test_no_insight_from_too_few_trades_or_a_mixed_record():
    assert derive(history("XRP/USDT", -0.01, 10), RULES, NOW) == []
    mixed = history("XRP/USDT", 0.0, 40)
    assert [i for i in derive(mixed, RULES, NOW) if i.kind == "pause_pair"] == []


def test_a_losing_recent_run_scales_stakes_and_a_winning_one_does_not():
    losing = {i.kind: i for i in derive(history("XRP/USDT", -0.01, 20), RULES, NOW)}
    winning = {i.kind for i in derive(history("XRP/USDT", 0.01, 20), RULES, NOW)}

    assert losing["scale_stakes"].scale == 0.5
    assert losing["scale_stakes"].evidence["trades"] == 20
    assert "scale_stakes" not in winning


def candles(
    last_open: datetime, count: int = 400
) -> tuple[list[datetime], list[float], list[float]]:
    times = [last_open - FIVE * (count - 1 - i) for i in range(count)]
    closes = list(np.exp(np.cumsum(np.random.default_rng(3).normal(0, 0.002, count))))
    return times, [5.0] * count, closes


def test_the_guard_denies_entries_on_a_paused_pair_citing_the_insight_until_it_expires():
    events: list[tuple[str, dict]] = []
    g = Guard(GuardRules(insights=RULES), 100.0, FIVE, memory=InProcessMemory(),
              emit=lambda n, f: events.append((n, f)))  # fmt: skip
    g.on_loop(NOW, 100.0)
    assert g.learning_due(NOW)
    (fresh,) = [i for i in g.learn(NOW, history("XRP/USDT", -0.01, 25)) if i.kind == "pause_pair"]

    times, volumes, closes = candles(NOW - FIVE)
    denied = g.check_entry("XRP/USDT", NOW, times, volumes, closes)
    later = NOW + timedelta(hours=25)
    allowed = g.check_entry("XRP/USDT", later, *candles(later - FIVE))

    assert not denied.allowed
    assert f"INSIGHT_PAUSE insight={fresh.id}" in denied.reason
    assert allowed.allowed
    assert not g.learning_due(NOW + timedelta(minutes=30))
    announced = [f for n, f in events if n == "guard_insight"]
    assert announced[0]["insight"] == fresh.id
    assert announced[0]["evidence"]["trades"] == 25


def test_a_stake_scale_insight_halves_stakes_and_the_decision_cites_it():
    events: list[tuple[str, dict]] = []
    g = Guard(GuardRules(insights=RULES), 100.0, FIVE, memory=InProcessMemory(),
              emit=lambda n, f: events.append((n, f)))  # fmt: skip
    insights = g.learn(NOW, history("XRP/USDT", -0.01, 20))
    scale = next(i for i in insights if i.kind == "scale_stakes")

    assert g.size("ADA/USDT", 40.0, 0.0) == 20.0
    (sized,) = [f for n, f in events if n == "guard_decision" and f["rule"] == "size"]
    assert f"INSIGHT_SCALE insight={scale.id} scale=0.5" in sized["reason"]


def test_insights_can_be_switched_off():
    g = Guard(GuardRules(insights=InsightRules(enabled=False)), 100.0, FIVE,
              memory=InProcessMemory(), emit=lambda n, f: None)  # fmt: skip

    assert not g.learning_due(NOW)


def test_a_regime_whose_entries_lose_reliably_is_noted_not_acted_on():
    rng = np.random.default_rng(5)
    trades = [
        ClosedTrade(
            "XRP/USDT" if i % 2 else "ADA/USDT",
            float(r),
            NOW - timedelta(hours=60 - i),
            "high" if i < 25 else "normal",
        )
        for i, r in enumerate(
            np.concatenate([rng.normal(-0.01, 0.003, 25), rng.normal(0.01, 0.003, 35)])
        )
    ]
    events: list[tuple[str, dict]] = []
    g = Guard(GuardRules(insights=RULES), 100.0, FIVE, memory=InProcessMemory(),
              emit=lambda n, f: events.append((n, f)))  # fmt: skip

    fresh = g.learn(NOW, trades)
    again = g.learn(NOW + timedelta(hours=2), trades)

    noted = [i for i in fresh if i.kind == "regime_effect"]
    assert [i.evidence["regime"] for i in noted] == ["high", "normal"]
    assert noted[0].text.startswith("entries in the high-volatility regime lost 1.")
    assert not [i for i in again if i.kind == "regime_effect"]  # noted once
    assert g.paused == {}  # no pair paused for it: both pairs lost and won alike
    assert g.stake_insight is None
