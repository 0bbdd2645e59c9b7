"""The guard's account rules move the trading state; its entry rules decide each entry.
The gateway side (what a state request may change) is tested on real Redis in
tests/integration/gateway/test_guard_route.py; here the sink records what it is asked."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bulkhead.config.guard_rules import GuardRules
from bulkhead.guard.engine import Guard
from bulkhead.guard.state import ACTIVE, HALTED, REDUCING, InProcessMemory, SinkReading

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
FIVE = timedelta(minutes=5)


class Sink:
    """Grants what the gateway would grant the guard (tighten; lift only its own)."""

    def __init__(self) -> None:
        self.state, self.by = ACTIVE, ""
        self.asked: list[str] = []
        self.errors: list[tuple[int, str]] = []
        self.status = "open"
        self.lose_requests = False

    def request(self, state: str, reason: str) -> tuple[str, str]:
        self.asked.append(state)
        if self.lose_requests:
            raise ConnectionError("the answer was lost")
        order = [ACTIVE, REDUCING, HALTED]
        tighter = order.index(state) > order.index(self.state)
        own_lift = state == ACTIVE and self.state == REDUCING and self.by == "guard"
        if self.state != HALTED and (tighter or own_lift):
            self.state, self.by = state, "guard"
        return self.state, self.by

    def current(self) -> SinkReading:
        return SinkReading(self.state, self.by, tuple(self.errors), self.status)


class Events:
    def __init__(self) -> None:
        self.seen: list[tuple[str, dict[str, Any]]] = []

    def __call__(self, name: str, fields: dict[str, Any]) -> None:
        self.seen.append((name, fields))

    def reasons(self, name: str = "guard_decision") -> list[str]:
        return [f.get("reason", "") for n, f in self.seen if n == name]


def guard(
    memory: InProcessMemory | None = None, sink: Sink | None = None, **rules: Any
) -> tuple[Guard, Events]:
    events = Events()
    built = Guard(
        GuardRules(**rules),
        100.0,
        FIVE,
        memory=memory or InProcessMemory(),
        emit=events,
        sink=sink,
    )
    return built, events


def test_a_drawdown_past_the_limit_moves_the_bot_to_reducing_with_the_numbers():
    sink = Sink()
    g, events = guard(sink=sink, max_drawdown=0.15, daily_loss=1.0, weekly_loss=1.0)
    g.on_loop(NOW, 104.2)

    assert g.on_loop(NOW + FIVE, 88.1) == REDUCING
    assert sink.state == REDUCING
    assert any(
        reason.startswith("DRAWDOWN_LIMIT peak=104.20 equity=88.10 limit=0.15")
        for reason in events.reasons()
    )


def test_within_every_limit_the_bot_stays_active_and_asks_nothing():
    sink = Sink()
    g, _ = guard(sink=sink)

    for minute in range(10):
        assert g.on_loop(NOW + timedelta(minutes=minute), 100.0 - minute * 0.1) == ACTIVE
    assert sink.asked == []


def test_a_tripped_drawdown_holds_until_recovery_when_one_is_configured():
    g, _ = guard(max_drawdown=0.10, drawdown_recovery=0.05, daily_loss=1.0, weekly_loss=1.0)
    g.on_loop(NOW, 100.0)
    g.on_loop(NOW, 85.0)

    assert g.on_loop(NOW, 93.0) == REDUCING  # 7 % down: under the limit, over recovery
    assert g.on_loop(NOW, 96.0) == ACTIVE


def test_without_recovery_a_tripped_drawdown_holds_until_the_operator_resumes():
    sink = Sink()
    g, events = guard(sink=sink, max_drawdown=0.10, daily_loss=1.0, weekly_loss=1.0)
    g.on_loop(NOW, 100.0)
    g.on_loop(NOW, 85.0)
    assert g.on_loop(NOW, 99.0) == REDUCING

    sink.state, sink.by = ACTIVE, "operator"  # bulkhead resume
    assert g.on_loop(NOW, 99.0) == ACTIVE
    assert g.state.peak == 99.0  # the rules start afresh from here
    assert [n for n, _ in events.seen if n == "guard_resumed"] == ["guard_resumed"]


def test_a_daily_loss_reduces_until_the_next_day():
    g, _ = guard(daily_loss=0.05, weekly_loss=1.0, max_drawdown=0.5)
    g.on_loop(NOW, 100.0)

    assert g.on_loop(NOW + FIVE, 94.0) == REDUCING
    assert g.on_loop(NOW + timedelta(days=1), 94.0) == ACTIVE


def test_a_weekly_loss_reduces_until_monday():
    g, _ = guard(daily_loss=1.0, weekly_loss=0.10, max_drawdown=0.5)
    g.on_loop(NOW, 100.0)  # Wednesday
    g.on_loop(NOW + timedelta(days=1), 95.0)

    assert g.on_loop(NOW + timedelta(days=2), 89.0) == REDUCING  # Friday: 11 % this week
    assert g.on_loop(NOW + timedelta(days=5), 89.0) == ACTIVE  # Monday


def test_repeated_errors_halt_the_bot_and_only_the_operator_lifts_it():
    sink = Sink()
    g, events = guard(sink=sink, max_errors=3)
    g.on_loop(NOW, 100.0)
    for _ in range(4):
        g.record_error("exchange", "500000")

    assert g.state.state == HALTED
    assert sink.state == HALTED
    assert events.reasons("guard_alert")[0].startswith("EXCHANGE_ERRORS errors=4.00 limit=3.00")
    assert g.on_loop(NOW + FIVE, 120.0) == HALTED  # the guard never lifts a HALTED


def test_errors_spread_over_more_than_ten_minutes_do_not_halt():
    clock = [1000.0]
    g = Guard(
        GuardRules(max_errors=2),
        100.0,
        FIVE,
        memory=InProcessMemory(),
        emit=Events(),
        wall_clock=lambda: clock[0],
    )
    for _ in range(6):
        g.record_error("exchange")
        clock[0] += 301

    assert g.state.state == ACTIVE


def test_the_peak_survives_a_restart_of_the_bot():
    memory = InProcessMemory()
    first, _ = guard(memory, max_drawdown=0.10, daily_loss=1.0, weekly_loss=1.0)
    first.on_loop(NOW, 120.0)

    again, _ = guard(memory, max_drawdown=0.10, daily_loss=1.0, weekly_loss=1.0)

    assert again.state.peak == 120.0
    assert again.on_loop(NOW + FIVE, 100.0) == REDUCING


class BrokenMemory(InProcessMemory):
    def save(self, data: dict[str, Any]) -> None:
        raise ConnectionError("redis is down")


def test_memory_unreachable_past_its_limit_halts():
    clock = [0.0]
    g = Guard(
        GuardRules(memory_down_s=60),
        100.0,
        FIVE,
        memory=BrokenMemory(),
        emit=Events(),
        wall_clock=lambda: clock[0],
    )
    g.on_loop(NOW, 100.0)
    clock[0] = 30.0
    assert g.on_loop(NOW, 100.0) == ACTIVE
    clock[0] = 61.0

    assert g.on_loop(NOW, 100.0) == HALTED


def candle_times(last_open: datetime, count: int = 400) -> list[datetime]:
    return [last_open - FIVE * (count - 1 - i) for i in range(count)]


def closes(count: int = 400) -> list[float]:
    import numpy as np

    rng = np.random.default_rng(3)
    return list(np.exp(np.cumsum(rng.normal(0, 0.002, count))))


def test_an_entry_is_denied_while_the_bot_is_not_active_and_allowed_when_it_is():
    g, _ = guard(max_drawdown=0.10, daily_loss=1.0, weekly_loss=1.0)
    g.on_loop(NOW, 100.0)
    times, volumes = candle_times(NOW - FIVE), [5.0] * 400

    assert g.check_entry("XRP/USDT", NOW, times, volumes, closes()).allowed
    g.on_loop(NOW, 80.0)
    denied = g.check_entry("XRP/USDT", NOW, times, volumes, closes())

    assert not denied.allowed
    assert "STATE_NOT_ACTIVE state=REDUCING" in denied.reason


def test_an_entry_on_stale_data_is_denied_with_its_age():
    g, events = guard()
    g.on_loop(NOW, 100.0)

    verdict = g.check_entry("XRP/USDT", NOW, candle_times(NOW - 5 * FIVE), [5.0] * 400, closes())

    assert not verdict.allowed
    assert "STALE_DATA age_timeframes=4.00" in verdict.reason
    assert any("STALE_DATA" in reason for reason in events.reasons())


def test_a_losing_streak_pauses_entries():
    g, _ = guard(loss_streak=3, loss_streak_pause_minutes=60)
    g.on_loop(NOW, 97.0, [-1.0, -1.0, -1.0], NOW - FIVE)
    times, volumes = candle_times(NOW - FIVE), [5.0] * 400

    assert "LOSS_STREAK" in g.check_entry("XRP/USDT", NOW, times, volumes, closes()).reason
    g.on_loop(NOW + timedelta(hours=1), 97.0, [-1.0, -1.0, -1.0], NOW - FIVE)
    assert g.check_entry("XRP/USDT", NOW, times, volumes, closes()).allowed


@pytest.mark.parametrize(("share", "expected"), [(0.2, 20.0), (1.0, 48.0)])
def test_the_stake_is_capped_at_the_trade_share_of_the_budget(share: float, expected: float):
    g, _ = guard(max_trade_share=share)

    assert g.size("XRP/USDT", 48.0, 0.0) == expected


def test_a_sink_that_fails_leaves_the_state_enforced_locally():
    class Down(Sink):
        def request(self, state: str, reason: str) -> tuple[str, str]:
            raise ConnectionError("gateway down")

        def current(self) -> SinkReading:
            raise ConnectionError("gateway down")

    g, events = guard(sink=Down(), max_drawdown=0.10, daily_loss=1.0, weekly_loss=1.0)
    g.on_loop(NOW, 100.0)

    assert g.on_loop(NOW, 80.0) == REDUCING
    assert [n for n, _ in events.seen if n == "guard_state_unsent"] == ["guard_state_unsent"]


def test_errors_the_gateway_saw_upstream_halt_the_bot_and_are_counted_once():
    sink = Sink()
    g, events = guard(sink=sink, max_errors=3)
    now_ms = int(time.time() * 1000)
    sink.errors = [(now_ms - 3_000 + i, "500") for i in range(3)]
    g.on_loop(NOW, 100.0)
    g.on_loop(NOW, 100.0)  # the same three again: not counted twice

    assert g.state.state == ACTIVE
    sink.errors.append((now_ms, "411100"))
    g.on_loop(NOW, 100.0)

    assert g.state.state == HALTED
    assert sink.state == HALTED
    assert events.reasons("guard_alert")[0].startswith("EXCHANGE_ERRORS errors=4.00 limit=3.00")


def test_an_exchange_in_cancel_only_halts_the_bot():
    sink = Sink()
    g, events = guard(sink=sink)
    sink.status = "cancelonly"

    assert g.on_loop(NOW, 100.0) == HALTED
    assert events.reasons("guard_alert") == ["EXCHANGE_CLOSED status=cancelonly"]


def test_a_kill_by_the_operator_is_taken_and_the_guard_never_lifts_it():
    sink = Sink()
    g, _ = guard(sink=sink)
    g.on_loop(NOW, 100.0)
    sink.state, sink.by = HALTED, "operator"

    assert g.on_loop(NOW, 100.0) == HALTED
    assert g.on_loop(NOW, 101.0) == HALTED
    assert sink.asked == []


def test_a_reducing_whose_request_was_lost_is_asked_again():
    sink = Sink()
    g, _ = guard(sink=sink, max_drawdown=0.10, daily_loss=1.0, weekly_loss=1.0)
    g.on_loop(NOW, 100.0)
    sink.lose_requests = True
    assert g.on_loop(NOW, 85.0) == REDUCING  # enforced locally meanwhile
    sink.lose_requests = False

    assert g.on_loop(NOW, 85.0) == REDUCING
    assert sink.state == REDUCING


@settings(max_examples=150, deadline=None)
@given(
    st.lists(st.floats(min_value=-0.2, max_value=0.2, allow_nan=False), min_size=1, max_size=150),
    st.floats(min_value=0.01, max_value=0.9),
)
def test_the_guard_reduces_at_the_first_candle_past_the_drawdown_limit_and_never_before(
    returns: list[float], limit: float
):
    """Over a random equity path fed candle by candle to the guard itself, the bot is
    ACTIVE until the first candle whose equity is more than ``limit`` below the running
    peak, and REDUCING from that candle on (no recovery configured)."""
    g, _ = guard(max_drawdown=limit, daily_loss=1.0, weekly_loss=1.0)
    equity, peak, tripped = 100.0, 100.0, False
    assert g.on_loop(NOW, equity) == ACTIVE
    for step, change in enumerate(returns, start=1):
        equity *= 1 + change
        peak = max(peak, equity)
        tripped = tripped or (peak - equity) / peak > limit
        state = g.on_loop(NOW + step * timedelta(minutes=1), equity)
        assert state == (REDUCING if tripped else ACTIVE), (step, equity, peak)
