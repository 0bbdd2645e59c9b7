"""A bot's memory survives crashes of Freqtrade and of Redis, and restarts of the whole bot.

One twin (examples/sim.yaml) per test, on a background thread. The spec is
examples/bulkhead.yaml aimed at the twin, with a budget of 50 USDT (the sub-account holds
100, so fees and losses never starve the entries), every protection and the guard's loss
limits off (so TwinScalper re-enters as soon as Freqtrade's candle lock after each exit
allows: a round trip a minute), each trade held 30 s, and ``memory: {reconcile_every_s:
5}`` (so catching up is quick).
Commands run as ``python -m bulkhead ...`` subprocesses, as an operator would type them.

The crash test kills Freqtrade (SIGKILL) while a trade is open, then kills the embedded
redis-server (SIGKILL) while the bot trades, and stops the bot at a quiet moment (no entry
or exit order in flight, so every fill the twin made is one Freqtrade has seen). Then every
record must agree: each filled order on the twin is in memory exactly once, with
Freqtrade's numbers; each closed trade in Freqtrade's database is in memory once with the
same rates, amount, fees and realized PnL; each close was announced exactly once.

Every wait polls with a deadline and ``bulkhead down`` (which also stops the embedded
Redis) always runs, so no process outlives a test; a failure prints the logs' tails.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import botkit
import pytest
import yaml

from bulkhead.config.loader import load_fleet
from bulkhead.config.workspace import BotPaths, Workspace
from bulkhead.fleet.lease import lease_holder
from bulkhead.memory.deployment import embedded, prepare_memory, stop_embedded
from bulkhead.memory.keys import BotKeys
from bulkhead.memory.records import OrderRecord, TradeRecord
from bulkhead.memory.server import ManagedRedis
from bulkhead.memory.store import MemoryStore
from bulkhead.plumbing import WaitTimeout, wait_until

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
SPEC_EXAMPLE = ROOT / "examples" / "bulkhead.yaml"
BOT = "bot1"
BOT_KEY = "bot1-trade"
#: also kept out of the commands' environment: the bot's memory connection is the spec's
MEMORY_ENV = ("BULKHEAD_MEMORY_",)
PROTECTIONS = ("stoploss_guard", "max_drawdown", "cooldown_period", "low_profit_pairs")
RECONCILE_EVERY_S = 5

FIRST_TRADE_DEADLINE_S = 150
HOLD_SECONDS = 30
#: the next entry (at most a candle away) or an open trade's exit (30 s hold), with margin
TRADE_DEADLINE_S = 90
RESTART_DEADLINE_S = 30
HEAL_DEADLINE_S = 15  # the supervisor checks every 5 s
OUTAGE_DEADLINE_S = 45
RESTORED_DEADLINE_S = 45
RECONCILED_DEADLINE_S = 60
#: a trade whose entry filled this recently leaves time for `down` before its exit
QUIET_ENTRY_AGE_S = 6.0
MAX_REDIS_KILLS = 12
REL = 1e-9


# -- the twin -------------------------------------------------------------------------------


@pytest.fixture
def rig(tmp_path: Path) -> Iterator[botkit.Rig]:
    """A fresh twin per test: its fills are then exactly the fills of this test's bot."""
    with botkit.twin_rig(tmp_path) as rig:
        yield rig


# -- spec, commands, files ------------------------------------------------------------------


def _write_spec(directory: Path, rig: botkit.Rig) -> Path:
    document = yaml.safe_load(SPEC_EXAMPLE.read_text())
    (bot,) = document["bots"]
    assert bot["name"] == BOT, bot
    assert bot["strategy"]["name"] == "TwinScalper", bot
    bot["exchange"] = {"target": rig.url}
    bot["budget"] = {"amount": 50, "currency": "USDT"}
    bot["protections"] = {name: {"enabled": False} for name in PROTECTIONS}
    bot["memory"] = {"reconcile_every_s": RECONCILE_EVERY_S}
    # Held long enough that a quiet moment (entry filled, exit not yet ordered) lasts
    # ~25 s, not the ~5 s `down` would have to fit into with the default 10 s (the entry's
    # fill is seen a loop after the order); still one round trip a minute, as the candle
    # lock after every exit allows no more.
    bot["strategy"]["params"] = {"hold_seconds": HOLD_SECONDS}
    # TwinScalper loses every round trip's fees by design: the guard's loss-streak pause
    # (four in a row, then none for 120 min) would stop the trades this test waits for.
    # The guard itself is tested in test_guard_live.py.
    guard = bot.setdefault("risk", {}).setdefault("guard", {})
    guard.update(loss_streak=100, daily_loss=1.0, weekly_loss=1.0)
    return botkit.write_spec(directory, yaml.safe_dump(document, sort_keys=False), rig.key)


