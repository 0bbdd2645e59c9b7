"""A bot's whole life through the CLI, against the KuCoin twin: up, trade, crash, down.

One twin (examples/sim.yaml) on a background thread serves the module. The spec is
examples/bulkhead.yaml pointed at the twin, with the sub-account key "bot1-trade" in a
.env beside it, and every command runs as ``python -m bulkhead ...`` in a subprocess,
as an operator would type it.

One live run serves the first four tests, in file order: the ``live`` fixture starts
the bot once; a second instance is refused while it runs; a SIGKILLed Freqtrade is
restarted; then the bot must close a round trip, ``bulkhead down`` must leave nothing
running, and every record (the twin's books, Freqtrade's database, the logs) must agree;
finally no secret may appear in anything the run left behind. The last two tests start
bots that must be refused before Freqtrade ever runs. Every wait polls with a deadline,
and the fixtures always run ``bulkhead down``, so no process outlives the module.
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import stat
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

import botkit
import pytest

from bulkhead.config.loader import load_fleet
from bulkhead.config.workspace import BotPaths, GatewayPaths, Workspace
from bulkhead.fleet.gateway_access import read_gateway_state
from bulkhead.fleet.lease import lease_holder
from bulkhead.gateway.custody import credential_path, load_credential
from bulkhead.memory.deployment import admin_connection

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
SPEC_EXAMPLE = ROOT / "examples" / "bulkhead.yaml"
EXAMPLE_TWIN_URL = "http://127.0.0.1:8899"
EXAMPLE_BUDGET = "budget: {amount: 100, currency: USDT}"
BOT = "bot1"
BOT_KEY = "bot1-trade"
MASTER_KEY = "master-admin"

ROUND_TRIP_DEADLINE_S = 240
FREQTRADE_READY_DEADLINE_S = 90
RESTART_DEADLINE_S = 60
SECOND_INSTANCE_DEADLINE_S = 30
STOP_DEADLINE_S = 60
REL = 1e-8


# -- the twin -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def rig(tmp_path_factory: pytest.TempPathFactory) -> Iterator[botkit.Rig]:
    # The twin's credentials file stays outside every spec folder: the secret scan of a
    # bot's .bulkhead tree must not find them there by construction.
    with botkit.twin_rig(tmp_path_factory.mktemp("bot_lifecycle")) as rig:
        yield rig


# -- specs, commands, files -----------------------------------------------------------------


def _write_spec(
    directory: Path, twin_url: str, key: dict[str, str], *, budget: str | None = None
) -> Path:
    """examples/bulkhead.yaml aimed at the twin, and a .env (0600) with ``key`` beside it."""
    text = SPEC_EXAMPLE.read_text()
    assert text.count(EXAMPLE_TWIN_URL) == 1, "examples/bulkhead.yaml changed its twin URL"
    text = text.replace(EXAMPLE_TWIN_URL, twin_url)
    if budget is not None:
        assert text.count(EXAMPLE_BUDGET) == 1, "examples/bulkhead.yaml changed its budget"
        text = text.replace(EXAMPLE_BUDGET, f"budget: {{amount: {budget}, currency: USDT}}")
    return botkit.write_spec(directory, text, key)


def _paths(spec: Path) -> BotPaths:
    return Workspace.for_spec(spec).bot(BOT)


def _diagnosis(paths: BotPaths) -> str:
    logs = paths.root / "logs"
    return "\n".join(
        f"--- tail of {path.name} ---\n{botkit.tail(path)}"
        for path in (
            paths.status,
            paths.log,
            logs / "supervisor.out",
            logs / "freqtrade.out",
        )
    )


def _gateway_paths(spec: Path) -> GatewayPaths:
    return Workspace.for_spec(spec).gateway


def _poll(
    what: str, probe: Callable[[], Any], deadline_s: float, paths: BotPaths, every: float = 0.5
) -> Any:
    """``probe()`` once it is truthy; a failure with the bot's logs at the deadline."""
    return botkit.poll(what, probe, deadline_s, lambda: _diagnosis(paths), every)


