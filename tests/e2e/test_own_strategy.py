"""A user's own Freqtrade strategy file, run live on the KuCoin twin through the CLI.

The test writes a strategy file of its own into a temporary folder beside the spec (not in
Bulkhead's package): a scalper that enters at once and leaves seconds later, as
TwinScalper does, and that overrides ``confirm_trade_entry`` (it notes every call in a
file beside itself and says yes) and ``custom_stake_amount`` (it asks for only a fraction
of Freqtrade's proposed stake; the fraction is a ``DecimalParameter`` that the spec's
``strategy.params`` sets, to 0.6 from its default 0.9). The spec names it with
``strategy: {file: ..., class: ...}``; the bot runs live (not dry-run) on the sub-account
key "bot1-trade", started with ``bulkhead up`` and stopped with ``bulkhead down``, run as
``python -m bulkhead ...`` subprocesses, as an operator would type them.

Once it has closed a trade, both layers must have acted on it: the user's (the calls were
noted; the entry filled at the user's stake, the spec's fraction of the proposed one, not
the proposal) and Bulkhead's (the decision and the fills in the bot's JSON log, the trade
and its orders in the bot's memory, with the same numbers as Freqtrade's database and the
twin's fills).
"""

from __future__ import annotations

import json
import sqlite3
import textwrap
import time
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import botkit
import pytest
import yaml

from bulkhead.config.loader import load_fleet
from bulkhead.config.workspace import BotPaths, Workspace
from bulkhead.memory.deployment import prepare_memory
from bulkhead.memory.records import OrderRecord, TradeRecord
from bulkhead.memory.store import MemoryStore

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
SPEC_EXAMPLE = ROOT / "examples" / "bulkhead.yaml"
BOT = "bot1"
BOT_KEY = "bot1-trade"
PAIR = "XRP/USDT"
#: the bot's memory connection is the spec's, never one from the test's environment
MEMORY_ENV = ("BULKHEAD_MEMORY_",)
PROTECTIONS = ("stoploss_guard", "max_drawdown", "cooldown_period", "low_profit_pairs")
#: the bot's budget (the twin's sub-account holds 100 USDT); with one open trade,
#: Freqtrade proposes about all of it as the stake
BUDGET = 50
#: the strategy's stake fraction: its default, and what the spec sets
DEFAULT_FRACTION = 0.9
SPEC_FRACTION = 0.6

STRATEGY_FILE = "strategies/own_scalper.py"
STRATEGY_CLASS = "OwnScalper"
#: the file the strategy notes its callbacks' calls in (beside itself)
CALLS_FILE = "own_scalper_calls.jsonl"

CLOSED_TRADE_DEADLINE_S = 150
MEMORY_DEADLINE_S = 20
REL = 1e-9

STRATEGY_SOURCE = textwrap.dedent(
    f'''
    """A user's own scalper: in at once, out after a few seconds, on a fraction of the stake."""

    import json
    from pathlib import Path

    from freqtrade.strategy import DecimalParameter, IStrategy

    CALLS = Path(__file__).with_name("{CALLS_FILE}")


    def note(callback, **fields):
        with CALLS.open("a") as calls:
            calls.write(json.dumps({{"callback": callback, **fields}}) + "\\n")


    class {STRATEGY_CLASS}(IStrategy):
        INTERFACE_VERSION = 3
        timeframe = "1m"
        can_short = False
        minimal_roi = {{"0": 10}}
        stoploss = -0.05
        process_only_new_candles = False
        use_exit_signal = True
        startup_candle_count = 1
        hold_seconds = 5
        stake_fraction = DecimalParameter(
            0.1, 0.9, default={DEFAULT_FRACTION}, decimals=2, space="buy"
        )

        def populate_indicators(self, dataframe, metadata):
            return dataframe

        def populate_entry_trend(self, dataframe, metadata):
            dataframe["enter_long"] = 1
            dataframe["enter_tag"] = "own_entry"
            return dataframe

        def populate_exit_trend(self, dataframe, metadata):
            dataframe["exit_long"] = 0
            return dataframe

        def custom_exit(self, pair, trade, current_time, current_rate, current_profit, **kwargs):
            held = (current_time - trade.open_date_utc).total_seconds()
            return "own_exit" if held >= self.hold_seconds else None

        def custom_stake_amount(
            self, pair, current_time, current_rate, proposed_stake, min_stake, max_stake,
            leverage, entry_tag, side, **kwargs,
        ):
            stake = proposed_stake * self.stake_fraction.value
            note(
                "custom_stake_amount", pair=pair, proposed=proposed_stake, stake=stake,
                min_stake=min_stake, max_stake=max_stake, time=current_time.isoformat(),
            )
            return stake

        def confirm_trade_entry(
            self, pair, order_type, amount, rate, time_in_force, current_time, entry_tag,
            side, **kwargs,
        ):
            note(
                "confirm_trade_entry", pair=pair, amount=amount, rate=rate,
                entry_tag=entry_tag, time=current_time.isoformat(),
            )
            return True
    '''
)


