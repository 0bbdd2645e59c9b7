"""The budget hook in the gateway: a real twin, a real gateway over HTTP, a real Redis, ccxt.

The twin is the example scenario (sub-account bot1, 100 USDT, its trade-only key, held by
the gateway as bot1's real key); the gateway runs ``BudgetHook`` over bot1's ``Ledger`` and
the ``TradingStates`` on a redis-server of the test's own; the bot is a real
``ccxt.kucoin`` holding only bot1's gateway credential. No reconciler runs, so the ledger
shows exactly what the hook reserved, settled and released.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from decimal import ROUND_FLOOR, Decimal
from pathlib import Path
from typing import Any

import ccxt
import httpx
import orjson
import pytest
import redis

from bulkhead.config.models import Bot
from bulkhead.gateway.app import GatewayApp
from bulkhead.gateway.client import ccxt_config
from bulkhead.gateway.custody import Custody, GatewayCredential, custody_for
from bulkhead.gateway.guarded import BudgetHook, OrderRules
from bulkhead.gateway.ledger import Ledger, Snapshot
from bulkhead.gateway.ledger_model import from_units, to_units
from bulkhead.gateway.server import GatewayServer
from bulkhead.gateway.states import TradingState, TradingStates
from bulkhead.gateway.upstream import Upstream
from bulkhead.kucoin.signing import signed_headers
from bulkhead.memory import aio
from bulkhead.memory.keys import GatewayKeys
from bulkhead.memory.server import ManagedRedis, bundled_redis_server
from bulkhead.plumbing import wait_until
from bulkhead.sim.engine import Twin
from bulkhead.sim.server import TwinServer, prepare

EXAMPLE = Path(__file__).resolve().parents[3] / "examples" / "sim.yaml"
BOT = "bot1"
XRP = "XRP-USDT"
PAIR = "XRP/USDT"
TICK = Decimal("0.00001")


def bot1() -> Bot:
    return Bot.model_validate(
        {
            "name": BOT,
            "subaccount": BOT,
            "credentials": {
                "api_key": {"env": "BOT1_KEY"},
                "secret": {"env": "BOT1_SECRET"},
                "passphrase": {"env": "BOT1_PASS"},
            },
            "budget": {"amount": 100, "currency": "USDT"},
            "pairs": [PAIR],
            "strategy": {"name": "TwinScalper"},
        }
    )


class Clock:
    """The throttle's clock, moved by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@dataclass
class Asks:
    """The hook's best ask: the twin's, or none; each answer is kept."""

    twin: Twin
    missing: bool = False
    given: list[Decimal | None] = field(default_factory=list)

    async def __call__(self, symbol: str) -> Decimal | None:
        ask = None if self.missing else self.twin.quote(symbol)[1]
        self.given.append(ask)
        return ask


