"""``bulkhead up | down | restart | status | logs``: one way to operate a bot, whichever
runtime the spec chooses (``runtime: local``, supervised processes; ``runtime: docker``, the
generated Compose project). Each command parses, calls the runtime and prints."""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Annotated, Any

import redis
import typer
from redis.backoff import NoBackoff
from redis.retry import Retry

from bulkhead.cli.bots import strategy_stack
from bulkhead.cli.common import DEFAULT_SPEC, SpecOption, environ, load, select, workspace
from bulkhead.cli.gateway import gateway_connection, guard_reading
from bulkhead.config.models import Bot, Fleet
from bulkhead.config.workspace import BotPaths
from bulkhead.errors import BulkheadError, TemporaryError
from bulkhead.fleet import docker as docker_runtime
from bulkhead.fleet import gateway_process, local
from bulkhead.fleet.compose import service_name
from bulkhead.fleet.ftapi import BotSnapshot, snapshot
from bulkhead.memory.deployment import connection_from_environment, stop_embedded
from bulkhead.memory.server import Connection

OptionalBot = Annotated[str | None, typer.Argument(help="Bot name; all bots when omitted.")]


def _trading_cells(bot: Bot, live: BotSnapshot | None) -> list[str]:
    """open, committed/budget, closed, profit: from the bot's REST API when it runs."""
    if live is None:
        return ["-", f"0/{bot.budget.amount} {bot.budget.currency}", "-", "-"]
    if not live.reachable:
        return ["?", f"api: {live.error}", "?", "?"]
    used = live.committed / float(bot.budget.amount)
    return [
        str(live.open_trades),
        f"{live.committed:.2f}/{bot.budget.amount} {bot.budget.currency} ({used:.0%})",
        str(live.closed_trades),
        f"{live.profit_all:+.4f}",
    ]


#: how long, in all (not per bot), `status` waits for the trading states and ledgers
GUARD_WAIT_S = 1.5


@dataclass(frozen=True)
class Guard:
    """What the gateway enforces on one bot, as `status` shows it.

    ``trading_state`` is ACTIVE, REDUCING or HALTED; "dry-run" for a bot the gateway
    sends no orders for (it has no ledger); "?" when Redis did not answer in time, or is
    not running. The amounts are None unless read from the bot's ledger.
    """

    trading_state: str
    cap: Decimal | None = None
    committed: Decimal | None = None
    headroom: Decimal | None = None

    def cells(self) -> list[str]:
        if self.headroom is not None:
            return [self.trading_state, f"{self.headroom.normalize():f}"]
        return [self.trading_state, "?" if self.trading_state == "?" else "-"]

    def as_dict(self) -> dict[str, str | None]:
        return {
            "trading_state": self.trading_state,
            "cap": None if self.cap is None else str(self.cap),
            "committed": None if self.committed is None else str(self.committed),
            "headroom": None if self.headroom is None else str(self.headroom),
        }


DRY_RUN = Guard("dry-run")
UNKNOWN = Guard("?")


def _guard_connection(spec: Path, fleet: Fleet) -> Connection | None:
    """Where `status` reads the gateway's states and ledgers, never starting a Redis.

    runtime: docker keeps them in the Compose project's Redis, which publishes no port:
    readable only where its connection is given whole (inside the project), never from
    this machine's embedded Redis or ``memory.redis_url``, which the project does not use.
    """
    if fleet.runtime == "docker":
        return connection_from_environment(environ(spec))
    return gateway_connection(spec, fleet, start=False)


