"""One bot's account as the exchange sees it, read through the gateway's upstream.

The reconciler (``reconcile.py``) needs the exchange's truth (open orders, fills,
balances, the best ask) and, for ``bulkhead kill``, two writes (a cancel, a market sell).
They go out through the same ``Upstream`` the bots' requests take, signed with the bot's
real key, so there is one connection pool, one timeout policy and one place secrets live.
They bypass the order hook on purpose: what the reader places (only kill's exit sells)
commits nothing, and the ledger learns of it from the fills like of any other order.

Classic spot endpoints only (``/api/v1/orders``, ``/api/v1/fills``, ...): they need no
symbol, which a reservation (keyed by clientOid) does not know.

Every failure is a ``TemporaryError``: no answer or an answer that is not KuCoin JSON
(``ExchangeUnavailable``), or KuCoin's refusal (``ExchangeRefused``, with its code). The
reconciler logs them and tries again; the gateway's start treats them as "not served".
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import ROUND_FLOOR, Decimal, InvalidOperation
from typing import Any
from urllib.parse import quote, urlencode

import orjson

from bulkhead.errors import TemporaryError
from bulkhead.gateway.custody import RealKey
from bulkhead.gateway.ledger import ExchangeState, TradeFill
from bulkhead.gateway.ledger_model import (
    UNIT,
    from_units,
    limit_cost,
    market_funds_cost,
    market_size_cost,
)
from bulkhead.gateway.upstream import Upstream
from bulkhead.kucoin.http import Request

OK = "200000"
#: KuCoin's answers to a key it does not accept (header, timestamp, key, passphrase,
#: signature): repeated, they mean the bot's real key is gone or wrong
AUTH_CODES = frozenset({"400001", "400002", "400003", "400004", "400005"})
#: what prefixes an order id where a clientOid is expected (an order placed without one)
BY_ID = "order:"
#: an order as KuCoin shapes it (its JSON object)
Order = dict[str, Any]
#: the largest page KuCoin's classic lists serve
PAGE_SIZE = 500
#: pages read from one list before giving up (100,000 records: no bot has that many open)
MAX_PAGES = 200
#: balances held on these accounts are the bot's to trade (classic and HF)
TRADE_ACCOUNTS = ("trade", "trade_hf")
#: attempts at reading open orders, fills and balances that agree with each other
CONSISTENT_READS = 5
#: fills re-read before the newest one seen, to find those the exchange lists late
FILL_OVERLAP_MS = 120_000


class ExchangeReadError(TemporaryError):
    """The exchange could not be read (or written) now; the same call may work later."""


class ExchangeUnavailable(ExchangeReadError):
    """No answer, or an answer that is not KuCoin's JSON envelope."""


class ExchangeRefused(ExchangeReadError):
    """KuCoin answered with an error code."""

    def __init__(self, what: str, code: str, msg: str) -> None:
        super().__init__(f"{what}: KuCoin refused with {code} {msg[:200]}")
        self.code = code
        self.msg = msg

    @property
    def auth(self) -> bool:
        """The key itself was refused (not the request)."""
        return self.code in AUTH_CODES


@dataclass(frozen=True)
class ExchangeFill:
    """One fill of the bot's, as ``/api/v1/fills`` lists it (amounts parsed)."""

    trade_id: str
    order_id: str
    symbol: str
    side: str
    price: Decimal
    size: Decimal
    funds: Decimal
    fee: Decimal
    fee_currency: str
    created_at: int

    def trade(self, fee_in_stake: Decimal) -> TradeFill:
        """The ledger's view of it, its fee converted to the stake currency by the caller."""
        return TradeFill(self.symbol, self.side, self.size, self.funds, fee_in_stake, self.trade_id)


def decimal(value: object, what: str = "amount") -> Decimal:
    """A KuCoin number (sent as a string) as a Decimal; a missing one (None, "") is 0."""
    if value in (None, ""):
        return Decimal(0)
    try:
        parsed = Decimal(str(value))
    except (InvalidOperation, ValueError):
        parsed = Decimal("NaN")
    if not parsed.is_finite():
        raise ExchangeUnavailable(f"exchange sent {what} {value!r}, not a number")
    return parsed


