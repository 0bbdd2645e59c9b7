"""The reconciler on a real twin (HTTP), a real Redis and the gateway's real ``Upstream``.

The twin is the example scenario (sub-account bot1, 100 USDT, its trade-only key, which the
reader holds as the bot's real key). Orders are placed on the twin with that key, as the
order hook would forward them: ``Rig.hook_place`` reserves first and settles from the
answer exactly as the hook does, so the tests see the ledger the gateway would have. Market
orders and marketable limits fill at once on the twin; limits far below the market rest.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from decimal import ROUND_FLOOR, Decimal
from pathlib import Path
from typing import Any, TypeVar

import httpx
import orjson
import pytest
import redis
from pydantic import SecretStr

from bulkhead.errors import TemporaryError
from bulkhead.gateway.custody import RealKey
from bulkhead.gateway.exchange_reader import unfilled_worst_case
from bulkhead.gateway.ledger import Ledger, Snapshot
from bulkhead.gateway.ledger_model import from_units, order_worst_case, to_units
from bulkhead.gateway.reconcile import ExchangeReader, Reconciler, rebuild_ledger
from bulkhead.gateway.states import TradingState, TradingStates
from bulkhead.gateway.upstream import Answer, Upstream
from bulkhead.kucoin.http import Request
from bulkhead.memory.keys import GatewayKeys
from bulkhead.memory.server import ManagedRedis, bundled_redis_server
from bulkhead.plumbing import free_port
from bulkhead.sim.engine import Twin
from bulkhead.sim.server import TwinServer, prepare

EXAMPLE = Path(__file__).resolve().parents[3] / "examples" / "sim.yaml"
BOT = "bot1"
XRP = "XRP-USDT"
FEE = Decimal("0.001")
SLIPPAGE = Decimal("0.01")
T = TypeVar("T")


@dataclass
class Rig:
    twin: Twin
    twin_url: str
    real: RealKey
    client: redis.Redis
    redis_server: ManagedRedis
    upstream: Upstream | None = None

    @property
    def ledger(self) -> Ledger:
        return Ledger(self.client, BOT, Decimal(100))

    @property
    def states(self) -> TradingStates:
        return TradingStates(self.client)

    def reader(self, real: RealKey | None = None) -> ExchangeReader:
        assert self.upstream is not None
        return ExchangeReader(self.upstream, real or self.real)

    def reconciler(self, reader: ExchangeReader | None = None, **options: Any) -> Reconciler:
        return Reconciler(
            BOT,
            reader or self.reader(),
            self.ledger,
            self.states,
            stake_currency="USDT",
            fee_rate=FEE,
            slippage=SLIPPAGE,
            **options,
        )

    def run(self, scenario: Callable[[], Awaitable[T]]) -> T:
        """Run ``scenario`` in a fresh event loop with an open upstream to the twin."""

        async def body() -> T:
            self.upstream = Upstream(self.twin_url, read_timeout_s=2.0)
            await self.upstream.open()
            try:
                return await scenario()
            finally:
                await self.upstream.close()

        return asyncio.run(body())

    # -- the exchange side ----------------------------------------------------------------

    async def place(self, body: dict[str, object]) -> Answer:
        """An order on the twin with the bot's real key, straight through the upstream."""
        assert self.upstream is not None
        request = Request(
            "POST", "/api/v1/orders", b"/api/v1/orders", {}, orjson.dumps(body), "test"
        )
        return await self.upstream.forward(request, self.real)

    async def hook_place(self, body: dict[str, object]) -> Answer:
        """What the order hook does around a buy: reserve, forward, settle."""
        oid = str(body["clientOid"])
        ask = self.twin.quote(XRP)[1]
        cost = order_worst_case(body, fee_rate=FEE, slippage=SLIPPAGE, best_ask=ask)
        assert self.ledger.reserve(oid, cost).allowed
        answer = await self.place(body)
        if answer.outcome == "lost":
            self.ledger.lost_answer(oid)
        elif orjson.loads(answer.body)["code"] == "200000":
            self.ledger.settle_order(oid, accepted=True)
            order_id = orjson.loads(answer.body)["data"]["orderId"]
            self.client.hset(GatewayKeys(BOT).ledger_oids, order_id, oid)
        else:
            self.ledger.settle_order(oid, accepted=False)
        return answer

    def resting_buy(self, oid: str, size: str = "10") -> dict[str, object]:
        """A limit buy 20 % under the market: it rests on the twin."""
        bid = self.twin.quote(XRP)[0]
        price = (bid * Decimal("0.8")).quantize(Decimal("0.0001"), ROUND_FLOOR)
        return _buy(oid, type="limit", size=size, price=str(price))

    def admin(self, path: str, body: dict[str, object]) -> None:
        answer = httpx.post(f"{self.twin_url}/sim/v1/{path}", json=body, timeout=10)
        assert answer.json()["code"] == "200000", answer.text

    def orders(self) -> list[Any]:
        uid = self.twin.user_by_name(BOT).uid
        return [o for o in self.twin.state.orders.values() if o.uid == uid]

    def held(self, currency: str) -> Decimal:
        balance = self.twin.user_by_name(BOT).find_balance("trade", currency)
        return balance.balance if balance is not None else Decimal(0)


