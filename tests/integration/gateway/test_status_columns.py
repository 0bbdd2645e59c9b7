"""`bulkhead status` shows each bot's trading state and headroom from the gateway's ledger in
the deployment's real (embedded) Redis, read as `guard BOT` reads them; and when that Redis
is not running, does not answer, or never ran, it still answers at once, with "?", and
starts no Redis."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pytest
import redis
from typer.testing import CliRunner

from bulkhead.cli.gateway import guard_view
from bulkhead.cli.main import build_app
from bulkhead.cli.runtime import GUARD_WAIT_S, STATUS_HEADER, read_guards
from bulkhead.config.loader import load_fleet
from bulkhead.config.workspace import Workspace
from bulkhead.gateway.ledger import Ledger
from bulkhead.gateway.states import TradingState, TradingStates
from bulkhead.memory.deployment import embedded, redis_dir
from bulkhead.memory.recorder import PASSWORD_ENV, URL_ENV, USER_ENV
from bulkhead.memory.server import ManagedRedis

runner = CliRunner()

BOT = """
  - name: {name}
    mode: {mode}
    exchange: {{target: "http://127.0.0.1:8899"}}
    subaccount: {name}
    credentials:
      api_key: {{env: {env}_KUCOIN_API_KEY}}
      secret: {{env: {env}_KUCOIN_API_SECRET}}
      passphrase: {{env: {env}_KUCOIN_API_PASSPHRASE}}
    budget: {{amount: {budget}, currency: USDT}}
    pairs: ["XRP/USDT"]
    timeframe: 1m
    strategy: {{name: TwinScalper}}
