"""The budget holds whatever Freqtrade asks for: a greedy bot, sized at ten times its budget,
against a sub-account funded with ten times its budget, with only the gateway in between.

A sizing bug is simulated at its worst: Freqtrade runs *without* Bulkhead's strategy layer,
on the rendered config with ``available_capital`` and the wallet at ten times the budget and
``stake_amount: unlimited``; the strategy enters on every loop at a random share (up to all)
of the largest stake Freqtrade allows, adds to its positions the same way, and exits after
a while to do it again. Only the order gateway (``bulkhead gateway``, started as an operator
would, holding the real key) stands between it and the twin.

Judged from the twin's own books, not from anything Bulkhead reports: the capital the
sub-account has put at risk (USDT spent on buys net of what sells brought back, plus USDT
frozen for open buys) never exceeds the budget, the master's balance never moves, and
every buy the twin ever received was allowed by the gateway's ledger first (its decision
stream names the order's clientOid). Then again with the twin injecting 500s, 429s and
dropped answers on the order and account endpoints throughout.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

import botkit
import pytest
import redis

from bulkhead.config.loader import load_fleet
from bulkhead.config.workspace import Workspace
from bulkhead.fleet.gateway_access import point_at_gateway, read_gateway_state
from bulkhead.gateway.custody import credential_path, load_credential
from bulkhead.memory.deployment import admin_connection
from bulkhead.memory.keys import GatewayKeys
from bulkhead.plumbing import write_private
from bulkhead.sim.models import FaultSpec

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
BOT = "bot1"
BUDGET = Decimal(100)
FUNDED = Decimal(1000)  # ten times the budget
PAIRS = ["XRP/USDT", "ETH/USDT", "ADA/USDT"]
RUN_S = float(os.environ.get("BULKHEAD_GREEDY_RUN_S", "150"))
START_DEADLINE_S = 90

SCENARIO = f"""
status: open
master:
  name: master
  mode: classic
  balances:
    main: {{USDT: 10000}}
subaccounts:
  - name: {BOT}
    mode: classic
    balances:
      trade: {{USDT: {FUNDED}}}
keys:
  - name: {BOT}-trade
    user: {BOT}
    permissions: [General, Spot]
symbols:
  - symbol: XRP-USDT
    source: {{kind: replay, path: {ROOT}/data/ohlcv/XRP_USDT-5m.feather}}
  - symbol: ETH-USDT
    source: {{kind: replay, path: {ROOT}/data/ohlcv/ETH_BTC-5m.feather, scale: 60000}}
  - symbol: ADA-USDT
    source: {{kind: replay, path: {ROOT}/data/ohlcv/ADA_BTC-5m.feather, scale: 60000}}
faults: []
"""

SPEC = f"""
version: 1
bots:
  - name: {BOT}
    mode: live
    exchange: {{target: "TWIN_URL"}}
    subaccount: {BOT}
    credentials:
      api_key: {{env: BOT1_KUCOIN_API_KEY}}
      secret: {{env: BOT1_KUCOIN_API_SECRET}}
      passphrase: {{env: BOT1_KUCOIN_API_PASSPHRASE}}
    budget: {{amount: {BUDGET}, currency: USDT}}
    pairs: {json.dumps(PAIRS)}
    timeframe: 1m
    max_open_trades: 3
    strategy: {{name: TwinScalper}}
    risk: {{orders_per_minute: 600}}
