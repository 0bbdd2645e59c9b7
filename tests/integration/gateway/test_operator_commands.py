"""The kill switch as an operator uses it: `bulkhead kill`, `resume` and `guard` in a shell,
against a running `bulkhead gateway` (a subprocess, as `up` starts it) in front of a twin.

The bot is played by a real ccxt client holding only its gateway credential. What counts
is what reaches the twin: after `kill` no buy gets there, the open buy is cancelled at the
exchange, HALTED survives a SIGKILLed gateway and a restarted Redis, and only `resume` lets
buys through again; `kill --exit` sells what the bot holds.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import ccxt
import pytest

from bulkhead.config.loader import load_fleet
from bulkhead.config.workspace import Workspace
from bulkhead.fleet.gateway_access import read_gateway_state
from bulkhead.gateway.client import ccxt_config
from bulkhead.gateway.custody import credential_path, load_credential
from bulkhead.memory.deployment import stop_embedded
from bulkhead.plumbing import wait_until, write_private
from bulkhead.sim.engine import Twin
from bulkhead.sim.server import TwinServer, prepare

ROOT = Path(__file__).resolve().parents[3]
EXAMPLE = ROOT / "examples" / "sim.yaml"
BOT = "bot1"

SPEC = """
version: 1
bots:
  - name: bot1
    mode: live
    exchange: {target: "TWIN_URL"}
    subaccount: bot1
    credentials:
      api_key: {env: BOT1_KUCOIN_API_KEY}
      secret: {env: BOT1_KUCOIN_API_SECRET}
      passphrase: {env: BOT1_KUCOIN_API_PASSPHRASE}
    budget: {amount: 100, currency: USDT}
    pairs: ["XRP/USDT"]
    timeframe: 1m
    strategy: {name: TwinScalper}
"""


def _environment() -> dict[str, str]:
    return {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("BOT1_", "BULKHEAD_", "FREQTRADE__", "PYTEST_"))
    }


@dataclass
class Desk:
    """A twin, a spec aimed at it, and the gateway serving it as a subprocess."""

    twin: Twin
    spec: Path
    folder: Path
    gateway: subprocess.Popen[bytes] | None = None
    url: str = ""

    def cli(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "bulkhead", *args, "--spec", str(self.spec)],
            cwd=self.folder,
            env=_environment(),
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )

    def start_gateway(self) -> None:
        paths = Workspace.for_spec(self.spec).gateway
        with contextlib.suppress(FileNotFoundError):
            paths.state.unlink()
        log = (self.folder / "gateway.out").open("ab")
        self.gateway = subprocess.Popen(
            [sys.executable, "-m", "bulkhead", "gateway", "--spec", str(self.spec), "--json-logs"],
            cwd=self.folder,
            env=_environment(),
            stdout=log,
            stderr=subprocess.STDOUT,
        )

        def serving() -> dict[str, Any] | None:
            assert self.gateway is not None
            assert self.gateway.poll() is None, self.output()
            state = read_gateway_state(paths)
            return state if state.get("state") == "serving" else None

        state = wait_until(serving, 60, 0.2, what="the gateway to serve")
        assert state["bots"][BOT]["served"], state
        self.url = state["url"]

    def stop_gateway(self, sig: int = signal.SIGTERM) -> None:
        if self.gateway is not None and self.gateway.poll() is None:
            self.gateway.send_signal(sig)
            try:
                self.gateway.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.gateway.kill()
                self.gateway.wait()
        self.gateway = None

    def output(self) -> str:
        path = self.folder / "gateway.out"
        return path.read_text(errors="replace")[-4000:] if path.exists() else ""

    def exchange(self) -> ccxt.kucoin:
        """ccxt as Freqtrade would hold it: only bot1's gateway credential."""
        root = Workspace.for_spec(self.spec).gateway.root
        credential = load_credential(credential_path(root, BOT), BOT)
        return ccxt.kucoin(
            {
                **ccxt_config(self.url),
                "apiKey": credential.api_key,
                "secret": credential.secret,
                "password": credential.passphrase,
                "timeout": 10_000,
            }
        )

    def buys_at_twin(self) -> list[Any]:
        uid = self.twin.user_by_name(BOT).uid
        return [o for o in self.twin.state.orders.values() if o.uid == uid and o.side == "buy"]

    def guard(self) -> dict[str, Any]:
        done = self.cli("guard", BOT, "--json")
        assert done.returncode == 0, done.stderr
        view: dict[str, Any] = json.loads(done.stdout)
        return view


