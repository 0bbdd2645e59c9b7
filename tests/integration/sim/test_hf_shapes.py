"""HF orders, fills, sync cancels and tax fields in KuCoin's shapes, not only ccxt's subset.

Other clients than ccxt trade against KuCoin too, and read fields ccxt ignores. The key
sets below are KuCoin's (docs-new, Spot Trading > Orders; the universal SDK's
``GetOrderByOrderIdResp``, ``GetTradeHistoryItems``, ``CancelOrderByOrderIdSyncResp``,
``CancelOrderByClientOidSyncResp`` and ``GetSpotActualFeeData``).
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import ccxt
import pytest
from simkit import Account, Sim, account

SYMBOL = "XRP/USDT"
MARKET_ID = "XRP-USDT"
HF_ORDER_KEYS = {
    "id", "clientOid", "symbol", "opType", "type", "side", "price", "size", "funds",
    "dealSize", "dealFunds", "remainSize", "remainFunds", "cancelledSize", "cancelledFunds",
    "fee", "feeCurrency", "stp", "timeInForce", "postOnly", "hidden", "iceberg",
    "visibleSize", "cancelAfter", "channel", "remark", "tags", "cancelExist", "tradeType",
    "inOrderBook", "active", "tax", "createdAt", "lastUpdatedAt",
}  # fmt: skip
HF_FILL_KEYS = {
    "id", "orderId", "counterOrderId", "tradeId", "symbol", "side", "liquidity", "type",
    "forceTaker", "price", "size", "funds", "fee", "feeRate", "feeCurrency", "stop",
    "tradeType", "taxRate", "tax", "createdAt",
}  # fmt: skip
SYNC_CANCEL_KEYS = {"originSize", "dealSize", "remainSize", "canceledSize", "status"}


@pytest.fixture
def hf(sim: Sim) -> Account:
    return account(sim, "hf")


def data(response: Any) -> Any:
    payload = response.json()
    assert payload["code"] == "200000", payload
    return payload["data"]


def get(acct: Account, path: str, query: str = f"symbol={MARKET_ID}") -> Any:
    return data(acct.sim.signed(acct.key, "GET", path, query=query))


def place(acct: Account, body: dict[str, Any]) -> str:
    order = data(acct.sim.signed_json(acct.key, "POST", "/api/v1/hf/orders", body))
    return str(order["orderId"])


def resting_price(acct: Account) -> str:
    return str((acct.quote()[0] * Decimal("0.9")).quantize(Decimal("0.00001")))


def rest(acct: Account, size: str = "10", client_oid: str | None = None) -> str:
    body = {"symbol": MARKET_ID, "side": "buy", "type": "limit", "price": resting_price(acct)}
    body["size"] = size
    if client_oid:
        body["clientOid"] = client_oid
    return place(acct, body)


def market_buy(acct: Account, size: str = "10") -> str:
    return place(acct, {"symbol": MARKET_ID, "side": "buy", "type": "market", "size": size})


# -- HF orders ----------------------------------------------------------------------------


def test_an_open_hf_order_has_kucoins_keys_with_stp_null_and_its_funds_unspent(
    hf: Account,
) -> None:
    order_id = rest(hf)
    order = get(hf, f"/api/v1/hf/orders/{order_id}")
    assert set(order) == HF_ORDER_KEYS
    assert order["stp"] is None
    assert order["tax"] == "0"
    assert order["active"] is True
    assert order["inOrderBook"] is True
    funds = Decimal(order["price"]) * 10
    assert Decimal(order["funds"]) == funds
    assert (order["remainSize"], Decimal(order["remainFunds"])) == ("10", funds)
    assert (order["cancelledSize"], order["cancelledFunds"]) == ("0", "0")
    assert get(hf, "/api/v1/hf/orders/active") == [order]


def test_a_cancelled_hf_order_moves_its_remainder_to_the_cancelled_sizes(hf: Account) -> None:
    order_id = rest(hf)
    data(
        hf.sim.signed(
            hf.key, "DELETE", f"/api/v1/hf/orders/{order_id}", query=f"symbol={MARKET_ID}"
        )
    )
    order = get(hf, f"/api/v1/hf/orders/{order_id}")
    assert set(order) == HF_ORDER_KEYS
    assert (order["active"], order["cancelExist"], order["inOrderBook"]) == (False, True, False)
    assert (order["remainSize"], order["remainFunds"]) == ("0", "0")
    assert order["cancelledSize"] == "10"
    assert Decimal(order["cancelledFunds"]) == Decimal(order["funds"])


def test_a_filled_hf_order_and_the_done_list_have_kucoins_keys(hf: Account) -> None:
    order_id = market_buy(hf)
    order = get(hf, f"/api/v1/hf/orders/{order_id}")
    assert set(order) == HF_ORDER_KEYS
    assert order["stp"] is None
    assert (order["dealSize"], order["remainSize"], order["cancelledSize"]) == ("10", "0", "0")
    done = get(hf, "/api/v1/hf/orders/done")
    assert done["items"] == [order]
    assert isinstance(done["lastId"], int)
    by_client_oid = get(hf, f"/api/v1/hf/orders/client-order/{order['clientOid']}")
    assert by_client_oid == order


def test_an_hf_stop_order_fetched_as_an_order_also_shows_its_trigger(hf: Account) -> None:
    market_buy(hf, "20")
    stop_price = str((hf.quote()[0] * Decimal("0.9")).quantize(Decimal("0.00001")))
    body = {"symbol": MARKET_ID, "side": "sell", "type": "market", "size": "20"}
    stop = data(
        hf.sim.signed_json(
            hf.key, "POST", "/api/v1/stop-order", {**body, "stop": "loss", "stopPrice": stop_price}
        )
    )
    order = get(hf, f"/api/v1/hf/orders/{stop['orderId']}")
    assert set(order) == HF_ORDER_KEYS | {"stop", "stopTriggered", "stopPrice"}
    assert (order["stop"], order["stopTriggered"]) == ("loss", False)
    assert Decimal(order["stopPrice"]) == Decimal(stop_price)
    assert order["inOrderBook"] is False


def test_a_classic_order_keeps_kucoins_classic_shape(sim: Sim) -> None:
    classic = account(sim, "classic")
    order_id = data(
        sim.signed_json(
            classic.key,
            "POST",
            "/api/v1/orders",
            {"symbol": MARKET_ID, "side": "buy", "type": "market", "size": "10"},
        )
    )["orderId"]
    order = data(sim.signed(classic.key, "GET", f"/api/v1/orders/{order_id}"))
    assert order["stp"] == ""  # classic orders say "" where HF ones say null
    assert order["isActive"] is False
    assert "active" not in order
    assert "tax" not in order


# -- HF fills -----------------------------------------------------------------------------


def test_hf_fills_have_integer_ids_tax_fields_and_page_backwards_by_last_id(
    hf: Account,
) -> None:
    placed = [market_buy(hf, "10") for _ in range(3)]
    page = get(hf, "/api/v1/hf/fills", f"symbol={MARKET_ID}&limit=2")
    items = page["items"]
    assert [fill["orderId"] for fill in items] == placed[:0:-1]  # newest first
    for fill in items:
        assert set(fill) == HF_FILL_KEYS
        assert type(fill["id"]) is int
        assert type(fill["tradeId"]) is int
        assert (fill["taxRate"], fill["tax"]) == ("0", "0")
    assert page["lastId"] == items[-1]["id"]
    older = get(hf, "/api/v1/hf/fills", f"symbol={MARKET_ID}&limit=2&lastId={page['lastId']}")
    assert [fill["orderId"] for fill in older["items"]] == placed[:1]
    assert older["items"][0]["id"] < page["lastId"]


def test_ccxt_reads_the_integer_trade_ids_of_hf_fills(hf: Account) -> None:
    exchange = hf.sim.client(hf.key)
    placed = exchange.create_order(SYMBOL, "market", "buy", 10)
    [trade] = exchange.fetch_my_trades(SYMBOL)
    assert trade["order"] == placed["id"]
    assert trade["id"] == str(trade["info"]["tradeId"])
    assert trade["id"].isdigit()


def test_classic_fills_carry_kucoins_digit_string_trade_id(sim: Sim) -> None:
    classic = account(sim, "classic")
    exchange = sim.client(classic.key)
    exchange.create_order(SYMBOL, "market", "buy", 10)
    [fill] = data(sim.signed(classic.key, "GET", "/api/v1/fills", query=f"symbol={MARKET_ID}"))[
        "items"
    ]
    assert isinstance(fill["tradeId"], str)
    assert fill["tradeId"].isdigit()


# -- sync cancel --------------------------------------------------------------------------


def test_the_sync_cancel_answers_with_the_sizes_and_status_once_cancelled(hf: Account) -> None:
    order_id = rest(hf)
    held = hf.balance("USDT")[1]
    assert held > 0
    path = f"/api/v1/hf/orders/sync/{order_id}"
    answer = data(hf.sim.signed(hf.key, "DELETE", path, query=f"symbol={MARKET_ID}"))
    assert answer == {
        "orderId": order_id,
        "originSize": "10",
        "dealSize": "0",
        "remainSize": "0",
        "canceledSize": "10",
        "status": "done",
    }
    assert hf.balance("USDT")[1] == 0
    again = hf.sim.signed(hf.key, "DELETE", path, query=f"symbol={MARKET_ID}").json()
    assert again == {"code": "400100", "msg": "order_not_exist_or_not_allow_to_cancel"}


def test_the_sync_cancel_by_client_oid_answers_the_same_way(hf: Account) -> None:
    rest(hf, "12", client_oid="sync-1")
    path = "/api/v1/hf/orders/sync/client-order/sync-1"
    answer = data(hf.sim.signed(hf.key, "DELETE", path, query=f"symbol={MARKET_ID}"))
    assert answer == {"clientOid": "sync-1"} | {
        "originSize": "12",
        "dealSize": "0",
        "remainSize": "0",
        "canceledSize": "12",
        "status": "done",
    }
    assert set(answer) == SYNC_CANCEL_KEYS | {"clientOid"}
    assert get(hf, "/api/v1/hf/orders/client-order/sync-1")["cancelExist"] is True


def test_the_sync_cancel_needs_the_symbol(hf: Account) -> None:
    order_id = rest(hf)
    answer = hf.sim.signed(hf.key, "DELETE", f"/api/v1/hf/orders/sync/{order_id}").json()
    assert answer["code"] == "400100"
    assert get(hf, f"/api/v1/hf/orders/{order_id}")["active"] is True


@pytest.mark.parametrize("by", ["id", "clientOrderId"])
def test_ccxt_cancels_through_the_sync_endpoints(hf: Account, by: str) -> None:
    exchange = hf.sim.client(hf.key)
    placed = exchange.create_order(SYMBOL, "limit", "buy", 10, float(resting_price(hf)))
    if by == "id":
        exchange.cancel_order(placed["id"], SYMBOL, {"sync": True})
    else:
        exchange.cancel_order(
            None, SYMBOL, {"sync": True, "clientOrderId": placed["clientOrderId"]}
        )
    assert exchange.fetch_order(placed["id"], SYMBOL)["status"] == "canceled"
    with pytest.raises(ccxt.OrderNotFound):
        exchange.cancel_order(placed["id"], SYMBOL, {"sync": True})


# -- fees ---------------------------------------------------------------------------------


def test_trade_fees_carry_kucoins_tax_rates(hf: Account) -> None:
    [fees] = get(hf, "/api/v1/trade-fees", f"symbols={MARKET_ID}")
    assert fees == {
        "symbol": MARKET_ID,
        "takerFeeRate": "0.001",
        "makerFeeRate": "0.001",
        "sellTaxRate": "0",
        "buyTaxRate": "0",
    }
