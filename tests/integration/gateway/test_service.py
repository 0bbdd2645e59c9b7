"""The order gateway between a real ccxt client and a real twin: custody, allowlist, re-signing.

Each test runs the example twin (``examples/sim.yaml``: sub-account bot1 with 100 USDT and
its trade-only key) on real HTTP, a gateway on real HTTP in front of it holding bot1's real
key (resolved from the spec's env references), and a real ``ccxt.kucoin`` that holds only
bot1's gateway credential.
"""

from __future__ import annotations

import json
import logging
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import ccxt
import httpx
import pytest

from bulkhead.config.models import Bot
from bulkhead.gateway.app import GatewayApp
from bulkhead.gateway.client import ccxt_config
from bulkhead.gateway.custody import GatewayCredential, credential_path, custody_for
from bulkhead.gateway.server import GatewayServer
from bulkhead.gateway.upstream import Answer, Upstream
from bulkhead.kucoin import ccxt_overrides, envelope
from bulkhead.kucoin.http import Request
from bulkhead.kucoin.signing import signed_headers
from bulkhead.plumbing import wait_until
from bulkhead.sim.engine import Twin
from bulkhead.sim.server import TwinServer, prepare

EXAMPLE = Path(__file__).resolve().parents[3] / "examples" / "sim.yaml"


def bot1() -> Bot:
    return Bot.model_validate(
        {
            "name": "bot1",
            "subaccount": "bot1",
            "credentials": {
                "api_key": {"env": "BOT1_KEY"},
                "secret": {"env": "BOT1_SECRET"},
                "passphrase": {"env": "BOT1_PASS"},
            },
            "budget": {"amount": 100, "currency": "USDT"},
            "pairs": ["XRP/USDT"],
            "strategy": {"name": "TwinScalper"},
        }
    )


@dataclass
class Stack:
    twin: Twin
    twin_url: str
    gateway: GatewayApp
    url: str
    credential: GatewayCredential
    real: dict[str, Any]

    def client(self, **config: Any) -> ccxt.kucoin:
        """A real ccxt client holding bot1's gateway credential, pointed at the gateway."""
        exchange = ccxt.kucoin(
            {
                **ccxt_config(self.url),
                "apiKey": self.credential.api_key,
                "secret": self.credential.secret,
                "password": self.credential.passphrase,
                "timeout": 10_000,
                **config,
            }
        )
        return exchange

    def real_secrets(self) -> list[str]:
        return [self.real["apiKey"], self.real["secret"], self.real["passphrase"]]


def _gateway(
    tmp_path: Path, upstream_url: str, real: dict[str, Any]
) -> tuple[GatewayApp, GatewayCredential]:
    environ = {
        "BOT1_KEY": real["apiKey"],
        "BOT1_SECRET": real["secret"],
        "BOT1_PASS": real["passphrase"],
    }
    custody = custody_for([bot1()], tmp_path / "gateway", environ=environ)
    (credential,) = custody.credentials.values()
    return GatewayApp(custody, Upstream(upstream_url, read_timeout_s=2.0)), credential


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[Stack]:
    prepared = prepare(EXAMPLE, credentials_out=tmp_path / "creds.json")
    real = next(dict(c) for c in prepared.credentials if c["name"] == "bot1-trade")
    with TwinServer(prepared.twin) as twin_server:
        app, credential = _gateway(tmp_path, twin_server.url, real)
        with GatewayServer(app) as gateway:
            yield Stack(prepared.twin, twin_server.url, app, gateway.url, credential, real)


def test_the_gateway_credential_is_kept_owner_only_and_reused(stack: Stack, tmp_path: Path):
    path = credential_path(tmp_path / "gateway", "bot1")
    assert path.stat().st_mode & 0o777 == 0o600
    _, credential = _gateway(tmp_path, stack.twin_url, stack.real)
    assert credential == stack.credential
    assert credential.secret not in stack.real_secrets()
    assert credential.api_key != stack.real["apiKey"]