def read_guards(
    bots: list[Bot], spec: Path, fleet: Fleet, wait_s: float = GUARD_WAIT_S
) -> dict[str, Guard]:
    """Each bot's trading state and ledger, read as `guard` reads them, within ``wait_s``.

    Never starts Redis (an embedded one that is down stays down) and never raises: what
    cannot be read in time (Redis not running, unreachable, slow, a name that does not
    resolve) is ``UNKNOWN``. The reading runs on a daemon thread the caller stops waiting
    for after ``wait_s``, so nothing (not even a DNS lookup) holds `status` up longer.
    """
    live = [bot for bot in bots if bot.mode == "live"]
    found: dict[str, Guard] = {}

    def read() -> None:
        try:
            connection = _guard_connection(spec, fleet)
        except (BulkheadError, OSError, ValueError):  # e.g. an unset admin password
            return
        if connection is None:  # an embedded Redis never started: nothing to read
            return
        client = connection.client(
            socket_timeout=wait_s, socket_connect_timeout=wait_s, retry=Retry(NoBackoff(), 0)
        )
        try:
            for bot in live:
                try:
                    record, ledger = guard_reading(client, bot)
                except (TemporaryError, redis.RedisError, OSError):
                    return  # Redis down, slow or refusing: every bot left is "?"
                except (AssertionError, ValueError):
                    continue  # this bot's ledger does not add up: "?" (guard BOT says why)
                found[bot.name] = Guard(
                    record.state.value, ledger.cap, ledger.committed, ledger.headroom
                )
        finally:
            client.close()

    if live:
        reader = threading.Thread(target=read, name="status-guard", daemon=True)
        reader.start()
        reader.join(wait_s)
    done = dict(found)
    return {
        bot.name: done.get(bot.name, UNKNOWN) if bot.mode == "live" else DRY_RUN for bot in bots
    }


def status_rows(
    bots: list[Bot], spec: Path, guards: dict[str, Guard] | None = None
) -> list[list[str]]:
    """One row per bot: its process, what its gateway enforces, its trades.

    ``guards`` as ``read_guards`` gives them; read here when not given."""
    if guards is None:
        guards = read_guards(bots, spec, load(spec))
    rows = []
    for bot in bots:
        paths = workspace(spec).bot(bot.name)
        seen = local.observe(paths)
        row = [bot.name, bot.mode, seen.state, str(seen.pid or "-"), *guards[bot.name].cells()]
        row += _trading_cells(bot, snapshot(paths) if seen.state == "running" else None)
        rows.append(row)
    return rows


def status_reasons(bots: list[Bot], spec: Path) -> list[str]:
    """One line per bot that is not as it should be: why it failed, was refused, fails
    to start, or was left orphaned."""
    lines = []
    for bot in bots:
        seen = local.observe(workspace(spec).bot(bot.name))
        if seen.detail and seen.state not in ("running", "starting", "preflight"):
            lines.append(f"{bot.name}: {seen.state}: {seen.detail}")
    return lines


def render_table(header: list[str], rows: list[list[str]]) -> str:
    widths = [max(len(str(cell)) for cell in column) for column in zip(header, *rows, strict=False)]
    lines = [
        "  ".join(cell.ljust(width) for cell, width in zip(line, widths, strict=False))
        for line in [header, *rows]
    ]
    return "\n".join(lines)


STATUS_HEADER = [
    "bot",
    "mode",
    "state",
    "pid",
    "trading",
    "headroom",
    "open",
    "committed/budget",
    "closed",
    "profit",
]
DOCKER_STATUS_HEADER = ["bot", "mode", "state", "container", *STATUS_HEADER[4:]]


def _format_log(line: str) -> str:
    try:
        entry: dict[str, Any] = json.loads(line)
    except ValueError:
        return line.rstrip()
    when = str(entry.pop("time", ""))[11:19]
    head = f"{when} {entry.pop('bot', '-')} {entry.pop('level', ''):<7} {entry.pop('event', '')}"
    entry.pop("logger", None)
    extras = " ".join(
        f"{key}={json.dumps(value) if isinstance(value, dict | list) else value}"
        for key, value in entry.items()
    )
    return f"{head} {extras}".rstrip()


def _log_lines(paths: BotPaths) -> list[str]:
    lines: list[tuple[str, str]] = []
    for path in (paths.log, paths.freqtrade_log):
        if path.exists():
            for line in path.read_text(errors="replace").splitlines():
                try:
                    stamp = str(json.loads(line).get("time", ""))
                except ValueError:
                    stamp = ""
                lines.append((stamp, line))
    lines.sort(key=lambda item: item[0])
    return [line for _, line in lines]


