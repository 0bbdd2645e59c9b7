"""Injected faults, rate limits, exchange status and frozen users, as ccxt experiences them."""

from __future__ import annotations

import time
import uuid
from decimal import Decimal

import ccxt
import pytest
from simkit import Sim, Trader

from bulkhead.plumbing import wait_until

SYMBOL = "XRP/USDT"


def resting_price(trader: Trader) -> float:
    bid, _, _ = trader.quote()
    return float((bid * Decimal("0.97")).quantize(Decimal("0.00001")))


# -- injected faults ---------------------------------------------------------------------


def test_an_error500_fault_is_exchange_not_available_and_wears_off_after_its_count(
    sim: Sim,
) -> None:
    exchange = sim.client("bot1-trade")
    sim.admin("POST", "faults", {"kind": "error500", "path_prefix": "/api/v1/accounts", "count": 1})
    with pytest.raises(ccxt.ExchangeNotAvailable, match="500000"):
        exchange.fetch_balance()
    assert exchange.fetch_balance()["USDT"]["total"] == pytest.approx(100)
    assert sim.twin.state.faults == []


def test_a_fault_only_hits_paths_under_its_prefix_until_it_is_cleared(sim: Sim) -> None:
    exchange = sim.client("bot1-trade")
    sim.admin("POST", "faults", {"kind": "error500", "path_prefix": "/api/v1/orders"})
    assert exchange.fetch_balance()["USDT"]["total"] == pytest.approx(100)
    for _ in range(2):  # no count: it stays until cleared
        with pytest.raises(ccxt.ExchangeNotAvailable):
            exchange.fetch_open_orders(SYMBOL)
    assert sim.admin("DELETE", "faults") == {"cleared": 1}
    assert exchange.fetch_open_orders(SYMBOL) == []


def test_a_ratelimit_fault_is_rate_limit_exceeded(sim: Sim) -> None:
    exchange = sim.client("bot1-trade")
    sim.admin("POST", "faults", {"kind": "ratelimit", "path_prefix": "/api/v1/", "count": 1})
    with pytest.raises(ccxt.RateLimitExceeded, match="429000"):
        exchange.fetch_balance()
    assert exchange.fetch_balance()["USDT"]["total"] == pytest.approx(100)


def test_normal_private_responses_carry_the_gw_ratelimit_headers(sim: Sim) -> None:
    exchange = sim.client("bot1-trade")
    exchange.fetch_balance()
    headers = exchange.last_response_headers
    assert int(headers["gw-ratelimit-limit"]) == 4000
    remaining = int(headers["gw-ratelimit-remaining"])
    assert 0 < remaining < 4000
    assert 0 < int(headers["gw-ratelimit-reset"]) <= 30_000
    exchange.fetch_balance()
    assert int(exchange.last_response_headers["gw-ratelimit-remaining"]) < remaining


def test_a_configured_quota_refuses_with_429000_once_spent_and_only_for_that_key(
    sim: Sim,
) -> None:
    sim.admin("PUT", "rate-limit", {"quota": 12})
    sim.add_key("fresh", "bot1")  # a key with an untouched window
    # GET /api/v1/accounts weighs 5: two fit in 12, the third does not
    first = sim.signed("fresh", "GET", "/api/v1/accounts")
    second = sim.signed("fresh", "GET", "/api/v1/accounts")
    third = sim.signed("fresh", "GET", "/api/v1/accounts")
    assert first.json()["code"] == second.json()["code"] == "200000"
    assert first.headers["gw-ratelimit-limit"] == "12"
    assert first.headers["gw-ratelimit-remaining"] == "7"
    assert second.headers["gw-ratelimit-remaining"] == "2"
    assert third.status_code == 429
    assert third.json()["code"] == "429000"
    assert third.headers["gw-ratelimit-remaining"] == "2"
    assert int(third.headers["gw-ratelimit-reset"]) > 0

    with pytest.raises(ccxt.RateLimitExceeded):
        sim.client("fresh", load=False).privateGetAccounts()
    # another key has its own window
    assert sim.signed("bot1-trade", "GET", "/api/v1/accounts").json()["code"] == "200000"
    # lifting the quota lets the spent key through again
    sim.admin("PUT", "rate-limit", {"quota": None})
    assert sim.signed("fresh", "GET", "/api/v1/accounts").json()["code"] == "200000"


def test_a_latency_fault_delays_the_answer_by_at_least_its_latency(sim: Sim) -> None:
    exchange = sim.client("bot1-trade")
    sim.admin(
        "POST",
        "faults",
        {"kind": "latency", "path_prefix": "/api/v1/timestamp", "latency_ms": 300, "count": 1},
    )
    started = time.monotonic()
    assert exchange.fetch_time() > 0
    assert time.monotonic() - started >= 0.3