@pytest.fixture
def desk(tmp_path: Path) -> Iterator[Desk]:
    prepared = prepare(EXAMPLE, credentials_out=tmp_path / "twin-creds.json")
    key = next(c for c in prepared.credentials if c["name"] == "bot1-trade")
    folder = tmp_path / "ops"
    folder.mkdir()
    with TwinServer(prepared.twin) as server:
        spec = folder / "bulkhead.yaml"
        spec.write_text(SPEC.replace("TWIN_URL", server.url))
        write_private(
            folder / ".env",
            f"BOT1_KUCOIN_API_KEY={key['apiKey']}\n"
            f"BOT1_KUCOIN_API_SECRET={key['secret']}\n"
            f"BOT1_KUCOIN_API_PASSPHRASE={key['passphrase']}\n",
        )
        running = Desk(prepared.twin, spec, folder)
        try:
            running.start_gateway()
            yield running
        finally:
            running.stop_gateway()
            running.cli("down")


def _resting_buy(exchange: ccxt.kucoin, size: float = 20) -> dict[str, Any]:
    bid = Decimal(str(exchange.fetch_ticker("XRP/USDT")["bid"]))
    price = float((bid * Decimal("0.8")).quantize(Decimal("0.0001")))
    order: dict[str, Any] = exchange.create_order("XRP/USDT", "limit", "buy", size, price)
    return order


def test_sigterm_stops_the_gateway_cleanly_after_its_settlements(desk: Desk) -> None:
    """uvicorn re-raises the SIGTERM it stopped on: the gateway must still get to say
    it stopped (state file, log), exit 0, and leave no settlement behind."""
    exchange = desk.exchange()
    resting = _resting_buy(exchange)
    assert desk.gateway is not None
    gateway = desk.gateway
    desk.stop_gateway()
    assert gateway.returncode == 0, desk.output()
    paths = Workspace.for_spec(desk.spec).gateway
    assert read_gateway_state(paths)["state"] == "stopped"
    assert '"event": "gateway_stopped"' in desk.output()
    shown = desk.cli("guard", BOT, "--json")
    assert shown.returncode == 0, shown.stdout + shown.stderr
    decisions = json.loads(shown.stdout)["decisions"]
    placed = [d for d in decisions if d.get("order_id") == resting["id"]]
    assert [d["outcome"] for d in placed] == ["accepted"], decisions


def test_kill_halts_at_once_cancels_open_buys_and_holds_across_a_gateway_crash(
    desk: Desk,
) -> None:
    exchange = desk.exchange()
    resting = _resting_buy(exchange)
    before = desk.guard()
    assert before["state"]["state"] == "ACTIVE"
    assert Decimal(before["committed"]) > 0

    killed = desk.cli("kill", BOT)
    assert killed.returncode == 0, killed.stdout + killed.stderr
    assert "HALTED" in killed.stdout
    assert "cancelled open buy" in killed.stdout, killed.stdout
    assert desk.twin.state.orders[resting["id"]].is_active is False  # cancelled at the twin

    reached = len(desk.buys_at_twin())
    with pytest.raises(ccxt.InsufficientFunds, match="HALTED"):
        _resting_buy(exchange)
    assert len(desk.buys_at_twin()) == reached  # the refused buy never left the machine

    # the gateway dies without a word, Redis is restarted, the gateway comes back: the bot
    # is still halted
    desk.stop_gateway(signal.SIGKILL)
    assert stop_embedded(load_fleet(desk.spec), Workspace.for_spec(desk.spec))
    desk.start_gateway()
    exchange = desk.exchange()
    with pytest.raises(ccxt.InsufficientFunds, match="HALTED"):
        _resting_buy(exchange)
    assert len(desk.buys_at_twin()) == reached
    view = desk.guard()
    assert view["state"]["state"] == "HALTED"
    assert Decimal(view["committed"]) == 0  # the cancelled buy no longer counts
    refusals = [d for d in view["decisions"] if d.get("decision") == "refuse"]
    assert refusals
    assert "HALTED" in refusals[0]["reason"]

    resumed = desk.cli("resume", BOT)
    assert resumed.returncode == 0, resumed.stderr
    assert "ACTIVE (was HALTED)" in resumed.stdout
    again = _resting_buy(exchange)
    assert desk.twin.state.orders[again["id"]].is_active