# -- the twin, the spec ---------------------------------------------------------------------


@pytest.fixture
def rig(tmp_path: Path) -> Iterator[botkit.Rig]:
    """A fresh twin: its orders and fills are then exactly this test's bot's."""
    with botkit.twin_rig(tmp_path) as rig:
        yield rig


def _write_spec(directory: Path, rig: botkit.Rig) -> Path:
    """The example spec aimed at the twin, running the strategy file written beside it."""
    strategy = directory / STRATEGY_FILE
    strategy.parent.mkdir(parents=True)
    strategy.write_text(STRATEGY_SOURCE)
    document = yaml.safe_load(SPEC_EXAMPLE.read_text())
    (bot,) = document["bots"]
    assert bot["name"] == BOT, bot
    bot["exchange"] = {"target": rig.url}
    bot["budget"] = {"amount": BUDGET, "currency": "USDT"}
    bot["pairs"] = [PAIR]
    bot["timeframe"] = "1m"
    bot["strategy"] = {
        "file": STRATEGY_FILE,
        "class": STRATEGY_CLASS,
        "params": {"stake_fraction": SPEC_FRACTION},
    }
    bot["max_open_trades"] = 1
    bot["protections"] = {name: {"enabled": False} for name in PROTECTIONS}
    bot["mode"] = "live"
    return botkit.write_spec(directory, yaml.safe_dump(document, sort_keys=False), rig.key)


def _paths(spec: Path) -> BotPaths:
    return Workspace.for_spec(spec).bot(BOT)


def _diagnosis(spec: Path) -> str:
    paths = _paths(spec)
    logs = paths.root / "logs"
    files = [
        paths.status,
        paths.log,
        paths.freqtrade_log,
        logs / "freqtrade.out",
        logs / "supervisor.out",
        spec.parent / "strategies" / CALLS_FILE,
    ]
    return "\n".join(f"--- tail of {path} ---\n{botkit.tail(path, 60)}" for path in files)


def _poll(what: str, probe: Any, deadline_s: float, spec: Path) -> Any:
    return botkit.poll(what, probe, deadline_s, lambda: _diagnosis(spec), 0.25)


def _bring_down(spec: Path) -> list[botkit.Process]:
    """`bulkhead down` (the bot and its embedded Redis); SIGKILL whatever of the
    deployment survived it (what runs in, or names, the spec's folder). What was killed."""
    return botkit.bring_down(spec, str(spec.parent), running_inside=True, drop=MEMORY_ENV)


# -- what happened --------------------------------------------------------------------------


def _calls(spec: Path, callback: str) -> list[dict[str, Any]]:
    path = spec.parent / "strategies" / CALLS_FILE
    if not path.exists():
        return []
    lines = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    return [line for line in lines if line["callback"] == callback]


def _stake_per_trade(spec: Path) -> float:
    """The bot's stake per trade, as rendered for Freqtrade (its budget less a reserve)."""
    stake = float(json.loads(_paths(spec).config.read_text())["stake_amount"])
    assert 0.9 * BUDGET < stake <= BUDGET
    return stake


def _first_closed_trade(database: Path) -> tuple[sqlite3.Row, list[sqlite3.Row]]:
    """Freqtrade's first closed trade, and its orders that filled anything."""
    (trade,) = botkit.rows(database, "SELECT * FROM trades WHERE is_open = 0 ORDER BY id LIMIT 1")
    orders = botkit.rows(database, "SELECT * FROM orders WHERE filled > 0")
    return trade, [o for o in orders if o["ft_trade_id"] == trade["id"]]


@dataclass
class Memory:
    trades: list[TradeRecord]
    orders: list[OrderRecord]
    events: list[dict[str, Any]]