def _bring_down(spec: Path) -> list[botkit.Process]:
    """``bulkhead down`` for the whole spec (every bot, and its embedded Redis); then
    SIGKILL whatever process of the deployment survived it. What had to be killed.

    That is every process whose command line names the spec's folder or that runs inside
    it (the supervisor names its spec, Freqtrade its config, and an embedded Redis runs
    in the deployment's .bulkhead folder), so a recycled pid can never hit a stranger.
    """
    return botkit.bring_down(spec, str(spec.parent), running_inside=True)


# -- the live run ---------------------------------------------------------------------------


@dataclass
class LiveRun:
    rig: botkit.Rig
    spec: Path
    paths: BotPaths
    key: dict[str, str]
    up: subprocess.CompletedProcess[str]
    started: float
    master_before: dict[str, Any]
    #: the result of `bulkhead down` once it ran (first caller runs it)
    down: subprocess.CompletedProcess[str] | None = None
    #: supervisor pid and every Freqtrade pid seen, recorded just before `down`
    supervisor_pid: int | None = None
    freqtrade_pids: set[int] = field(default_factory=set)

    def require_running(self) -> dict[str, Any]:
        """status.json of the running bot, or a failure saying why it does not run."""
        assert self.down is None, "the live run was already brought down (tests out of order?)"
        assert self.up.returncode == 0, botkit.shown(self.up)
        status = botkit.status(self.paths)
        holder = lease_holder(self.paths.lock)
        assert status.get("state") == "running", f"{status}\n{_diagnosis(self.paths)}"
        assert holder == status.get("pid"), f"lease held by {holder}, status {status}"
        return status

    def stop(self) -> subprocess.CompletedProcess[str]:
        """`bulkhead down`, once; what it printed."""
        if self.down is None:
            status = botkit.status(self.paths)
            self.supervisor_pid = lease_holder(self.paths.lock)
            started = botkit.events(self.paths.log, "freqtrade_started")
            self.freqtrade_pids = {int(e["pid"]) for e in started}
            if isinstance(status.get("child_pid"), int):
                self.freqtrade_pids.add(status["child_pid"])
            self.down = botkit.cli(self.spec, "down", BOT)
        return self.down


@pytest.fixture(scope="module")
def live(rig: botkit.Rig) -> Iterator[LiveRun]:
    """bot1, live on the twin, started once with `bulkhead up`; always brought down."""
    key = rig.keys[BOT_KEY]
    spec = _write_spec(rig.root / "live", rig.url, key)
    master_before = botkit.balances(rig.twin.user_by_name("master").accounts)
    started = time.monotonic()
    try:
        up = botkit.cli(spec, "up", BOT)
        yield LiveRun(
            rig=rig,
            spec=spec,
            paths=_paths(spec),
            key=key,
            up=up,
            started=started,
            master_before=master_before,
        )
    finally:
        leftovers = _bring_down(spec)
    assert leftovers == [], "`bulkhead down` left these running (now killed)"


def test_a_second_instance_of_a_running_bot_is_refused(live: LiveRun) -> None:
    first = live.require_running()
    refusals_before = len(botkit.events(live.paths.log, "supervisor_refused"))

    began = time.monotonic()
    second = botkit.cli(live.spec, "run-bot", BOT, timeout=SECOND_INSTANCE_DEADLINE_S)
    took = time.monotonic() - began
    print(f"second instance refused after {took:.1f} s")

    assert second.returncode == 4, botkit.shown(second)  # supervisor.EXIT_ALREADY_RUNNING
    assert took < SECOND_INSTANCE_DEADLINE_S / 2
    refusals = botkit.events(live.paths.log, "supervisor_refused")
    assert len(refusals) == refusals_before + 1
    # The first instance never noticed: same lease holder, same Freqtrade, still running.
    assert lease_holder(live.paths.lock) == first["pid"]
    after = botkit.status(live.paths)
    assert after["state"] == "running"
    assert after["child_pid"] == first["child_pid"]
    assert after["restarts"] == first["restarts"]
    assert botkit.alive(first["pid"])
    assert botkit.alive(first["child_pid"])