def _buy(oid: str, **fields: object) -> dict[str, object]:
    return {"clientOid": oid, "side": "buy", "symbol": XRP, **fields}


def _sell(oid: str, size: str) -> dict[str, object]:
    return {"clientOid": oid, "side": "sell", "symbol": XRP, "type": "market", "size": size}


@pytest.fixture
def rig(tmp_path: Path) -> Iterator[Rig]:
    server = ManagedRedis(tmp_path / "redis", bundled_redis_server())
    server.ensure_running()
    client = server.admin().client(socket_timeout=5, socket_connect_timeout=1)
    prepared = prepare(EXAMPLE, credentials_out=tmp_path / "creds.json")
    creds = next(dict(c) for c in prepared.credentials if c["name"] == "bot1-trade")
    real = RealKey(
        SecretStr(str(creds["apiKey"])),
        SecretStr(str(creds["secret"])),
        SecretStr(str(creds["passphrase"])),
    )
    try:
        with TwinServer(prepared.twin) as twin_server:
            yield Rig(prepared.twin, twin_server.url, real, client, server)
    finally:
        client.close()
        server.stop()


def _cost(fill: Any) -> Decimal:
    """A twin fill's cost as the ledger counts it: funds and fee, up to the next 1e-8."""
    return from_units(to_units(fill.funds + fill.fee))


def _same(a: Snapshot, b: Snapshot) -> None:
    assert (a.cap, a.committed, a.realized) == (b.cap, b.committed, b.realized)
    assert a.positions == b.positions
    assert a.reservations == b.reservations
    assert a.lost == b.lost


# -- fills, rebuilds, no double counting --------------------------------------------------


def test_a_buy_and_a_partial_sell_rebuild_to_what_the_reconciler_followed(rig: Rig) -> None:
    async def scenario() -> tuple[Snapshot, Snapshot, Snapshot]:
        reconciler = rig.reconciler()
        await reconciler.start()
        await rig.hook_place(_buy("buy-1", type="market", funds="30"))
        await reconciler.run_once()
        await reconciler.run_once()
        sold = await rig.place(_sell("sell-1", "10"))
        assert orjson.loads(sold.body)["code"] == "200000"
        await reconciler.run_once()
        await reconciler.run_once()
        followed = rig.ledger.snapshot()
        reader = rig.reader()
        rebuilt = await rebuild_ledger(
            reader, rig.ledger, stake_currency="USDT", fee_rate=FEE, slippage=SLIPPAGE
        )
        again = await rebuild_ledger(
            reader, rig.ledger, stake_currency="USDT", fee_rate=FEE, slippage=SLIPPAGE
        )
        await reconciler.run_once()
        await reconciler.run_once()
        _same(again, rig.ledger.snapshot())
        return followed, rebuilt, again

    followed, rebuilt, again = rig.run(scenario)
    _same(followed, rebuilt)
    _same(rebuilt, again)
    # the exchange's own numbers, by hand
    uid = rig.twin.user_by_name(BOT).uid
    buy, sell = (f for f in rig.twin.state.fills if f.uid == uid)
    held = buy.size - sell.size
    assert held == rig.held("XRP") > 0
    position = followed.positions[XRP]
    assert position.qty == held
    cost = (buy.funds + buy.fee) * held / buy.size
    assert abs(position.cost - cost) <= Decimal("0.00000002")
    realized = (sell.funds - sell.fee) - (buy.funds + buy.fee - cost)
    assert abs(followed.realized - realized) <= Decimal("0.00000003")
    assert followed.reservations == {}
    assert followed.committed == position.cost