def _check_strategies(spec: Path, fleet: Fleet, chosen: list[Bot]) -> None:
    """Every chosen bot's strategy loads and passes Bulkhead's checks, or exit 2 before
    anything starts (one line per problem, as for a bad spec)."""
    for bot in chosen:
        strategy_stack(spec, fleet, bot)


def _project(spec: Path) -> docker_runtime.Project:
    return docker_runtime.Project.for_spec(spec)


def _report_started(results: list[docker_runtime.StartResult]) -> None:
    failed = False
    for result in results:
        typer.echo(
            f"{result.service.removeprefix('bot-')}: {result.state} {result.detail}".rstrip()
        )
        failed |= not result.ok
    if failed:
        raise typer.Exit(1)


def up(bot: OptionalBot = None, spec: SpecOption = DEFAULT_SPEC) -> None:
    """Start bots (one instance per bot) and wait until each trades or says why not.

    runtime: local starts each as a supervised background process; runtime: docker
    brings up its Compose service (and what it depends on) and waits for it to be healthy.
    Every bot's strategy is loaded and checked first: a refused one starts nothing.
    """
    fleet = load(spec)
    chosen = select(fleet, bot)
    _check_strategies(spec, fleet, chosen)
    if fleet.runtime == "docker":
        typer.echo(f"starting {', '.join(b.name for b in chosen)} in Docker (compose up)...")
        results = docker_runtime.up(_project(spec), docker_runtime.bot_services(chosen))
        _report_started(results)
        return
    started = gateway_process.ensure_running(spec.resolve(), workspace(spec).gateway)
    typer.echo(f"gateway: {started.detail}")
    if not started.ok:
        raise typer.Exit(1)
    failed = False
    for one in chosen:
        paths = workspace(spec).bot(one.name)
        typer.echo(f"{one.name}: starting ({one.mode})...")
        result = local.start_detached(one.name, spec.resolve(), paths)
        failed |= result.state not in ("running", "already running")
        typer.echo(f"{one.name}: {result.state} {result.detail}".rstrip())
    if failed:
        raise typer.Exit(1)


def down(bot: OptionalBot = None, spec: SpecOption = DEFAULT_SPEC) -> None:
    """Stop bots gracefully and wait until nothing of them runs.

    runtime: local: when no bot of the spec is left running, its embedded Redis is stopped
    too. runtime: docker: without BOT the whole Compose project goes down (volumes, and so
    trades, memory and leases, stay); with BOT only that bot's container.
    """
    fleet = load(spec)
    if fleet.runtime == "docker":
        services = [] if bot is None else docker_runtime.bot_services(select(fleet, bot))
        stopped = docker_runtime.down(_project(spec), services)
        for service, was_running in stopped.items():
            typer.echo(
                f"{service.removeprefix('bot-')}: {'stopped' if was_running else 'was not running'}"
            )
        return
    for chosen in select(fleet, bot):
        stopped_one = local.stop(workspace(spec).bot(chosen.name))
        typer.echo(f"{chosen.name}: {'stopped' if stopped_one else 'was not running'}")
    still_running = [b.name for b in fleet.bots if local.is_running(workspace(spec).bot(b.name))]
    if not still_running and gateway_process.stop(workspace(spec).gateway):
        typer.echo("gateway: stopped (no bot left running)")
    if not still_running and stop_embedded(fleet, workspace(spec)):
        typer.echo("embedded redis: stopped (no bot left running)")


def restart(bot: OptionalBot = None, spec: SpecOption = DEFAULT_SPEC) -> None:
    """Stop, then start bots: a new lease, a freshly rendered config.

    In Docker, a fresh container from the current image; the volumes stay.
    """
    fleet = load(spec)
    if fleet.runtime == "docker":
        chosen = select(fleet, bot)
        _check_strategies(spec, fleet, chosen)
        results = docker_runtime.restart(_project(spec), docker_runtime.bot_services(chosen))
        _report_started(results)
        return
    down(bot, spec)
    up(bot, spec)


