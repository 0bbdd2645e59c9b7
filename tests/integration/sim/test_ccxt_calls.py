"""Every call a Freqtrade bot makes through ccxt 4.5.x, against the twin, classic and HF.

The ``trader`` fixture runs each trading test twice: as a classic sub-account (ccxt uses
``/api/v1/orders``) and as an HF sub-account (``/api/v1/hf/orders``, ``trade_hf``).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal
from itertools import pairwise
from typing import Any

import ccxt
import pytest
from simkit import Account, Sim, Trader

from bulkhead.plumbing import wait_until

SYMBOL = "XRP/USDT"
MARKET_ID = "XRP-USDT"
SYMBOLS = {"XRP/USDT", "ETH/USDT", "ADA/USDT", "BTC/USDT"}
TICK = Decimal("0.00001")  # XRP-USDT's price increment in the example scenario


def on_tick(value: Decimal, rounding: str = ROUND_FLOOR, tick: Decimal = TICK) -> Decimal:
    return (value / tick).to_integral_value(rounding=rounding) * tick


def resting_buy_price(trader: Trader) -> Decimal:
    """A buy price 3 % under the bid: rests on the book, never marketable."""
    bid, _, _ = trader.quote()
    return on_tick(bid * Decimal("0.97"))


def order_ids(orders: list[dict[str, Any]]) -> set[str]:
    return {order["id"] for order in orders}


# -- load_markets ------------------------------------------------------------------------


def test_load_markets_lists_every_symbol_and_discovers_the_account_mode(trader: Trader) -> None:
    exchange = trader.exchange
    assert set(exchange.markets) >= SYMBOLS
    assert exchange.options["hf"] is trader.hf
    market = exchange.market(SYMBOL)
    assert market["spot"] is True
    assert market["active"] is True
    assert market["precision"]["price"] == float(TICK)
    assert market["limits"]["amount"]["min"] > 0
    # fees come from the tickers of allTickers: without them they would be None
    assert market["taker"] == pytest.approx(0.001)
    assert market["maker"] == pytest.approx(0.001)


def test_switching_a_sub_account_to_hf_moves_ccxt_onto_the_trade_hf_account(sim: Sim) -> None:
    sim.admin("PATCH", "users/bot1", {"mode": "hf"})
    sim.twin.set_balance(sim.user("bot1"), "USDT", Decimal(40), "trade_hf")
    exchange = sim.client("bot1-trade")
    assert exchange.options["hf"] is True
    balance = exchange.fetch_balance()
    assert balance["USDT"]["total"] == pytest.approx(40)
    assert {row["type"] for row in balance["info"]["data"]} == {"trade_hf"}


# -- market orders -----------------------------------------------------------------------


def test_market_buy_by_amount_fills_and_moves_quote_by_cost_plus_fee(trader: Trader) -> None:
    exchange = trader.exchange
    before = exchange.fetch_balance()
    assert before["USDT"]["total"] == pytest.approx(100)
    assert {row["type"] for row in before["info"]["data"]} == {trader.account}

    placed = exchange.create_order(SYMBOL, "market", "buy", 10)
    assert placed["id"]
    if trader.hf:  # the HF answer also carries the clientOid
        assert placed["clientOrderId"]

    order = exchange.fetch_order(placed["id"], SYMBOL)
    assert order["status"] == "closed"
    assert order["filled"] == pytest.approx(10)
    assert order["side"] == "buy"
    assert order["type"] == "market"
    assert order["fee"]["currency"] == "USDT"
    assert order["fee"]["cost"] == pytest.approx(order["cost"] * 0.001)

    after = exchange.fetch_balance()
    spent = order["cost"] + order["fee"]["cost"]
    assert after["USDT"]["total"] == pytest.approx(100 - spent)
    assert after["USDT"]["used"] == pytest.approx(0)
    assert after["XRP"]["total"] == pytest.approx(10)
    assert {row["type"] for row in after["info"]["data"]} == {trader.account}
    # exact to the last digit in the twin's books as well
    usdt, holds = trader.balance("USDT")
    deal = Decimal(order["info"]["dealFunds"])
    assert usdt == Decimal(100) - deal - Decimal(order["info"]["fee"])
    assert holds == 0


def _buy_with_cost_method(exchange: ccxt.kucoin, cost: float) -> dict[str, Any]:
    return exchange.create_market_buy_order_with_cost(SYMBOL, cost)


def _buy_with_cost_param(exchange: ccxt.kucoin, cost: float) -> dict[str, Any]:
    return exchange.create_order(SYMBOL, "market", "buy", None, None, {"cost": cost})


@pytest.mark.parametrize(
    "place", [_buy_with_cost_method, _buy_with_cost_param], ids=["method", "params-cost"]
)
def test_market_buy_by_cost_spends_at_most_the_cost_plus_its_fee(
    trader: Trader, place: Callable[[ccxt.kucoin, float], dict[str, Any]]
) -> None:
    exchange = trader.exchange
    placed = place(exchange, 5)
    order = exchange.fetch_order(placed["id"], SYMBOL)
    assert order["status"] == "closed"
    assert order["info"]["funds"] == "5"
    assert 0 < order["cost"] <= 5
    assert order["filled"] > 0
    balance = exchange.fetch_balance()
    assert balance["USDT"]["total"] == pytest.approx(100 - order["cost"] - order["fee"]["cost"])
    assert balance["XRP"]["total"] == pytest.approx(order["filled"])


def test_market_sell_returns_the_proceeds_minus_the_fee(trader: Trader) -> None:
    exchange = trader.exchange
    exchange.create_order(SYMBOL, "market", "buy", 10)
    middle = exchange.fetch_balance()["USDT"]["total"]
    sold = exchange.fetch_order(exchange.create_order(SYMBOL, "market", "sell", 10)["id"], SYMBOL)
    assert sold["status"] == "closed"
    assert sold["filled"] == pytest.approx(10)
    after = exchange.fetch_balance()
    assert after["USDT"]["total"] == pytest.approx(middle + sold["cost"] - sold["fee"]["cost"])
    assert after.get("XRP", {}).get("total", 0) == pytest.approx(0)


def test_market_buy_beyond_the_balance_is_insufficient_funds_and_changes_nothing(
    trader: Trader,
) -> None:
    exchange = trader.exchange
    before = trader.sim.fingerprint()
    with pytest.raises(ccxt.InsufficientFunds):
        exchange.create_order(SYMBOL, "market", "buy", 1000)
    assert trader.sim.fingerprint() == before


# -- limit orders ------------------------------------------------------------------------


def test_resting_limit_buy_holds_funds_until_it_is_cancelled(trader: Trader) -> None:
    exchange = trader.exchange
    price = resting_buy_price(trader)
    placed = exchange.create_order(SYMBOL, "limit", "buy", 10, float(price))

    order = exchange.fetch_order(placed["id"], SYMBOL)
    assert order["status"] == "open"
    assert order["price"] == pytest.approx(float(price))
    assert order["filled"] == pytest.approx(0)
    assert placed["id"] in order_ids(exchange.fetch_open_orders(SYMBOL))

    held = exchange.fetch_balance()["USDT"]
    assert held["total"] == pytest.approx(100)
    assert held["used"] >= float(price * 10)
    assert held["free"] == pytest.approx(100 - held["used"])

    exchange.cancel_order(placed["id"], SYMBOL)
    released = exchange.fetch_balance()["USDT"]
    assert released["used"] == pytest.approx(0)
    assert released["free"] == pytest.approx(100)
    assert exchange.fetch_order(placed["id"], SYMBOL)["status"] == "canceled"
    assert placed["id"] not in order_ids(exchange.fetch_open_orders(SYMBOL))
    assert trader.balance("USDT") == (Decimal(100), Decimal(0))


def test_cancelling_an_already_cancelled_order_is_order_not_found(trader: Trader) -> None:
    exchange = trader.exchange
    placed = exchange.create_order(SYMBOL, "limit", "buy", 10, float(resting_buy_price(trader)))
    exchange.cancel_order(placed["id"], SYMBOL)
    with pytest.raises(ccxt.OrderNotFound):
        exchange.cancel_order(placed["id"], SYMBOL)


def test_marketable_limit_buy_fills_at_once_as_taker(trader: Trader) -> None:
    exchange = trader.exchange
    _, ask, _ = trader.quote()
    price = on_tick(ask * Decimal("1.02"))
    placed = exchange.create_order(SYMBOL, "limit", "buy", 10, float(price))
    order = exchange.fetch_order(placed["id"], SYMBOL)
    assert order["status"] == "closed"
    assert order["filled"] == pytest.approx(10)
    # filled at the market, not at the (worse) limit
    assert order["cost"] < float(price * 10)
    trades = exchange.fetch_my_trades(SYMBOL)
    assert [t["takerOrMaker"] for t in trades if t["order"] == placed["id"]] == ["taker"]
    assert exchange.fetch_balance()["USDT"]["used"] == pytest.approx(0)


@pytest.mark.parametrize("time_in_force", ["IOC", "FOK"])
def test_immediate_limit_orders_that_cannot_fill_are_cancelled_without_a_trade(
    trader: Trader, time_in_force: str
) -> None:
    exchange = trader.exchange
    price = resting_buy_price(trader)
    placed = exchange.create_order(
        SYMBOL, "limit", "buy", 10, float(price), {"timeInForce": time_in_force}
    )
    order = exchange.fetch_order(placed["id"], SYMBOL)
    assert order["status"] == "canceled"
    assert order["timeInForce"] == time_in_force
    assert order["filled"] == pytest.approx(0)
    assert exchange.fetch_my_trades(SYMBOL) == []
    assert exchange.fetch_balance()["USDT"] == {"free": 100.0, "used": 0.0, "total": 100.0}


@pytest.mark.parametrize("time_in_force", ["IOC", "FOK"])
def test_immediate_limit_orders_that_can_fill_are_filled_in_full(
    trader: Trader, time_in_force: str
) -> None:
    exchange = trader.exchange
    _, ask, _ = trader.quote()
    placed = exchange.create_order(
        SYMBOL,
        "limit",
        "buy",
        10,
        float(on_tick(ask * Decimal("1.02"))),
        {"timeInForce": time_in_force},
    )
    order = exchange.fetch_order(placed["id"], SYMBOL)
    assert order["status"] == "closed"
    assert order["filled"] == pytest.approx(10)


def test_post_only_order_that_would_take_is_cancelled_and_one_that_rests_stays_open(
    trader: Trader,
) -> None:
    exchange = trader.exchange
    _, ask, _ = trader.quote()
    taking = exchange.create_order(
        SYMBOL, "limit", "buy", 10, float(on_tick(ask * Decimal("1.02"))), {"postOnly": True}
    )
    resting = exchange.create_order(
        SYMBOL, "limit", "buy", 10, float(resting_buy_price(trader)), {"postOnly": True}
    )
    taken = exchange.fetch_order(taking["id"], SYMBOL)
    assert taken["status"] == "canceled"
    assert taken["filled"] == pytest.approx(0)
    assert taken["postOnly"] is True
    assert exchange.fetch_order(resting["id"], SYMBOL)["status"] == "open"
    assert order_ids(exchange.fetch_open_orders(SYMBOL)) == {resting["id"]}
    assert exchange.fetch_my_trades(SYMBOL) == []


def test_resting_limit_buy_fills_as_maker_once_the_price_path_trades_through_it(
    trader: Trader,
) -> None:
    sim, exchange = trader.sim, trader.exchange
    spec = sim.twin.state.symbols[MARKET_ID]
    source = sim.price_source(MARKET_ID)
    bid, _, _ = trader.quote()
    start = sim.twin.now_ms() + 5_000
    # Look ahead on an identical copy of the path for the first dip below the bid, and
    # put the order just inside it (the twin fills a buy once low * (1 + spread/2) <= price).
    for hours in (1, 2, 4, 8, 16, 32, 64, 128):
        horizon_ms = hours * 3_600_000
        low, _ = source.extremes(start, start + horizon_ms)
        price = on_tick(Decimal(repr(low)) * (1 + spec.spread / 2), ROUND_CEILING)
        if price < bid - 3 * TICK:
            break
    else:
        pytest.fail("the price path never dips under the bid within 128 hours")

    placed = exchange.create_order(SYMBOL, "limit", "buy", 10, float(price))
    assert exchange.fetch_order(placed["id"], SYMBOL)["status"] == "open"
    sim.twin.advance_clock(horizon_ms / 1000 + 10)

    order = wait_until(
        lambda: (o := exchange.fetch_order(placed["id"], SYMBOL))["status"] == "closed" and o,
        10,
        what="the order to close",
    )
    assert order["filled"] == pytest.approx(10)
    assert order["average"] == pytest.approx(float(price))
    [trade] = [t for t in exchange.fetch_my_trades(SYMBOL) if t["order"] == placed["id"]]
    assert trade["takerOrMaker"] == "maker"
    assert trade["price"] == pytest.approx(float(price))
    balance = exchange.fetch_balance()
    cost = price * 10
    assert balance["USDT"]["total"] == pytest.approx(float(100 - cost - cost * spec.maker_fee_rate))
    assert balance["USDT"]["used"] == pytest.approx(0)
    assert balance["XRP"]["total"] == pytest.approx(10)


# -- stop orders, the way Freqtrade places and manages them ------------------------------


@pytest.fixture
def holding(trader: Trader) -> Trader:
    """The trader after buying 20 XRP at market, with something to protect."""
    trader.exchange.create_order(SYMBOL, "market", "buy", 20)
    return trader


@pytest.mark.parametrize("ordertype", ["market", "limit"])
def test_freqtrade_stop_loss_is_fetched_and_cancelled_without_a_stop_flag(
    holding: Trader, ordertype: str
) -> None:
    exchange = holding.exchange
    bid, _, _ = holding.quote()
    stop = on_tick(bid * Decimal("0.95"))
    rate = float(on_tick(stop * Decimal("0.99"))) if ordertype == "limit" else None
    # Freqtrade's Kucoin._get_stop_params: {"stopPrice": stop_price, "stop": "loss"}
    placed = exchange.create_order(
        SYMBOL, ordertype, "sell", 20, rate, {"stopPrice": float(stop), "stop": "loss"}
    )
    assert placed["id"]

    order = exchange.fetch_order(placed["id"], SYMBOL)  # no {"stop": True}
    assert order["status"] == "open"
    assert order["triggerPrice"] == pytest.approx(float(stop))
    assert order["info"]["stop"] == "loss"
    assert order["amount"] == pytest.approx(20)
    assert exchange.fetch_balance()["XRP"]["total"] == pytest.approx(20)

    exchange.cancel_order(placed["id"], SYMBOL)  # no {"stop": True} either
    cancelled = exchange.fetch_order(placed["id"], SYMBOL)
    assert cancelled["status"] == "canceled"
    xrp = exchange.fetch_balance()["XRP"]
    assert xrp["used"] == pytest.approx(0)
    assert xrp["free"] == pytest.approx(20)


def test_stop_loss_triggers_and_sells_when_the_price_path_falls_to_it(holding: Trader) -> None:
    sim, exchange = holding.sim, holding.exchange
    source = sim.price_source(MARKET_ID)
    bid, _, last = holding.quote()
    start = sim.twin.now_ms() + 5_000
    for hours in (1, 2, 4, 8, 16, 32, 64, 128):
        horizon_ms = hours * 3_600_000
        low, _ = source.extremes(start, start + horizon_ms)
        stop = on_tick(Decimal(repr(low)), ROUND_CEILING)
        if stop < min(bid, last) - 3 * TICK:
            break
    else:
        pytest.fail("the price path never falls under the bid within 128 hours")
    usdt_before = exchange.fetch_balance()["USDT"]["total"]

    placed = exchange.create_order(
        SYMBOL, "market", "sell", 20, None, {"stopPrice": float(stop), "stop": "loss"}
    )
    assert exchange.fetch_order(placed["id"], SYMBOL)["status"] == "open"
    sim.twin.advance_clock(horizon_ms / 1000 + 10)

    order = wait_until(
        lambda: (o := exchange.fetch_order(placed["id"], SYMBOL))["status"] == "closed" and o,
        10,
        what="the order to close",
    )
    assert order["filled"] == pytest.approx(20)
    assert order["info"]["stopTriggered"] is True
    balance = exchange.fetch_balance()
    assert balance.get("XRP", {}).get("total", 0) == pytest.approx(0)
    assert balance["USDT"]["total"] == pytest.approx(
        usdt_before + order["cost"] - order["fee"]["cost"]
    )


# -- order lists and trades --------------------------------------------------------------


def test_open_closed_orders_and_my_trades_each_list_the_right_orders(trader: Trader) -> None:
    exchange = trader.exchange
    since = exchange.milliseconds() - 1_000
    filled = exchange.create_order(SYMBOL, "market", "buy", 10)
    resting = exchange.create_order(SYMBOL, "limit", "buy", 10, float(resting_buy_price(trader)))
    cancelled = exchange.create_order(SYMBOL, "limit", "buy", 10, float(resting_buy_price(trader)))
    exchange.cancel_order(cancelled["id"], SYMBOL)

    open_orders = exchange.fetch_open_orders(SYMBOL)
    assert order_ids(open_orders) == {resting["id"]}
    assert all(o["status"] == "open" for o in open_orders)

    closed = {o["id"]: o for o in exchange.fetch_closed_orders(SYMBOL, since, 20)}
    assert set(closed) == {filled["id"], cancelled["id"]}
    assert closed[filled["id"]]["status"] == "closed"
    assert closed[cancelled["id"]]["status"] == "canceled"

    trades = exchange.fetch_my_trades(SYMBOL, since)
    assert [t["order"] for t in trades] == [filled["id"]]
    [trade] = trades
    assert trade["symbol"] == SYMBOL
    assert trade["side"] == "buy"
    assert trade["amount"] == pytest.approx(10)
    assert trade["takerOrMaker"] == "taker"
    assert trade["fee"]["currency"] == "USDT"
    assert trade["fee"]["cost"] == pytest.approx(trade["cost"] * 0.001)


def test_placing_twice_with_the_same_client_oid_is_refused_and_only_one_order_exists(
    trader: Trader,
) -> None:
    exchange = trader.exchange
    client_oid = f"ft-{uuid.uuid4().hex}"
    price = float(resting_buy_price(trader))
    placed = exchange.create_order(SYMBOL, "limit", "buy", 10, price, {"clientOid": client_oid})
    used = exchange.fetch_balance()["USDT"]["used"]

    with pytest.raises(ccxt.InvalidOrder):
        exchange.create_order(SYMBOL, "limit", "buy", 10, price, {"clientOid": client_oid})

    same = [o for o in trader.sim.twin.state.orders.values() if o.client_oid == client_oid]
    assert [o.id for o in same] == [placed["id"]]
    assert exchange.fetch_balance()["USDT"]["used"] == pytest.approx(used)
    found = exchange.fetch_order(None, SYMBOL, {"clientOid": client_oid})
    assert found["id"] == placed["id"]
    assert found["clientOrderId"] == client_oid


# -- market data (same endpoints in both modes) ------------------------------------------


@pytest.fixture(scope="module")
def market_client(shared_account: Account) -> ccxt.kucoin:
    exchange = shared_account.sim.client(shared_account.key, enableLastJsonResponse=True)
    assert exchange.options["hf"] is shared_account.hf
    return exchange


@pytest.mark.parametrize("timeframe", ["1m", "5m", "15m", "1h", "1d"])
def test_fetch_ohlcv_parses_close_before_high_into_well_formed_ascending_candles(
    market_client: ccxt.kucoin, timeframe: str
) -> None:
    candles = market_client.fetch_ohlcv(SYMBOL, timeframe, limit=100)
    raw = market_client.last_json_response["data"]
    assert 0 < len(candles) <= 100
    step = market_client.parse_timeframe(timeframe) * 1000
    times = [c[0] for c in candles]
    assert all(b - a == step for a, b in pairwise(times))
    for _, open_, high, low, close, volume in candles:
        assert high >= max(open_, close)
        assert low <= min(open_, close)
        assert volume >= 0
    # wire row: [time_s, open, close, high, low, volume, turnover], newest first
    newest = raw[0]
    assert candles[-1] == [
        int(newest[0]) * 1000,
        float(newest[1]),
        float(newest[3]),
        float(newest[4]),
        float(newest[2]),
        float(newest[5]),
    ]


def test_candles_arrive_newest_first_and_at_most_1500_per_call(market_sim: Sim) -> None:
    now_s = market_sim.twin.now_ms() // 1000
    response = market_sim.http.get(
        "/api/v1/market/candles",
        params={"symbol": MARKET_ID, "type": "1min", "startAt": now_s - 3000 * 60, "endAt": now_s},
    )
    rows = response.json()["data"]
    assert len(rows) == 1500
    times = [int(row[0]) for row in rows]
    assert times == sorted(times, reverse=True)
    assert len(set(times)) == len(times)
    assert times[0] > now_s - 120
    for row in rows:
        assert all(isinstance(cell, str) for cell in row)
        _, open_, close, high, low = (float(cell) for cell in row[:5])
        assert high >= max(open_, close)
        assert low <= min(open_, close)


def test_fetch_ohlcv_without_since_or_limit_returns_the_1500_newest(
    market_client: ccxt.kucoin,
) -> None:
    candles = market_client.fetch_ohlcv(SYMBOL, "1m")
    assert len(candles) == 1500
    assert [c[0] for c in candles] == sorted(c[0] for c in candles)


def test_fetch_tickers_has_bid_below_ask_and_fee_rates_on_every_ticker(
    market_client: ccxt.kucoin,
) -> None:
    tickers = market_client.fetch_tickers()
    assert set(tickers) >= SYMBOLS
    for symbol in SYMBOLS:
        ticker = tickers[symbol]
        assert 0 < ticker["bid"] < ticker["ask"]
        assert ticker["last"] > 0
        assert ticker["high"] >= ticker["low"] > 0
        for fee_field in ("takerFeeRate", "makerFeeRate", "takerCoefficient", "makerCoefficient"):
            assert ticker["info"][fee_field] not in (None, "")
    single = market_client.fetch_ticker(SYMBOL)
    assert 0 < single["bid"] < single["ask"]


@pytest.mark.parametrize("depth", [20, 100])
def test_fetch_order_book_returns_the_requested_depth_in_order(
    market_client: ccxt.kucoin, depth: int
) -> None:
    book = market_client.fetch_order_book(SYMBOL, depth)
    assert len(book["bids"]) == depth
    assert len(book["asks"]) == depth
    bids = [price for price, _ in book["bids"]]
    asks = [price for price, _ in book["asks"]]
    assert bids == sorted(bids, reverse=True)
    assert asks == sorted(asks)
    assert bids[0] < asks[0]
    assert all(size > 0 for _, size in book["bids"] + book["asks"])


def test_fetch_trading_fee_and_the_fee_endpoints_report_the_symbol_rates(
    market_client: ccxt.kucoin,
) -> None:
    fee = market_client.fetch_trading_fee(SYMBOL)
    assert fee["symbol"] == SYMBOL
    assert fee["maker"] == pytest.approx(0.001)
    assert fee["taker"] == pytest.approx(0.001)
    several = market_client.privateGetTradeFees({"symbols": "XRP-USDT,ETH-USDT"})["data"]
    assert [row["symbol"] for row in several] == ["XRP-USDT", "ETH-USDT"]
    base = market_client.privateGetBaseFee()["data"]
    assert set(base) >= {"takerFeeRate", "makerFeeRate"}


def test_trade_fees_for_more_than_ten_symbols_is_a_bad_request(market_client: ccxt.kucoin) -> None:
    with pytest.raises(ccxt.BadRequest):
        market_client.privateGetTradeFees({"symbols": ",".join(["XRP-USDT"] * 11)})


def test_fetch_time_agrees_with_the_local_clock_and_status_is_ok(
    market_client: ccxt.kucoin,
) -> None:
    server_ms = market_client.fetch_time()
    assert isinstance(server_ms, int)
    # the same host: well inside the 5 s window KuCoin allows a signature
    assert abs(server_ms - market_client.milliseconds()) < 5_000
    status = market_client.fetch_status()
    assert status["status"] == "ok"
    assert status["info"]["data"]["status"] == "open"