def _paths(spec: Path) -> BotPaths:
    return Workspace.for_spec(spec).bot(BOT)


def _redis(spec: Path) -> ManagedRedis:
    server = embedded(load_fleet(spec), Workspace.for_spec(spec))
    assert server is not None, "the spec must use the embedded Redis"
    return server


def _diagnosis(spec: Path) -> str:
    paths = _paths(spec)
    logs = paths.root / "logs"
    files = [
        paths.status,
        paths.log,
        paths.freqtrade_log,
        logs / "freqtrade.out",
        logs / "supervisor.out",
        _redis(spec).directory / "redis.log",
    ]
    return "\n".join(f"--- tail of {path} ---\n{botkit.tail(path, 60)}" for path in files)


def _poll(
    what: str, probe: Callable[[], Any], deadline_s: float, spec: Path, every: float = 0.25
) -> Any:
    """``probe()`` once it is truthy; a failure with the bot's logs at the deadline."""
    return botkit.poll(what, probe, deadline_s, lambda: _diagnosis(spec), every)


def _await_first_closed_trade(spec: Path) -> None:
    """Wait for the bot's first full round trip: entry and exit filled on the twin."""
    database = _paths(spec).database
    _poll(
        "a first closed trade",
        lambda: botkit.closed_trades(database) >= 1,
        FIRST_TRADE_DEADLINE_S,
        spec,
    )


def _redis_pid(server: ManagedRedis) -> int | None:
    """The pid of this deployment's redis-server, checked against its port (never a stranger)."""
    pid = server.pid()
    if pid is None or not botkit.alive(pid):
        return None
    try:
        port = json.loads((server.directory / "server.json").read_text())["port"]
    except (OSError, ValueError, KeyError):
        return None
    command = botkit.cmdline(pid)
    return pid if "redis-server" in command and f":{port}" in command else None


def _bring_down(spec: Path) -> None:
    """`bulkhead down` (bots and embedded Redis); SIGKILL exactly what survived it."""
    botkit.bring_down(spec, str(_paths(spec).root), str(spec), drop=MEMORY_ENV)
    server = _redis(spec)
    with contextlib.suppress(Exception):
        server.stop()
    pid = _redis_pid(server)
    if pid is not None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, signal.SIGKILL)


def _twin_orders(rig: botkit.Rig) -> str:
    bot = rig.twin.user_by_name(BOT)
    lines = [
        f"  {o.id} {o.side} {o.type} stop={o.stop or '-'} size={o.size} deal={o.deal_size} "
        f"active={o.is_active} hold={o.hold_amount} {o.hold_currency}"
        for o in list(rig.twin.state.orders.values())
        if o.uid == bot.uid
    ]
    held = {c: (b.balance, b.holds) for c, b in bot.accounts.get("trade", {}).items()}
    return "\n".join(["--- the twin's orders of bot1 ---", *lines[-12:], f"  trade account {held}"])


@contextlib.contextmanager
def _diagnosed(spec: Path, rig: botkit.Rig) -> Iterator[None]:
    """On any failure inside, print the logs' tails and the twin's view of the bot."""
    try:
        yield
    except BaseException:
        print(_diagnosis(spec))
        print(_twin_orders(rig))
        raise


# -- Freqtrade's database -------------------------------------------------------------------


def _utc(text: str | None) -> float | None:
    if not text:
        return None
    return datetime.fromisoformat(text).replace(tzinfo=UTC).timestamp()