def test_a_bot_trades_on_the_twin_through_the_gateway_as_its_real_key(stack: Stack):
    exchange = stack.client()
    markets = exchange.load_markets()
    assert "XRP/USDT" in markets
    assert exchange.fetch_balance()["USDT"]["free"] == pytest.approx(100)
    bid = Decimal(str(exchange.fetch_ticker("XRP/USDT")["bid"]))
    order = exchange.create_order("XRP/USDT", "limit", "buy", 10, float(bid * Decimal("0.8")))
    assert exchange.fetch_order(order["id"], "XRP/USDT")["status"] == "open"
    exchange.cancel_order(order["id"], "XRP/USDT")
    assert exchange.fetch_order(order["id"], "XRP/USDT")["status"] == "canceled"
    held = stack.twin.state.orders[order["id"]]
    assert held.uid == stack.twin.user_by_name("bot1").uid
    assert stack.twin.state.auth_refusals == []


#: (what ccxt is asked, how it is called): each must be refused by the gateway
FORBIDDEN = {
    "transfer": lambda x: x.transfer("USDT", 10, "trade", "main"),
    "withdraw": lambda x: x.withdraw("USDT", 10, "TQrZ9wBzwHnUGbWGDpPa7dyA7ZtxTkrYmQ"),
    "inner-transfer": lambda x: x.private_post_accounts_inner_transfer(
        {"clientOid": "t1", "currency": "USDT", "amount": "1", "from": "trade", "to": "main"}
    ),
    "sub-transfer": lambda x: x.private_post_accounts_sub_transfer(
        {"clientOid": "t2", "currency": "USDT", "amount": "1", "direction": "OUT"}
    ),
    "sub-account": lambda x: x.private_post_sub_user_created(
        {"subName": "evil", "password": "Passw0rd!", "access": "Spot"}
    ),
    "sub-account key": lambda x: x.private_post_sub_api_key(
        {"subName": "bot1", "passphrase": "evil-pass", "remark": "evil", "permission": "Spot"}
    ),
    "margin": lambda x: x.borrow_cross_margin("USDT", 10),
    "futures": lambda x: x.fetch_positions(),
    "futures order": lambda x: x.futuresPrivatePostOrders(
        {"clientOid": "f1", "side": "buy", "symbol": "XBTUSDTM", "leverage": 100, "size": 1}
    ),
    "earn": lambda x: x.earn_post_earn_orders({"productId": "1", "amount": "10"}),
    "deposit address": lambda x: x.fetch_deposit_address("USDT"),
}


@pytest.mark.parametrize("call", FORBIDDEN)
def test_calls_that_move_funds_or_leave_spot_are_refused_and_never_reach_the_twin(
    stack: Stack, call: str
):
    exchange = stack.client()
    exchange.load_markets()
    twin = stack.twin
    users = set(twin.state.users)
    with pytest.raises(ccxt.AuthenticationError, match="400007"):
        FORBIDDEN[call](exchange)
    assert twin.state.movements == []
    assert twin.state.auth_refusals == []
    assert set(twin.state.users) == users
    (refusal,) = stack.gateway.refusals
    assert (refusal.bot, refusal.code, refusal.reason) == ("bot1", "400007", "NOT_ALLOWLISTED")


def test_a_request_signed_with_a_wrong_secret_is_refused_and_not_forwarded(stack: Stack):
    exchange = stack.client(secret="00000000-0000-4000-8000-000000000000")
    with pytest.raises(ccxt.AuthenticationError, match="400005"):
        exchange.fetch_balance()
    assert stack.twin.state.auth_refusals == []
    (refusal,) = stack.gateway.refusals
    assert (refusal.bot, refusal.code) == (None, "400005")