def test_a_dropped_order_answer_times_out_but_the_order_was_placed_and_is_found_by_client_oid(
    trader: Trader,
) -> None:
    sim, exchange = trader.sim, trader.exchange
    prefix = "/api/v1/hf/orders" if trader.hf else "/api/v1/orders"
    sim.admin("POST", "faults", {"kind": "drop", "path_prefix": prefix, "count": 1, "hold_s": 3})
    client_oid = f"ft-{uuid.uuid4().hex}"
    price = resting_price(trader)
    exchange.timeout = 500  # ms
    with pytest.raises(ccxt.RequestTimeout):
        exchange.create_order(SYMBOL, "limit", "buy", 10, price, {"clientOid": client_oid})
    exchange.timeout = 10_000

    placed = wait_until(
        lambda: [o for o in sim.twin.state.orders.values() if o.client_oid == client_oid],
        10,
        what="the order to reach the twin",
    )
    assert len(placed) == 1
    found = exchange.fetch_order(None, SYMBOL, {"clientOid": client_oid})
    assert found["id"] == placed[0].id
    assert found["status"] == "open"
    assert found["price"] == pytest.approx(price)
    # a retry with the same clientOid is refused instead of doubling the position
    with pytest.raises(ccxt.InvalidOrder):
        exchange.create_order(SYMBOL, "limit", "buy", 10, price, {"clientOid": client_oid})
    assert [o["id"] for o in exchange.fetch_open_orders(SYMBOL)] == [placed[0].id]


# -- exchange status ---------------------------------------------------------------------


def test_a_closed_exchange_refuses_new_orders_and_cancels(trader: Trader) -> None:
    sim, exchange = trader.sim, trader.exchange
    resting = exchange.create_order(SYMBOL, "limit", "buy", 10, resting_price(trader))
    sim.admin("PUT", "status", {"status": "close"})
    assert exchange.fetch_status()["status"] == "maintenance"
    before = sim.fingerprint()
    with pytest.raises(ccxt.InvalidOrder, match="400200"):
        exchange.create_order(SYMBOL, "market", "buy", 10)
    with pytest.raises(ccxt.InvalidOrder, match="400200"):
        exchange.cancel_order(resting["id"], SYMBOL)
    assert sim.fingerprint() == before
    assert exchange.fetch_order(resting["id"], SYMBOL)["status"] == "open"


def test_a_cancel_only_exchange_refuses_new_orders_but_lets_orders_be_cancelled(
    trader: Trader,
) -> None:
    sim, exchange = trader.sim, trader.exchange
    resting = exchange.create_order(SYMBOL, "limit", "buy", 10, resting_price(trader))
    sim.admin("PUT", "status", {"status": "cancelonly"})
    status = exchange.fetch_status()
    assert status["status"] == "maintenance"
    assert status["info"]["data"]["status"] == "cancelonly"
    with pytest.raises(ccxt.InvalidOrder, match="400200"):
        exchange.create_order(SYMBOL, "limit", "buy", 10, resting_price(trader))
    exchange.cancel_order(resting["id"], SYMBOL)
    assert exchange.fetch_order(resting["id"], SYMBOL)["status"] == "canceled"
    assert exchange.fetch_balance()["USDT"]["used"] == pytest.approx(0)
    sim.admin("PUT", "status", {"status": "open"})
    assert exchange.fetch_status()["status"] == "ok"
    assert exchange.create_order(SYMBOL, "market", "buy", 10)["id"]


# -- frozen users ------------------------------------------------------------------------


def test_a_frozen_user_is_account_suspended_until_unfrozen(sim: Sim) -> None:
    exchange = sim.client("bot1-trade")
    sim.admin("PATCH", "users/bot1", {"frozen": True})
    with pytest.raises(ccxt.AccountSuspended, match="411100"):
        exchange.fetch_balance()
    with pytest.raises(ccxt.AccountSuspended):
        exchange.create_order(SYMBOL, "market", "buy", 10)
    assert [r.code for r in sim.twin.state.auth_refusals] == ["411100", "411100"]
    assert sim.twin.state.orders == {}
    # the master is not frozen along with its sub-account
    assert sim.client("master-admin").fetch_balance({"type": "main"})["USDT"]["total"] == 10_000
    sim.admin("PATCH", "users/bot1", {"frozen": False})
    assert exchange.fetch_balance()["USDT"]["total"] == pytest.approx(100)