def _open_trade_with_filled_entry(database: Path, max_age_s: float) -> int | None:
    """The id of an open trade whose entry filled within ``max_age_s`` and whose stop order
    Freqtrade has recorded, while no entry or exit order is in flight: nothing the twin
    may have done that Freqtrade has not seen.

    (Killed between placing its stop order on the exchange and committing it, Freqtrade
    comes back unaware of the stop, which holds the whole position: every exit then fails
    with "Balance insufficient". The crash test kills Freqtrade outside that window.)
    """
    trades = botkit.rows(database, "SELECT id FROM trades WHERE is_open = 1")
    orders = botkit.rows(database, "SELECT * FROM orders")
    moves = [o for o in orders if o["ft_order_side"] in ("buy", "sell")]
    if len(trades) != 1 or any(o["ft_is_open"] for o in moves):
        return None
    trade_id = trades[0]["id"]
    mine = [o for o in orders if o["ft_trade_id"] == trade_id]
    entries = [o for o in mine if o["ft_order_side"] == "buy" and o["filled"]]
    stops = [o for o in mine if o["ft_order_side"] == "stoploss" and o["ft_is_open"]]
    if len(entries) != 1 or len(stops) != 1:
        return None
    filled_at = _utc(entries[0]["order_filled_date"]) or _utc(entries[0]["order_date"])
    if filled_at is None or time.time() - filled_at > max_age_s:
        return None
    return int(trade_id)


# -- memory ---------------------------------------------------------------------------------


@dataclass
class Memory:
    trades: list[TradeRecord]
    orders: list[OrderRecord]
    trade_ids: list[str]
    order_ids: list[str]
    order_hashes: int
    trade_hashes: int
    events: list[dict[str, Any]]


def _read_memory(spec: Path) -> Memory:
    """The bot's whole memory, read as the operator would (read-only user)."""
    access = prepare_memory(load_fleet(spec), Workspace.for_spec(spec))
    client = access.reader.client(socket_timeout=10)
    try:
        store = MemoryStore(client, BOT)
        keys = BotKeys(BOT)
        return Memory(
            trades=store.trades(),
            orders=store.orders(),
            trade_ids=store.trade_ids(),
            order_ids=[i.decode() for i in client.zrange(keys.orders, 0, -1)],
            order_hashes=int(client.hlen(keys.order_data)),
            trade_hashes=int(client.hlen(keys.trade_data)),
            events=store.events(count=1_000_000),
        )
    finally:
        client.close()


def _announced(memory: Memory, name: str, field: str) -> Counter[str]:
    return Counter(str(e["data"][field]) for e in memory.events if e["event"] == name)


def _check_memory_has_no_duplicates(memory: Memory) -> None:
    assert len(memory.order_ids) == len(set(memory.order_ids)), memory.order_ids
    assert len(memory.trade_ids) == len(set(memory.trade_ids)), memory.trade_ids
    assert memory.order_hashes == len(memory.order_ids), "order records outside the index"
    assert memory.trade_hashes == len(memory.trade_ids), "trade records outside the index"
    assert [o.order_id for o in memory.orders] == memory.order_ids
    assert [str(t.trade_id) for t in memory.trades] == memory.trade_ids
    repeated = {k: n for k, n in _announced(memory, "order_recorded", "order_id").items() if n > 1}
    assert not repeated, f"orders announced more than once: {repeated}"
    repeated = {k: n for k, n in _announced(memory, "trade_closed", "trade_id").items() if n > 1}
    assert not repeated, f"closes announced more than once: {repeated}"


