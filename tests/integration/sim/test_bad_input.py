"""Bad requests, signed correctly and sent raw: each earns KuCoin's code, never a 500,
and none of them changes a balance or creates an order."""

from __future__ import annotations

import json
from typing import Any

import pytest
from simkit import Account

ORDER = {"symbol": "XRP-USDT", "side": "buy", "type": "limit", "price": "0.5", "size": "10"}
UNKNOWN_ID = "5c35c02703aa673ceec2a168"


def place_path(owner: Account) -> str:
    return "/api/v1/hf/orders" if owner.hf else "/api/v1/orders"


def order_body(**changes: Any) -> str:
    body = {"clientOid": "bad-order", **ORDER, **changes}
    return json.dumps({k: v for k, v in body.items() if v is not None}, separators=(",", ":"))


BAD_ORDERS = {
    "malformed-json": ('{"symbol":"XRP-USDT","side":', "400100", None),
    "json-array": ("[1,2,3]", "400100", None),
    "unknown-symbol": (order_body(symbol="NOPE-USDT"), "400600", None),
    "missing-symbol": (order_body(symbol=None), "400100", None),
    "size-off-increment": (order_body(size="10.00005"), "400100", "Order size increment invalid."),
    "size-under-minimum": (
        order_body(size="0.01"),
        "400100",
        "Order size below the minimum requirement.",
    ),
    "price-off-increment": (order_body(price="0.500001"), "400100", "Price increment invalid."),
    "size-not-a-number": (order_body(size="ten"), "400100", None),
    "negative-size": (order_body(size="-10"), "400100", None),
    "negative-price": (order_body(price="-1"), "400100", None),
    "bad-side": (order_body(side="hold"), "400100", None),
    "bad-type": (order_body(type="iceberg"), "400100", None),
    "bad-time-in-force": (order_body(timeInForce="DAY"), "400100", None),
    "market-without-size-or-funds": (
        order_body(type="market", price=None, size=None),
        "400100",
        None,
    ),
    "market-sell-by-funds": (
        order_body(type="market", side="sell", price=None, size=None, funds="5"),
        "400100",
        None,
    ),
    "stop-loss-without-stop-price": (order_body(stop="loss"), "400100", None),
}


@pytest.mark.parametrize("case", list(BAD_ORDERS), ids=list(BAD_ORDERS))
def test_a_bad_order_gets_its_kucoin_code_and_changes_nothing(
    shared_account: Account, case: str
) -> None:
    body, code, msg = BAD_ORDERS[case]
    sim = shared_account.sim
    before = sim.fingerprint()
    response = sim.signed(shared_account.key, "POST", place_path(shared_account), body=body)
    payload = response.json()
    assert response.status_code < 500, payload
    assert payload["code"] == code, payload
    if msg is not None:
        assert payload["msg"] == msg
    assert "data" not in payload
    assert sim.fingerprint() == before


def test_an_order_beyond_the_balance_is_insufficient_and_changes_nothing(
    shared_account: Account,
) -> None:
    sim = shared_account.sim
    before = sim.fingerprint()
    response = sim.signed(
        shared_account.key, "POST", place_path(shared_account), body=order_body(size="1000")
    )
    assert response.json()["code"] == ("126013" if shared_account.hf else "200004")
    assert sim.fingerprint() == before


def test_a_stop_order_without_a_stop_price_is_refused(shared_account: Account) -> None:
    sim = shared_account.sim
    before = sim.fingerprint()
    response = sim.signed(
        shared_account.key, "POST", "/api/v1/stop-order", body=order_body(stop="loss")
    )
    assert response.json()["code"] == "400100"
    assert sim.fingerprint() == before


@pytest.mark.parametrize("method", ["GET", "DELETE"])
def test_an_unknown_order_id_is_order_not_exist_or_not_allow_to_cancel(
    shared_account: Account, method: str
) -> None:
    sim = shared_account.sim
    before = sim.fingerprint()
    query = "symbol=XRP-USDT" if shared_account.hf else ""
    response = sim.signed(
        shared_account.key, method, f"{place_path(shared_account)}/{UNKNOWN_ID}", query=query
    )
    payload = response.json()
    assert response.status_code < 500
    assert payload == {"code": "400100", "msg": "order_not_exist_or_not_allow_to_cancel"}
    assert sim.fingerprint() == before


def test_an_hf_order_lookup_without_a_symbol_is_a_parameter_error(shared_account: Account) -> None:
    response = shared_account.sim.signed(
        shared_account.key, "GET", f"/api/v1/hf/orders/{UNKNOWN_ID}"
    )
    assert response.status_code < 500
    assert response.json()["code"] == "400100"


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/api/v1/no-such-endpoint"),
        ("POST", "/api/v1/orders/5c35c02703aa673ceec2a168"),
        ("GET", "/api/v9/accounts"),
        ("PUT", "/api/v1/orders"),
    ],
)
def test_an_unknown_url_is_404000_signed_or_not(
    shared_account: Account, method: str, path: str
) -> None:
    sim = shared_account.sim
    before = sim.fingerprint()
    signed = sim.signed(shared_account.key, method, path, body="{}" if method != "GET" else None)
    unsigned = sim.http.request(method, path)
    for response in (signed, unsigned):
        assert response.status_code == 404
        assert response.json()["code"] == "404000"
    assert sim.fingerprint() == before


def test_a_bad_query_value_is_a_parameter_error_not_a_crash(shared_account: Account) -> None:
    sim = shared_account.sim
    for path, query in [
        ("/api/v1/accounts", "type=savings"),
        ("/api/v1/orders", "status=active&pageSize=many"),
        ("/api/v1/fills", "startAt=yesterday"),
        ("/api/v1/trade-fees", "symbols="),
    ]:
        response = sim.signed(shared_account.key, "GET", path, query=query)
        assert response.status_code < 500, path
        assert response.json()["code"] == "400100", (path, response.json())


def test_bad_market_data_queries_are_parameter_errors_not_crashes(shared_account: Account) -> None:
    http = shared_account.sim.http
    for path, params, code in [
        ("/api/v1/market/candles", {"symbol": "XRP-USDT", "type": "7min"}, "400100"),
        ("/api/v1/market/candles", {"symbol": "NOPE-USDT", "type": "1min"}, "400600"),
        ("/api/v1/market/candles", {"type": "1min"}, "400100"),
        (
            "/api/v1/market/candles",
            {"symbol": "XRP-USDT", "type": "1min", "startAt": "x"},
            "400100",
        ),
        ("/api/v1/market/orderbook/level2_20", {"symbol": "NOPE-USDT"}, "400600"),
        ("/api/v1/market/stats", {}, "400100"),
    ]:
        response = http.get(path, params=params)
        assert response.status_code < 500, (path, params)
        assert response.json()["code"] == code, (path, params, response.json())
