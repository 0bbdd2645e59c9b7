"""The Compose gateway's own Redis user, on a real Redis 7: everything the gateway does with
its ledgers and trading states works as that user, and nothing of any bot's memory does.

The ACL file ``bulkhead compose`` writes (``redis_service.write_memory_secrets``) is the one
loaded here, as the Compose project's Redis loads it.
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterator
from decimal import Decimal as D
from pathlib import Path

import pytest
import redis

from bulkhead.config.models import Fleet
from bulkhead.fleet.redis_service import GATEWAY_REDIS_USER, write_memory_secrets
from bulkhead.gateway.ledger import ExchangeState, Ledger, TradeFill
from bulkhead.gateway.states import TradingState, TradingStates
from bulkhead.memory.keys import BotKeys
from bulkhead.plumbing import free_port, wait_until

XRP = "XRP-USDT"


def fleet() -> Fleet:
    def bot(name: str) -> dict[str, object]:
        return {
            "name": name,
            "subaccount": name,
            "credentials": {
                part: {"env": f"{name.upper()}_{part.upper()}"}
                for part in ("api_key", "secret", "passphrase")
            },
            "budget": {"amount": 100},
            "pairs": ["XRP/USDT"],
            "strategy": {"name": "TwinScalper"},
        }

    return Fleet.model_validate({"version": 1, "bots": [bot("alpha"), bot("beta")]})


@pytest.fixture
def secrets_dir(tmp_path: Path) -> Path:
    folder = tmp_path / "secrets"
    write_memory_secrets(fleet(), folder)
    return folder


@pytest.fixture
def port(secrets_dir: Path, tmp_path: Path) -> Iterator[int]:
    binary = shutil.which("redis-server")
    if binary is None:
        pytest.skip("no system redis-server installed")
    chosen = free_port()
    server = subprocess.Popen(  # the system's redis-server, stopped below
        [
            binary,
            "--port",
            str(chosen),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--dir",
            str(tmp_path),
            "--aclfile",
            str(secrets_dir / "redis" / "users.acl"),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        probe = redis.Redis(port=chosen, username="healthcheck", password="")

        def answers() -> bool:
            try:
                return bool(probe.ping())
            except redis.ConnectionError:
                return False

        wait_until(answers, 10, 0.05, what="redis-server to answer")
        yield chosen
    finally:
        server.terminate()
        server.wait(10)


def login(port: int, user: str, password_file: Path) -> redis.Redis:
    password = password_file.read_text().strip()
    return redis.Redis(port=port, username=user, password=password, socket_timeout=5)


@pytest.fixture
def gateway(port: int, secrets_dir: Path) -> redis.Redis:
    return login(port, GATEWAY_REDIS_USER, secrets_dir / "redis" / "gateway_password")


def test_the_gateway_user_keeps_every_bots_ledger_and_trading_state(gateway: redis.Redis) -> None:
    for bot in ("alpha", "beta"):
        ledger = Ledger(gateway, bot, D("100"))
        ledger.rebuild(ExchangeState(open_buys={}, fills=[TradeFill(XRP, "buy", D(10), D(5))]))
        assert ledger.reserve("a", D("40")).allowed
        ledger.fill("a", XRP, D("80"), D("40"), D("0.04"), done=True, trade_id="t1")
        ledger.sell_fill(XRP, D("90"), D("46"), D("0.05"), trade_id="t2")
        assert ledger.reserve("b", D("10")).allowed
        ledger.lost_answer("b")
        ledger.cancel("b")
        snapshot = ledger.snapshot()
        assert snapshot.reservations == {}
        states = TradingStates(gateway)
        states.halt(bot, "test")
        states.record(bot, kind="order", decision="refused", reason="HALTED")
        assert states.get(bot).state == TradingState.HALTED
        assert states.last_decisions(bot, 5)
        states.set(bot, TradingState.ACTIVE, "resumed", by="operator")


def test_the_gateway_user_cannot_touch_any_bots_memory_nor_administer_redis(
    gateway: redis.Redis, port: int, secrets_dir: Path
) -> None:
    alpha = login(port, "bot-alpha", secrets_dir / "alpha" / "redis_password")
    alpha.hset(BotKeys("alpha").trade_data, "1", "{}")
    for attempt in (
        lambda: gateway.hget(BotKeys("alpha").trade_data, "1"),
        lambda: gateway.hset(BotKeys("beta").meta, "x", "1"),
        lambda: gateway.keys("*"),
        lambda: gateway.scan(),
        lambda: gateway.config_get("*"),
        lambda: gateway.acl_list(),
        lambda: gateway.flushall(),
    ):
        with pytest.raises(redis.exceptions.NoPermissionError):
            attempt()
    # ... and no bot can touch the gateway's keys: its own ledger included.
    with pytest.raises(redis.exceptions.NoPermissionError):
        alpha.hset("bhgw:{alpha}:ledger", "committed", "0")
