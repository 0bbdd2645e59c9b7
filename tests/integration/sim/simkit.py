"""Helpers for the twin tests: a running twin with its credentials, clients and raw HTTP.

``Sim`` wraps one ``TwinServer`` (a real uvicorn twin on a background thread) with the
credentials of its keys, and makes real ``ccxt.kucoin`` clients, admin calls and signed
raw requests against it. ``Trader`` is the bot's view of one sub-account.
"""

from __future__ import annotations

import contextlib
import json
import socket
import time
from dataclasses import dataclass, field
from decimal import Decimal
from http.client import HTTPResponse
from pathlib import Path
from typing import Any

import ccxt
import httpx

from bulkhead.kucoin import ccxt_overrides
from bulkhead.sim.auth import sign
from bulkhead.sim.engine import Twin
from bulkhead.sim.models import User
from bulkhead.sim.prices import PriceSource, build_price_source
from bulkhead.sim.server import TwinServer, prepare

EXAMPLE = Path(__file__).resolve().parents[3] / "examples" / "sim.yaml"
HF_KEY = "bot-hf-trade"
STATE_FILE = "twin-state.json"


@dataclass(frozen=True)
class RawResponse:
    status: int
    headers: dict[str, str]
    body: bytes

    def envelope(self) -> dict[str, Any]:
        """The body as KuCoin's error envelope; fails the test if it is anything else."""
        assert self.headers.get("content-type") == "application/json", self.headers
        payload = json.loads(self.body)
        assert set(payload) == {"code", "msg"}, payload
        return dict(payload)