def _fill(item: Mapping[str, Any]) -> ExchangeFill:
    return ExchangeFill(
        trade_id=str(item.get("tradeId") or ""),
        order_id=str(item.get("orderId") or ""),
        symbol=str(item.get("symbol") or ""),
        side=str(item.get("side") or ""),
        price=decimal(item.get("price"), "price"),
        size=decimal(item.get("size"), "size"),
        funds=decimal(item.get("funds"), "funds"),
        fee=decimal(item.get("fee"), "fee"),
        fee_currency=str(item.get("feeCurrency") or ""),
        created_at=int(item.get("createdAt") or 0),
    )


def _not_found(error: ExchangeRefused) -> bool:
    """KuCoin's "no such order", in any of the spellings ccxt knows (400100
    order_not_exist_or_not_allow_to_cancel, "order not exist.", code order_not_exist)."""
    return "order not exist" in f"{error.code} {error.msg}".lower().replace("_", " ")


def reservation_key(order: Mapping[str, Any]) -> str:
    """The key a buy is reserved under: its clientOid; one without (placed past the
    gateway) counts under its order id."""
    return str(order.get("clientOid") or f"{BY_ID}{order.get('id')}")


def is_active(order: Mapping[str, Any]) -> bool:
    """Whether an order may still fill (classic ``isActive``, HF ``active``); an answer
    without either counts as active, so its reservation stays."""
    return bool(order.get("isActive", order.get("active", True)))


def unfilled_worst_case(
    order: Mapping[str, Any], *, fee_rate: Decimal, slippage: Decimal, best_ask: Decimal | None
) -> Decimal:
    """What an open buy may still spend: its unfilled part at ``ledger_model``'s worst case
    (limit: size left x price x (1 + fee); market by funds: the funds left x (1 + fee); market by
    size: size left x best ask x (1 + slippage) x (1 + fee))."""
    size, dealt = decimal(order.get("size")), decimal(order.get("dealSize"))
    left = max(size - dealt, Decimal(0))
    if order.get("type", "limit") == "limit":
        return limit_cost(left, decimal(order.get("price")), fee_rate)
    funds = decimal(order.get("funds"))
    if funds > 0:
        left_funds = max(funds - decimal(order.get("dealFunds")), Decimal(0))
        return market_funds_cost(left_funds, fee_rate)
    if best_ask is None:
        raise ExchangeUnavailable(f"no best ask for the open market buy {order.get('id')}")
    return market_size_cost(left, best_ask, slippage, fee_rate)


@dataclass(frozen=True)
class Rebuild:
    """What the exchange says a bot's ledger holds (``reconcile.rebuild_ledger`` writes it)."""

    state: ExchangeState
    #: orderId -> clientOid of the open buys
    oids: dict[str, str]
    #: symbol -> quantity held that no fill explains (counted at the best ask)
    unexplained: dict[str, Decimal]
    #: when the newest fill happened (exchange time, ms): where reconciling goes on
    newest_fill_ms: int | None = None


def _marks(orders: list[dict[str, Any]]) -> set[tuple[str, str, bool]]:
    return {(str(o.get("id")), str(o.get("dealSize")), is_active(o)) for o in orders}


