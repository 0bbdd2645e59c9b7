"""Render the twin's records in KuCoin's JSON shapes (strings for numbers, as KuCoin sends).

Kept apart from the handlers so that every endpoint returning an order or a fill uses
the same rendering, and a parser fix lands once.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from bulkhead.sim.models import ApiKey, Fill, Order, SymbolSpec, User


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


def order_hf(order: Order) -> dict[str, Any]:
    remaining = Decimal(0) if not order.is_active else order.size - order.deal_size
    cancelled = order.size - order.deal_size if order.cancel_exist else Decimal(0)
    shape = order_classic(order)
    del shape["isActive"]
    shape.update(
        {
            "active": order.is_active,
            "inOrderBook": order.is_active and not order.stop,
            "remainSize": num(remaining),
            "remainFunds": "0",
            "cancelledSize": num(cancelled),
            "cancelledFunds": "0",
            "lastUpdatedAt": order.updated_at,
        }
    )
    return shape


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
    return {
        "symbol": record.symbol,
        "tradeId": record.trade_id,
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