@dataclass
class Sim:
    """One running twin plus the credentials of its keys, by key name."""

    server: TwinServer
    credentials: dict[str, dict[str, Any]]
    http: httpx.Client = field(init=False)

    def __post_init__(self) -> None:
        self.http = httpx.Client(base_url=self.server.url, timeout=10)

    @property
    def twin(self) -> Twin:
        return self.server.twin

    @property
    def url(self) -> str:
        return self.server.url

    # -- keys and clients ---------------------------------------------------------------

    def add_key(
        self,
        name: str,
        user: str,
        permissions: tuple[str, ...] = ("General", "Spot"),
        **options: Any,
    ) -> dict[str, Any]:
        """Mint a key on the twin and remember its credentials under ``name``."""
        key = self.twin.create_key(self.twin.user_by_name(user), permissions, name=name, **options)
        self.credentials[name] = {
            "name": name,
            "apiKey": key.api_key,
            "secret": key.secret,
            "passphrase": key.passphrase,
        }
        return self.credentials[name]

    def client(self, name: str | None, *, load: bool = True, **config: Any) -> ccxt.kucoin:
        """A real ``ccxt.kucoin`` for the named key (None: no credentials), markets loaded."""
        settings: dict[str, Any] = {**ccxt_overrides(self.url), "timeout": 10_000}
        if name is not None:
            cred = self.credentials[name]
            settings.update(
                apiKey=cred["apiKey"], secret=cred["secret"], password=cred["passphrase"]
            )
        settings.update(config)
        exchange = ccxt.kucoin(settings)
        if load:
            exchange.load_markets()
        return exchange

    # -- raw HTTP -----------------------------------------------------------------------

    def admin(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        """Call the twin's admin API; returns ``data`` and insists on success."""
        response = self.http.request(method, f"/sim/v1/{path.lstrip('/')}", json=body)
        payload = response.json()
        assert response.status_code == 200, payload
        assert payload["code"] == "200000", payload
        return payload["data"]

    def signed(
        self,
        name: str,
        method: str,
        path: str,
        *,
        query: str = "",
        body: str | None = None,
        timestamp_ms: int | None = None,
    ) -> httpx.Response:
        """A private request signed exactly as KuCoin wants it (key version 2)."""
        cred = self.credentials[name]
        timestamp = str(timestamp_ms if timestamp_ms is not None else time.time_ns() // 1_000_000)
        path_and_query = f"{path}?{query}" if query else path
        text = body or ""
        headers = {
            "KC-API-KEY": cred["apiKey"],
            "KC-API-TIMESTAMP": timestamp,
            "KC-API-KEY-VERSION": "2",
            "KC-API-PASSPHRASE": sign(cred["secret"], cred["passphrase"]),
            "KC-API-SIGN": sign(
                cred["secret"], f"{timestamp}{method.upper()}{path_and_query}{text}"
            ),
            "Content-Type": "application/json",
        }
        return self.http.request(
            method, path_and_query, content=text.encode() if text else None, headers=headers
        )

    def signed_json(self, name: str, method: str, path: str, body: dict[str, Any]) -> Any:
        return self.signed(name, method, path, body=json.dumps(body, separators=(",", ":")))

    def raw(self, request: bytes, *, timeout: float = 10.0) -> RawResponse:
        """Send bytes as they are on a fresh connection and read one answer.

        For what an HTTP client would refuse to send (URLs past its own limit, bad bytes,
        unfinished headers). A refusal may come before everything is sent.
        """
        with socket.create_connection(("127.0.0.1", self.server.port), timeout=timeout) as conn:
            with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                conn.sendall(request)
            answer = HTTPResponse(conn, method=request.split(b" ", 1)[0].decode("latin-1"))
            answer.begin()
            return RawResponse(
                answer.status,
                {name.lower(): value for name, value in answer.getheaders()},
                answer.read(),
            )

    def state_dump(self) -> bytes:
        """The admin API's state dump, as the bytes it sends."""
        response = self.http.get("/sim/v1/state")
        assert response.status_code == 200, response.text
        return response.content

    def state(self) -> dict[str, Any]:
        """The admin state dump without the market clock, which moves between two reads."""
        state = json.loads(self.state_dump())["data"]
        del state["market_time_ms"]
        return dict(state)

    # -- state --------------------------------------------------------------------------

    def user(self, name: str) -> User:
        return self.twin.user_by_name(name)

    def balance(self, user: str, account: str, currency: str) -> tuple[Decimal, Decimal]:
        """(balance, holds) of one account row, read straight from the twin's state."""
        row = self.twin.user_by_name(user).accounts.get(account, {}).get(currency)
        return (row.balance, row.holds) if row else (Decimal(0), Decimal(0))

    def fingerprint(self) -> dict[str, Any]:
        """Everything a refused request must leave untouched: balances, orders, fills."""
        state = self.twin.state
        return {
            "accounts": {uid: u.model_dump()["accounts"] for uid, u in state.users.items()},
            "orders": len(state.orders),
            "fills": len(state.fills),
        }

    def price_source(self, symbol: str) -> PriceSource:
        """An independent copy of a symbol's price path, safe to query from the test thread.

        The server's own source is extended lazily from its event loop; building a twin of it
        (same spec, same anchor, so the very same path) avoids touching it concurrently.
        """
        spec = self.twin.state.symbols[symbol]
        return build_price_source(spec.source, self.twin.state.anchor_ms, EXAMPLE.parent.resolve())


def start_twin(tmp: Path) -> tuple[TwinServer, dict[str, dict[str, Any]]]:
    """The example scenario's twin, keeping its state in ``tmp`` (the one folder its admin
    API may write snapshots to)."""
    prepared = prepare(EXAMPLE, credentials_out=tmp / "creds.json")
    server = TwinServer(prepared.twin, state_path=tmp / STATE_FILE)
    return server, {str(c["name"]): dict(c) for c in prepared.credentials}


@dataclass
class Account:
    """A trade-only sub-account key with 100 USDT, in classic or HF mode."""

    sim: Sim
    mode: str
    user: str
    key: str
    account: str

    @property
    def hf(self) -> bool:
        return self.mode == "hf"

    def quote(self, symbol: str = "XRP-USDT") -> tuple[Decimal, Decimal, Decimal]:
        return self.sim.twin.quote(symbol)

    def balance(self, currency: str) -> tuple[Decimal, Decimal]:
        return self.sim.balance(self.user, self.account, currency)


@dataclass
class Trader(Account):
    """An ``Account`` plus a real ccxt client for its key, markets loaded."""

    exchange: ccxt.kucoin


def account(sim: Sim, mode: str) -> Account:
    """Classic sub-account "bot1" of the scenario, or HF sub-account "bot-hf" (made once)."""
    if mode == "classic":
        return Account(sim, "classic", "bot1", "bot1-trade", "trade")
    if HF_KEY not in sim.credentials:
        user = sim.twin.create_user("bot-hf", mode="hf")
        sim.twin.set_balance(user, "USDT", Decimal(100), "trade_hf")
        sim.add_key(HF_KEY, "bot-hf")
    return Account(sim, "hf", "bot-hf", HF_KEY, "trade_hf")