def test_a_rebuild_counts_open_buys_at_their_worst_case_and_records_their_order_ids(
    rig: Rig,
) -> None:
    async def scenario() -> Snapshot:
        await rig.place(rig.resting_buy("open-1", size="20"))
        return await rig.reconciler().start()

    snapshot = rig.run(scenario)
    (order,) = rig.orders()
    assert snapshot.reservations == {"open-1": order.size * order.price * (1 + FEE)}
    oids = rig.client.hgetall(GatewayKeys(BOT).ledger_oids)
    assert oids == {order.id.encode(): b"open-1"}


def test_coins_no_fill_explains_count_at_the_best_ask_not_at_zero(rig: Rig) -> None:
    rig.admin("balances", {"user": BOT, "currency": "XRP", "amount": "25", "account": "trade"})

    async def scenario() -> tuple[Snapshot, Decimal | None]:
        snapshot = await rig.reconciler().start()
        return snapshot, await rig.reader().best_ask(XRP)

    snapshot, ask = rig.run(scenario)
    assert ask is not None
    assert snapshot.positions[XRP].qty == Decimal(25)
    # the twin's price path moves: the ask read just after the rebuild is close, not equal
    assert snapshot.positions[XRP].cost == pytest.approx(Decimal(25) * ask, rel=Decimal("0.01"))
    assert snapshot.committed > 20


# -- reservations: fills, cancels, lost answers -------------------------------------------


def test_a_filled_limit_buy_moves_its_cost_to_the_position(rig: Rig) -> None:
    ask = rig.twin.quote(XRP)[1]
    price = (ask * Decimal("1.01")).quantize(Decimal("0.0001"))

    async def scenario() -> tuple[Snapshot, Snapshot]:
        reconciler = rig.reconciler()
        await reconciler.start()
        await rig.hook_place(_buy("lim-1", type="limit", size="20", price=str(price)))
        before = rig.ledger.snapshot()
        await reconciler.run_once()
        return before, rig.ledger.snapshot()

    before, after = rig.run(scenario)
    assert before.reservations == {"lim-1": Decimal(20) * price * (1 + FEE)}
    (fill,) = rig.twin.state.fills
    assert after.reservations == {}
    assert after.positions[XRP].qty == Decimal(20)
    assert after.positions[XRP].cost == _cost(fill)
    assert after.committed == _cost(fill)
    # the closed order's id is no longer needed to find its reservation
    assert rig.client.hgetall(GatewayKeys(BOT).ledger_oids) == {}


def test_a_closed_orders_fills_are_counted_before_its_reservation_is_released(
    rig: Rig,
) -> None:
    """Even when the pass's own fill read missed them (the watermark says "later"), a
    closed order's fills are read by its id and counted first: releasing the reservation
    without them would count less than the bot spent."""

    async def scenario() -> Snapshot:
        reconciler = rig.reconciler()
        await reconciler.start()
        await rig.hook_place(_buy("buy-1", type="market", funds="30"))
        reconciler.watermark = 2**50  # the pass's fill read finds nothing
        await reconciler.run_once()
        return rig.ledger.snapshot()

    after = rig.run(scenario)
    (fill,) = rig.twin.state.fills
    assert after.reservations == {}
    assert after.positions[XRP].qty == fill.size
    assert after.committed == _cost(fill)


def test_a_cancelled_order_releases_its_reservation(rig: Rig) -> None:
    async def scenario() -> tuple[Snapshot, Snapshot]:
        reconciler = rig.reconciler()
        await reconciler.start()
        await rig.hook_place(rig.resting_buy("rest-1"))
        await reconciler.run_once()
        kept = rig.ledger.snapshot()
        (order,) = rig.orders()
        assert await rig.reader().cancel(order.id)
        await reconciler.run_once()
        return kept, rig.ledger.snapshot()

    kept, after = rig.run(scenario)
    assert set(kept.reservations) == {"rest-1"}
    assert after.reservations == {}
    assert after.committed == 0