def test_a_crashed_freqtrade_is_restarted_by_its_supervisor(live: LiveRun) -> None:
    first = live.require_running()
    # Let Freqtrade get properly going (its strategy started) before pulling the plug.
    _poll(
        "Freqtrade's strategy to start",
        lambda: botkit.events(live.paths.freqtrade_log, "strategy_start"),
        FREQTRADE_READY_DEADLINE_S,
        live.paths,
    )
    old_child = first["child_pid"]
    os.kill(old_child, signal.SIGKILL)
    killed = time.monotonic()

    def restarted() -> dict[str, Any] | None:
        status = botkit.status(live.paths)
        child = status.get("child_pid")
        if status.get("state") == "running" and child not in (None, old_child):
            return status
        return None

    status = _poll("a restarted Freqtrade", restarted, RESTART_DEADLINE_S, live.paths, 0.2)
    print(f"Freqtrade restarted {time.monotonic() - killed:.1f} s after SIGKILL")

    assert status["restarts"] >= 1
    assert status["pid"] == first["pid"], "the supervisor itself must not have changed"
    assert lease_holder(live.paths.lock) == first["pid"]
    assert not botkit.alive(old_child)
    assert botkit.alive(status["child_pid"])
    crashes = botkit.events(live.paths.log, "freqtrade_crashed")
    assert crashes, _diagnosis(live.paths)
    assert crashes[-1]["exit_code"] == -signal.SIGKILL
    assert crashes[-1]["restarts"] >= 1
    started = [e["pid"] for e in botkit.events(live.paths.log, "freqtrade_started")]
    assert started[-2:] == [old_child, status["child_pid"]]


def test_a_killed_gateway_is_started_again_by_the_bots_supervisor(live: LiveRun) -> None:
    """Without its gateway a bot can neither enter nor exit: its supervisor notices within
    seconds and starts it again, on the same port, while Freqtrade keeps running."""
    before = live.require_running()
    gateway = _gateway_paths(live.spec)
    served = read_gateway_state(gateway)
    old = lease_holder(gateway.lock)
    assert old is not None, served
    killed_at = time.time()
    os.kill(old, signal.SIGKILL)

    def restarted() -> bool:
        holder = lease_holder(gateway.lock)
        state = read_gateway_state(gateway)
        serving = holder not in (None, old) and state.get("state") == "serving"
        # the supervisor logs its restart once the new gateway answers, a moment later
        return serving and bool(botkit.events(live.paths.log, "gateway_restarted", since=killed_at))

    _poll("the gateway started again", restarted, RESTART_DEADLINE_S, live.paths, 0.2)
    assert read_gateway_state(gateway)["url"] == served["url"]  # Freqtrade's config holds
    after = live.require_running()
    assert after["child_pid"] == before["child_pid"]


def test_freqtrade_holds_only_its_gateway_credential(live: LiveRun) -> None:
    """The real key stays in the gateway: not in Freqtrade's (or its supervisor's)
    environment or config; Freqtrade's key is the gateway credential, its URLs the gateway."""
    status = live.require_running()
    real = {part: live.key[part] for part in botkit.CREDENTIAL_ENV}
    for pid in (status["pid"], status["child_pid"]):
        environment = Path(f"/proc/{pid}/environ").read_bytes()
        command = Path(f"/proc/{pid}/cmdline").read_bytes()
        for part, value in real.items():
            assert value.encode() not in environment, f"the {part} is in {pid}'s environment"
            assert value.encode() not in command, f"the {part} is on {pid}'s command line"
    gateway = _gateway_paths(live.spec)
    credential = load_credential(credential_path(gateway.root, BOT), BOT)
    assert credential.api_key != live.key["apiKey"]
    freqtrade = Path(f"/proc/{status['child_pid']}/environ").read_bytes().split(b"\0")
    assert f"FREQTRADE__EXCHANGE__KEY={credential.api_key}".encode() in freqtrade
    config = json.loads(live.paths.config.read_text())
    served = read_gateway_state(gateway)["url"].rstrip("/")
    urls = config["exchange"]["ccxt_config"]["urls"]["api"]
    assert urls["public"] == urls["private"] == served, urls
    assert all(str(url).startswith(served) for url in urls.values()), urls
    assert live.rig.url not in json.dumps(config), "Freqtrade can reach the twin directly"


