"""What a spot bot may ask of KuCoin through the gateway: an explicit table, all else refused.

Only what a Freqtrade spot bot needs passes: public market data, its own balances and
accounts, spot orders classic and HF (place, cancel, query, lists), fills, stop orders,
fees, time and status. Everything else, the paths that move funds (transfers of every
kind, withdrawals), manage sub-accounts or keys, trade margin or futures, or touch earn
products, is refused with KuCoin's permission code (400007) and never forwarded: the table
names what passes, so a path KuCoin adds tomorrow is refused until someone adds it here.

Two reads carry "margin" in their path and still pass: ccxt's ``load_markets`` asks for
the margin symbol lists (``/api/v3/margin/symbols``, ``/api/v1/isolated/symbols``) whenever
it holds credentials, and they only describe markets; nothing that borrows, lends or trades
margin passes.

Left out for now, each needing the budget ledger to understand it first: batch orders
(``/api/v1/orders/multi``, ``/api/v1/hf/orders/multi``), order edits
(``/api/v1/hf/orders/alter``), OCO orders (``/api/v3/oco/...``) and HF stop orders.
Freqtrade uses none of them on KuCoin.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Literal

from bulkhead.kucoin.http import Route, RouteKind, Router

#: What a rule lets through, for the audit log and ``bulkhead guard``.
Family = Literal["market", "time", "account", "order", "stop", "fill", "fee"]


@dataclass(frozen=True)
class Rule:
    """One (method, path pattern) a spot bot may call; ``{name}`` matches one segment."""

    method: str
    pattern: str
    family: Family
    #: a private endpoint: forwarded re-signed with the bot's real key (else unsigned)
    signed: bool = True
    #: it places an order: the budget ledger reserves before forwarding, settles after
    places_order: bool = False


def _public(pattern: str, family: Family = "market") -> Rule:
    return Rule("GET", pattern, family, signed=False)


def _read(pattern: str, family: Family) -> Rule:
    return Rule("GET", pattern, family)


def _place(pattern: str, family: Family = "order") -> Rule:
    return Rule("POST", pattern, family, places_order=True)


def _cancel(pattern: str, family: Family = "order") -> Rule:
    return Rule("DELETE", pattern, family)


#: The table. Order ids, clientOids and symbols are single path segments.
SPOT_BOT: tuple[Rule, ...] = (
    # -- time and status ------------------------------------------------------------------
    _public("/api/v1/timestamp", "time"),
    _public("/api/v1/status", "time"),
    # -- public market data ---------------------------------------------------------------
    _public("/api/v1/currencies"),
    _public("/api/v3/currencies"),
    _public("/api/v3/currencies/{currency}"),
    _public("/api/v1/symbols"),
    _public("/api/v2/symbols"),
    _public("/api/v2/symbols/{symbol}"),
    _public("/api/v1/markets"),
    _public("/api/v1/prices"),
    _public("/api/v1/market/allTickers"),
    _public("/api/v1/market/stats"),
    _public("/api/v1/market/orderbook/level1"),
    _public("/api/v1/market/orderbook/level2_20"),
    _public("/api/v1/market/orderbook/level2_100"),
    _public("/api/v1/market/histories"),
    _public("/api/v1/market/candles"),
    # market descriptions ccxt's load_markets reads with credentials (no margin trading)
    _read("/api/v3/margin/symbols", "market"),
    _read("/api/v1/isolated/symbols", "market"),
    # -- its own accounts and balances ----------------------------------------------------
    _read("/api/v1/accounts", "account"),
    _read("/api/v1/accounts/{accountId}", "account"),
    _read("/api/v1/accounts/ledgers", "account"),
    _read("/api/v1/hf/accounts/ledgers", "account"),
    _read("/api/v1/hf/accounts/opened", "account"),
    _read("/api/ua/v1/account/mode", "account"),
    # -- spot orders, classic -------------------------------------------------------------
    _place("/api/v1/orders"),
    _read("/api/v1/orders", "order"),
    _read("/api/v1/orders/{orderId}", "order"),
    _read("/api/v1/order/client-order/{clientOid}", "order"),
    _read("/api/v1/limit/orders", "order"),
    _cancel("/api/v1/orders"),
    _cancel("/api/v1/orders/{orderId}"),
    _cancel("/api/v1/order/client-order/{clientOid}"),
    # -- spot orders, HF ------------------------------------------------------------------
    _place("/api/v1/hf/orders"),
    _place("/api/v1/hf/orders/sync"),
    _read("/api/v1/hf/orders/active", "order"),
    _read("/api/v1/hf/orders/active/symbols", "order"),
    _read("/api/v1/hf/orders/done", "order"),
    _read("/api/v1/hf/orders/{orderId}", "order"),
    _read("/api/v1/hf/orders/client-order/{clientOid}", "order"),
    _cancel("/api/v1/hf/orders"),
    _cancel("/api/v1/hf/orders/cancelAll"),
    _cancel("/api/v1/hf/orders/{orderId}"),
    _cancel("/api/v1/hf/orders/sync/{orderId}"),
    _cancel("/api/v1/hf/orders/client-order/{clientOid}"),
    _cancel("/api/v1/hf/orders/sync/client-order/{clientOid}"),
    # -- stop orders (Freqtrade's stop-loss on exchange) ----------------------------------
    _place("/api/v1/stop-order", "stop"),
    _read("/api/v1/stop-order", "stop"),
    _read("/api/v1/stop-order/{orderId}", "stop"),
    _read("/api/v1/stop-order/queryOrderByClientOid", "stop"),
    _cancel("/api/v1/stop-order/{orderId}", "stop"),
    _cancel("/api/v1/stop-order/cancel", "stop"),
    _cancel("/api/v1/stop-order/cancelOrderByClientOid", "stop"),
    # -- fills and fees -------------------------------------------------------------------
    _read("/api/v1/fills", "fill"),
    _read("/api/v1/limit/fills", "fill"),
    _read("/api/v1/hf/fills", "fill"),
    _read("/api/v1/trade-fees", "fee"),
    _read("/api/v1/base-fee", "fee"),
)


def _marker(*_: Any) -> None:  # pragma: no cover - the router's routes are never called
    """The router wants a handler; the allowlist only matches."""


class Allowlist:
    """Matches a request's method and path against the table (KuCoin's own router)."""

    def __init__(self, rules: Iterable[Rule] = SPOT_BOT) -> None:
        self._router = Router()
        self._rules: dict[tuple[str, str], Rule] = {}
        for rule in rules:
            kind: RouteKind = "private" if rule.signed else "public"
            self._router.add(Route(rule.method, rule.pattern, _marker, kind))
            self._rules[(rule.method, rule.pattern)] = rule

    def match(self, method: str, path: str) -> Rule | None:
        """The rule that lets this call through, or None: refuse it (400007)."""
        matched = self._router.match(method, path)
        if matched is None:
            return None
        route, params = matched
        # a segment parameter never spans "/" or is empty, and never smuggles "..": the
        # upstream must see the very path the rule was written for
        if any(not value or value in {".", ".."} for value in params.values()):
            return None
        return self._rules[(route.method, route.pattern)]

    def rules(self) -> list[Rule]:
        return list(self._rules.values())