def test_a_lost_answer_is_found_by_its_client_oid_and_one_never_sent_is_released(
    rig: Rig,
) -> None:
    now = [1000.0]

    async def scenario() -> list[Snapshot]:
        reconciler = rig.reconciler(lost_after_s=120.0, clock=lambda: now[0])
        await reconciler.start()
        drop = {"kind": "drop", "path_prefix": "/api/v1/orders", "count": 1, "hold_s": 5}
        rig.admin("faults", drop)
        answer = await rig.hook_place(rig.resting_buy("lost-1"))
        assert answer.outcome == "lost"
        # a reservation whose request never reached the exchange
        assert rig.ledger.reserve("never-1", Decimal(5)).allowed
        rig.ledger.lost_answer("never-1")
        seen = []
        for at in (1000.0, 1119.0, 1121.0):
            now[0] = at
            await reconciler.run_once()
            seen.append(rig.ledger.snapshot())
        return seen

    first, waiting, last = rig.run(scenario)
    (order,) = rig.orders()
    assert order.client_oid == "lost-1"
    assert order.is_active
    assert first.lost == frozenset({"never-1"})
    assert set(first.reservations) == {"lost-1", "never-1"}
    assert set(waiting.reservations) == {"lost-1", "never-1"}
    assert set(last.reservations) == {"lost-1"}
    assert last.lost == frozenset()
    assert rig.client.hget(GatewayKeys(BOT).ledger_oids, order.id) == b"lost-1"
    decisions = [d.fields for d in rig.states.last_decisions(BOT, 50)]
    assert {"found", "released"} <= {d.get("decision") for d in decisions}


# -- balance check and authentication -----------------------------------------------------


def test_coins_moved_behind_the_ledgers_back_halt_the_bot_once(rig: Rig) -> None:
    async def scenario() -> None:
        reconciler = rig.reconciler(mismatch_tolerance=Decimal("1.00"))
        await reconciler.start()
        await rig.hook_place(_buy("buy-1", type="market", funds="30"))
        await reconciler.run_once()
        held = rig.held("XRP")
        # half an XRP (about 0.5 USDT) gone: under the tolerance, nothing happens
        rig.admin(
            "balances", {"user": BOT, "currency": "XRP", "amount": str(held - Decimal("0.5"))}
        )
        await reconciler.run_once()
        assert rig.states.get(BOT).state is TradingState.ACTIVE
        rig.admin("balances", {"user": BOT, "currency": "XRP", "amount": "3"})
        await reconciler.run_once()
        await reconciler.run_once()

    rig.run(scenario)
    state = rig.states.get(BOT)
    assert state.state is TradingState.HALTED
    ledger_qty = rig.ledger.snapshot().positions[XRP].qty.normalize()
    assert state.reason == (
        f"BALANCE_MISMATCH symbol={XRP} exchange=3 ledger={ledger_qty:f} tolerance=1.00"
    )
    halts = [d for d in rig.states.last_decisions(BOT, 100) if d.fields.get("decision") == "HALTED"]
    assert len(halts) == 1