"""
#: status with no Redis to read must not be slower than this (its wait, and some slack)
QUICK_S = GUARD_WAIT_S + 1.0


def _spec(folder: Path, memory: str = "", *, docker: bool = False) -> Path:
    """alpha (live, 100 USDT), beta (live, 50 USDT), gamma (dry run, 30 USDT)."""
    bots = [("alpha", "live", 100), ("beta", "live", 50), ("gamma", "dry_run", 30)]
    text = "version: 1\n" + (f"memory: {memory}\n" if memory else "")
    text += "runtime: docker\n" if docker else ""
    text += "bots:\n" + "".join(
        BOT.format(name=name, mode=mode, env=name.upper(), budget=budget)
        for name, mode, budget in bots
    )
    if docker:
        text = text.replace('"http://127.0.0.1:8899"', '"http://twin:8899", remote_twin: true')
    spec = folder / "bulkhead.yaml"
    spec.write_text(text)
    return spec


def _status(spec: Path) -> tuple[dict[str, dict[str, str]], float]:
    """`bulkhead status --spec SPEC` in this process: each bot's first six cells, by
    header, and how long the command took."""
    app = build_app()
    began = time.monotonic()
    result = runner.invoke(app, ["status", "--spec", str(spec)])
    took = time.monotonic() - began
    assert result.exit_code == 0, result.output
    header, *rows = [line for line in result.output.splitlines() if line.strip()][:4]
    assert header.split() == STATUS_HEADER, result.output
    # the cells before committed/budget hold no spaces
    return {
        row.split()[0]: dict(zip(STATUS_HEADER[:6], row.split()[:6], strict=True)) for row in rows
    }, took


def _server(spec: Path) -> ManagedRedis:
    server = embedded(load_fleet(spec), Workspace.for_spec(spec))
    assert server is not None
    return server


@pytest.fixture(autouse=True)
def no_given_connection(monkeypatch: pytest.MonkeyPatch) -> None:
    """As on an operator's machine: no Redis connection given whole (Compose gives one)."""
    for name in (URL_ENV, USER_ENV, PASSWORD_ENV, f"{PASSWORD_ENV}_FILE"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def spec(tmp_path: Path) -> Path:
    return _spec(tmp_path)


@pytest.fixture
def running(spec: Path) -> Iterator[redis.Redis]:
    """The deployment's embedded Redis, started as `up` starts it; its admin client."""
    server = _server(spec)
    client = server.ensure_running().client(socket_timeout=5, socket_connect_timeout=1)
    yield client
    client.close()
    server.stop()


def test_a_halted_bot_with_a_reservation_shows_halted_and_its_headroom(
    spec: Path, running: redis.Redis
) -> None:
    assert Ledger(running, "alpha", Decimal(100)).reserve("buy-1", Decimal("12.5")).allowed
    TradingStates(running).set("alpha", TradingState.HALTED, "KILL by operator", by="operator")
    TradingStates(running).set("beta", TradingState.REDUCING, "REDUCE exits only", by="operator")

    shown, _ = _status(spec)

    assert shown["alpha"]["trading"] == "HALTED"
    assert shown["alpha"]["headroom"] == "87.5"
    assert (shown["beta"]["trading"], shown["beta"]["headroom"]) == ("REDUCING", "50")
    assert (shown["gamma"]["trading"], shown["gamma"]["headroom"]) == ("dry-run", "-")


def test_status_reads_the_numbers_guard_reads(spec: Path, running: redis.Redis) -> None:
    ledger = Ledger(running, "alpha", Decimal(100))
    assert ledger.reserve("buy-1", Decimal("12.5")).allowed
    assert ledger.reserve("buy-2", Decimal("0.00000001")).allowed
    TradingStates(running).set("alpha", TradingState.HALTED, "KILL by operator", by="operator")
    fleet = load_fleet(spec)

    guards = read_guards(fleet.bots, spec, fleet)

    alpha = guard_view(running, fleet.bots[0], 1)
    assert guards["alpha"].as_dict() == {
        "trading_state": "HALTED",
        "cap": alpha["cap"],
        "committed": alpha["committed"],
        "headroom": alpha["headroom"],
    }
    assert alpha["headroom"] == "87.49999999"
    assert guards["alpha"].cells() == ["HALTED", "87.49999999"]
    assert guards["beta"].as_dict() == {
        "trading_state": "ACTIVE",
        "cap": "50.00000000",
        "committed": "0E-8",
        "headroom": "50.00000000",
    }
    assert guards["gamma"].as_dict() == {
        "trading_state": "dry-run",
        "cap": None,
        "committed": None,
        "headroom": None,
    }


def test_with_no_redis_ever_started_status_answers_at_once_and_starts_none(spec: Path) -> None:
    shown, took = _status(spec)

    assert took < QUICK_S
    assert [(s["trading"], s["headroom"]) for s in shown.values()] == [
        ("?", "?"),
        ("?", "?"),
        ("dry-run", "-"),
    ]
    assert not (redis_dir(Workspace.for_spec(spec)) / "server.json").exists()


def test_with_the_embedded_redis_stopped_status_answers_at_once_and_does_not_start_it(
    spec: Path, running: redis.Redis
) -> None:
    TradingStates(running).set("alpha", TradingState.HALTED, "KILL by operator", by="operator")
    server = _server(spec)
    assert server.stop()

    shown, took = _status(spec)

    assert took < QUICK_S
    assert (shown["alpha"]["trading"], shown["alpha"]["headroom"]) == ("?", "?")
    assert (shown["gamma"]["trading"], shown["gamma"]["headroom"]) == ("dry-run", "-")
    assert not server.is_running()


def test_a_redis_that_accepts_but_never_answers_holds_status_up_no_longer(
    tmp_path: Path,
) -> None:
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(16)  # the kernel accepts connections; nobody ever reads or answers
        port = silent.getsockname()[1]
        spec = _spec(tmp_path, memory=f'{{redis_url: "redis://127.0.0.1:{port}/0"}}')

        shown, took = _status(spec)

    assert took < QUICK_S
    assert [(s["trading"], s["headroom"]) for s in shown.values()] == [
        ("?", "?"),
        ("?", "?"),
        ("dry-run", "-"),
    ]


def test_a_fleet_of_dry_run_bots_never_waits_for_redis(tmp_path: Path) -> None:
    spec = _spec(tmp_path)
    fleet = load_fleet(spec)
    dry = [bot for bot in fleet.bots if bot.mode == "dry_run"]

    began = time.monotonic()
    guards = read_guards(dry, spec, fleet, wait_s=30)

    assert time.monotonic() - began < 1
    assert {name: guard.cells() for name, guard in guards.items()} == {"gamma": ["dry-run", "-"]}


def test_in_docker_status_reads_only_the_redis_it_is_given(
    spec: Path, running: redis.Redis, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The Compose project's Redis publishes no port: this machine's embedded Redis (here
    one that runs, from a local run) is not where its gateway keeps the ledgers."""
    TradingStates(running).set("alpha", TradingState.HALTED, "KILL by operator", by="operator")
    folder = tmp_path / "docker"
    folder.mkdir()
    docker_spec = _spec(folder, docker=True)
    fleet = load_fleet(docker_spec)

    assert read_guards(fleet.bots, docker_spec, fleet)["alpha"].trading_state == "?"

    given = _server(spec).admin()
    monkeypatch.setenv(URL_ENV, given.url)
    monkeypatch.setenv(USER_ENV, given.username)
    monkeypatch.setenv(PASSWORD_ENV, given.password)
    guards = read_guards(fleet.bots, docker_spec, fleet)
    assert guards["alpha"].cells() == ["HALTED", "100"]
    assert guards["gamma"].cells() == ["dry-run", "-"]