def test_kill_with_exit_sells_what_the_bot_holds(desk: Desk) -> None:
    exchange = desk.exchange()
    bought = exchange.create_order("XRP/USDT", "market", "buy", None, None, {"funds": "30"})
    held = desk.twin.user_by_name(BOT).accounts["trade"]["XRP"].balance
    assert held > 0, bought
    _resting_buy(exchange, size=5)

    killed = desk.cli("kill", BOT, "--exit")
    assert killed.returncode == 0, killed.stdout + killed.stderr
    assert "sold" in killed.stdout, killed.stdout
    assert "XRP-USDT" in killed.stdout, killed.stdout
    trade = desk.twin.user_by_name(BOT).accounts["trade"]
    assert trade["XRP"].balance < held * Decimal("0.01")  # dust at most
    assert not [o for o in desk.buys_at_twin() if o.is_active]
    assert desk.guard()["state"]["state"] == "HALTED"


def test_kill_of_a_bot_the_spec_does_not_have_is_a_clear_error(desk: Desk) -> None:
    done = desk.cli("kill", "bot9")
    assert done.returncode != 0
    assert "bot9" in done.stderr
    assert "Traceback" not in done.stderr
    assert desk.guard()["state"]["state"] == "ACTIVE"


def test_guard_shows_the_refusal_with_its_numbers(desk: Desk) -> None:
    exchange = desk.exchange()
    with pytest.raises(ccxt.InsufficientFunds, match="BUDGET_EXCEEDED"):
        _resting_buy(exchange, size=10_000)
    shown = desk.cli("guard", BOT)
    assert shown.returncode == 0, shown.stderr
    assert "ACTIVE" in shown.stdout, shown.stdout
    assert "headroom 100" in shown.stdout, shown.stdout
    assert "BUDGET_EXCEEDED cap=100" in shown.stdout, shown.stdout
    assert "realized 0.00000000" in shown.stdout, shown.stdout  # plain numbers, never 0E-8