def _assert_report_matches_freqtrades_api(live: LiveRun) -> None:
    """The report's Freqtrade values, computed from the bot's trades, equal what the
    running bot's own ``/api/v1/profit`` says (read between two identical reads of its
    database, so no trade changed in between)."""
    import math

    import httpx
    import pandas as pd

    from bulkhead.analytics.freqtrade_compat import freqtrade_api_numbers
    from bulkhead.analytics.trades import Trades

    stored = json.loads(live.paths.api_credentials.read_text())
    base = f"http://127.0.0.1:{stored['port']}/api/v1"
    query = "SELECT id, open_date, close_date, close_profit_abs, stake_amount, is_open FROM trades"

    def consistent() -> tuple[list[Any], dict[str, Any]] | None:
        before = [tuple(r) for r in botkit.rows(live.paths.database, query + " ORDER BY id")]
        answer = httpx.get(f"{base}/profit", auth=(stored["username"], stored["password"]))
        after = [tuple(r) for r in botkit.rows(live.paths.database, query + " ORDER BY id")]
        return (before, answer.raise_for_status().json()) if before == after else None

    rows, profit = _poll("a quiet read of the API", consistent, 60, live.paths)
    closed = [r for r in rows if not r[5]]

    def ms(text: str) -> int:
        return int(pd.Timestamp(text, tz="UTC").timestamp() * 1000)

    trades = Trades.from_arrays(
        pnl=[r[3] for r in closed],
        stake=[r[4] for r in closed],
        open_ms=[ms(r[1]) for r in closed],
        close_ms=[ms(r[2]) for r in closed],
    )
    ours = freqtrade_api_numbers(trades, 100.0, ms(rows[0][1]), ms(rows[-1][1]))
    for name, theirs in (
        ("sharpe", "sharpe"),
        ("sortino", "sortino"),
        ("calmar", "calmar"),
        ("expectancy", "expectancy"),
        ("expectancy_ratio", "expectancy_ratio"),
        ("max_drawdown_account", "max_drawdown"),
    ):
        assert getattr(ours, name) == pytest.approx(profit[theirs], rel=1e-6, abs=1e-9), name
    if math.isinf(ours.profit_factor):
        assert profit["profit_factor"] in (None, float("inf")), profit["profit_factor"]
    else:
        assert ours.profit_factor == pytest.approx(profit["profit_factor"], rel=1e-6)


def test_live_bot_trades_a_round_trip_and_every_record_agrees(live: LiveRun) -> None:
    assert live.up.returncode == 0, botkit.shown(live.up)
    assert f"{BOT}: running" in live.up.stdout, botkit.shown(live.up)
    live.require_running()

    remaining = ROUND_TRIP_DEADLINE_S - (time.monotonic() - live.started)

    def traded() -> int:
        assert lease_holder(live.paths.lock) is not None, "the supervisor died"
        return botkit.closed_trades(live.paths.database)

    _poll("a closed trade in Freqtrade's database", traded, remaining, live.paths)
    print(f"first closed trade {time.monotonic() - live.started:.1f} s after `up`")

    _assert_report_matches_freqtrades_api(live)

    # the supervisor logs the bot's metrics from its memory (first at start, then every
    # five minutes): the dashboard's feed
    metrics = botkit.events(live.paths.log, "bot_metrics")
    assert metrics, _diagnosis(live.paths)
    assert {"trades", "net_pnl", "max_drawdown", "sharpe"} <= set(metrics[0]), metrics[0]

    shown = botkit.cli(live.spec, "status", BOT)
    assert shown.returncode == 0, botkit.shown(shown)
    row = next((line.split() for line in shown.stdout.splitlines() if line.startswith(BOT)), [])
    assert row[:3] == [BOT, "live", "running"], shown.stdout
    assert row[3] == str(live.supervisor_pid or lease_holder(live.paths.lock))

    # -- down: the lease is free and nothing of the bot runs any more -----------------------
    down = live.stop()
    assert down.returncode == 0, botkit.shown(down)
    assert f"{BOT}: stopped" in down.stdout, botkit.shown(down)
    assert lease_holder(live.paths.lock) is None
    assert botkit.status(live.paths)["state"] == "stopped"
    assert live.supervisor_pid is not None
    assert live.freqtrade_pids, "no Freqtrade pid was ever recorded"
    for pid in live.freqtrade_pids:
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)
    assert not botkit.alive(live.supervisor_pid)
    # (`down BOT` stops that bot; the deployment's embedded Redis, if any, may stay.)
    assert botkit.processes(str(live.spec.parent)) == []

    _check_exchange_against_database(live)
    _check_logs_against_database(live)


