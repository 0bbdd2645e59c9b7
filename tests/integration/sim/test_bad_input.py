"""Bad requests, signed correctly and sent raw: each earns KuCoin's code, never a 500,
and none of them changes a balance or creates an order."""

from __future__ import annotations

import json
from typing import Any

import pytest
from simkit import Account, Sim

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
    # numbers no order means: each once crashed the increment check with a 500
    "size-1e308": (order_body(size="1e308"), "400100", "size is too large"),
    "size-1e308-as-json-number": (order_body(size=1e308), "400100", "size is too large"),
    "price-1e308": (order_body(price="1e308"), "400100", "price is too large"),
    "size-1e999999999": (order_body(size="1e999999999"), "400100", "size is too large"),
    "size-a-thousand-digits": (order_body(size="1" * 1000), "400100", None),
    "size-absurd-precision": (order_body(size="10." + "0" * 1000 + "1"), "400100", None),
    "size-huge-integer": (order_body(size=10**30), "400100", "size is too large"),
    "size-infinity": (order_body(size="Infinity"), "400100", None),
    "size-nan": (order_body(size="NaN"), "400100", None),
    "price-negative-zero": (order_body(price="-0"), "400100", None),
    "size-a-boolean": (order_body(size=True), "400100", None),
    "size-an-object": (order_body(size={"a": 1}), "400100", None),
    "market-funds-1e308": (
        order_body(type="market", price=None, size=None, funds="1e308"),
        "400100",
        "funds is too large",
    ),
    "market-size-1e308": (order_body(type="market", price=None, size="1e308"), "400100", None),
    "stop-price-1e308": (order_body(stop="loss", stopPrice="1e308"), "400100", None),
    "stop-price-nan": (order_body(stop="loss", stopPrice="nan"), "400100", None),
    "client-oid-too-long": (order_body(clientOid="c" * 41), "400100", None),
    "remark-too-long": (order_body(remark="r" * 21), "400100", None),
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


@pytest.mark.parametrize(
    "stop_price", ["1e308", "-1", "inf", "nan", "1" * 100, "0.5" + "0" * 100], ids=str
)
def test_a_stop_order_with_an_absurd_stop_price_is_a_parameter_error(
    shared_account: Account, stop_price: str
) -> None:
    sim = shared_account.sim
    before = sim.fingerprint()
    response = sim.signed(
        shared_account.key, "POST", "/api/v1/stop-order", body=order_body(stopPrice=stop_price)
    )
    assert response.status_code == 400
    assert response.json()["code"] == "400100"
    assert sim.fingerprint() == before


@pytest.mark.parametrize(
    "amount",
    ["1e308", 1e308, "Infinity", "NaN", "-5", "1" * 100, "1e-999999999", "0.000000001"],
    ids=lambda amount: str(amount)[:20],
)
def test_a_transfer_of_an_absurd_amount_is_a_parameter_error_and_moves_nothing(
    market_sim: Sim, amount: object
) -> None:
    before = market_sim.fingerprint()
    response = market_sim.signed_json(
        "master-admin",
        "POST",
        "/api/v3/accounts/universal-transfer",
        {
            "clientOid": "t1",
            "currency": "USDT",
            "amount": amount,
            "type": "INTERNAL",
            "fromAccountType": "MAIN",
            "toAccountType": "TRADE",
        },
    )
    assert response.status_code < 500
    assert response.json()["code"] in ("400100", "200004"), response.json()
    assert market_sim.fingerprint() == before


ABSURD_ADMIN_NUMBERS = {
    "balance-infinity": ("balances", {"user": "bot1", "currency": "USDT", "amount": "Infinity"}),
    "balance-nan": ("balances", {"user": "bot1", "currency": "USDT", "amount": "NaN"}),
    "balance-1e308": ("balances", {"user": "bot1", "currency": "USDT", "amount": "1e308"}),
    "fee-nan": ("symbols/XRP-USDT/fees", {"taker": "NaN"}),
    "fee-1e308": ("symbols/XRP-USDT/fees", {"maker": "1e308"}),
    "clock-1e308-seconds": ("clock/advance", {"seconds": 1e308}),
    "clock-nan-seconds": ("clock/advance", {"seconds": "nan"}),
    "clock-ten-years": ("clock/advance", {"seconds": 10 * 365 * 86400}),
    "user-unknown-mode": ("users", {"name": "x", "mode": "sideways"}),
    "key-version-1e308": ("keys", {"user": "bot1", "version": 1e308}),
    "fault-latency-30-years": ("faults", {"kind": "latency", "latency_ms": 10**12}),
    "rate-limit-quota-true": ("rate-limit", {"quota": True}),
}


@pytest.mark.parametrize("case", list(ABSURD_ADMIN_NUMBERS), ids=list(ABSURD_ADMIN_NUMBERS))
def test_an_admin_request_with_an_absurd_number_is_a_parameter_error(
    market_sim: Sim, case: str
) -> None:
    path, body = ABSURD_ADMIN_NUMBERS[case]
    method = {"symbols/XRP-USDT/fees": "PUT", "rate-limit": "PUT"}.get(path, "POST")
    before = market_sim.state()
    response = market_sim.http.request(method, f"/sim/v1/{path}", json=body)
    assert response.status_code == 400, response.text
    assert response.json()["code"] == "400100"
    assert market_sim.state() == before


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
