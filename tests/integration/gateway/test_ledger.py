"""The budget ledger on a real Redis: reservations, fills, cancels, sells, lost answers,
rebuilds, and what happens when Redis is gone."""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import Iterator
from decimal import Decimal as D
from pathlib import Path

import pytest
import redis

from bulkhead.gateway.ledger import ExchangeState, Ledger, TradeFill
from bulkhead.memory.keys import GatewayKeys
from bulkhead.memory.server import ManagedRedis, bundled_redis_server

XRP = "XRP-USDT"


@pytest.fixture(params=["embedded", "server"])
def managed(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[ManagedRedis]:
    binary = bundled_redis_server() if request.param == "embedded" else shutil.which("redis-server")
    if binary is None:
        pytest.skip("no system redis-server installed")
    server = ManagedRedis(tmp_path / "redis", binary)
    server.ensure_running()
    yield server
    server.stop()


@pytest.fixture
def client(managed: ManagedRedis) -> Iterator[redis.Redis]:
    connection = managed.admin().client(socket_timeout=5, socket_connect_timeout=1)
    yield connection
    connection.close()


@pytest.fixture
def ledger(client: redis.Redis) -> Ledger:
    return Ledger(client, "alpha", D("100"))


def test_a_buy_over_the_cap_is_refused_with_the_numbers(ledger: Ledger) -> None:
    assert ledger.reserve("a", D("87.6")).allowed
    assert ledger.reserve("b", D("8.5")).allowed
    decision = ledger.reserve("c", D("12.4"))
    assert not decision.allowed
    assert decision.reason == "BUDGET_EXCEEDED cap=100.00 committed=96.10 order=12.40"
    assert ledger.snapshot().committed == D("96.1")


def test_a_buy_that_fills_the_cap_exactly_passes_and_one_unit_more_does_not(
    ledger: Ledger,
) -> None:
    assert ledger.reserve("a", D("99.99999999")).allowed
    assert not ledger.reserve("b", D("0.00000002")).allowed
    assert ledger.reserve("c", D("0.00000001")).allowed
    snap = ledger.snapshot()
    assert (snap.committed, snap.headroom) == (D("100"), D("0"))


def test_a_retried_reservation_is_not_counted_twice(ledger: Ledger) -> None:
    assert ledger.reserve("a", D("60")).allowed
    assert ledger.reserve("a", D("60")).allowed
    assert ledger.snapshot().committed == D("60")


def test_partial_fills_move_the_reservation_to_the_position_fees_included(ledger: Ledger) -> None:
    ledger.reserve("a", D("50.05"))  # limit 100 @ 0.5, fee 0.1 %
    ledger.fill("a", XRP, D("40"), D("20"), D("0.02"))
    snap = ledger.snapshot()
    assert snap.reservations == {"a": D("30.03")}
    assert snap.positions[XRP].qty == D("40")
    assert snap.positions[XRP].cost == D("20.02")
    assert snap.committed == D("50.05")
    ledger.fill("a", XRP, D("60"), D("30"), D("0.03"), done=True)
    snap = ledger.snapshot()
    assert snap.reservations == {}
    assert (snap.positions[XRP].qty, snap.positions[XRP].cost) == (D("100"), D("50.05"))


def test_a_fill_cheaper_than_its_worst_case_releases_the_difference_when_done(
    ledger: Ledger,
) -> None:
    ledger.reserve("a", D("51"))  # market by size, with slippage margin
    ledger.fill("a", XRP, D("100"), D("49"), D("0.049"), done=True)
    snap = ledger.snapshot()
    assert snap.committed == D("49.049")
    assert snap.headroom == D("50.951")


def test_a_cancel_releases_the_unfilled_part(ledger: Ledger) -> None:
    ledger.reserve("a", D("50"))
    ledger.fill("a", XRP, D("20"), D("10"), D("0.01"))
    assert ledger.cancel("a") == D("39.99")
    snap = ledger.snapshot()
    assert snap.committed == D("10.01")
    assert ledger.cancel("a") == D("0")
    assert ledger.reserve("b", D("89.99")).allowed


def test_a_new_order_whose_client_oid_is_held_is_refused_as_in_use(ledger: Ledger) -> None:
    assert ledger.reserve("a", D("60"), new=True).allowed
    again = ledger.reserve("a", D("10"), new=True)
    assert not again.allowed
    assert again.in_use
    assert again.reason == "BAD_ORDER clientOid a is in use"
    assert ledger.snapshot().reservations == {"a": D("60")}


def test_accepting_an_order_unmarks_it_lost_and_maps_its_order_id(
    ledger: Ledger, client: redis.Redis
) -> None:
    ledger.reserve("a", D("30"))
    ledger.lost_answer("a")
    asyncio.run(ledger.accept_on_loop("a", "order-1"))  # as the gateway's hot path does
    assert ledger.snapshot().lost == frozenset()
    assert client.hget(ledger.keys.ledger_oids, "order-1") == b"a"
    assert ledger.snapshot().reservations == {"a": D("30")}


def test_a_refused_order_releases_and_an_accepted_one_keeps_its_reservation(
    ledger: Ledger,
) -> None:
    ledger.reserve("a", D("30"))
    ledger.reserve("b", D("30"))
    ledger.settle_order("a", accepted=False)
    ledger.settle_order("b", accepted=True)
    assert ledger.snapshot().reservations == {"b": D("30")}


def test_sells_realize_and_lower_the_cap_on_loss(ledger: Ledger) -> None:
    ledger.reserve("a", D("60"))
    ledger.fill("a", XRP, D("100"), D("60"), D("0"), done=True)
    pnl = ledger.sell_fill(XRP, D("50"), D("20"), D("0.02"))
    assert pnl == D("-10.02")
    snap = ledger.snapshot()
    assert (snap.positions[XRP].qty, snap.positions[XRP].cost) == (D("50"), D("30"))
    assert snap.cap == D("89.98")
    assert snap.committed == D("30")
    decision = ledger.reserve("b", D("60"))
    assert decision.reason == "BUDGET_EXCEEDED cap=89.98 committed=30.00 order=60.00"
    ledger.sell_fill(XRP, D("50"), D("40"), D("0"))
    snap = ledger.snapshot()
    assert snap.positions == {}
    assert (snap.realized, snap.cap, snap.committed) == (D("-0.02"), D("99.98"), D("0"))


def test_profits_raise_the_cap_only_with_the_compound_flag(client: redis.Redis) -> None:
    plain = Ledger(client, "alpha", D("100"))
    plain.reserve("a", D("50"))
    plain.fill("a", XRP, D("100"), D("50"), D("0"), done=True)
    assert plain.sell_fill(XRP, D("100"), D("70"), D("0")) == D("20")
    assert plain.snapshot().cap == D("100")
    compounding = Ledger(client, "alpha", D("100"), compound=True)
    assert compounding.snapshot().cap == D("120")
    assert compounding.reserve("b", D("120")).allowed
    assert not plain.reserve("c", D("1")).allowed


def test_a_lost_answer_keeps_the_reservation_until_the_order_is_found(ledger: Ledger) -> None:
    ledger.reserve("a", D("70"))
    ledger.lost_answer("a")
    snap = ledger.snapshot()
    assert snap.lost == {"a"}
    assert snap.reservations == {"a": D("70")}
    assert not ledger.reserve("b", D("40")).allowed
    ledger.settle_order("a", accepted=True)  # found by its clientOid: it is live
    snap = ledger.snapshot()
    assert snap.lost == frozenset()
    assert snap.reservations == {"a": D("70")}
    ledger.lost_answer("a")
    ledger.settle_order("a", accepted=False)  # not found at the exchange: never placed
    assert ledger.snapshot().committed == D("0")


def test_a_rebuild_equals_the_exchanges_state_and_a_second_one_changes_nothing(
    ledger: Ledger, client: redis.Redis
) -> None:
    ledger.reserve("stale", D("30"))
    ledger.lost_answer("stale")
    exchange = ExchangeState(
        open_buys={"live": D("20.02")},
        fills=[
            TradeFill(XRP, "buy", D("100"), D("50"), D("0.05")),
            TradeFill(XRP, "sell", D("40"), D("24"), D("0.024")),
            TradeFill("BTC-USDT", "buy", D("0.001"), D("9"), D("0.009")),
        ],
        balances={XRP: D("60"), "BTC-USDT": D("0.001")},
    )
    ledger.rebuild(exchange)
    restarted = Ledger(client, "alpha", D("100"))  # a new gateway process
    first = restarted.snapshot()
    assert first.reservations == {"live": D("20.02")}
    assert first.lost == frozenset()
    assert (first.positions[XRP].qty, first.positions[XRP].cost) == (D("60"), D("30.03"))
    assert first.positions["BTC-USDT"].cost == D("9.009")
    assert first.realized == D("23.976") - D("20.02")
    assert first.committed == D("20.02") + D("30.03") + D("9.009")
    restarted.rebuild(exchange)
    assert restarted.snapshot() == first


def test_a_rebuild_after_redis_lost_everything_restores_the_ledger(
    ledger: Ledger, client: redis.Redis
) -> None:
    ledger.reserve("a", D("40"))
    ledger.fill("a", XRP, D("10"), D("5"), D("0.005"))
    client.flushall()
    ledger.rebuild(
        ExchangeState(
            open_buys={"a": D("35.035")},
            fills=[TradeFill(XRP, "buy", D("10"), D("5"), D("0.005"))],
            balances={XRP: D("10")},
        )
    )
    snap = ledger.snapshot()
    assert snap.committed == D("40.04")
    assert not ledger.reserve("b", D("60")).allowed


def test_redis_down_refuses_buys_while_sells_and_cancels_pass(
    ledger: Ledger, managed: ManagedRedis
) -> None:
    assert ledger.buys_allowed().allowed
    managed.stop()
    decision = ledger.reserve("a", D("1"))
    assert not decision.allowed
    assert decision.reason.startswith("LEDGER_UNAVAILABLE")
    assert not ledger.buys_allowed().allowed
    assert not ledger.admits("buy").allowed
    assert ledger.admits("sell").allowed
    assert ledger.admits("cancel").allowed


def test_a_bots_ledger_touches_only_its_own_keys(ledger: Ledger, client: redis.Redis) -> None:
    other = Ledger(client, "beta", D("10"))
    ledger.reserve("a", D("90"))
    assert other.reserve("a", D("10")).allowed
    assert all(
        key.startswith(b"bhgw:{alpha}:") or key.startswith(b"bhgw:{beta}:")
        for key in client.scan_iter()
    )
    assert other.snapshot().committed == D("10")


def test_a_fill_reported_twice_counts_once_even_after_a_rebuild(ledger: Ledger) -> None:
    ledger.reserve("a", D("50"))
    assert ledger.fill("a", XRP, D("40"), D("20"), D("0.02"), trade_id="t1")
    assert not ledger.fill("a", XRP, D("40"), D("20"), D("0.02"), trade_id="t1")
    assert ledger.sell_fill(XRP, D("10"), D("4"), D("0"), trade_id="t2") == D("-1.005")
    assert ledger.sell_fill(XRP, D("10"), D("4"), D("0"), trade_id="t2") == D("0")
    once = ledger.snapshot()
    assert once.positions[XRP].qty == D("30")
    fills = [
        TradeFill(XRP, "buy", D("40"), D("20"), D("0.02"), trade_id="t1"),
        TradeFill(XRP, "sell", D("10"), D("4"), D("0"), trade_id="t2"),
    ]
    ledger.rebuild(ExchangeState(open_buys={}, fills=fills, balances={XRP: D("30")}))
    rebuilt = ledger.snapshot()
    assert not ledger.fill("a", XRP, D("40"), D("20"), D("0.02"), trade_id="t1")
    assert ledger.sell_fill(XRP, D("10"), D("4"), D("0"), trade_id="t2") == D("0")
    assert ledger.snapshot() == rebuilt
    assert (rebuilt.positions[XRP].qty, rebuilt.realized) == (D("30"), D("-1.005"))


@pytest.mark.parametrize(
    ("stored", "refused_as"),
    [
        ({"state": "HALTED", "reason": "KILL"}, ("HALTED", "KILL")),
        ({"state": "REDUCING", "reason": "DRAWDOWN"}, ("REDUCING", "DRAWDOWN")),
        ({"state": "PAUSED"}, ("PAUSED", "")),
        ({"reason": "half written"}, ("", "half written")),
    ],
)
def test_a_reservation_that_reads_the_state_refuses_unless_active(
    ledger: Ledger, client: redis.Redis, stored: dict[str, str], refused_as: tuple[str, str]
) -> None:
    assert ledger.reserve("o-0", D("1"), state=True).allowed  # never set: ACTIVE
    client.hset(GatewayKeys("alpha").state, mapping=stored)
    decision = ledger.reserve("o-1", D("1"), state=True)
    assert not decision.allowed
    assert decision.state == refused_as
    assert ledger.snapshot().committed == D("1")  # nothing reserved for o-1
    client.hset(GatewayKeys("alpha").state, mapping={"state": "ACTIVE"})
    assert ledger.reserve("o-1", D("1"), state=True).allowed