def _check_against_twin_and_database(rig: botkit.Rig, spec: Path, memory: Memory) -> None:
    database = _paths(spec).database
    bot = rig.twin.user_by_name(BOT)
    fills: dict[str, list[Any]] = {}
    for fill in list(rig.twin.state.fills):
        if fill.uid == bot.uid:
            fills.setdefault(fill.order_id, []).append(fill)
    db_orders = {r["order_id"]: r for r in botkit.rows(database, "SELECT * FROM orders")}
    db_filled = {i for i, r in db_orders.items() if (r["filled"] or 0) > 0}
    assert fills, "the twin filled nothing"

    # The stop must have come at a quiet moment: Freqtrade saw every fill the twin made.
    unseen = sorted(set(fills) - db_filled)
    assert not unseen, f"filled on the twin but not in Freqtrade's database: {unseen}"

    # Every filled order is in memory exactly once (ids as sets, and no repeats).
    remembered = {o.order_id: o for o in memory.orders}
    assert len(remembered) == len(memory.orders)
    missing, extra = sorted(set(fills) - set(remembered)), sorted(set(remembered) - set(fills))
    assert not missing, f"filled on the twin, missing from memory: {missing}"
    assert not extra, f"in memory, never filled on the twin: {extra}"
    assert _announced(memory, "order_recorded", "order_id") == Counter(set(fills))

    # ... and carries the twin's and Freqtrade's numbers.
    for order_id, mine in fills.items():
        order, row = remembered[order_id], db_orders[order_id]
        size = sum((f.size for f in mine), Decimal(0))
        funds = sum((f.funds for f in mine), Decimal(0))
        fee = sum((f.fee for f in mine), Decimal(0))
        assert order.trade_id == row["ft_trade_id"], order_id
        assert order.side == row["ft_order_side"] == mine[0].side, order_id
        assert order.pair == row["ft_pair"], order_id
        assert order.amount == pytest.approx(row["filled"], rel=REL), order_id
        assert order.price == pytest.approx(row["average"], rel=REL), order_id
        assert order.cost == pytest.approx(row["cost"], rel=REL), order_id
        assert order.amount == pytest.approx(float(size), rel=REL), order_id
        assert order.cost == pytest.approx(float(funds), rel=REL), order_id
        assert order.price == pytest.approx(float(funds / size), rel=REL), order_id
        assert order.fee_quote == pytest.approx(float(fee), rel=REL), order_id

    # Every closed trade is in memory once, with Freqtrade's rates, fees and result.
    closed = botkit.rows(database, "SELECT * FROM trades WHERE is_open = 0")
    trades = {t.trade_id: t for t in memory.trades}
    for row in closed:
        trade = trades.get(row["id"])
        assert trade is not None, f"closed trade {row['id']} is not in memory"
        assert not trade.is_open, trade
        assert trade.pair == row["pair"]
        assert trade.amount == pytest.approx(row["amount"], rel=REL), trade
        assert trade.open_rate == pytest.approx(row["open_rate"], rel=REL), trade
        assert trade.close_rate == pytest.approx(row["close_rate"], rel=REL), trade
        assert trade.fee_open_cost == pytest.approx(row["fee_open_cost"], rel=REL), trade
        assert trade.fee_close_cost == pytest.approx(row["fee_close_cost"], rel=REL), trade
        assert trade.realized_pnl == pytest.approx(row["close_profit_abs"], rel=REL), trade
        assert trade.realized_pnl_ratio == pytest.approx(row["close_profit"], rel=REL), trade
    closed_ids = Counter(str(row["id"]) for row in closed)
    assert _announced(memory, "trade_closed", "trade_id") == closed_ids
    # Memory knows no trade Freqtrade does not (open ones included).
    known = {r["id"] for r in botkit.rows(database, "SELECT id FROM trades")}
    assert set(trades) <= known, sorted(set(trades) - known)


# -- running the bot ------------------------------------------------------------------------


def _up(spec: Path) -> None:
    up = botkit.cli(spec, "up", BOT, drop=MEMORY_ENV)
    assert up.returncode == 0, botkit.shown(up) + _diagnosis(spec)
    assert f"{BOT}: running" in up.stdout, botkit.shown(up)


def _down(spec: Path) -> None:
    """`bulkhead down` with no bot name: the bot stops, then the embedded Redis."""
    down = botkit.cli(spec, "down", drop=MEMORY_ENV)
    assert down.returncode == 0, botkit.shown(down)
    assert f"{BOT}: stopped" in down.stdout, botkit.shown(down)
    assert "embedded redis: stopped" in down.stdout, botkit.shown(down)
    assert lease_holder(_paths(spec).lock) is None
    assert _redis_pid(_redis(spec)) is None, "redis-server survived `bulkhead down`"


def _stop_at_a_quiet_moment(spec: Path) -> None:
    database = _paths(spec).database
    _poll(
        "a quiet moment (an entry filled, its exit not due yet, no order in flight)",
        lambda: _open_trade_with_filled_entry(database, QUIET_ENTRY_AGE_S),
        2 * TRADE_DEADLINE_S,
        spec,
        every=0.1,
    )
    _down(spec)