@dataclass
class Rig:
    twin: Twin
    twin_url: str
    client: redis.Redis
    redis_server: ManagedRedis
    custody: Custody
    credential: GatewayCredential
    stack: contextlib.ExitStack
    asks: Asks
    clock: Clock = field(default_factory=Clock)
    url: str = ""
    hook: BudgetHook | None = None
    app: GatewayApp | None = None
    budget: Decimal = Decimal(100)
    markets: dict[str, Any] | None = None

    @property
    def ledger(self) -> Ledger:
        self.settled()
        return Ledger(self.client, BOT, self.budget)

    def settled(self) -> None:
        """Wait for the gateway's settlements: it answers the bot while it settles."""
        if self.app is not None:
            app = self.app
            wait_until(lambda: app.settling == 0, 10, 0.005, what="settlements")

    @property
    def states(self) -> TradingStates:
        return TradingStates(self.client)

    def start(self, budget: Decimal = Decimal(100), **rules: Any) -> BudgetHook:
        """A new hook and a new gateway app on HTTP (the previous one stops with the test)."""
        self.budget = budget
        self.hook = BudgetHook(
            ledgers={BOT: self.ledger},
            states=TradingStates(self.client),
            rules={BOT: OrderRules(budget=budget, **rules)},
            best_ask=self.asks,
            clock=self.clock,
        )
        upstream = Upstream(self.twin_url, read_timeout_s=1.0)
        self.app = app = GatewayApp(self.custody, upstream, order_hook=self.hook)
        self.url = self.stack.enter_context(GatewayServer(app)).url
        return self.hook

    def exchange(self) -> ccxt.kucoin:
        """bot1 as Freqtrade holds it: ccxt with the gateway credential."""
        exchange = ccxt.kucoin(
            {
                **ccxt_config(self.url),
                "apiKey": self.credential.api_key,
                "secret": self.credential.secret,
                "password": self.credential.passphrase,
                "timeout": 10_000,
            }
        )
        if self.markets is None:
            self.markets = exchange.load_markets()
        else:
            exchange.set_markets(self.markets)
        return exchange

    def post(self, body: bytes | dict[str, Any], path: str = "/api/v1/orders") -> dict[str, Any]:
        """A signed placement with any body at all, as a broken or hostile bot sends it."""
        raw = body if isinstance(body, bytes) else orjson.dumps(body)
        headers = signed_headers(
            self.credential.api_key,
            self.credential.secret,
            self.credential.passphrase,
            "POST",
            path.encode(),
            raw,
            self.twin.now_ms(),
        )
        headers.append((b"content-type", b"application/json"))
        response = httpx.post(
            self.url + path, content=raw, headers=[(k.decode(), v.decode()) for k, v in headers]
        )
        answer: dict[str, Any] = response.json()
        return answer

    def orders(self) -> list[Any]:
        uid = self.twin.user_by_name(BOT).uid
        return [o for o in self.twin.state.orders.values() if o.uid == uid]

    def resting_price(self) -> float:
        """20 % under the bid: a limit buy there rests on the twin."""
        bid = self.twin.quote(XRP)[0]
        return float((bid * Decimal("0.8")).quantize(TICK, ROUND_FLOOR))

    def fault(self, **fault: Any) -> None:
        answer = httpx.post(f"{self.twin_url}/sim/v1/faults", json=fault, timeout=10)
        assert answer.json()["code"] == "200000", answer.text

    def decisions(self) -> list[dict[str, str]]:
        self.settled()
        return [d.fields for d in self.states.last_decisions(BOT, 100)]


@pytest.fixture
def rig(tmp_path: Path) -> Iterator[Rig]:
    server = ManagedRedis(tmp_path / "redis", bundled_redis_server())
    server.ensure_running()
    client = server.admin().client(socket_timeout=5, socket_connect_timeout=1)
    prepared = prepare(EXAMPLE, credentials_out=tmp_path / "creds.json")
    real = next(dict(c) for c in prepared.credentials if c["name"] == "bot1-trade")
    environ = {
        "BOT1_KEY": real["apiKey"],
        "BOT1_SECRET": real["secret"],
        "BOT1_PASS": real["passphrase"],
    }
    custody = custody_for([bot1()], tmp_path / "gateway", environ=environ)
    (credential,) = custody.credentials.values()
    try:
        with TwinServer(prepared.twin) as twin_server, contextlib.ExitStack() as stack:
            yield Rig(
                prepared.twin,
                twin_server.url,
                client,
                server,
                custody,
                credential,
                stack,
                Asks(prepared.twin),
            )
    finally:
        client.close()
        server.stop()


def _cost(size: float, price: float, fee: str = "0.001") -> Decimal:
    """A limit buy's worst case as the ledger holds it: up to the next 1e-8."""
    worst = Decimal(str(size)) * Decimal(str(price)) * (1 + Decimal(fee))
    return from_units(to_units(worst))


def _same(a: Snapshot, b: Snapshot) -> None:
    assert (a.committed, a.reservations, a.positions, a.lost) == (
        b.committed,
        b.reservations,
        b.positions,
        b.lost,
    )


# -- the budget ---------------------------------------------------------------------------