class ExchangeReader:
    """Private and public reads of one bot's account through the upstream, with its real key.

    ``auth_failures`` counts KuCoin's key refusals (400001-400005) in a row on private
    calls; any accepted private call resets it. The reconciler halts the bot on it.
    """

    def __init__(self, upstream: Upstream, real: RealKey) -> None:
        self.upstream = upstream
        self._real = real
        self.auth_failures = 0
        #: the last refusal a write met (``cancel``, ``market_sell``), for kill's report
        self.last_refusal = ""

    def __repr__(self) -> str:  # the real key stays out of every repr
        return f"ExchangeReader({self.upstream.base_url})"

    async def _call(
        self,
        method: str,
        path: str,
        query: Mapping[str, object] | None = None,
        body: Mapping[str, object] | None = None,
        *,
        signed: bool = True,
    ) -> Any:
        """One request; KuCoin's ``data`` on success, else ``ExchangeReadError``."""
        target = path
        if query:
            target += "?" + urlencode({k: str(v) for k, v in query.items()})
        raw = orjson.dumps(body) if body is not None else b""
        request = Request(method, path, target.encode(), {}, raw, "gateway")
        answer = await self.upstream.forward(request, self._real if signed else None)
        what = f"{method} {path}"
        if answer.outcome != "answered":
            raise ExchangeUnavailable(f"{what}: upstream {answer.outcome} (HTTP {answer.status})")
        parsed = orjson.loads(answer.body)
        code = str(parsed.get("code"))
        if code != OK:
            error = ExchangeRefused(what, code, str(parsed.get("msg") or ""))
            if signed and error.auth:
                self.auth_failures += 1
            raise error
        if signed:
            self.auth_failures = 0
        return parsed.get("data")

    async def _pages(self, path: str, query: Mapping[str, object]) -> list[dict[str, Any]]:
        """Every item of a classic paginated list (newest first, as KuCoin sends them)."""
        items: list[dict[str, Any]] = []
        for page in range(1, MAX_PAGES + 1):
            data = await self._call(
                "GET", path, {**query, "currentPage": page, "pageSize": PAGE_SIZE}
            )
            if not isinstance(data, dict):
                raise ExchangeUnavailable(f"GET {path}: page {page} is not a page")
            items += [item for item in data.get("items") or [] if isinstance(item, dict)]
            if page >= int(data.get("totalPage") or 0):
                return items
        raise ExchangeUnavailable(f"GET {path}: more than {MAX_PAGES} pages")

    # -- public ---------------------------------------------------------------------------

    async def _listed(self, path: str, query: Mapping[str, object] | None = None) -> Any:
        """Public data about one symbol; None when KuCoin does not list it (400600)."""
        try:
            data = await self._call("GET", path, query, signed=False)
        except ExchangeRefused as error:
            if error.code == "400600":  # symbol not exists
                return None
            raise
        return data if isinstance(data, dict) else None

    async def best_ask(self, symbol: str) -> Decimal | None:
        """The best ask of ``symbol`` ("XRP-USDT"); None for a symbol KuCoin does not list
        or an empty book."""
        data = await self._listed("/api/v1/market/orderbook/level1", {"symbol": symbol})
        ask = decimal(data.get("bestAsk"), "bestAsk") if data else Decimal(0)
        return ask if ask > 0 else None

    async def exchange_status(self) -> str:
        """KuCoin's service status: ``open``, ``close`` or ``cancelonly``."""
        data = await self._call("GET", "/api/v1/status", None, signed=False)
        status = data.get("status") if isinstance(data, dict) else None
        return str(status) if isinstance(status, str) else ""

    async def base_increments(self, symbol: str) -> tuple[Decimal, Decimal] | None:
        """(size increment, minimum size) of ``symbol``, or None when it is not listed:
        what a market sell's size must respect."""
        data = await self._listed(f"/api/v2/symbols/{quote(symbol, safe='')}")
        if data is None:
            return None
        return decimal(data.get("baseIncrement")), decimal(data.get("baseMinSize"))

    # -- private reads --------------------------------------------------------------------

    async def open_orders(self) -> list[dict[str, Any]]:
        """Every active spot order of the account (all pages), as KuCoin shapes them."""
        return await self._pages("/api/v1/orders", {"status": "active"})

    async def order_by_client_oid(self, client_oid: str) -> dict[str, Any] | None:
        """The order placed with ``client_oid``; None when KuCoin says it does not exist.
        A reservation of an order placed without one (``by_id``) is looked up by its id."""
        if client_oid.startswith(BY_ID):
            return await self.order_by_id(client_oid.removeprefix(BY_ID))
        return await self._order(f"/api/v1/order/client-order/{quote(client_oid, safe='')}")

    async def order_by_id(self, order_id: str) -> dict[str, Any] | None:
        """The order ``order_id``; None when KuCoin says it does not exist."""
        return await self._order(f"/api/v1/orders/{quote(order_id, safe='')}")

    async def _order(self, path: str) -> dict[str, Any] | None:
        try:
            data = await self._call("GET", path)
        except ExchangeRefused as error:
            if _not_found(error):
                return None
            raise
        # real KuCoin answers an unknown clientOid with success and no data
        return data if isinstance(data, dict) and data else None

    async def fills(
        self, since_ms: int | None = None, *, order_id: str | None = None
    ) -> list[ExchangeFill]:
        """The account's fills (all pages), oldest first; from ``since_ms`` when given, of
        one order with ``order_id``. Without either, KuCoin lists the last 7 days."""
        wanted = (("startAt", since_ms), ("orderId", order_id))
        query = {name: value for name, value in wanted if value is not None}
        items = await self._pages("/api/v1/fills", query)
        found: dict[str, ExchangeFill] = {}
        for item in reversed(items):
            fill = _fill(item)
            # a fill arriving while paging shifts the pages: the same one twice is one
            found.setdefault(fill.trade_id or f"{fill.order_id}:{len(found)}", fill)
        return sorted(found.values(), key=lambda f: f.created_at)

    async def balances(self) -> dict[str, Decimal]:
        """Currency -> total held on the trading accounts (free and on hold)."""
        return await self._balances("balance")

    async def available_balances(self) -> dict[str, Decimal]:
        """Currency -> what can be sold right now (not held by open orders)."""
        return await self._balances("available")

    async def _balances(self, column: str) -> dict[str, Decimal]:
        rows = await self._call("GET", "/api/v1/accounts")
        if not isinstance(rows, list):
            raise ExchangeUnavailable("GET /api/v1/accounts: not a list of accounts")
        totals: dict[str, Decimal] = {}
        for row in rows:
            if isinstance(row, dict) and row.get("type") in TRADE_ACCOUNTS:
                currency = str(row.get("currency") or "")
                amount = decimal(row.get(column), column).quantize(UNIT, ROUND_FLOOR)
                totals[currency] = totals.get(currency, Decimal(0)) + amount
        return totals

    async def _account(self) -> tuple[list[Order], list[ExchangeFill], dict[str, Decimal]]:
        """Open orders, fills and balances as of one moment. Read in that order, a fill
        landing between the orders and the fills is seen twice (an order's unfilled part
        and its fill), never missed; then orders and fills are read again, and anything
        that changed meanwhile means reading again (``CONSISTENT_READS`` times at most)."""
        for _ in range(CONSISTENT_READS):
            orders = await self.open_orders()
            fills = await self.fills()
            balances = await self.balances()
            orders_after = await self.open_orders()
            since = fills[-1].created_at - FILL_OVERLAP_MS if fills else None
            seen = {f.trade_id for f in fills}
            later = await self.fills(since)
            if _marks(orders) == _marks(orders_after) and all(f.trade_id in seen for f in later):
                return orders, fills, balances
        raise ExchangeUnavailable(f"the account kept changing over {CONSISTENT_READS} reads")

    async def rebuild(self, *, stake: str, fee_rate: Decimal, slippage: Decimal) -> Rebuild:
        """The ledger as the exchange has it: each open buy's worst case of its unfilled
        part (by clientOid), the fills in the stake (oldest first, with their trade ids),
        and the base balances, which cap the positions. A balance no fill explains (coins
        bought before the fills KuCoin still lists, or deposited) is not free: counted at
        cost 0 it would let the bot buy its worth again, so it counts at what it is worth
        now, balance x best ask, as if bought at that price."""
        orders, fills, balances = await self._account()
        open_buys: dict[str, Decimal] = {}
        oids: dict[str, str] = {}
        for order in orders:
            symbol = str(order.get("symbol") or "")
            if order.get("side") != "buy" or not symbol.endswith(f"-{stake}"):
                continue
            by_size = order.get("type") == "market" and not decimal(order.get("funds"))
            ask = await self.best_ask(symbol) if by_size else None
            cost = unfilled_worst_case(order, fee_rate=fee_rate, slippage=slippage, best_ask=ask)
            client_oid = reservation_key(order)
            open_buys[client_oid] = open_buys.get(client_oid, Decimal(0)) + cost
            oids[str(order.get("id"))] = client_oid
        trades = [
            fill.trade(await self.fee_in(stake, fill))
            for fill in fills
            if fill.symbol.endswith(f"-{stake}") and fill.side in ("buy", "sell")
        ]
        held = {f"{c}-{stake}": q for c, q in balances.items() if c != stake and q > 0}
        explained = ExchangeState({}, trades, held).ledger_state().positions
        unexplained: dict[str, Decimal] = {}
        for symbol, qty in sorted(held.items()):
            excess = qty - (from_units(explained[symbol].qty) if symbol in explained else 0)
            # no market in the stake: the bot cannot trade it either
            if excess > 0 and (ask := await self.best_ask(symbol)) is not None:
                trades.append(TradeFill(symbol, "buy", excess, excess * ask))
                unexplained[symbol] = excess
        newest = max((f.created_at for f in fills), default=None)
        return Rebuild(ExchangeState(open_buys, trades, held), oids, unexplained, newest)

    async def fee_in(self, stake: str, fill: ExchangeFill) -> Decimal:
        """A fill's fee in the stake currency: as is; at the fill's price when charged in
        the base; else at the fee currency's best ask (0 when it has no market: KCS fee
        discounts are small, and a fill must not stay uncounted for want of a price)."""
        if not fill.fee or fill.fee_currency in ("", stake):
            return fill.fee
        if fill.fee_currency == fill.symbol.partition("-")[0]:
            return fill.fee * fill.price
        ask = await self.best_ask(f"{fill.fee_currency}-{stake}")
        return fill.fee * ask if ask is not None else Decimal(0)

    # -- writes (kill) --------------------------------------------------------------------

    async def _write(self, method: str, path: str, body: Mapping[str, str] | None) -> bool:
        """True when KuCoin accepted it, False when it refused (``last_refusal`` says
        why); a refused key raises, as does no answer (it may or may not have happened)."""
        try:
            await self._call(method, path, body=body)
        except ExchangeRefused as error:
            if error.auth:
                raise
            self.last_refusal = f"{error.code} {error.msg[:200]}"
            return False
        return True

    async def cancel(self, order_id: str) -> bool:
        """Cancel one order: False when KuCoin refused (already done, or unknown)."""
        return await self._write("DELETE", f"/api/v1/orders/{quote(order_id, safe='')}", None)

    async def market_sell(self, symbol: str, size: Decimal, client_oid: str) -> bool:
        """Sell ``size`` of ``symbol``'s base at market: False when KuCoin refused it."""
        body = {"clientOid": client_oid, "side": "sell", "symbol": symbol, "type": "market"}
        return await self._write("POST", "/api/v1/orders", {**body, "size": format(size, "f")})

    async def sell_holdings(self, stake: str) -> tuple[dict[str, Decimal], dict[str, str]]:
        """Sell at market every coin the trading accounts hold free, rounded down to each
        market's size increment: (symbol -> size sold, symbol -> why not sold). Dust
        below a market's minimum size cannot be sold and is reported."""
        sold: dict[str, Decimal] = {}
        not_sold: dict[str, str] = {}
        for currency, qty in sorted((await self.available_balances()).items()):
            symbol = f"{currency}-{stake}"
            if currency == stake or qty <= 0:
                continue
            try:
                rules = await self.base_increments(symbol)
                if rules is None:
                    not_sold[symbol] = "no such market"
                    continue
                step, minimum = rules
                size = (qty // step) * step if step > 0 else qty
                if size <= 0 or size < minimum:
                    not_sold[symbol] = f"{qty} is below the minimum size {minimum}"
                elif await self.market_sell(symbol, size, f"bh-exit-{uuid.uuid4().hex[:24]}"):
                    sold[symbol] = size
                else:
                    not_sold[symbol] = self.last_refusal
            except ExchangeReadError as error:
                not_sold[symbol] = str(error)[:200]
        return sold, not_sold