"""

GREEDY = textwrap.dedent(
    '''
    """Greedy on purpose: every loop, a random share (up to all) of the largest stake."""

    import random

    from freqtrade.strategy import IStrategy

    SHARES = [0.02, 0.05, 0.1, 0.3, 0.6, 1.0]


    class GreedyBot(IStrategy):
        INTERFACE_VERSION = 3
        timeframe = "1m"
        can_short = False
        minimal_roi = {"0": 10}
        stoploss = -0.5
        process_only_new_candles = False
        use_exit_signal = True
        startup_candle_count = 1
        position_adjustment_enable = True
        max_entry_position_adjustment = -1

        def populate_indicators(self, dataframe, metadata):
            return dataframe

        def populate_entry_trend(self, dataframe, metadata):
            dataframe["enter_long"] = 1
            return dataframe

        def populate_exit_trend(self, dataframe, metadata):
            dataframe["exit_long"] = 0
            return dataframe

        def custom_stake_amount(self, pair, current_time, current_rate, proposed_stake,
                                min_stake, max_stake, leverage, entry_tag, side, **kwargs):
            return max(min_stake or 0, max_stake * random.choice(SHARES))

        def adjust_trade_position(self, trade, current_time, current_rate, current_profit,
                                  min_stake, max_stake, current_entry_rate, current_exit_rate,
                                  current_entry_profit, current_exit_profit, **kwargs):
            if trade.has_open_orders:
                return None
            return max(min_stake or 0, max_stake * random.choice(SHARES))

        def custom_exit(self, pair, trade, current_time, current_rate, current_profit,
                        **kwargs):
            held = (current_time - trade.open_date_utc).total_seconds()
            return "greedy_exit" if held >= 45 else None
    '''
)


@dataclass
class Peak:
    """The sub-account's capital at risk, sampled from the twin's books while it trades."""

    values: list[Decimal] = field(default_factory=list)
    stop: threading.Event = field(default_factory=threading.Event)


def _at_risk(twin: Any) -> Decimal:
    """USDT the sub-account no longer has free: FUNDED - available (spent net, or frozen)."""
    usdt = twin.user_by_name(BOT).accounts["trade"].get("USDT")
    available = usdt.balance - usdt.holds if usdt is not None else Decimal(0)
    return FUNDED - available


def _from_fills(twin: Any) -> Decimal:
    """The peak of USDT spent net of sells, replayed from the twin's fill log in order."""
    uid = twin.user_by_name(BOT).uid
    spent, peak = Decimal(0), Decimal(0)
    for fill in sorted(
        (f for f in twin.state.fills if f.uid == uid), key=lambda f: (f.created_at, f.trade_id)
    ):
        fee = fill.fee if fill.fee_currency == "USDT" else Decimal(0)
        spent += fill.funds + fee if fill.side == "buy" else -(fill.funds - fee)
        peak = max(peak, spent)
    return peak


@dataclass
class GreedyRun:
    twin: Any
    spec: Path
    peak: Decimal
    peak_from_fills: Decimal
    master_before: dict[str, Any]
    decisions: list[dict[str, str]]
    freqtrade_log: str


@pytest.fixture
def greedy_rig(tmp_path: Path) -> Iterator[botkit.Rig]:
    scenario = tmp_path / "greedy-sim.yaml"
    scenario.write_text(SCENARIO)
    with botkit.twin_rig(tmp_path, scenario) as rig:
        yield rig