def _kill_freqtrade_with_a_trade_open(spec: Path) -> None:
    paths = _paths(spec)
    trade_id = _poll(
        "an open trade whose entry has filled",
        lambda: _open_trade_with_filled_entry(paths.database, 3.0),
        TRADE_DEADLINE_S,
        spec,
        every=0.1,
    )
    status = botkit.status(paths)
    child = int(status["child_pid"])
    assert str(paths.config) in botkit.cmdline(child), f"{child} is not this bot's Freqtrade"
    os.kill(child, signal.SIGKILL)
    killed = time.monotonic()
    print(f"SIGKILLed Freqtrade {child} with trade {trade_id} open")

    def restarted() -> dict[str, Any] | None:
        now = botkit.status(paths)
        if now.get("state") == "running" and now.get("child_pid") not in (None, child):
            return now
        return None

    now = _poll("Freqtrade restarted by its supervisor", restarted, RESTART_DEADLINE_S, spec)
    assert now["pid"] == status["pid"], "the supervisor itself must not have changed"
    print(f"Freqtrade restarted after {time.monotonic() - killed:.1f} s")
    crashes = botkit.events(paths.log, "freqtrade_crashed")
    assert crashes, _diagnosis(spec)
    assert crashes[-1]["exit_code"] == -signal.SIGKILL, crashes


def _kill_redis_until_the_bot_notices(spec: Path) -> tuple[float, float, bool]:
    """SIGKILL redis-server (again each time the supervisor brings it back) until the
    recorder logs an outage; then let the supervisor heal it (the test heals it only if
    the supervisor does not).

    The recorder touches Redis about once per 5 s bot loop and the supervisor checks
    every 5 s, so one outage may be over before the recorder meets it: killing again
    right after each restart makes the recorder meet a dead Redis within a few rounds.
    Returns (first kill time, outage time, healed by the supervisor).
    """
    paths = _paths(spec)
    server = _redis(spec)
    _poll(
        "an open trade whose entry has filled",
        lambda: _open_trade_with_filled_entry(paths.database, 5.0),
        TRADE_DEADLINE_S,
        spec,
        every=0.1,
    )
    first_kill = time.time()
    kills: list[int] = []
    last_kill = 0.0

    def kill_until_an_outage_is_logged() -> list[dict[str, Any]]:
        nonlocal last_kill
        pid = _redis_pid(server)
        # Kill again only once the supervisor has said it restarted the server: its next
        # check is then ~5 s away, so the recorder meets a dead Redis for ~5 s.
        healed = not kills or botkit.events(paths.log, "memory_server_restarted", since=last_kill)
        if pid is not None and pid not in kills and healed and len(kills) < MAX_REDIS_KILLS:
            os.kill(pid, signal.SIGKILL)
            kills.append(pid)
            last_kill = time.time()
        return botkit.events(paths.freqtrade_log, "memory_outage", since=first_kill)

    try:
        outage = wait_until(
            kill_until_an_outage_is_logged, OUTAGE_DEADLINE_S, 0.05, what="a memory_outage"
        )
    except WaitTimeout:
        pytest.fail(f"no memory_outage after {kills}\n{_diagnosis(spec)}")
    print(f"killed redis-server {len(kills)} time(s): {kills}; outage logged {outage[0]}")

    healed_by_supervisor = True
    try:
        wait_until(server.is_running, HEAL_DEADLINE_S, 0.1, what="redis-server to be restarted")
    except WaitTimeout:
        healed_by_supervisor = False
        print("the supervisor did not restart redis-server in time: the test does")
        server.heal()
    if healed_by_supervisor:
        restarts = botkit.events(paths.log, "memory_server_restarted", since=first_kill)
        assert restarts, "redis-server came back without the supervisor saying so"
    return first_kill, botkit.when(outage[0]), healed_by_supervisor


# -- the tests ------------------------------------------------------------------------------