def test_a_buy_within_the_budget_reaches_the_twin_and_one_past_the_cap_never_does(
    rig: Rig,
) -> None:
    rig.start()
    exchange = rig.exchange()
    price = rig.resting_price()
    order = exchange.create_order(PAIR, "limit", "buy", 10, price, {"clientOid": "buy-1"})
    (placed,) = rig.orders()
    assert (placed.id, placed.client_oid) == (order["id"], "buy-1")
    before = rig.ledger.snapshot()
    assert before.reservations == {"buy-1": _cost(10, price)}
    rig.settled()
    assert rig.client.hget(GatewayKeys(BOT).ledger_oids, order["id"]) == b"buy-1"

    with pytest.raises(ccxt.InsufficientFunds, match=r"BUDGET_EXCEEDED cap=100\.00"):
        exchange.create_order(PAIR, "limit", "buy", 120, price, {"clientOid": "buy-2"})
    assert [o.client_oid for o in rig.orders()] == ["buy-1"]
    _same(rig.ledger.snapshot(), before)
    allowed, refused = rig.decisions()
    assert allowed == {
        "kind": "order",
        "decision": "allow",
        "reason": "",
        "side": "buy",
        "symbol": XRP,
        "client_oid": "buy-1",
        "cost": str(_cost(10, price)),
        "outcome": "accepted",
        "code": "200000",
        "order_id": order["id"],
    }
    assert refused["decision"] == "refuse"
    assert refused["reason"].startswith("BUDGET_EXCEEDED cap=100.00 committed=")
    assert (refused["client_oid"], refused["cost"]) == ("buy-2", str(_cost(120, price)))


def test_a_clientoid_already_reserved_is_refused_so_it_cannot_free_the_live_order(
    rig: Rig,
) -> None:
    """A second buy under a live order's clientOid would be taken as a retry by the ledger
    (reserved once), and the exchange's refusal of the duplicate would release the live
    order's reservation: it is refused before either happens."""
    rig.start()
    exchange = rig.exchange()
    price = rig.resting_price()
    exchange.create_order(PAIR, "limit", "buy", 10, price, {"clientOid": "dup"})
    before = rig.ledger.snapshot()
    with pytest.raises(ccxt.BadRequest, match="BAD_ORDER clientOid dup is in use"):
        exchange.create_order(PAIR, "limit", "buy", 80, price, {"clientOid": "dup"})
    _same(rig.ledger.snapshot(), before)
    assert len(rig.orders()) == 1


# -- trading states -----------------------------------------------------------------------


def test_halted_refuses_buys_and_sells_lets_cancels_pass_and_outlives_the_gateway(
    rig: Rig,
) -> None:
    rig.start()
    exchange = rig.exchange()
    price = rig.resting_price()
    resting = exchange.create_order(PAIR, "limit", "buy", 10, price)
    rig.states.halt(BOT, "KILL by operator", by="operator")
    before = rig.ledger.snapshot()
    with pytest.raises(ccxt.InsufficientFunds, match="HALTED KILL by operator"):
        exchange.create_order(PAIR, "limit", "buy", 10, price)
    with pytest.raises(ccxt.InsufficientFunds, match="HALTED"):
        exchange.create_order(PAIR, "market", "sell", 5)
    exchange.cancel_order(resting["id"], PAIR)
    assert exchange.fetch_order(resting["id"], PAIR)["status"] == "canceled"
    assert len(rig.orders()) == 1

    rig.start()  # a new hook and app: the state is in Redis, not in either
    exchange = rig.exchange()
    with pytest.raises(ccxt.InsufficientFunds, match="HALTED"):
        exchange.create_order(PAIR, "limit", "buy", 10, price)
    _same(rig.ledger.snapshot(), before)
    rig.states.set(BOT, TradingState.ACTIVE, "RESUME", by="operator")
    exchange.create_order(PAIR, "limit", "buy", 10, price)
    assert len(rig.orders()) == 2


def test_reducing_refuses_buys_but_lets_a_sell_through(rig: Rig) -> None:
    rig.start()
    exchange = rig.exchange()
    exchange.create_market_buy_order_with_cost(PAIR, 20, {"clientOid": "in"})
    held = float(exchange.fetch_balance()["XRP"]["free"])
    assert held > 0
    rig.states.set(BOT, TradingState.REDUCING, "REDUCE", by="operator")
    with pytest.raises(ccxt.InsufficientFunds, match=r"REDUCING only sells pass \(REDUCE\)"):
        exchange.create_order(PAIR, "limit", "buy", 10, rig.resting_price())
    sold = exchange.create_order(PAIR, "market", "sell", held, None, {"clientOid": "out"})
    assert rig.twin.state.orders[sold["id"]].client_oid == "out"
    assert rig.ledger.snapshot().reservations == {"in": Decimal("20.02000000")}  # fee on top
    sell = rig.decisions()[-1]
    assert (sell["decision"], sell["side"], sell["outcome"], sell["cost"]) == (
        "allow",
        "sell",
        "accepted",
        "0",
    )