def _run(rig: botkit.Rig, folder: Path, faults: list[FaultSpec]) -> GreedyRun:
    key = rig.keys[f"{BOT}-trade"]
    spec = botkit.write_spec(folder, SPEC.replace("TWIN_URL", rig.url), key)
    gateway_paths = Workspace.for_spec(spec).gateway
    master_before = botkit.balances(rig.twin.user_by_name("master").accounts)
    freqtrade: subprocess.Popen[bytes] | None = None
    gateway: subprocess.Popen[bytes] | None = None
    peak = Peak()
    output = folder / "freqtrade.out"
    try:
        gateway = subprocess.Popen(
            [sys.executable, "-m", "bulkhead", "gateway", "--spec", str(spec), "--json-logs"],
            cwd=folder,
            env=botkit.environment(),
            stdout=(folder / "gateway.out").open("wb"),
            stderr=subprocess.STDOUT,
        )
        state = botkit.poll(
            "the gateway to serve",
            lambda: (s := read_gateway_state(gateway_paths)).get("state") == "serving" and s,
            START_DEADLINE_S,
            lambda: botkit.tail(folder / "gateway.out"),
        )
        assert state["bots"][BOT]["served"], state
        config = _greedy_config(spec, state["url"], folder)
        credential = load_credential(credential_path(gateway_paths.root, BOT), BOT)
        env = botkit.environment() | {
            "FREQTRADE__EXCHANGE__KEY": credential.api_key,
            "FREQTRADE__EXCHANGE__SECRET": credential.secret,
            "FREQTRADE__EXCHANGE__PASSWORD": credential.passphrase,
        }
        for fault in faults:
            rig.twin.state.faults.append(fault)
        sampler = threading.Thread(target=_sample, args=(rig.twin, peak), daemon=True)
        sampler.start()
        freqtrade = subprocess.Popen(
            [sys.executable, "-m", "freqtrade", "trade", "--config", str(config)],
            cwd=folder,
            env=env,
            stdout=output.open("wb"),
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + RUN_S
        while time.monotonic() < deadline:
            assert freqtrade.poll() is None, botkit.tail(output, 80)
            time.sleep(1)
        freqtrade.send_signal(signal.SIGINT)
        freqtrade.wait(timeout=60)
        rig.twin.state.faults.clear()
        time.sleep(5)  # the gateway's reconciler catches up with the last fills
        peak.stop.set()
        sampler.join(timeout=5)
        client = _admin(spec)
        decisions = [
            {k.decode(): v.decode() for k, v in fields.items()}
            for _, fields in client.xrange(GatewayKeys(BOT).decisions)
        ]
    finally:
        peak.stop.set()
        for process in (freqtrade, gateway):
            if process is not None and process.poll() is None:
                process.send_signal(signal.SIGTERM)
                try:
                    process.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    process.kill()
        botkit.bring_down(spec, str(folder), running_inside=True)
    return GreedyRun(
        twin=rig.twin,
        spec=spec,
        peak=max(peak.values, default=Decimal(0)),
        peak_from_fills=_from_fills(rig.twin),
        master_before=master_before,
        decisions=decisions,
        freqtrade_log=botkit.tail(output, 60),
    )


def _sample(twin: Any, peak: Peak) -> None:
    while not peak.stop.is_set():
        peak.values.append(_at_risk(twin))
        time.sleep(0.02)


def _admin(spec: Path) -> redis.Redis:
    fleet = load_fleet(spec)
    return admin_connection(fleet, Workspace.for_spec(spec)).client(socket_timeout=10)


def _greedy_config(spec: Path, gateway_url: str, folder: Path) -> Path:
    """The bot's rendered config, as a sizing bug would have it: ten times the budget."""
    rendered = botkit.cli(spec, "render", BOT)
    assert rendered.returncode == 0, botkit.shown(rendered)
    config: dict[str, Any] = json.loads(Workspace.for_spec(spec).bot(BOT).config.read_text())
    (folder / "strategies").mkdir(exist_ok=True)
    (folder / "strategies" / "greedy.py").write_text(GREEDY)
    config.update(
        {
            "strategy": "GreedyBot",
            "strategy_path": str(folder / "strategies"),
            "available_capital": float(FUNDED),
            "stake_amount": "unlimited",
            "max_open_trades": len(PAIRS),
            "amend_last_stake_amount": False,
            "position_adjustment_enable": True,
            "internals": {"process_throttle_secs": 1, "heartbeat_interval": 300},
        }
    )
    config.pop("api_server", None)  # no REST API: its secrets would come from the supervisor
    point_at_gateway(config, gateway_url)
    path = folder / "greedy-config.json"
    write_private(path, json.dumps(config, indent=2))
    return path


def _check(run: GreedyRun) -> None:
    uid = run.twin.user_by_name(BOT).uid
    buys = [o for o in run.twin.state.orders.values() if o.uid == uid and o.side == "buy"]
    filled_buys = [o for o in buys if o.deal_size > 0]
    refused = [d for d in run.decisions if d.get("reason", "").startswith("BUDGET_EXCEEDED")]
    print(
        f"peak at risk {run.peak} (from fills {run.peak_from_fills}) of budget {BUDGET}; "
        f"{len(buys)} buys reached the twin, {len(filled_buys)} filled; "
        f"{len(refused)} refused by the ledger"
    )
    # it did press against the budget, and traded
    assert len(filled_buys) >= 3, run.freqtrade_log
    assert refused, "the ledger never had to refuse a buy: the test did not press"
    # the budget held, whatever Freqtrade asked for
    assert run.peak <= BUDGET, f"{run.peak} at risk, budget {BUDGET}"
    assert run.peak_from_fills <= BUDGET
    # the master never moved
    assert botkit.balances(run.twin.user_by_name("master").accounts) == run.master_before
    # every buy the twin got went through the ledger first
    allowed = {
        d.get("client_oid")
        for d in run.decisions
        if d.get("decision") == "allow" and d.get("side") == "buy"
    }
    unknown = [o.client_oid for o in buys if o.client_oid not in allowed]
    assert not unknown, f"buys the ledger never allowed reached the twin: {unknown[:5]}"


def test_a_greedy_bot_never_commits_more_than_its_budget(
    greedy_rig: botkit.Rig, tmp_path: Path
) -> None:
    _check(_run(greedy_rig, tmp_path / "clean", []))


def test_the_budget_holds_while_the_exchange_fails(greedy_rig: botkit.Rig, tmp_path: Path) -> None:
    faults = [
        FaultSpec(kind="error500", path_prefix="/api/v1/orders", probability=0.15),
        FaultSpec(kind="ratelimit", path_prefix="/api/v1/", probability=0.05),
        FaultSpec(kind="drop", path_prefix="/api/v1/orders", probability=0.1, hold_s=2.0),
        FaultSpec(kind="drop", path_prefix="/api/v1/accounts", probability=0.05, hold_s=1.0),
    ]
    _check(_run(greedy_rig, tmp_path / "faults", faults))