def _docker_status(bots: list[Bot], spec: Path, fleet: Fleet) -> str:
    project = _project(spec)
    states = docker_runtime.status(project, docker_runtime.bot_services(bots))
    guards = read_guards(bots, spec, fleet)
    rows, reasons = [], []
    for bot in bots:
        seen = states[service_name(bot)]
        row = [bot.name, bot.mode, seen.describe(), seen.container or "-"]
        row += guards[bot.name].cells()
        row += _trading_cells(
            bot, docker_runtime.snapshot(project, bot.name) if seen.ready else None
        )
        rows.append(row)
        if seen.state in ("exited", "dead", "restarting") or seen.health == "unhealthy":
            reasons.append(f"{bot.name}: {seen.describe()}: {seen.status or 'see bulkhead logs'}")
    table = render_table(DOCKER_STATUS_HEADER, rows)
    return table + ("\n\n" + "\n".join(reasons) if reasons else "")


def _local_status(bots: list[Bot], spec: Path, fleet: Fleet) -> str:
    table = render_table(STATUS_HEADER, status_rows(bots, spec, read_guards(bots, spec, fleet)))
    reasons = status_reasons(bots, spec)
    return table + ("\n\n" + "\n".join(reasons) if reasons else "")


def status(
    bot: OptionalBot = None,
    spec: SpecOption = DEFAULT_SPEC,
    watch: Annotated[float, typer.Option(help="Refresh every N seconds (0: once).")] = 0,
) -> None:
    """State, trading state, headroom, open trades, budget use and profit of each bot.

    The process state from the runtime; the trading state (ACTIVE, REDUCING, HALTED) and
    headroom (cap - committed) from the gateway's ledger in Redis, as `guard BOT` shows
    them ("?" when Redis is not running or does not answer within a second or two; "-"
    for dry-run bots, which have no ledger); trades from Freqtrade's REST API. Below the
    table, why a bot is not running when it should be.
    """
    fleet = load(spec)
    bots = select(fleet, bot)
    while True:
        table = (
            _docker_status(bots, spec, fleet)
            if fleet.runtime == "docker"
            else _local_status(bots, spec, fleet)
        )
        if watch <= 0:
            typer.echo(table)
            return
        typer.echo("\033[2J\033[H", nl=False)
        typer.echo(f"bulkhead status  {datetime.now():%H:%M:%S}  (Ctrl-C to leave)\n")
        typer.echo(table)
        time.sleep(watch)


def logs(
    bot: Annotated[str, typer.Argument(help="Bot name.")],
    spec: SpecOption = DEFAULT_SPEC,
    lines: Annotated[int, typer.Option("-n", "--lines", min=1, help="How many.")] = 50,
    raw: Annotated[bool, typer.Option("--json", help="Print the JSON lines as stored.")] = False,
    follow: Annotated[bool, typer.Option("-f", "--follow", help="Keep printing.")] = False,
) -> None:
    """The bot's structured log: supervisor and Freqtrade events, secrets redacted.

    In Docker, the container's log: the same JSON events `docker compose logs` shows.
    """
    fleet = load(spec)
    chosen = select(fleet, bot)[0]
    if fleet.runtime == "docker":
        project = _project(spec)
        for line in docker_runtime.logs(project, service_name(chosen), lines=lines, follow=follow):
            typer.echo(line.rstrip("\n") if raw else _format_log(line))
        return
    paths = workspace(spec).bot(chosen.name)
    shown = 0
    while True:
        every = _log_lines(paths)
        fresh = every[-lines:] if shown == 0 else every[shown:]
        for line in fresh:
            typer.echo(line if raw else _format_log(line))
        shown = len(every)
        if not follow:
            return
        time.sleep(1)


def register(app: typer.Typer) -> None:
    for command in (up, down, restart, status, logs):
        app.command()(command)