def test_a_dry_run_bot_places_nothing(rig: Rig) -> None:
    rig.start(orders_allowed=False)
    exchange = rig.exchange()
    with pytest.raises(ccxt.InsufficientFunds, match="DRY_RUN"):
        exchange.create_order(PAIR, "limit", "buy", 10, rig.resting_price())
    with pytest.raises(ccxt.InsufficientFunds, match="DRY_RUN"):
        exchange.create_order(PAIR, "market", "sell", 10)
    assert rig.orders() == []
    assert [d["reason"].split()[0] for d in rig.decisions()] == ["DRY_RUN", "DRY_RUN"]


# -- the throttle -------------------------------------------------------------------------


def test_the_placement_over_the_rate_in_a_sliding_minute_halts_the_bot(rig: Rig) -> None:
    rig.start()
    exchange = rig.exchange()
    price = rig.resting_price()

    def place() -> None:
        exchange.create_order(PAIR, "limit", "buy", 1, price)

    for _ in range(20):
        place()
    rig.clock.now += 30
    for _ in range(10):
        place()
    rig.clock.now += 31  # the first 20 have left the window; the last 10 have not
    for _ in range(20):
        place()
    assert len(rig.orders()) == 50
    assert rig.states.get(BOT).state is TradingState.ACTIVE
    with pytest.raises(ccxt.InsufficientFunds, match="ORDER_RATE n=31 limit=30/min"):
        place()
    state = rig.states.get(BOT)
    assert (state.state, state.reason, state.by) == (
        TradingState.HALTED,
        "ORDER_RATE n=31 limit=30/min",
        "gateway",
    )
    rig.clock.now += 10
    with pytest.raises(ccxt.InsufficientFunds, match="HALTED ORDER_RATE"):
        place()
    assert len(rig.orders()) == 50
    # resumed within the same minute: the bot starts from an empty window
    rig.states.set(BOT, TradingState.ACTIVE, "RESUME", by="operator")
    place()
    assert len(rig.orders()) == 51
    kinds = [(d["kind"], d["decision"], d["reason"].split(" ")[0]) for d in rig.decisions()]
    assert kinds[-6:] == [
        ("order", "allow", ""),
        ("state", "HALTED", "ORDER_RATE"),
        ("order", "refuse", "ORDER_RATE"),
        ("order", "refuse", "HALTED"),
        ("state", "ACTIVE", "RESUME"),
        ("order", "allow", ""),
    ]


# -- market buys by size ------------------------------------------------------------------


def test_a_market_buy_by_size_reserves_the_best_ask_with_slippage_and_fee(rig: Rig) -> None:
    rig.start()
    exchange = rig.exchange()
    order = exchange.create_order(PAIR, "market", "buy", 10, None, {"clientOid": "mkt"})
    (ask,) = rig.asks.given
    assert ask is not None
    worst = Decimal(10) * ask * Decimal("1.02") * Decimal("1.001")
    assert rig.ledger.snapshot().reservations == {"mkt": from_units(to_units(worst))}
    assert rig.twin.state.orders[order["id"]].client_oid == "mkt"


def test_a_market_buy_by_size_without_a_price_is_refused(rig: Rig) -> None:
    rig.start()
    rig.asks.missing = True
    exchange = rig.exchange()
    with pytest.raises(ccxt.InsufficientFunds, match="NO_PRICE no best ask for XRP-USDT"):
        exchange.create_order(PAIR, "market", "buy", 10, None)
    assert rig.orders() == []
    assert rig.ledger.snapshot().committed == 0
    # a halted bot is refused before anyone is asked for a price
    rig.states.halt(BOT, "KILL")
    with pytest.raises(ccxt.InsufficientFunds, match="HALTED KILL"):
        exchange.create_order(PAIR, "market", "buy", 10, None)
    assert rig.asks.given == [None]


# -- settling from the upstream's answer --------------------------------------------------


def test_an_order_the_upstream_refuses_releases_its_reservation(rig: Rig) -> None:
    rig.start(budget=Decimal(1000))  # more budget than the sub-account holds
    exchange = rig.exchange()
    with pytest.raises(ccxt.InsufficientFunds, match="Balance insufficient"):
        exchange.create_order(PAIR, "limit", "buy", 150, rig.resting_price(), {"clientOid": "x"})
    assert rig.orders() == []
    snapshot = rig.ledger.snapshot()
    assert (snapshot.committed, snapshot.reservations, snapshot.lost) == (0, {}, frozenset())
    last = rig.decisions()[-1]
    assert (last["decision"], last["outcome"], last["code"]) == ("allow", "refused", "200004")


