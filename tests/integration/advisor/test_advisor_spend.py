"""The spend ledger: the worst case reserved before a call, the real cost after, and no
interleaving of calls, failures and dead callers ever taking recorded spend past a cap."""

from __future__ import annotations

import threading
from decimal import Decimal

import pytest
import redis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bulkhead.advisor.spend import (
    RESERVATION_TIMEOUT_S,
    SCOPES,
    Refusal,
    Reservation,
    SpendLedger,
    caps_nano,
    cost_nano,
)
from bulkhead.config.advisor import AdvisorCaps, Price
from bulkhead.memory.keys import ADVISOR_RESERVATIONS

NANO = 1_000_000_000


def caps(**values: object) -> AdvisorCaps:
    base: dict[str, object] = {
        "bot_daily_eur": "0.10",
        "bot_monthly_eur": "1",
        "fleet_daily_eur": "0.25",
        "fleet_monthly_eur": "2",
        "calls_per_hour": 1000,
    }
    return AdvisorCaps.model_validate(base | values)


class Clock:
    def __init__(self) -> None:
        self.now = 1_790_000_000.0

    def __call__(self) -> float:
        return self.now


def totals(client: redis.Redis, ledger: SpendLedger, bots: list[str]) -> dict[str, int]:
    """spent + reserved of every key in play, by key."""
    found: dict[str, int] = {}
    for bot in bots:
        for key in ledger.keys(bot, ledger.clock()):
            raw = client.hgetall(key)
            found[key] = int(raw.get(b"spent", 0)) + int(raw.get(b"reserved", 0))
    return found


def assert_within_caps(client: redis.Redis, ledger: SpendLedger, bots: list[str]) -> None:
    limits = dict(zip(SCOPES, caps_nano(ledger.caps), strict=True))
    for bot in bots:
        keys = ledger.keys(bot, ledger.clock())
        for scope, key in zip(SCOPES, keys, strict=True):
            raw = client.hgetall(key)
            spent = int(raw.get(b"spent", 0))
            reserved = int(raw.get(b"reserved", 0))
            assert spent + reserved <= limits[scope], (scope, spent, reserved)
            assert reserved >= 0


def test_cost_is_tokens_at_the_price_rounded_up() -> None:
    price = Price(input_eur_per_mtok=Decimal("0.15"), output_eur_per_mtok=Decimal("0.60"))
    assert cost_nano(price, 1_000_000, 0) == 150_000_000
    assert cost_nano(price, 0, 1_000_000) == 600_000_000
    assert cost_nano(price, 1, 0) == 150  # 0.00000015 EUR, never rounded to free
    assert cost_nano(price, 1, 1) == 750


def test_a_call_over_any_cap_is_refused_and_changes_nothing(client: redis.Redis) -> None:
    ledger = SpendLedger(client, caps(), Clock())
    first = ledger.reserve("alpha", int(0.08 * NANO))
    assert isinstance(first, Reservation)
    before = totals(client, ledger, ["alpha"])
    refused = ledger.reserve("alpha", int(0.03 * NANO))
    assert isinstance(refused, Refusal)
    assert refused.scope == "bot_day"
    assert str(refused).startswith("LLM_CAP scope=bot_day")
    assert totals(client, ledger, ["alpha"]) == before
    # another bot still fits its own day, until the fleet's day is full
    assert isinstance(ledger.reserve("beta", int(0.09 * NANO)), Reservation)
    fleet = ledger.reserve("gamma", int(0.09 * NANO))
    assert isinstance(fleet, Refusal)
    assert fleet.scope == "fleet_day"


