"""Public trade history (``GET /api/v1/market/histories``), as KuCoin publishes it.

KuCoin (docs-new, Spot > Market Data > Get Trade History; the universal SDK's
``GetTradeHistoryData``): the latest 100 trades of a symbol, oldest first, each
``{sequence, price, size, side, time}`` with ``sequence`` a string, ``side`` the taker's
and ``time`` in nanoseconds. ccxt's ``fetch_trades`` reads it.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from simkit import Sim, Trader

SYMBOL = "XRP/USDT"
MARKET_ID = "XRP-USDT"


def histories(sim: Sim, symbol: str = MARKET_ID) -> list[dict[str, Any]]:
    payload = sim.http.get("/api/v1/market/histories", params={"symbol": symbol}).json()
    assert payload["code"] == "200000", payload
    data = payload["data"]
    assert isinstance(data, list)
    return data


def test_the_trade_history_is_the_latest_100_trades_oldest_first_in_kucoins_shape(
    market_sim: Sim,
) -> None:
    now_ns = market_sim.twin.now_ms() * 1_000_000
    trades = histories(market_sim)
    assert len(trades) == 100
    spec = market_sim.twin.state.symbols[MARKET_ID]
    for trade in trades:
        assert set(trade) == {"sequence", "price", "size", "side", "time"}
        assert isinstance(trade["sequence"], str)
        assert trade["sequence"].isdigit()
        assert isinstance(trade["time"], int)
        assert trade["side"] in ("buy", "sell")
        price, size = Decimal(trade["price"]), Decimal(trade["size"])
        assert price > 0
        assert price % spec.price_increment == 0
        assert size > 0
        assert size % spec.base_increment == 0
    sequences = [int(t["sequence"]) for t in trades]
    assert sequences == sorted(sequences)
    assert len(set(sequences)) == 100
    times = [int(t["time"]) for t in trades]
    assert times == sorted(times)
    assert times[-1] <= now_ns
    # nanoseconds: within the last days, not milliseconds or seconds
    assert now_ns - 7 * 86_400 * 10**9 < times[0]


def test_the_tape_stays_within_the_candles_a_client_reads(market_sim: Sim) -> None:
    trades = histories(market_sim)
    newest_ms = int(trades[-1]["time"]) // 1_000_000
    oldest_ms = int(trades[0]["time"]) // 1_000_000
    candles = market_sim.http.get(
        "/api/v1/market/candles",
        params={
            "symbol": MARKET_ID,
            "type": "5min",
            "startAt": oldest_ms // 1000 - 300,
            "endAt": newest_ms // 1000 + 300,
        },
    ).json()["data"]
    by_open = {int(row[0]): row for row in candles}
    for trade in trades:
        t_s = int(trade["time"]) // 10**9
        row = by_open[t_s - t_s % 300]
        low, high = Decimal(row[4]), Decimal(row[3])
        tick = market_sim.twin.state.symbols[MARKET_ID].price_increment
        assert low - tick <= Decimal(trade["price"]) <= high + tick


def test_ccxt_fetch_trades_parses_the_tape(trader: Trader) -> None:
    trades = trader.exchange.fetch_trades(SYMBOL)
    assert len(trades) == 100
    now_ms = trader.exchange.milliseconds()
    for trade in trades:
        assert trade["symbol"] == SYMBOL
        assert trade["side"] in ("buy", "sell")
        assert trade["price"] > 0
        assert trade["amount"] > 0
        assert trade["id"] is None or trade["id"].isdigit()
        assert now_ms - 7 * 86_400_000 < trade["timestamp"] <= now_ms + 1000


def test_a_fill_on_the_twin_shows_in_the_public_tape_without_its_owner(trader: Trader) -> None:
    exchange = trader.exchange
    placed = exchange.create_order(SYMBOL, "market", "buy", 10)
    info = exchange.fetch_order(placed["id"], SYMBOL)["info"]
    price = Decimal(info["dealFunds"]) / 10
    ours = [t for t in histories(trader.sim) if t["size"] == "10" and Decimal(t["price"]) == price]
    assert len(ours) == 1
    [trade] = ours
    assert trade["side"] == "buy"  # the taker's side
    assert int(trade["time"]) // 1_000_000 == int(info["createdAt"])
    assert set(trade) == {"sequence", "price", "size", "side", "time"}


@pytest.mark.parametrize(("query", "code"), [({}, "400100"), ({"symbol": "NOPE-USDT"}, "400600")])
def test_the_trade_history_needs_a_listed_symbol(
    market_sim: Sim, query: dict[str, str], code: str
) -> None:
    payload = market_sim.http.get("/api/v1/market/histories", params=query).json()
    assert payload["code"] == code