def test_a_lost_answer_keeps_the_reservation_marked_lost(rig: Rig) -> None:
    rig.start()
    exchange = rig.exchange()
    price = rig.resting_price()
    rig.fault(kind="drop", path_prefix="/api/v1/orders", count=1, hold_s=3)
    with pytest.raises(ccxt.ExchangeNotAvailable):
        exchange.create_order(PAIR, "limit", "buy", 10, price, {"clientOid": "lost-1"})
    # the twin placed it: the reconciler will find it by its clientOid
    assert [o.client_oid for o in rig.orders()] == ["lost-1"]
    rig.fault(kind="error500", path_prefix="/api/v1/orders", count=1)
    with pytest.raises(ccxt.ExchangeNotAvailable):
        exchange.create_order(PAIR, "limit", "buy", 10, price, {"clientOid": "lost-2"})
    snapshot = rig.ledger.snapshot()
    assert snapshot.lost == {"lost-1", "lost-2"}
    assert snapshot.reservations == {"lost-1": _cost(10, price), "lost-2": _cost(10, price)}
    outcomes = [(d["client_oid"], d["outcome"]) for d in rig.decisions()]
    assert outcomes == [("lost-1", "lost"), ("lost-2", "lost")]


def test_redis_down_refuses_buys_and_lets_sells_and_cancels_through(rig: Rig) -> None:
    rig.start()
    exchange = rig.exchange()
    exchange.create_market_buy_order_with_cost(PAIR, 20)
    resting = exchange.create_order(PAIR, "limit", "buy", 10, rig.resting_price())
    held = float(exchange.fetch_balance()["XRP"]["free"])
    rig.redis_server.stop()
    with pytest.raises(ccxt.InsufficientFunds, match="LEDGER_UNAVAILABLE"):
        exchange.create_order(PAIR, "limit", "buy", 10, rig.resting_price())
    with pytest.raises(ccxt.InsufficientFunds, match="LEDGER_UNAVAILABLE"):
        exchange.create_market_buy_order_with_cost(PAIR, 5)
    exchange.cancel_order(resting["id"], PAIR)
    sold = exchange.create_order(PAIR, "market", "sell", held)
    assert rig.twin.state.orders[sold["id"]].side == "sell"
    assert len(rig.orders()) == 3
    # Redis back (its append-only file too): the hook's connections come back by themselves
    rig.redis_server.ensure_running()
    time.sleep(aio.RECONNECT_PAUSE_S)  # a failed connect makes callers fail at once this long
    exchange.create_order(PAIR, "limit", "buy", 10, rig.resting_price(), {"clientOid": "back"})
    assert "back" in rig.ledger.snapshot().reservations


def test_a_hung_redis_holds_up_only_the_orders_that_need_it(rig: Rig) -> None:
    """A buy's Redis calls await on the event loop, the rarer ones on the hook's own
    threads: while Redis hangs (stopped, not refusing), a buy waits for it, but balance
    reads and cancels, which never need it, are answered at once."""
    rig.start()
    exchange = rig.exchange()
    price = rig.resting_price()
    resting = exchange.create_order(PAIR, "limit", "buy", 10, price)
    pid = rig.redis_server.pid()
    assert pid is not None
    os.kill(pid, signal.SIGSTOP)
    try:
        with ThreadPoolExecutor(1) as pool:
            buy = pool.submit(rig.exchange().create_order, PAIR, "limit", "buy", 10, price)
            time.sleep(0.3)
            started = time.monotonic()
            exchange.fetch_balance()
            exchange.cancel_order(resting["id"], PAIR)
            elapsed = time.monotonic() - started
            waiting = not buy.done()
            os.kill(pid, signal.SIGCONT)
            buy.result(timeout=10)
    finally:
        os.kill(pid, signal.SIGCONT)
    assert waiting
    assert elapsed < 1.0
    assert exchange.fetch_order(resting["id"], PAIR)["status"] == "canceled"
    assert len(rig.orders()) == 2


# -- malformed orders ---------------------------------------------------------------------


def _buy(**fields: Any) -> dict[str, Any]:
    return {"clientOid": "bad-1", "side": "buy", "symbol": XRP, "type": "limit", **fields}