def _filled_orders(database: Path) -> tuple[list[sqlite3.Row], list[sqlite3.Row]]:
    """(closed trades, orders that filled anything) from Freqtrade's database."""
    with sqlite3.connect(f"file:{database}?mode=ro", uri=True) as db:
        db.row_factory = sqlite3.Row
        trades = db.execute("SELECT * FROM trades WHERE is_open = 0").fetchall()
        orders = db.execute("SELECT * FROM orders WHERE filled > 0").fetchall()
    return trades, orders


def _check_exchange_against_database(live: LiveRun) -> None:
    twin = live.rig.twin
    bot = twin.user_by_name(BOT)
    master = twin.user_by_name("master")
    orders = dict(twin.state.orders)
    fills = list(twin.state.fills)

    # Everything on the exchange was done by the sub-account; the master is untouched.
    assert orders, "the twin saw no orders"
    assert {o.uid for o in orders.values()} == {bot.uid}
    assert {f.uid for f in fills} == {bot.uid}
    assert botkit.balances(master.accounts) == live.master_before

    trades, filled = _filled_orders(live.paths.database)
    assert trades, "no closed trade in Freqtrade's database"
    for trade in trades:
        sides = {r["ft_order_side"] for r in filled if r["ft_trade_id"] == trade["id"]}
        assert {"buy", "sell"} <= sides, f"trade {trade['id']} filled only {sides}"

    # Each filled order in Freqtrade's database is the twin's order, as the twin filled it.
    assert filled
    for row in filled:
        order_id = row["order_id"]
        assert order_id in orders, f"{order_id} unknown to the twin"
        mine = [f for f in fills if f.order_id == order_id]
        assert mine, f"no twin fill for {order_id}"
        size = sum((f.size for f in mine), Decimal(0))
        funds = sum((f.funds for f in mine), Decimal(0))
        assert {f.side for f in mine} == {row["side"]}
        assert row["filled"] == pytest.approx(float(size), rel=REL), order_id
        assert row["cost"] == pytest.approx(float(funds), rel=REL), order_id
        assert row["average"] == pytest.approx(float(funds / size), rel=REL), order_id
        assert orders[order_id].deal_size == size

    # The sub-account's money is its 100 USDT plus exactly what the fills moved.
    expected = botkit.moved_by(fills, {"USDT": Decimal(100)})
    held = {cur: b.balance for cur, b in bot.accounts["trade"].items()}
    for currency, amount in expected.items():
        assert held.get(currency, Decimal(0)) == amount, currency


