"""Render the twin's records in KuCoin's JSON shapes (strings for numbers, as KuCoin sends).

Kept apart from the handlers so that every endpoint returning an order or a fill uses
the same rendering, and a parser fix lands once.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from bulkhead.sim.models import ApiKey, Fill, LedgerEntry, Order, SymbolSpec, User

_ZERO = Decimal(0)


def num(value: Decimal) -> str:
    """A decimal as KuCoin writes it: plain notation, no exponent, no trailing zeros."""
    if not value:
        return "0"
    text = str(value)
    if "E" in text:
        return format(value.normalize(), "f")
    # Called for every amount of every order and balance a bot polls: trimming the
    # string is several times cheaper than normalize() and format().
    return text.rstrip("0").rstrip(".") if "." in text else text


def record_number(record_id: str) -> int:
    """The number inside a twin id (``Twin.next_id``: 8 hex of seconds, 16 of sequence):
    unique and growing, where KuCoin answers with an integer id (HF fills, ``lastId``)."""
    return int(record_id[-16:], 16)


def order_classic(order: Order) -> dict[str, Any]:
    return {
        "id": order.id,
        "symbol": order.symbol,
        "opType": "DEAL",
        "type": order.type,
        "side": order.side,
        "price": num(order.price),
        "size": num(order.size),
        "funds": num(order.funds),
        "dealFunds": num(order.deal_funds),
        "dealSize": num(order.deal_size),
        "fee": num(order.fee),
        "feeCurrency": order.fee_currency,
        "stp": "",
        "stop": order.stop,
        "stopTriggered": order.stop_triggered,
        "stopPrice": num(order.stop_price),
        "timeInForce": order.time_in_force,
        "postOnly": order.post_only,
        "hidden": False,
        "iceberg": False,
        "visibleSize": "0",
        "cancelAfter": 0,
        "channel": "API",
        "clientOid": order.client_oid,
        "remark": order.remark or None,
        "tags": order.tags or None,
        "isActive": order.is_active,
        "cancelExist": order.cancel_exist,
        "createdAt": order.created_at,
        "tradeType": "TRADE",
    }


#: The twin charges no tax; KuCoin shows its tax fields (for users in some regions) as "0".
NO_TAX = "0"


def order_hf(order: Order) -> dict[str, Any]:
    """An HF order as ``/api/v1/hf/orders/{orderId}`` answers (the universal SDK's
    ``GetOrderByOrderIdResp``): ``active`` rather than ``isActive``, ``stp`` null when
    unset, sizes and funds split into remaining and cancelled, ``tax``; no stop fields.

    A limit order's ``funds`` is its price times size; what it has not spent is
    ``remainFunds`` (kept once the order is done, as KuCoin shows it), or
    ``cancelledFunds`` once cancelled. A stop order, which the twin also serves here
    (Freqtrade fetches its stop-loss without a stop flag), keeps ``stop``,
    ``stopTriggered`` and ``stopPrice`` so that a client still sees its trigger.
    """
    unfilled = max(order.size - order.deal_size, _ZERO)
    funds = order.price * order.size if order.type == "limit" else order.funds
    unspent = max(funds - order.deal_funds, _ZERO)
    active, cancelled = order.is_active, order.cancel_exist
    shape: dict[str, Any] = {
        "id": order.id,
        "clientOid": order.client_oid,
        "symbol": order.symbol,
        "opType": "DEAL",
        "type": order.type,
        "side": order.side,
        "price": num(order.price),
        "size": num(order.size),
        "funds": num(funds),
        "dealSize": num(order.deal_size),
        "dealFunds": num(order.deal_funds),
        "remainSize": num(unfilled) if active else "0",
        "remainFunds": "0" if cancelled else num(unspent),
        "cancelledSize": num(unfilled) if cancelled else "0",
        "cancelledFunds": num(unspent) if cancelled else "0",
        "fee": num(order.fee),
        "feeCurrency": order.fee_currency,
        "stp": None,
        "timeInForce": order.time_in_force,
        "postOnly": order.post_only,
        "hidden": False,
        "iceberg": False,
        "visibleSize": "0",
        "cancelAfter": 0,
        "channel": "API",
        "remark": order.remark or None,
        "tags": order.tags or None,
        "cancelExist": cancelled,
        "tradeType": "TRADE",
        "inOrderBook": active and not order.stop,
        "active": active,
        "tax": NO_TAX,
        "createdAt": order.created_at,
        "lastUpdatedAt": order.updated_at,
    }
    if order.stop:
        shape["stop"] = order.stop
        shape["stopTriggered"] = order.stop_triggered
        shape["stopPrice"] = num(order.stop_price)
    return shape


def hf_sync_sizes(order: Order) -> dict[str, str]:
    """The sizes and status of an HF order as the sync calls answer them (place:
    ``AddOrderSyncResp``; cancel: ``CancelOrderByOrderIdSyncResp``)."""
    unfilled = max(order.size - order.deal_size, _ZERO)
    return {
        "originSize": num(order.size),
        "dealSize": num(order.deal_size),
        "remainSize": num(unfilled) if order.is_active else "0",
        "canceledSize": num(unfilled) if order.cancel_exist else "0",
        "status": "open" if order.is_active else "done",
    }


def stop_order(order: Order, spec: SymbolSpec) -> dict[str, Any]:
    """A stop order as ``/api/v1/stop-order`` lists it (status NEW until it triggers)."""
    return {
        "id": order.id,
        "symbol": order.symbol,
        "userId": order.uid,
        "status": "NEW" if order.is_active and not order.stop_triggered else "TRIGGERED",
        "type": order.type,
        "side": order.side,
        "price": num(order.price),
        "size": num(order.size),
        "funds": num(order.funds) if order.funds else None,
        "stp": None,
        "timeInForce": order.time_in_force,
        "cancelAfter": -1,
        "postOnly": order.post_only,
        "hidden": False,
        "iceberg": False,
        "visibleSize": None,
        "channel": "API",
        "clientOid": order.client_oid,
        "remark": order.remark or None,
        "tags": order.tags or None,
        "orderTime": order.created_at * 1_000_000,
        "domainId": "kucoin",
        "tradeSource": "USER",
        "tradeType": "TRADE",
        "feeCurrency": spec.quote,
        "takerFeeRate": num(spec.taker_fee_rate),
        "makerFeeRate": num(spec.maker_fee_rate),
        "createdAt": order.created_at,
        "stop": order.stop,
        "stopTriggerTime": order.updated_at if order.stop_triggered else None,
        "stopPrice": num(order.stop_price),
    }


def fill(record: Fill) -> dict[str, Any]:
    """A fill as ``/api/v1/fills`` lists it: ``tradeId`` a string of digits."""
    return {
        "symbol": record.symbol,
        "tradeId": str(record_number(record.trade_id)),
        "orderId": record.order_id,
        "counterOrderId": record.counter_order_id,
        "side": record.side,
        "liquidity": record.liquidity,
        "forceTaker": False,
        "price": num(record.price),
        "size": num(record.size),
        "funds": num(record.funds),
        "fee": num(record.fee),
        "feeRate": num(record.fee_rate),
        "feeCurrency": record.fee_currency,
        "stop": record.stop,
        "tradeType": "TRADE",
        "type": record.type,
        "createdAt": record.created_at,
    }


def fill_hf(record: Fill) -> dict[str, Any]:
    """A fill as ``/api/v1/hf/fills`` lists it (the universal SDK's ``GetTradeHistoryItems``):
    integer ``id`` (what ``lastId`` pages by) and ``tradeId``, and ``taxRate``/``tax``.
    The twin has no counterparty whose match the trade id could share, so both are the
    fill's own number."""
    number = record_number(record.trade_id)
    return {
        "id": number,
        "orderId": record.order_id,
        "counterOrderId": record.counter_order_id,
        "tradeId": number,
        "symbol": record.symbol,
        "side": record.side,
        "liquidity": record.liquidity,
        "type": record.type,
        "forceTaker": False,
        "price": num(record.price),
        "size": num(record.size),
        "funds": num(record.funds),
        "fee": num(record.fee),
        "feeRate": num(record.fee_rate),
        "feeCurrency": record.fee_currency,
        "stop": record.stop,
        "tradeType": "TRADE",
        "taxRate": NO_TAX,
        "tax": NO_TAX,
        "createdAt": record.created_at,
    }


def ledger_entry_hf(entry: LedgerEntry) -> dict[str, str]:
    """An HF ledger row as ``/api/v1/hf/accounts/ledgers`` lists it (the universal SDK's
    ``GetSpotHFLedgerData``): every field a string, ``id`` and ``createdAt`` included."""
    return {
        "id": str(entry.id),
        "currency": entry.currency,
        "amount": num(entry.amount),
        "fee": num(entry.fee),
        "tax": NO_TAX,
        "balance": num(entry.balance),
        "accountType": "TRADE_HF",
        "bizType": entry.biz_type,
        "direction": entry.direction,
        "createdAt": str(entry.created_at),
        "context": entry.context,
    }


def symbol(spec: SymbolSpec) -> dict[str, Any]:
    return {
        "symbol": spec.symbol,
        "name": spec.symbol,
        "baseCurrency": spec.base,
        "quoteCurrency": spec.quote,
        "feeCurrency": spec.quote,
        "market": spec.quote if spec.quote in ("USDT", "BTC", "USDC", "ETH") else "ALTS",
        "baseMinSize": num(spec.base_min_size),
        "quoteMinSize": num(spec.quote_min_size),
        "baseMaxSize": num(spec.base_max_size),
        "quoteMaxSize": num(spec.quote_max_size),
        "baseIncrement": num(spec.base_increment),
        "quoteIncrement": num(spec.quote_increment),
        "priceIncrement": num(spec.price_increment),
        "priceLimitRate": num(spec.price_limit_rate),
        "minFunds": num(spec.min_funds),
        "isMarginEnabled": False,
        "enableTrading": spec.enable_trading,
        "feeCategory": 1,
        "makerFeeCoefficient": "1.00",
        "takerFeeCoefficient": "1.00",
        "st": False,
        "callauctionIsEnabled": False,
        "callauctionPriceFloor": None,
        "callauctionPriceCeiling": None,
        "callauctionFirstStageStartTime": None,
        "callauctionSecondStageStartTime": None,
        "callauctionThirdStageStartTime": None,
        "tradingStartTime": None,
    }


def currency(code: str, precision: int) -> dict[str, Any]:
    return {
        "currency": code,
        "name": code,
        "fullName": code,
        "precision": precision,
        "confirms": None,
        "contractAddress": None,
        "isMarginEnabled": False,
        "isDebitEnabled": False,
        "chains": [
            {
                "chainName": code,
                "chainId": code.lower(),
                "withdrawalMinSize": "1",
                "depositMinSize": "0.1",
                "withdrawFeeRate": "0",
                "withdrawalMinFee": "0.5",
                "isWithdrawEnabled": True,
                "isDepositEnabled": True,
                "confirms": 1,
                "preConfirms": 1,
                "contractAddress": "",
                "withdrawPrecision": precision,
                "maxWithdraw": None,
                "maxDeposit": None,
                "needTag": False,
                "depositFeeRate": None,
            }
        ],
    }


def api_key(key: ApiKey, user: User) -> dict[str, Any]:
    shape: dict[str, Any] = {
        "remark": key.remark,
        "apiKey": key.api_key,
        "apiVersion": key.version,
        "permission": ",".join(key.permissions),
        "ipWhitelist": ",".join(key.ip_whitelist),
        "createdAt": key.created_at,
        "uid": int(user.uid),
        "isMaster": user.is_master,
    }
    if not user.is_master:
        shape["subName"] = user.name
    return shape