def test_a_real_key_refused_three_times_in_a_row_halts_the_bot(
    rig: Rig, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    wrong = RealKey(
        rig.real.api_key, SecretStr("00000000-0000-4000-8000-000000000000"), rig.real.passphrase
    )

    async def scenario() -> list[TradingState]:
        reconciler = rig.reconciler(reader=rig.reader(wrong))
        seen = []
        for _ in range(3):
            await reconciler.run_once()
            seen.append(rig.states.get(BOT).state)
        return seen

    assert rig.run(scenario) == [TradingState.ACTIVE, TradingState.ACTIVE, TradingState.HALTED]
    assert rig.states.get(BOT).reason == "UPSTREAM_AUTH code=400005 failures=3"
    logged = "\n".join(f"{r.getMessage()} {vars(r)}" for r in caplog.records)
    assert "reconcile_failed" in logged
    for secret in (rig.real.secret, rig.real.passphrase, rig.real.api_key):
        assert secret.get_secret_value() not in logged


# -- kill ---------------------------------------------------------------------------------


def test_kill_cancels_open_buys_and_with_exit_positions_sells_what_is_held(rig: Rig) -> None:
    ask = rig.twin.quote(XRP)[1]
    take_profit = {
        **_sell("tp-1", "5"),
        "type": "limit",
        "price": str((ask * Decimal("1.2")).quantize(Decimal("0.0001"))),
    }

    async def scenario() -> tuple[Any, Any]:
        reconciler = rig.reconciler()
        await reconciler.start()
        await rig.hook_place(_buy("buy-1", type="market", funds="30"))
        await rig.hook_place(rig.resting_buy("rest-1"))
        await rig.hook_place(rig.resting_buy("rest-2"))
        await rig.place(take_profit)
        await reconciler.run_once()
        first = await reconciler.kill(exit_positions=False)
        assert rig.ledger.snapshot().reservations == {}
        assert rig.held("XRP") > 0
        second = await reconciler.kill(exit_positions=True)
        return first, second

    first, second = rig.run(scenario)
    buys = [o for o in rig.orders() if o.type == "limit" and o.side == "buy"]
    (limit_sell,) = [o for o in rig.orders() if o.type == "limit" and o.side == "sell"]
    # without exit_positions the sell stays: it only reduces exposure
    assert sorted(first.cancelled) == sorted(o.id for o in buys)
    assert all(o.cancel_exist and not o.is_active for o in buys)
    # with it, the sell is cancelled to free its coins, and everything is sold at market
    assert second.cancelled == [limit_sell.id]
    assert limit_sell.cancel_exist
    (sell,) = [o for o in rig.orders() if o.side == "sell" and o.type == "market"]
    assert (sell.symbol, sell.is_active, sell.client_oid[:8]) == (XRP, False, "bh-exit-")
    assert second.sold == {XRP: sell.deal_size}
    assert rig.held("XRP") < Decimal("0.0001")  # below the size increment: dust
    snapshot = rig.ledger.snapshot()
    assert snapshot.positions == {}
    assert snapshot.reservations == {}
    assert snapshot.committed == 0
    assert snapshot.realized < 0  # fees and the spread


# -- failures -----------------------------------------------------------------------------


def test_redis_gone_during_a_pass_is_logged_not_raised(
    rig: Rig, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)

    async def scenario() -> None:
        reconciler = rig.reconciler()
        await reconciler.start()
        await rig.hook_place(_buy("buy-1", type="market", funds="30"))
        rig.redis_server.stop()
        await reconciler.run_once()

    rig.run(scenario)
    failed = [r for r in caplog.records if r.getMessage() == "reconcile_failed"]
    assert failed
    assert vars(failed[0])["error"] == "LedgerUnavailable"


def test_run_forever_keeps_going_through_failures_until_cancelled(rig: Rig) -> None:
    passes = []

    async def scenario() -> None:
        reconciler = rig.reconciler()

        async def failing() -> None:
            passes.append(1)
            raise RuntimeError("a bug")

        reconciler.run_once = failing  # type: ignore[method-assign]
        task = asyncio.create_task(reconciler.run_forever(0.01))
        await asyncio.sleep(0.2)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    rig.run(scenario)
    assert len(passes) > 3


def test_an_upstream_that_does_not_answer_fails_the_start(rig: Rig) -> None:
    async def scenario() -> None:
        upstream = Upstream(f"http://127.0.0.1:{free_port()}", connect_timeout_s=1.0)
        try:
            await rig.reconciler(reader=ExchangeReader(upstream, rig.real)).start()
        finally:
            await upstream.close()

    with pytest.raises(TemporaryError, match="upstream lost"):
        rig.run(scenario)


# -- the worst case of what an open buy may still spend -----------------------------------


@pytest.mark.parametrize(
    ("order", "ask", "cost"),
    [
        ({"type": "limit", "size": "10", "dealSize": "4", "price": "2"}, None, "12.012"),
        ({"type": "market", "funds": "30", "dealFunds": "12.5"}, None, "17.5175"),
        ({"type": "market", "size": "10", "dealSize": "0", "funds": "0"}, "2", "20.2202"),
        ({"type": "limit", "size": "10", "dealSize": "10", "price": "2"}, None, "0"),
    ],
    ids=["limit partly filled", "market by funds", "market by size", "limit filled"],
)
def test_an_open_buy_counts_the_worst_case_of_its_unfilled_part(
    order: dict[str, str], ask: str | None, cost: str
) -> None:
    best_ask = Decimal(ask) if ask else None
    found = unfilled_worst_case(order, fee_rate=FEE, slippage=SLIPPAGE, best_ask=best_ask)
    assert found == Decimal(cost)


def test_an_open_market_buy_by_size_without_a_best_ask_is_not_guessed() -> None:
    with pytest.raises(TemporaryError):
        unfilled_worst_case(
            {"type": "market", "size": "10"}, fee_rate=FEE, slippage=SLIPPAGE, best_ask=None
        )