def _check_logs_against_database(live: LiveRun) -> None:
    # Every fill in the database was logged by the strategy, with the same numbers.
    _, filled = _filled_orders(live.paths.database)
    logged: dict[str, list[dict[str, Any]]] = {}
    for entry in botkit.events(live.paths.freqtrade_log, "order_filled"):
        logged.setdefault(str(entry.get("order_id")), []).append(entry)
    for row in filled:
        events = logged.get(row["order_id"])
        assert events, f"no order_filled event for {row['order_id']} ({row['ft_order_side']})"
        entry = events[-1]
        assert entry["bot"] == BOT
        assert entry["trade_id"] == row["ft_trade_id"]
        assert entry["side"] == row["ft_order_side"]
        assert entry["amount"] == pytest.approx(row["filled"], rel=REL)
        assert entry["price"] == pytest.approx(row["average"], rel=REL)
        assert entry["cost"] == pytest.approx(row["cost"], rel=REL)

    # The gateway proved the real key harmless before Freqtrade ever started, and the
    # supervisor started Freqtrade only once the gateway served the bot.
    supervisor = botkit.events(live.paths.log)
    names = [e.get("event") for e in supervisor]
    assert "freqtrade_started" in names
    first_start = names.index("freqtrade_started")
    preflights = botkit.events(_gateway_paths(live.spec).log, "gateway_preflight")
    assert preflights, "the gateway logged no preflight"
    assert all(p["passed"] is True and p["bot"] == BOT for p in preflights)
    assert preflights[0]["report"]["passed"] is True
    assert botkit.when(preflights[0]) <= botkit.when(supervisor[first_start])
    assert names.index("gateway_access") < first_start
    assert names.index("config_rendered") < first_start
    assert names[-1] == "supervisor_stop", names[-5:]


def test_no_secret_appears_in_any_log_or_rendered_file(live: LiveRun) -> None:
    if live.down is None:  # run alone: let the bot log a while, then stop it
        live.require_running()
        _poll(
            "an order fill in the logs",
            lambda: botkit.events(live.paths.freqtrade_log, "order_filled"),
            ROUND_TRIP_DEADLINE_S,
            live.paths,
        )
    live.stop()
    secrets = {part: live.key[part] for part in botkit.CREDENTIAL_ENV}
    for part, value in secrets.items():
        assert len(value) >= 8, f"the twin's {part} is too short to search for"

    bulkhead_dir = live.spec.parent / ".bulkhead"
    files = sorted(p for p in bulkhead_dir.rglob("*") if p.is_file())
    names = {p.name for p in files}
    assert {
        "config.json",
        "api.json",
        "status.json",
        "tradesv3.sqlite",
        "bot.jsonl",
        "freqtrade.jsonl",
        "freqtrade.out",
        "supervisor.out",
    } <= names, sorted(names)
    for path in files:
        content = path.read_bytes()
        for part, value in secrets.items():
            assert value.encode() not in content, f"the {part} is in {path}"

    memory = _everything_in_redis(live.spec)
    assert b"order_filled" in memory or b"trade" in memory, "memory holds nothing of the run"
    for part, value in secrets.items():
        assert value.encode() not in memory, f"the {part} is in the bot's memory (Redis)"

    for mode in ("config.json", "api.json"):
        path = live.paths.root / mode
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, f"{path} is not 0600"

    shown = botkit.cli(live.spec, "logs", BOT, "--json", "--lines", "1000000")
    assert shown.returncode == 0, botkit.shown(shown)
    lines = shown.stdout.splitlines()
    assert len(lines) > 10
    assert any(json.loads(line).get("event") == "order_filled" for line in lines)
    rendered = botkit.cli(live.spec, "render", BOT, "--show")
    assert rendered.returncode == 0, botkit.shown(rendered)
    assert '"exchange"' in rendered.stdout
    for output in (shown, rendered):
        for part, value in secrets.items():
            assert value not in output.stdout + output.stderr, f"the {part} was printed"
    assert stat.S_IMODE(live.paths.config.stat().st_mode) == 0o600


def _everything_in_redis(spec: Path) -> bytes:
    """Every key and value of the deployment's Redis, read by type, as one blob to search."""
    fleet = load_fleet(spec)
    client = admin_connection(fleet, Workspace.for_spec(spec)).client(socket_timeout=10)
    readers: dict[bytes, Callable[[bytes], Any]] = {
        b"string": client.get,
        b"hash": client.hgetall,
        b"list": lambda key: client.lrange(key, 0, -1),
        b"set": client.smembers,
        b"zset": lambda key: client.zrange(key, 0, -1, withscores=True),
        b"stream": client.xrange,
    }
    blob = bytearray()
    for key in client.scan_iter(count=1000):
        kind = client.type(key)
        blob += key + b"\0" + repr(readers.get(kind, lambda _: b"")(key)).encode() + b"\0"
    return bytes(blob)