@pytest.mark.parametrize(
    ("change", "code"),
    [
        ({"api_key": "unknown-key-000000000000"}, "400003"),
        ({"passphrase": "not the passphrase"}, "400004"),
        ({"timestamp_ms": time.time_ns() // 1_000_000 - 60_000}, "400002"),
    ],
    ids=["key", "passphrase", "timestamp"],
)
def test_a_gateway_credential_is_checked_exactly_as_kucoin_checks_a_key(
    stack: Stack, change: dict[str, Any], code: str
):
    signing = {
        "api_key": stack.credential.api_key,
        "secret": stack.credential.secret,
        "passphrase": stack.credential.passphrase,
        "timestamp_ms": time.time_ns() // 1_000_000,
        **change,
    }
    headers = signed_headers(
        signing["api_key"],
        signing["secret"],
        signing["passphrase"],
        "GET",
        b"/api/v1/accounts",
        b"",
        signing["timestamp_ms"],
    )
    response = httpx.get(f"{stack.url}/api/v1/accounts", headers=headers, timeout=10)
    assert response.json()["code"] == code
    assert stack.twin.state.auth_refusals == []


def test_an_unsigned_private_call_is_refused_before_anything_is_forwarded(stack: Stack):
    response = httpx.get(f"{stack.url}/api/v1/accounts", timeout=10)
    assert response.json() == {
        "code": "400001",
        "msg": "Please check the header of your request for KC-API-KEY",
    }
    response = httpx.post(f"{stack.url}/api/v1/withdrawals", json={}, timeout=10)
    assert response.json()["code"] == "400007"
    assert stack.twin.state.auth_refusals == []
    assert stack.twin.state.movements == []


def test_public_market_data_passes_unsigned(stack: Stack):
    exchange = ccxt.kucoin({**ccxt_overrides(stack.url), "timeout": 10_000})
    assert exchange.fetch_ohlcv("XRP/USDT", "5m", limit=5)
    assert exchange.fetch_time() > 0


class _GarbageUpstream:
    """A TCP server that answers every request with the same bytes, or hangs up."""

    def __init__(self, answer: bytes) -> None:
        self.answer = answer
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}"
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            with conn:
                conn.recv(65536)
                if self.answer:
                    conn.sendall(self.answer)

    def close(self) -> None:
        self.sock.close()


@pytest.mark.parametrize(
    ("answer", "status"),
    [
        (
            b"HTTP/1.1 502 Bad Gateway\r\ncontent-type: text/html\r\ncontent-length: 25\r\n"
            b"connection: close\r\n\r\n<html>bad gateway</html>\n",
            502,
        ),
        (
            b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 9\r\n"
            b"connection: close\r\n\r\n[1, 2, 3]",
            502,
        ),
        (b"", 502),
        (b"not http at all\r\n\r\n", 502),
    ],
    ids=["html page", "json without envelope", "hang-up", "not http"],
)
def test_an_upstream_answering_garbage_becomes_a_kucoin_error(
    tmp_path: Path, answer: bytes, status: int
):
    upstream = _GarbageUpstream(answer)
    real = {"apiKey": "real-key-0001", "secret": "real-secret-0001", "passphrase": "real-pass"}
    try:
        app, credential = _gateway(tmp_path, upstream.url, real)
        with GatewayServer(app) as gateway:
            response = httpx.get(f"{gateway.url}/api/v1/timestamp", timeout=10)
            assert response.status_code == status
            payload = response.json()
            assert set(payload) == {"code", "msg"}
            assert payload["code"] == "500000"
            exchange = ccxt.kucoin(
                {
                    **ccxt_config(gateway.url),
                    "apiKey": credential.api_key,
                    "secret": credential.secret,
                    "password": credential.passphrase,
                }
            )
            with pytest.raises(ccxt.ExchangeNotAvailable):
                exchange.fetch_balance()
    finally:
        upstream.close()


def test_no_real_secret_ever_appears_in_the_gateways_logs(
    stack: Stack, caplog: pytest.LogCaptureFixture
):
    caplog.set_level(logging.DEBUG)
    exchange = stack.client()
    exchange.load_markets()
    exchange.fetch_balance()
    order = exchange.create_order("XRP/USDT", "limit", "buy", 10, 0.1)
    exchange.cancel_order(order["id"], "XRP/USDT")
    for call in ("transfer", "withdraw", "sub-account key"):
        with pytest.raises(ccxt.AuthenticationError):
            FORBIDDEN[call](exchange)
    with pytest.raises(ccxt.AuthenticationError):
        stack.client(secret="00000000-0000-4000-8000-000000000000").fetch_balance()
    gateway_records = [r for r in caplog.records if r.name.startswith("bulkhead.gateway")]
    assert {r.getMessage() for r in gateway_records} >= {"gateway_refused", "gateway_forwarded"}
    everything = "\n".join(
        f"{r.name} {r.getMessage()} {json.dumps(vars(r), default=str)}" for r in caplog.records
    )
    for secret in [*stack.real_secrets(), stack.credential.secret, stack.credential.passphrase]:
        assert secret not in everything


class _RecordingHook:
    """An order hook standing in for the ledger: refuses buys over 5 XRP, records settles."""

    def __init__(self) -> None:
        self.settled: list[tuple[str, object, str, int]] = []

    async def reserve(self, bot: str, request: Request) -> object:
        order = request.json()
        if order.get("side") == "buy" and Decimal(str(order.get("size", "0"))) > 5:
            raise envelope.insufficient_balance()
        return order.get("clientOid")

    async def settle(self, bot: str, reservation: object, answer: Answer) -> None:
        self.settled.append((bot, reservation, answer.outcome, answer.status))

    async def close(self) -> None:
        return None


def test_the_order_hook_can_refuse_a_buy_before_it_leaves_and_settles_what_went(stack: Stack):
    hook = _RecordingHook()
    stack.gateway.order_hook = hook
    exchange = stack.client()
    exchange.load_markets()
    with pytest.raises(ccxt.InsufficientFunds):
        exchange.create_order("XRP/USDT", "limit", "buy", 10, 0.1)
    assert stack.twin.state.orders == {}
    assert hook.settled == []
    order = exchange.create_order("XRP/USDT", "limit", "buy", 5, 0.1, {"clientOid": "oid-1"})
    assert stack.twin.state.orders[order["id"]].client_oid == "oid-1"
    # the gateway answers while it settles
    wait_until(lambda: hook.settled != [], 5, 0.005, what="the settlement")
    assert hook.settled == [("bot1", "oid-1", "answered", 200)]
    (refusal,) = stack.gateway.refusals
    assert (refusal.code, refusal.reason) == ("200004", "ORDER_REFUSED")


def test_a_lost_answer_reaches_the_order_hook_as_lost(stack: Stack):
    hook = _RecordingHook()
    stack.gateway.order_hook = hook
    exchange = stack.client()
    exchange.load_markets()
    fault = {"kind": "drop", "path_prefix": "/api/v1/orders", "count": 1, "hold_s": 5}
    assert httpx.post(f"{stack.twin_url}/sim/v1/faults", json=fault).json()["code"] == "200000"
    with pytest.raises(ccxt.ExchangeNotAvailable):
        exchange.create_order("XRP/USDT", "limit", "buy", 5, 0.1, {"clientOid": "oid-lost"})
    wait_until(lambda: hook.settled != [], 5, 0.005, what="the settlement")
    assert hook.settled == [("bot1", "oid-lost", "lost", 504)]
    # the twin executed it: the ledger will find it by its clientOid
    assert [o.client_oid for o in stack.twin.state.orders.values()] == ["oid-lost"]


def test_a_futures_order_at_one_shared_url_would_pass_as_spot_which_is_why_hosts_differ(
    stack: Stack,
):
    """With every host at the gateway's URL (as for the twin), KuCoin's futures
    ``POST /api/v1/orders`` is indistinguishable from a spot order: ``ccxt_config`` keeps
    the futures host apart, so the same call is refused there."""
    shared = stack.client(**ccxt_overrides(stack.url))
    apart = stack.client()
    assert shared.urls["api"]["futuresPrivate"] == stack.url
    assert apart.urls["api"]["futuresPrivate"].startswith(f"{stack.url}/refused/")
    with pytest.raises(ccxt.AuthenticationError, match="400007"):
        apart.futuresPrivatePostOrders({"clientOid": "f2", "side": "buy", "size": 1})
    assert stack.twin.state.orders == {}


def test_a_percent_encoded_query_is_re_signed_as_kucoin_verifies_it(stack: Stack):
    target = b"/api/v1/accounts?currency=US%44T&type=trade"
    headers = signed_headers(
        stack.credential.api_key,
        stack.credential.secret,
        stack.credential.passphrase,
        "GET",
        target,
        b"",
        time.time_ns() // 1_000_000,
    )
    response = httpx.get(stack.url + target.decode(), headers=headers, timeout=10)
    payload = response.json()
    assert payload["code"] == "200000", payload
    assert [row["currency"] for row in payload["data"]] == ["USDT"]
    assert stack.twin.state.auth_refusals == []