def _read_memory(spec: Path) -> Memory:
    """The bot's memory, read as the operator would (the read-only user)."""
    access = prepare_memory(load_fleet(spec), Workspace.for_spec(spec))
    client = access.reader.client(socket_timeout=10)
    try:
        store = MemoryStore(client, BOT)
        return Memory(store.trades(), store.orders(), store.events(count=100_000))
    finally:
        client.close()


# -- the test -------------------------------------------------------------------------------


def test_own_strategy_file_runs_live_under_bulkheads_layer(rig: botkit.Rig) -> None:
    spec = _write_spec(rig.root / "deployment", rig)
    paths = _paths(spec)
    started = time.monotonic()
    try:
        up = botkit.cli(spec, "up", BOT, drop=MEMORY_ENV)
        assert up.returncode == 0, botkit.shown(up)
        assert f"{BOT}: running" in up.stdout, botkit.shown(up)

        _poll(
            "a closed trade in Freqtrade's database",
            lambda: botkit.closed_trades(paths.database) >= 1,
            CLOSED_TRADE_DEADLINE_S,
            spec,
        )
        print(f"first closed trade {time.monotonic() - started:.1f} s after `up`")
        trade, filled = _first_closed_trade(paths.database)

        def remembered() -> Memory | None:
            memory = _read_memory(spec)
            done = [t for t in memory.trades if t.trade_id == trade["id"] and not t.is_open]
            return memory if done else None

        memory = _poll("the closed trade in memory", remembered, MEMORY_DEADLINE_S, spec)

        down = botkit.cli(spec, "down", drop=MEMORY_ENV)
        assert down.returncode == 0, botkit.shown(down)
        assert f"{BOT}: stopped" in down.stdout, botkit.shown(down)

        _check_the_users_overrides(spec, trade, filled)
        _check_bulkheads_log(paths, trade, filled)
        _check_bulkheads_memory(memory, trade, filled)
        _check_the_twin(rig, filled)
    except BaseException:
        print(_diagnosis(spec))
        raise
    finally:
        leftovers = _bring_down(spec)
    assert leftovers == [], "`bulkhead down` left these running (now killed)"
    print(f"whole run {time.monotonic() - started:.1f} s")


def _entry(filled: list[sqlite3.Row]) -> sqlite3.Row:
    (entry,) = [r for r in filled if r["ft_order_side"] == "buy"]
    return entry


def _check_the_users_overrides(spec: Path, trade: sqlite3.Row, filled: list[sqlite3.Row]) -> None:
    # confirm_trade_entry ran (and its yes let the entry through).
    confirmed = _calls(spec, "confirm_trade_entry")
    assert confirmed, "the strategy's confirm_trade_entry was never called"
    assert {c["pair"] for c in confirmed} == {PAIR}
    assert confirmed[0]["entry_tag"] == "own_entry"

    # custom_stake_amount ran, with the spec's fraction (its param), not its default.
    stakes = _calls(spec, "custom_stake_amount")
    assert stakes, "the strategy's custom_stake_amount was never called"
    first = stakes[0]
    proposed = float(first["proposed"])
    assert proposed == pytest.approx(_stake_per_trade(spec), rel=REL), first
    assert float(first["stake"]) == pytest.approx(SPEC_FRACTION * proposed, rel=REL), first
    assert float(first["min_stake"]) < float(first["stake"]) < float(first["max_stake"]), first

    # The trade was opened at that stake: Freqtrade asked the exchange for stake / rate of
    # XRP at the rate confirm_trade_entry was told, and the market order filled near it.
    user_stake = float(first["stake"])
    assert confirmed[0]["amount"] * confirmed[0]["rate"] == pytest.approx(user_stake, rel=1e-3)
    entry = _entry(filled)
    assert entry["filled"] == pytest.approx(confirmed[0]["amount"], rel=1e-3)
    assert entry["cost"] == pytest.approx(user_stake, rel=0.02)
    assert trade["stake_amount"] == pytest.approx(entry["cost"], rel=REL)
    assert trade["enter_tag"] == "own_entry"
    assert trade["exit_reason"] == "own_exit"
    # ... far from what Freqtrade proposed, or what the strategy's default would ask.
    assert entry["cost"] < 0.5 * (SPEC_FRACTION + DEFAULT_FRACTION) * proposed