# -- starts that must be refused --------------------------------------------------------------


def _refused_start(
    rig: botkit.Rig, spec: Path
) -> tuple[subprocess.CompletedProcess[str], dict[str, Any]]:
    """`bulkhead up` of a bot that must not start: its output, and its preflight event."""
    paths = _paths(spec)
    orders_before = len(rig.twin.state.orders)
    master_before = botkit.balances(rig.twin.user_by_name("master").accounts)
    try:
        up = botkit.cli(spec, "up", BOT)
        _poll("the refused supervisor to exit", lambda: not lease_holder(paths.lock), 30, paths)
    finally:
        leftovers = _bring_down(spec)
    assert leftovers == [], "`bulkhead down` left these running (now killed)"

    assert up.returncode != 0, botkit.shown(up)
    assert f"{BOT}: refused" in up.stdout, botkit.shown(up)
    # The refusal, and why, outlive the supervisor that refused.
    status = botkit.status(paths)
    assert status["state"] == "refused", status
    assert status["reason"] == f"the gateway refused {BOT}: preflight failed", status
    events = botkit.events(paths.log)
    names = [e.get("event") for e in events]
    assert "freqtrade_started" not in names, names
    assert "config_rendered" not in names, names
    assert "preflight_refused" in names, names
    assert not paths.config.exists(), "a refused bot must not get a config"
    assert not paths.freqtrade_log.exists()
    # The exchange saw no order and no money moved.
    assert len(rig.twin.state.orders) == orders_before
    assert botkit.balances(rig.twin.user_by_name("master").accounts) == master_before
    # The preflight ran where the real key is: in the gateway, which refused to serve the bot.
    gateway_log = _gateway_paths(spec).log
    (preflight,) = botkit.events(gateway_log, "gateway_preflight")
    assert preflight["bot"] == BOT
    assert preflight["passed"] is False
    return up, preflight


def _checks(preflight: dict[str, Any]) -> dict[str, str]:
    return {c["name"]: c["status"] for c in preflight["report"]["checks"]}


def test_live_start_is_refused_with_a_master_key(rig: botkit.Rig) -> None:
    master_key = rig.keys[MASTER_KEY]
    spec = _write_spec(rig.root / "master-key", rig.url, master_key)

    up, preflight = _refused_start(rig, spec)

    checks = _checks(preflight)
    assert checks["key_valid"] == "pass"
    assert checks["key_is_sub_account"] == "fail"
    assert checks["subaccount_matches"] == "fail"
    assert checks["permissions_trade_only"] == "fail"
    master = rig.twin.user_by_name("master")
    assert not [o for o in rig.twin.state.orders.values() if o.uid == master.uid]
    # Refusing a master key must not leak it either.
    for path in (spec.parent / ".bulkhead").rglob("*"):
        if path.is_file():
            for part in botkit.CREDENTIAL_ENV:
                assert master_key[part].encode() not in path.read_bytes(), f"{part} in {path}"
    for part in botkit.CREDENTIAL_ENV:
        assert master_key[part] not in up.stdout + up.stderr


def test_budget_below_the_exchange_minimum_refuses_to_start(rig: botkit.Rig) -> None:
    # A stake of 0.10 USDT clears the spec's floor (KuCoin's 0.1 minFunds) but not XRP's
    # size minimum on the twin: 0.1 XRP at 1.02-1.22 USDT (data/ohlcv/XRP_USDT-5m).
    spec = _write_spec(rig.root / "tiny-budget", rig.url, rig.keys[BOT_KEY], budget="0.11")

    _, preflight = _refused_start(rig, spec)

    checks = _checks(preflight)
    assert checks["budget_above_exchange_minimum"] == "fail", checks
    # Only the budget is wrong: the key itself is a proper trade-only sub-account key.
    failed = {name for name, status in checks.items() if status == "fail"}
    assert failed == {"budget_above_exchange_minimum"}, checks
