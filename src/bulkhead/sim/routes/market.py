"""Public market data (and the signed discovery calls ccxt makes while loading markets)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from bulkhead.sim import errors, shapes
from bulkhead.sim.http import Route
from bulkhead.sim.prices import INTERVALS
from bulkhead.sim.routes.context import Call
from bulkhead.sim.shapes import num

DAY_MS = 86_400_000
#: synthetic depth: size at the first level in quote terms, growing per level
DEPTH_QUOTE_PER_LEVEL = Decimal(2000)
#: KuCoin's public trade history holds the latest 100 trades
TRADE_HISTORY_SIZE = 100


def timestamp(call: Call) -> int:
    return call.twin.wall_ms()


def status(call: Call) -> dict[str, str]:
    return {"status": call.twin.state.status, "msg": ""}


def _currency_codes(call: Call) -> list[str]:
    codes: set[str] = set()
    for spec in call.twin.state.symbols.values():
        codes.update((spec.base, spec.quote))
    return sorted(codes)


def currencies(call: Call) -> list[dict[str, Any]]:
    return [shapes.currency(code, 8) for code in _currency_codes(call)]


def currency(call: Call) -> dict[str, Any]:
    code = call.request.params["currency"]
    if code not in _currency_codes(call):
        raise errors.bad_parameter("currency not exists")
    return shapes.currency(code, 8)


def symbols(call: Call) -> list[dict[str, Any]]:
    market = call.request.query.get("market")
    return [
        shapes.symbol(spec)
        for spec in call.twin.state.symbols.values()
        if not market or shapes.symbol(spec)["market"] == market
    ]


def symbol(call: Call) -> dict[str, Any]:
    return shapes.symbol(call.twin.symbol(call.request.params["symbol"]))


def _ticker(call: Call, name: str) -> dict[str, Any]:
    twin = call.twin
    spec = twin.symbol(name)
    now = twin.now_ms()
    source = twin.source(name)
    bid, ask, last = twin.quote(name)
    low, high = source.extremes(now - DAY_MS, now)
    opening = Decimal(repr(source.price_at(now - DAY_MS)))
    volume = sum(
        c.volume for c in source.candles("1hour", (now - DAY_MS) // 1000, now // 1000 + 1, now)
    )
    change = last - opening
    return {
        "symbol": name,
        "symbolName": name,
        "buy": num(bid),
        "bestBidSize": num(
            DEPTH_QUOTE_PER_LEVEL / bid // spec.base_increment * spec.base_increment
        ),
        "sell": num(ask),
        "bestAskSize": num(
            DEPTH_QUOTE_PER_LEVEL / ask // spec.base_increment * spec.base_increment
        ),
        "changeRate": num((change / opening).quantize(Decimal("0.0001"))) if opening else "0",
        "changePrice": num(change),
        "high": num(Decimal(repr(high))),
        "low": num(Decimal(repr(low))),
        "vol": f"{volume:.4f}",
        "volValue": f"{volume * float(last):.4f}",
        "last": num(last),
        "averagePrice": num(last),
        "takerFeeRate": num(spec.taker_fee_rate),
        "makerFeeRate": num(spec.maker_fee_rate),
        "takerCoefficient": "1",
        "makerCoefficient": "1",
        "time": now,
    }


def all_tickers(call: Call) -> dict[str, Any]:
    return {
        "time": call.twin.now_ms(),
        "ticker": [_ticker(call, name) for name in call.twin.state.symbols],
    }


def _symbol_param(call: Call) -> str:
    name = call.request.query.get("symbol", "")
    if not name:
        raise errors.bad_parameter("symbol is required")
    call.twin.symbol(name)
    return name


def stats(call: Call) -> dict[str, Any]:
    return _ticker(call, _symbol_param(call))


def level1(call: Call) -> dict[str, Any]:
    name = _symbol_param(call)
    book = _book(call, name, 1)
    return {
        "time": call.twin.now_ms(),
        "sequence": str(call.twin.sequence),
        "price": num(call.twin.quote(name)[2]),
        "size": "1",
        "bestBid": book["bids"][0][0],
        "bestBidSize": book["bids"][0][1],
        "bestAsk": book["asks"][0][0],
        "bestAskSize": book["asks"][0][1],
    }


def _book(call: Call, name: str, depth: int) -> dict[str, Any]:
    spec = call.twin.symbol(name)
    bid, ask, _ = call.twin.quote(name)
    step = spec.price_increment * max(1, int(ask * spec.spread / spec.price_increment / 2))
    bids, asks = [], []
    for level in range(depth):
        grow = Decimal(1 + level) ** 2
        bid_price = bid - step * level
        ask_price = ask + step * level
        if bid_price > 0:
            size = DEPTH_QUOTE_PER_LEVEL * grow / bid_price // spec.base_increment
            bids.append([num(bid_price), num(size * spec.base_increment)])
        size = DEPTH_QUOTE_PER_LEVEL * grow / ask_price // spec.base_increment
        asks.append([num(ask_price), num(size * spec.base_increment)])
    return {
        "time": call.twin.now_ms(),
        "sequence": str(call.twin.sequence),
        "bids": bids,
        "asks": asks,
    }


def level2_20(call: Call) -> dict[str, Any]:
    return _book(call, _symbol_param(call), 20)


def level2_100(call: Call) -> dict[str, Any]:
    return _book(call, _symbol_param(call), 100)


def candles(call: Call) -> list[list[str]]:
    name = _symbol_param(call)
    interval = call.request.query.get("type", "")
    if interval not in INTERVALS:
        raise errors.bad_parameter(f"type must be one of {', '.join(INTERVALS)}")
    now = call.twin.now_ms()
    start = call.query_int("startAt", 0, 0, 2**40)
    end = call.query_int("endAt", 0, 0, 2**40) or now // 1000 + 1
    rows = call.twin.source(name).candles(interval, start, end, now)
    return [
        [
            str(row.time_s),
            f"{row.open:.10g}",
            f"{row.close:.10g}",
            f"{row.high:.10g}",
            f"{row.low:.10g}",
            f"{row.volume:.8f}",
            f"{row.turnover:.8f}",
        ]
        for row in rows
    ]


def trade_history(call: Call) -> list[dict[str, Any]]:
    """The symbol's latest trades, oldest first, in KuCoin's shape (``time`` in ns).

    The tape is the price path's own trades (``PriceSource.prints``: four per base
    candle, adding up to the candles) and the fills of the twin's users, as on KuCoin,
    where an account's trades are in the public history too, without who made them.
    ``side`` is the taker's: by the tick rule for the path, a maker fill's counterparty.
    ``sequence`` grows with time (a millisecond's trades numbered within it).
    """
    name = _symbol_param(call)
    twin = call.twin
    spec = twin.symbol(name)
    now = twin.now_ms()
    tick, step = spec.price_increment, spec.base_increment
    tape: list[tuple[int, Decimal, Decimal, str]] = []
    previous: Decimal | None = None
    # One print more than shown: the oldest one shown needs its predecessor's price.
    for t_ms, raw_price, raw_size in twin.source(name).prints(now, TRADE_HISTORY_SIZE + 1):
        price = (Decimal(repr(raw_price)) / tick).to_integral_value() * tick
        size = max(Decimal(repr(raw_size)) // step * step, step)
        side = "sell" if previous is not None and price < previous else "buy"
        tape.append((t_ms * 1000, price, size, side))
        previous = price
    # Fills append in time order: once one is older than the path's 100th latest print,
    # none before it can make the latest 100 either.
    oldest_shown = tape[-TRADE_HISTORY_SIZE][0] if len(tape) >= TRADE_HISTORY_SIZE else -1
    fills = 0
    for record in reversed(twin.state.fills):
        if fills == TRADE_HISTORY_SIZE or record.created_at * 1000 < oldest_shown:
            break
        if record.symbol != name or record.created_at > now:
            continue
        fills += 1
        side = record.side if record.liquidity == "taker" else _OTHER_SIDE[record.side]
        number = shapes.record_number(record.trade_id) % 999 + 1
        tape.append((record.created_at * 1000 + number, record.price, record.size, side))
    tape.sort(key=lambda trade: trade[0])
    return [
        {
            "sequence": str(sequence),
            "price": num(price),
            "size": num(size),
            "side": side,
            "time": sequence // 1000 * 1_000_000,
        }
        for sequence, price, size, side in tape[-TRADE_HISTORY_SIZE:]
    ]


_OTHER_SIDE = {"buy": "sell", "sell": "buy"}


def contracts_active(call: Call) -> list[object]:
    return []


# -- the signed discovery calls ccxt makes while loading markets ------------------------


def margin_symbols(call: Call) -> dict[str, Any]:
    return {"timestamp": call.twin.now_ms(), "items": []}


def isolated_symbols(call: Call) -> list[object]:
    return []


def hf_opened(call: Call) -> bool:
    return call.me.mode == "hf"


def account_mode(call: Call) -> dict[str, str]:
    return {"selfAccountMode": "CLASSIC"}


def _fees(call: Call, name: str) -> dict[str, str]:
    """A symbol's fee rates (the universal SDK's ``GetSpotActualFeeData``), with the tax
    rates KuCoin shows users in some regions: "0", as the twin charges no tax."""
    spec = call.twin.symbol(name)
    return {
        "symbol": name,
        "takerFeeRate": num(spec.taker_fee_rate),
        "makerFeeRate": num(spec.maker_fee_rate),
        "sellTaxRate": shapes.NO_TAX,
        "buyTaxRate": shapes.NO_TAX,
    }


def trade_fees(call: Call) -> list[dict[str, str]]:
    names = [n for n in call.request.query.get("symbols", "").split(",") if n]
    if not names or len(names) > 10:
        raise errors.bad_parameter("symbols takes between 1 and 10 symbols")
    return [_fees(call, name) for name in names]


def base_fee(call: Call) -> dict[str, str]:
    return {"takerFeeRate": "0.001", "makerFeeRate": "0.001"}


ROUTES = [
    Route("GET", "/api/v1/timestamp", timestamp, "public"),
    Route("GET", "/api/v1/status", status, "public"),
    Route("GET", "/api/v3/currencies", currencies, "public"),
    Route("GET", "/api/v3/currencies/{currency}", currency, "public"),
    Route("GET", "/api/v1/currencies", currencies, "public"),
    Route("GET", "/api/v2/symbols", symbols, "public"),
    Route("GET", "/api/v2/symbols/{symbol}", symbol, "public"),
    Route("GET", "/api/v1/symbols", symbols, "public"),
    Route("GET", "/api/v1/market/allTickers", all_tickers, "public"),
    Route("GET", "/api/v1/market/stats", stats, "public"),
    Route("GET", "/api/v1/market/orderbook/level1", level1, "public"),
    Route("GET", "/api/v1/market/orderbook/level2_20", level2_20, "public"),
    Route("GET", "/api/v1/market/orderbook/level2_100", level2_100, "public"),
    Route("GET", "/api/v1/market/candles", candles, "public"),
    Route("GET", "/api/v1/market/histories", trade_history, "public"),
    Route("GET", "/api/v1/contracts/active", contracts_active, "public"),
    Route("GET", "/api/v3/margin/symbols", margin_symbols, "private", "General"),
    Route("GET", "/api/v1/isolated/symbols", isolated_symbols, "private", "General"),
    Route("GET", "/api/v1/hf/accounts/opened", hf_opened, "private", "General"),
    Route("GET", "/api/ua/v1/account/mode", account_mode, "private", "General"),
    Route("GET", "/api/v1/trade-fees", trade_fees, "private", "General", 3),
    Route("GET", "/api/v1/base-fee", base_fee, "private", "General", 3),
]