def _check_bulkheads_log(paths: BotPaths, trade: sqlite3.Row, filled: list[sqlite3.Row]) -> None:
    log = paths.freqtrade_log
    (start, *_) = botkit.events(log, "strategy_start")
    assert start["strategy"] == STRATEGY_CLASS
    assert start["source"] == f"{STRATEGY_FILE}:{STRATEGY_CLASS}", start
    assert start["stake_amount"] == json.loads(paths.config.read_text())["stake_amount"]

    entry = _entry(filled)
    signals = botkit.events(log, "entry_signal")
    assert signals, "Bulkhead logged no entry decision"
    allowed = [s for s in signals if s["decision"] == "allow"]
    assert allowed, signals
    first = allowed[0]
    assert first["bot"] == BOT
    assert first["pair"] == PAIR
    assert first["reason"] == "own_entry"
    # (what the strategy was asked to confirm, before the exchange's rounding)
    assert first["amount"] == pytest.approx(entry["amount"], rel=1e-3)
    assert first["stake"] == pytest.approx(entry["cost"], rel=0.02)
    assert not botkit.events(log, "stake_capped"), "the user's stake is under the cap"
    assert not botkit.events(log, "strategy_callback_failed")

    logged: dict[str, dict[str, Any]] = {
        str(e["order_id"]): e for e in botkit.events(log, "order_filled")
    }
    assert {r["ft_order_side"] for r in filled} >= {"buy", "sell"}
    for row in filled:
        event = logged.get(row["order_id"])
        assert event, f"no order_filled event for {row['order_id']} ({row['ft_order_side']})"
        assert event["trade_id"] == trade["id"]
        assert event["side"] == row["ft_order_side"]
        assert event["amount"] == pytest.approx(row["filled"], rel=REL)
        assert event["cost"] == pytest.approx(row["cost"], rel=REL)
    exits = [e for e in botkit.events(log, "exit_signal") if e["trade_id"] == trade["id"]]
    assert [e["reason"] for e in exits if e["decision"] == "allow"] == ["own_exit"], exits


def _check_bulkheads_memory(memory: Memory, trade: sqlite3.Row, filled: list[sqlite3.Row]) -> None:
    (record,) = [t for t in memory.trades if t.trade_id == trade["id"]]
    assert record.pair == PAIR
    assert not record.is_open
    assert record.entry_tag == "own_entry"
    assert record.exit_reason == "own_exit"
    assert record.stake_amount == pytest.approx(trade["stake_amount"], rel=REL)
    assert record.amount == pytest.approx(trade["amount"], rel=REL)
    assert record.open_rate == pytest.approx(trade["open_rate"], rel=REL)
    assert record.close_rate == pytest.approx(trade["close_rate"], rel=REL)
    assert record.realized_pnl == pytest.approx(trade["realized_profit"], rel=1e-6, abs=1e-9)

    orders = {o.order_id: o for o in memory.orders if o.trade_id == trade["id"]}
    assert set(orders) == {r["order_id"] for r in filled}
    for row in filled:
        order = orders[row["order_id"]]
        assert order.side == row["side"]
        assert order.amount == pytest.approx(row["filled"], rel=REL)
        assert order.cost == pytest.approx(row["cost"], rel=REL)

    decisions = [e["data"] for e in memory.events if e["event"] == "entry_signal"]
    assert decisions, [e["event"] for e in memory.events]
    assert decisions[0]["pair"] == PAIR
    assert decisions[0]["reason"] == "own_entry"
    assert decisions[0]["decision"] == "allow"
    assert "stake" not in decisions[0], "order mechanics stay in the log"


def _check_the_twin(rig: botkit.Rig, filled: list[sqlite3.Row]) -> None:
    """The entry the user's stake sized is the twin's order, filled for that money."""
    bot = rig.twin.user_by_name(BOT)
    fills = list(rig.twin.state.fills)
    assert {f.uid for f in fills} == {bot.uid}
    entry = _entry(filled)
    mine = [f for f in fills if f.order_id == entry["order_id"]]
    assert mine, f"no twin fill for {entry['order_id']}"
    assert {f.side for f in mine} == {"buy"}
    funds = sum((f.funds for f in mine), Decimal(0))
    assert entry["cost"] == pytest.approx(float(funds), rel=REL)
    assert not rig.twin.state.orders[entry["order_id"]].is_active