def test_a_guard_drawdown_stops_buys_at_the_gateway_is_shown_and_resume_restarts(
    desk: Desk,
) -> None:
    """The bot's risk guard (as the strategy layer builds it: state sent to the gateway
    with the bot's gateway credential, memory in the bot's Redis keys) trips on a drawdown:
    the gateway refuses buys whatever the strategy does, sells still pass, `guard` shows the
    rule with its numbers; `resume` lifts it and the guard starts afresh from there."""
    from datetime import UTC, datetime, timedelta

    from bulkhead.cli.gateway import gateway_connection
    from bulkhead.guard.engine import Guard
    from bulkhead.guard.wiring import RedisGuardMemory, sink_from_config
    from bulkhead.memory.store import MemoryStore

    fleet = load_fleet(desk.spec)
    connection = gateway_connection(desk.spec, fleet)
    assert connection is not None
    client = connection.client(socket_timeout=5)
    root = Workspace.for_spec(desk.spec).gateway.root
    credential = load_credential(credential_path(root, BOT), BOT)
    config = {
        "bulkhead": {"gateway_url": desk.url},
        "exchange": {
            "key": credential.api_key,
            "secret": credential.secret,
            "password": credential.passphrase,
        },
    }
    store = MemoryStore(client, BOT)

    def build() -> Guard:
        return Guard(
            fleet.bots[0].risk.guard,
            100.0,
            timedelta(minutes=5),
            memory=RedisGuardMemory(client, BOT),
            emit=store.record_event,
            sink=sink_from_config(config),
        )

    now = datetime.now(UTC)
    guard = build()
    guard.on_loop(now, 104.2)
    assert guard.on_loop(now, 88.1) == "REDUCING"

    exchange = desk.exchange()
    with pytest.raises(ccxt.InsufficientFunds, match="REDUCING"):
        _resting_buy(exchange)
    shown = desk.cli("guard", BOT)
    assert shown.returncode == 0, shown.stderr
    assert "REDUCING (DRAWDOWN_LIMIT peak=104.20 equity=88.10 limit=0.15" in shown.stdout
    assert "drawdown     deny DRAWDOWN_LIMIT" in shown.stdout, shown.stdout
    assert "guard_decision DRAWDOWN_LIMIT" in shown.stdout, shown.stdout

    again = build()  # the bot restarted: the peak and the trip are remembered
    assert again.state.peak == pytest.approx(104.2)
    assert again.on_loop(now, 90.0) == "REDUCING"

    assert desk.cli("resume", BOT).returncode == 0
    assert again.on_loop(now, 90.0) == "ACTIVE"
    assert again.state.peak == pytest.approx(90.0)
    order = _resting_buy(exchange)
    exchange.cancel_order(order["id"], "XRP/USDT")
    client.close()


def test_entry_denials_of_each_kind_are_shown_by_guard_with_their_numbers(desk: Desk) -> None:
    """Stale data, a gap, and an extreme market each deny an entry; `guard` shows every
    rule's last reading against its limit, and the denials among its last decisions."""
    from datetime import UTC, datetime, timedelta

    import numpy as np

    from bulkhead.cli.gateway import gateway_connection
    from bulkhead.guard.engine import Guard
    from bulkhead.guard.wiring import RedisGuardMemory
    from bulkhead.memory.store import MemoryStore

    fleet = load_fleet(desk.spec)
    connection = gateway_connection(desk.spec, fleet)
    assert connection is not None
    client = connection.client(socket_timeout=5)
    store = MemoryStore(client, BOT)
    guard = Guard(
        fleet.bots[0].risk.guard,
        100.0,
        timedelta(minutes=5),
        memory=RedisGuardMemory(client, BOT),
        emit=store.record_event,
    )
    now = datetime.now(UTC)
    five = timedelta(minutes=5)
    times = [now - five * (400 - i) for i in range(400)]
    calm = list(np.exp(np.cumsum(np.random.default_rng(1).normal(0, 0.002, 400))))
    wild = calm[:-24] + list(
        calm[-25] * np.exp(np.cumsum(np.full(24, -0.05) * np.tile([1, -1], 12)))
    )
    guard.on_loop(now, 100.0)

    stale = guard.check_entry("XRP/USDT", now, [t - 10 * five for t in times], [1.0] * 400, calm)
    gappy = guard.check_entry("XRP/USDT", now, times[:-3] + times[-2:], [1.0] * 399, calm)
    extreme = guard.check_entry("XRP/USDT", now, times, [1.0] * 400, wild)
    guard.on_loop(now, 100.0)  # readings saved with the loop

    assert [v.allowed for v in (stale, gappy, extreme)] == [False, False, False]
    view = desk.guard()["guard"]
    shown = desk.cli("guard", BOT).stdout
    decisions = json.dumps(view["decisions"])
    for code in ("STALE_DATA", "DATA_GAP", "VOLATILITY_EXTREME"):
        assert code in decisions, decisions
    assert view["rules"]["volatility"]["last"]["code"] == "VOLATILITY_EXTREME"
    assert "volatility   deny VOLATILITY_EXTREME regime=extreme" in shown, shown
    assert "STALE_DATA age_timeframes=10.00 limit=2.00" in shown, shown
    client.close()