def test_settling_records_the_real_cost_and_alerts_once_per_level(client: redis.Redis) -> None:
    ledger = SpendLedger(client, caps(), Clock())
    levels = []
    for spent_eur in (0.04, 0.02, 0.02, 0.015):  # 40 %, 60 %, 80 %, 95 % of the bot's day
        reservation = ledger.reserve("alpha", int(0.0049 * NANO))
        assert isinstance(reservation, Reservation)
        alerts = ledger.settle(reservation, int(spent_eur * NANO) // 4, 10, 10)
        levels += [(a.scope.split(":")[2], a.level) for a in alerts]
    usage = ledger.usage("alpha")["day"]
    assert usage["calls"] == 4
    assert usage["reserved_eur"] == 0
    assert usage["spent_eur"] == pytest.approx((0.04 + 0.02 + 0.02 + 0.015) / 4)
    # 0.02375 EUR of 0.10: no alert yet
    assert levels == []
    for _ in range(3):
        reservation = ledger.reserve("alpha", int(0.02 * NANO))
        assert isinstance(reservation, Reservation)
        alerts = ledger.settle(reservation, int(0.02 * NANO), 10, 10)
        levels += [(a.scope.split(":")[2], a.level) for a in alerts if "alpha" in a.scope]
    assert levels == [("alpha", 50), ("alpha", 80)]


def test_the_hourly_call_limit_counts_every_call(client: redis.Redis) -> None:
    clock = Clock()
    ledger = SpendLedger(client, caps(calls_per_hour=2), clock)
    for _ in range(2):
        assert isinstance(ledger.reserve("alpha", 10), Reservation)
    refused = ledger.reserve("alpha", 10)
    assert isinstance(refused, Refusal)
    assert refused.code == "RATE"
    clock.now += 3601
    assert isinstance(ledger.reserve("alpha", 10), Reservation)


def test_a_dead_callers_reservation_counts_at_its_worst_case(client: redis.Redis) -> None:
    clock = Clock()
    ledger = SpendLedger(client, caps(), clock)
    lost = ledger.reserve("alpha", 5000)
    assert isinstance(lost, Reservation)
    clock.now += RESERVATION_TIMEOUT_S + 1
    assert isinstance(ledger.reserve("alpha", 7), Reservation)
    raw = client.hgetall(ledger.keys("alpha", clock())[0])
    assert int(raw[b"spent"]) == 5000
    assert int(raw[b"reserved"]) == 7
    assert ledger.settle(lost, 10, 1, 1) == []  # too late: its worst case stands
    assert int(client.hget(ledger.keys("alpha", clock())[0], "spent") or 0) == 5000


def test_many_threads_at_once_never_pass_a_cap(client: redis.Redis) -> None:
    ledger = SpendLedger(client, caps(bot_daily_eur="0.05"), Clock())
    barrier = threading.Barrier(16)
    errors: list[BaseException] = []

    def worker() -> None:
        mine = SpendLedger(client, ledger.caps, ledger.clock)  # redis-py's pool is shared
        barrier.wait()
        try:
            for _ in range(25):
                reservation = mine.reserve("alpha", 1_000_000)  # 0.001 EUR worst case
                if isinstance(reservation, Reservation):
                    mine.settle(reservation, 1_000_000, 100, 10)
        except BaseException as error:
            errors.append(error)

    threads = [threading.Thread(target=worker) for _ in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert_within_caps(client, ledger, ["alpha"])
    usage = ledger.usage("alpha")["day"]
    assert usage["calls"] == 50  # 0.05 EUR of 0.001 EUR worst cases, then refused
    assert client.hlen(ADVISOR_RESERVATIONS) == 0


operation = st.one_of(
    st.tuples(st.just("reserve"), st.sampled_from(["alpha", "beta"]), st.integers(1, 60_000_000)),
    st.tuples(st.just("settle"), st.integers(0, 20), st.floats(0, 1)),
    st.tuples(st.just("fail"), st.integers(0, 20), st.booleans()),
    st.tuples(st.just("wait"), st.integers(1, 2 * RESERVATION_TIMEOUT_S)),
)


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(
    steps=st.lists(operation, max_size=40),
    price=st.tuples(st.integers(1, 5000), st.integers(1, 20000)),
)
def test_no_interleaving_passes_any_cap(
    client: redis.Redis, steps: list[tuple[object, ...]], price: tuple[int, int]
) -> None:
    """Consultations interleaved at random (reservations open at once, settled to any real
    usage up to their worst case, failed with or without a bill, callers that die and are
    overtaken by time): spent + reserved stays within every cap after every step."""
    client.flushall()
    clock = Clock()
    ledger = SpendLedger(client, caps(), clock)
    table = Price(
        input_eur_per_mtok=Decimal(price[0]) / 100, output_eur_per_mtok=Decimal(price[1]) / 100
    )
    open_: list[tuple[Reservation, int, int]] = []
    for step in steps:
        if step[0] == "reserve":
            tokens_in = int(step[2]) // 1000  # type: ignore[call-overload]
            worst = cost_nano(table, tokens_in, 1024)
            reservation = ledger.reserve(str(step[1]), worst)
            if isinstance(reservation, Reservation):
                open_.append((reservation, tokens_in, worst))
        elif step[0] in ("settle", "fail") and open_:
            reservation, tokens_in, worst = open_.pop(int(step[1]) % len(open_))  # type: ignore[call-overload]
            if step[0] == "settle":
                used_in = int(tokens_in * float(step[2]))  # type: ignore[arg-type]
                used_out = int(1024 * float(step[2]))  # type: ignore[arg-type]
                ledger.settle(reservation, cost_nano(table, used_in, used_out), used_in, used_out)
            else:
                ledger.settle(reservation, worst if step[2] else 0, 0, 0)
        elif step[0] == "wait":
            clock.now += int(step[1])  # type: ignore[call-overload]
        assert_within_caps(client, ledger, ["alpha", "beta"])


def test_days_and_months_follow_the_configured_time_zone() -> None:
    from bulkhead.advisor.spend import periods

    late = 1_798_759_800.0  # 2026-12-31 23:30 UTC
    assert periods(late, "UTC").day == "day:2026-12-31"
    paris = periods(late, "Europe/Paris")  # already 00:30 on New Year's Day
    assert (paris.day, paris.month) == ("day:2027-01-01", "month:2027-01")