def test_memory_matches_the_exchange_after_freqtrade_and_redis_crashes(rig: botkit.Rig) -> None:
    spec = _write_spec(rig.root / "crash", rig)
    paths = _paths(spec)
    started = time.monotonic()
    try:
        with _diagnosed(spec, rig):
            _up(spec)
            # a. trading: a first round trip
            _await_first_closed_trade(spec)
            print(f"first closed trade after {time.monotonic() - started:.1f} s")

            # b. Freqtrade dies with a trade open; its supervisor brings it back
            _kill_freqtrade_with_a_trade_open(spec)
            closed_at_crash = botkit.closed_trades(paths.database)
            _poll(
                "a trade closed after Freqtrade's restart",
                lambda: botkit.closed_trades(paths.database) > closed_at_crash,
                TRADE_DEADLINE_S,
                spec,
            )

            # c. Redis dies while the bot trades; the supervisor heals it
            killed_at, outage_at, by_supervisor = _kill_redis_until_the_bot_notices(spec)
            closed_at_outage = botkit.closed_trades(paths.database)
            restored = _poll(
                "the recorder back on Redis after the outage",
                lambda: botkit.events(
                    paths.freqtrade_log, "memory_restored", "memory_reconciled", since=outage_at
                ),
                RESTORED_DEADLINE_S,
                spec,
            )
            print(
                f"outage logged {outage_at - killed_at:.1f} s after the kill, "
                f"{restored[0]['event']} {botkit.when(restored[0]) - outage_at:.1f} s after that "
                f"(healed by the supervisor: {by_supervisor})"
            )

            # d. more trades, then stop at a quiet moment
            target = max(3, closed_at_outage + 1)
            _poll(
                f"{target} closed trades",
                lambda: botkit.closed_trades(paths.database) >= target,
                2 * TRADE_DEADLINE_S,
                spec,
            )
            _stop_at_a_quiet_moment(spec)
            print(f"stopped after {time.monotonic() - started:.1f} s")

            # e. memory (Redis started again, from its append-only file) against the rest
            memory = _read_memory(spec)
            _check_memory_has_no_duplicates(memory)
            _check_against_twin_and_database(rig, spec, memory)
            events = [e["event"] for e in botkit.events(paths.freqtrade_log, since=killed_at)]
            assert "memory_outage" in events, events
            assert {"memory_restored", "memory_reconciled"} & set(events), events
            first_outage = events.index("memory_outage")
            assert {"memory_restored", "memory_reconciled"} & set(events[first_outage:])
            print(
                f"memory: {len(memory.orders)} orders, {len(memory.trades)} trades, "
                f"{len(memory.events)} events; {botkit.closed_trades(paths.database)} closed trades"
            )
    finally:
        _bring_down(spec)


def test_memory_written_in_one_run_is_there_in_the_next(rig: botkit.Rig) -> None:
    spec = _write_spec(rig.root / "restart", rig)
    paths = _paths(spec)
    try:
        with _diagnosed(spec, rig):
            _up(spec)
            _await_first_closed_trade(spec)
            _stop_at_a_quiet_moment(spec)

            # What the first run left, read from Redis started afresh from its files.
            before = _read_memory(spec)
            _check_memory_has_no_duplicates(before)
            closed_before = [t for t in before.trades if not t.is_open]
            assert closed_before, "the first run left no closed trade in memory"
            announced_before = {
                (e["event"], e["id"]) for e in before.events if e["event"] == "trade_closed"
            }
            assert len(announced_before) == len(closed_before)
            assert stop_embedded(load_fleet(spec), Workspace.for_spec(spec))

            second_start = time.time()
            _up(spec)
            _poll(
                "the second run's first reconciliation",
                lambda: botkit.events(paths.freqtrade_log, "memory_reconciled", since=second_start),
                RECONCILED_DEADLINE_S,
                spec,
            )
            after = _read_memory(spec)
            _down(spec)

            _check_memory_has_no_duplicates(after)
            trades_after = {t.trade_id: t for t in after.trades}
            for trade in closed_before:
                assert trades_after.get(trade.trade_id) == trade, trade.trade_id
            orders_after = {o.order_id: o for o in after.orders}
            for order in before.orders:
                assert orders_after.get(order.order_id) == order, order.order_id
            # The very same announcements (same stream ids): kept, not rebuilt.
            announced_after = {(e["event"], e["id"]) for e in after.events}
            assert announced_before <= announced_after
            print(
                f"first run: {len(before.trades)} trades, {len(before.orders)} orders; "
                f"second run: {len(after.trades)} trades, {len(after.orders)} orders"
            )
    finally:
        _bring_down(spec)
