"""``bulkhead up | down | restart | status | logs``: bots as supervised local processes."""

from __future__ import annotations

import json
import time
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any

import typer

from bulkhead.cli.common import DEFAULT_SPEC, SpecOption, load, select, workspace
from bulkhead.config.models import Bot
from bulkhead.config.workspace import BotPaths
from bulkhead.fleet import local
from bulkhead.fleet.ftapi import snapshot
from bulkhead.memory.deployment import stop_embedded

OptionalBot = Annotated[str | None, typer.Argument(help="Bot name; all bots when omitted.")]


def status_rows(bots: list[Bot], spec: Path) -> list[list[str]]:
    rows = []
    for bot in bots:
        paths = workspace(spec).bot(bot.name)
        seen = local.observe(paths)
        row = [bot.name, bot.mode, seen.state, str(seen.pid or "-")]
        if seen.state == "running":
            live = snapshot(paths)
            if live.reachable:
                used = live.committed / float(bot.budget.amount)
                row += [
                    str(live.open_trades),
                    f"{live.committed:.2f}/{bot.budget.amount} {bot.budget.currency} ({used:.0%})",
                    str(live.closed_trades),
                    f"{live.profit_all:+.4f}",
                ]
            else:
                row += ["?", f"api: {live.error}", "?", "?"]
        else:
            row += ["-", f"0/{bot.budget.amount} {bot.budget.currency}", "-", "-"]
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


STATUS_HEADER = ["bot", "mode", "state", "pid", "open", "committed/budget", "closed", "profit"]


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


def register(app: typer.Typer) -> None:
    @app.command()
    def up(bot: OptionalBot = None, spec: SpecOption = DEFAULT_SPEC) -> None:
        """Start bots as supervised background processes (one instance per bot)."""
        failed = False
        for chosen in select(load(spec), bot):
            paths = workspace(spec).bot(chosen.name)
            typer.echo(f"{chosen.name}: starting ({chosen.mode})...")
            result = local.start_detached(chosen.name, spec.resolve(), paths)
            failed |= result.state not in ("running", "already running")
            typer.echo(f"{chosen.name}: {result.state} {result.detail}".rstrip())
        if failed:
            raise typer.Exit(1)

    @app.command()
    def down(bot: OptionalBot = None, spec: SpecOption = DEFAULT_SPEC) -> None:
        """Stop bots gracefully and wait until nothing of them runs.

        When no bot of the spec is left running, its embedded Redis is stopped too.
        """
        fleet = load(spec)
        for chosen in select(fleet, bot):
            stopped = local.stop(workspace(spec).bot(chosen.name))
            typer.echo(f"{chosen.name}: {'stopped' if stopped else 'was not running'}")
        still_running = [
            b.name for b in fleet.bots if local.is_running(workspace(spec).bot(b.name))
        ]
        if not still_running and stop_embedded(fleet, workspace(spec)):
            typer.echo("embedded redis: stopped (no bot left running)")

    @app.command()
    def restart(bot: OptionalBot = None, spec: SpecOption = DEFAULT_SPEC) -> None:
        """Stop, then start bots (a new lease, a freshly rendered config)."""
        down(bot, spec)
        up(bot, spec)

    @app.command()
    def status(
        bot: OptionalBot = None,
        spec: SpecOption = DEFAULT_SPEC,
        watch: Annotated[float, typer.Option(help="Refresh every N seconds (0: once).")] = 0,
    ) -> None:
        """State, open trades, budget use and profit of each bot (from Freqtrade's REST API)."""
        bots = select(load(spec), bot)
        while True:
            table = render_table(STATUS_HEADER, status_rows(bots, spec))
            reasons = status_reasons(bots, spec)
            if reasons:
                table += "\n\n" + "\n".join(reasons)
            if watch <= 0:
                typer.echo(table)
                return
            typer.echo("\033[2J\033[H", nl=False)
            typer.echo(f"bulkhead status  {datetime.now():%H:%M:%S}  (Ctrl-C to leave)\n")
            typer.echo(table)
            time.sleep(watch)

    @app.command()
    def logs(
        bot: Annotated[str, typer.Argument(help="Bot name.")],
        spec: SpecOption = DEFAULT_SPEC,
        lines: Annotated[int, typer.Option("-n", "--lines", min=1, help="How many.")] = 50,
        raw: Annotated[
            bool, typer.Option("--json", help="Print the JSON lines as stored.")
        ] = False,
        follow: Annotated[bool, typer.Option("-f", "--follow", help="Keep printing.")] = False,
    ) -> None:
        """The bot's structured log: supervisor and Freqtrade events, secrets redacted."""
        chosen = select(load(spec), bot)[0]
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