MALFORMED: dict[str, tuple[bytes | dict[str, Any], str]] = {
    "size abc": (_buy(size="abc", price="1"), "size 'abc' is not a number"),
    "negative size": (_buy(size="-5", price="1"), "must be a positive number"),
    "zero price": (_buy(size="5", price="0"), "must be a positive number"),
    "NaN price": (_buy(size="5", price="NaN"), "price 'NaN' must be a positive number"),
    "infinite funds": (_buy(type="market", funds="Infinity"), "funds 'Infinity'"),
    "huge": (_buy(size="1e30", price="1"), "out of range"),
    "overflow": (_buy(size="9e999999", price="9e999999"), "out of range"),
    "size missing": (_buy(price="1"), "size None is not a number"),
    "side missing": ({"clientOid": "b", "symbol": XRP, "size": "1", "price": "1"}, "side None"),
    "side short": (_buy(side="short", size="1", price="1"), "neither buy nor sell"),
    "type stop": (_buy(type="stop", size="1", price="1"), "neither limit nor market"),
    "no clientOid": (_buy(clientOid=None, size="1", price="1"), "needs a clientOid"),
    "clientOid with colon": (_buy(clientOid="order:1", size="1", price="1"), "clientOid"),
    "other quote": (_buy(symbol="XRP-BTC", size="1", price="1"), "not quoted in USDT"),
    "symbol a list": (_buy(symbol=["XRP-USDT"], size="1", price="1"), "not a spot symbol"),
    "not json": (b"{'side': 'buy'", "Invalid JSON body"),
    "not an object": (b"[1, 2]", "must be an object"),
}


@pytest.mark.parametrize("case", MALFORMED)
def test_a_malformed_order_is_refused_as_a_bad_request_and_leaves_the_ledger_alone(
    rig: Rig, case: str
) -> None:
    rig.start()
    rig.ledger.reserve("earlier", Decimal(10))
    before = rig.ledger.snapshot()
    body, problem = MALFORMED[case]
    answer = rig.post(body)
    assert answer["code"] == "400100"
    assert answer["msg"].startswith("BAD_ORDER ")
    assert problem in answer["msg"]
    _same(rig.ledger.snapshot(), before)
    assert rig.orders() == []
    (decision,) = rig.decisions()
    assert (decision["decision"], decision["reason"]) == ("refuse", answer["msg"])


def test_hf_and_stop_placements_pass_the_same_hook(rig: Rig) -> None:
    rig.start()
    for path in ("/api/v1/hf/orders", "/api/v1/hf/orders/sync", "/api/v1/stop-order"):
        answer = rig.post(_buy(size="abc", price="1"), path)
        assert (answer["code"], answer["msg"].split()[0]) == ("400100", "BAD_ORDER"), path
    rig.states.halt(BOT, "KILL")
    answer = rig.post({**_buy(size="1", price="0.5"), "stop": "loss", "stopPrice": "0.6"})
    assert (answer["code"], answer["msg"]) == ("200004", "HALTED KILL")


# -- what is logged -----------------------------------------------------------------------


def test_every_decision_is_one_log_event_without_secrets_or_bodies(
    rig: Rig, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="bulkhead.gateway")
    rig.start()
    exchange = rig.exchange()
    price = rig.resting_price()
    exchange.create_order(PAIR, "limit", "buy", 10, price, {"clientOid": "log-1"})
    with pytest.raises(ccxt.InsufficientFunds):
        exchange.create_order(PAIR, "limit", "buy", 200, price, {"clientOid": "log-2"})
    rig.post(_buy(size="secret-looking-size", price="1"))
    decisions = [r for r in caplog.records if r.getMessage() == "gateway_decision"]
    shown = [(vars(r)["decision"], vars(r)["reason"].split(" ")[0]) for r in decisions]
    assert shown == [("allow", ""), ("refuse", "BUDGET_EXCEEDED"), ("refuse", "BAD_ORDER")]
    allowed = vars(decisions[0])
    assert (allowed["bot"], allowed["side"], allowed["symbol"], allowed["client_oid"]) == (
        BOT,
        "buy",
        XRP,
        "log-1",
    )
    assert allowed["cost"] == str(_cost(10, price))
    everything = "\n".join(str(vars(r)) for r in caplog.records if r.name.startswith("bulk"))
    for secret in (rig.credential.secret, rig.credential.passphrase, '"price"', "timeInForce"):
        assert secret not in everything
