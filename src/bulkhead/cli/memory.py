"""``bulkhead memory show | export | import | prune | acl``: each bot's memory in Redis.

Reads (``show``, ``export``) go through the read-only operator user, so looking can never
change a bot's memory; ``import`` and ``prune`` write and use the deployment's admin user.
Every command gets its connections from ``prepare_memory``, the same call the supervisors
make: the embedded Redis is started if needed and the ACL users are current.
"""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Annotated
from urllib.parse import urlsplit, urlunsplit

import typer

from bulkhead.cli.common import (
    DEFAULT_SPEC,
    SpecOption,
    environ,
    fail,
    load,
    select,
    workspace,
)
from bulkhead.config.models import Bot, Fleet
from bulkhead.memory import acl
from bulkhead.memory.deployment import MemoryAccess, prepare_memory
from bulkhead.memory.export import export_jsonl, export_parquet
from bulkhead.memory.restore import import_jsonl
from bulkhead.memory.restore import read_header as read_export_header
from bulkhead.memory.retention import prune as prune_memory
from bulkhead.memory.server import password_hash
from bulkhead.memory.store import MemoryStore
from bulkhead.memory.summary import overview

BotArgument = Annotated[str, typer.Argument(help="Bot name.")]


def _access(spec: Path, fleet: Fleet) -> MemoryAccess:
    """The deployment's connections; a missing secret (exit 2), a refused admin user
    (exit 2) or an unreachable Redis (exit 75) ends the command through the central catch."""
    return prepare_memory(fleet, workspace(spec), environ(spec))


def _memory_bot(fleet: Fleet, name: str) -> Bot:
    chosen = select(fleet, name)[0]
    if not chosen.memory.enabled:
        raise fail(f"bot {name!r} has memory switched off (memory.enabled: false)")
    return chosen


def _redacted(url: str) -> str:
    """The URL without any password in it: safe to print."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.hostname or ""
    netloc = f"{parts.username or ''}:***@{host}" + (f":{parts.port}" if parts.port else "")
    return urlunsplit(parts._replace(netloc=netloc))


def _stamp() -> str:
    return datetime.now().strftime("%Y%m%d-%H%M%S")


def show(
    bot: BotArgument,
    spec: SpecOption = DEFAULT_SPEC,
    events: Annotated[int, typer.Option("-n", "--events", min=0, help="Events shown.")] = 10,
) -> None:
    """Trades, PnL, fees, win rate, last events, equity and memory used of BOT."""
    fleet = load(spec)
    chosen = _memory_bot(fleet, bot)
    access = _access(spec, fleet)
    seen = overview(access, chosen.name, events)
    summary, currency = seen.trades, chosen.budget.currency
    typer.echo(f"bot: {chosen.name}")
    typer.echo(f"trades: {summary.trades} ({summary.open} open, {summary.closed} closed)")
    typer.echo(f"realized pnl: {summary.realized_pnl:+.8g} {currency}")
    typer.echo(f"fees: {summary.fees:.8g} {currency}")
    win_rate = summary.win_rate
    typer.echo(f"win rate: {'-' if win_rate is None else f'{win_rate:.1%}'}")
    if seen.last_equity is None:
        typer.echo("equity: -")
    else:
        when, value = seen.last_equity
        typer.echo(f"equity: {value:.8g} {currency} at {when.isoformat(timespec='seconds')}")
    typer.echo(f"insights: {seen.insights}")
    typer.echo(f"memory used: {seen.memory_used} bytes")
    typer.echo(f"last {len(seen.events)} event(s):")
    for entry in seen.events:
        data = json.dumps(entry.data, separators=(",", ":"), ensure_ascii=False)
        typer.echo(f"  {entry.at:%Y-%m-%d %H:%M:%S}  {entry.event}  {data}")
    for line in _gateway_lines(access, chosen, events):
        typer.echo(line)


def _gateway_lines(access: MemoryAccess, bot: Bot, count: int) -> list[str]:
    """What the order gateway recorded of BOT beside its memory (its own keys, which the
    bot's Redis user cannot write): trading state, headroom and its last decisions."""
    from bulkhead.cli.gateway import guard_reading
    from bulkhead.gateway.states import TradingStates

    if bot.mode != "live":
        return []
    client = access.admin.client(socket_timeout=5)
    try:
        record, snapshot = guard_reading(client, bot)
        decisions = TradingStates(client).last_decisions(bot.name, count)
    except Exception as error:  # the memory shown above stands on its own
        return [f"gateway: unreadable ({type(error).__name__})"]
    currency = bot.budget.currency
    lines = [
        f"gateway: {record.state.value}, committed {snapshot.committed:.2f} of cap "
        f"{snapshot.cap:.2f} {currency}, headroom {snapshot.headroom:.2f}",
        f"last {len(decisions)} gateway decision(s):",
    ]
    for decision in decisions:
        at = datetime.fromtimestamp(decision.at_ms / 1000)
        fields = decision.fields
        shown = " ".join(
            str(fields[k]) for k in ("decision", "side", "symbol", "reason") if fields.get(k)
        )
        lines.append(f"  {at:%Y-%m-%d %H:%M:%S}  {shown}")
    return lines


def export(
    bot: BotArgument,
    spec: SpecOption = DEFAULT_SPEC,
    format_: Annotated[
        str,
        typer.Option(
            "--format",
            help="jsonl: a backup `import` restores exactly; parquet: a folder of "
            "tables for analysis.",
        ),
    ] = "jsonl",
    output: Annotated[
        Path | None,
        typer.Option(
            "-o",
            "--output",
            help="File (jsonl) or folder (parquet). Default: BOT-memory-<time> here.",
        ),
    ] = None,
) -> None:
    """Write BOT's whole memory to a file (JSONL) or a folder of Parquet tables."""
    if format_ not in ("jsonl", "parquet"):
        raise fail(f"--format must be jsonl or parquet, not {format_!r}")
    fleet = load(spec)
    chosen = _memory_bot(fleet, bot)
    access = _access(spec, fleet)
    store = MemoryStore(access.reader.client(socket_timeout=30), chosen.name)
    if format_ == "jsonl":
        target = output or Path(f"{chosen.name}-memory-{_stamp()}.jsonl")
        counts = export_jsonl(store, target)
    else:
        target = output or Path(f"{chosen.name}-memory-{_stamp()}")
        counts = export_parquet(store, target)
    typer.echo(f"wrote {target}")
    for kind, count in counts.items():
        typer.echo(f"  {kind}: {count}")


def import_(
    file: Annotated[Path, typer.Argument(help="A JSONL export (`memory export`).")],
    spec: SpecOption = DEFAULT_SPEC,
    as_bot: Annotated[
        str | None,
        typer.Option("--as", help="Import into this bot, though the file is another's."),
    ] = None,
) -> None:
    """Restore a JSONL export: adds what is missing, never overwrites; safe to repeat."""
    header = read_export_header(file)  # not an export: ImportRefused, exit 2
    fleet = load(spec)
    chosen = _memory_bot(fleet, as_bot or header["bot"])
    access = _access(spec, fleet)
    store = MemoryStore(access.admin.client(socket_timeout=30), chosen.name)
    counts = import_jsonl(store, file, allow_other_bot=as_bot is not None)
    typer.echo(f"imported {file} into {chosen.name} (new records; present ones untouched)")
    for kind, count in counts.items():
        typer.echo(f"  {kind}: {count}")


def prune(
    bot: Annotated[str | None, typer.Argument(help="Bot name; all bots when omitted.")] = None,
    spec: SpecOption = DEFAULT_SPEC,
    trades_older_than: Annotated[
        float | None,
        typer.Option(
            "--trades-older-than",
            min=0,
            help="Also remove closed trades (and their orders) closed more than DAYS ago.",
            metavar="DAYS",
        ),
    ] = None,
    yes: Annotated[
        bool, typer.Option("--yes", help="Confirm removing trades (they are not recoverable).")
    ] = False,
) -> None:
    """Apply each bot's retention: old events, equity downsampling, expired insights.

    Trades are kept forever unless --trades-older-than DAYS --yes is given.
    """
    if trades_older_than is not None and not yes:
        raise fail(
            "removing trades cannot be undone: export first (`bulkhead memory export BOT`), "
            "then repeat with --yes"
        )
    fleet = load(spec)
    bots = [b for b in select(fleet, bot) if b.memory.enabled]
    if not bots:
        raise fail("no bot with memory enabled")
    access = _access(spec, fleet)
    client = access.admin.client(socket_timeout=30)
    for chosen in bots:
        report = prune_memory(
            client,
            chosen.memory.retention,
            bot=chosen.name,
            trades_older_than_days=trades_older_than,
        )
        removed = ", ".join(f"{kind} {count}" for kind, count in report.as_dict().items())
        typer.echo(f"{chosen.name}: {removed}")


def acl_(
    spec: SpecOption = DEFAULT_SPEC,
    apply: Annotated[
        bool, typer.Option("--apply", help="Create or update the users on the server now.")
    ] = False,
) -> None:
    """Print the Redis ACL rules: one user per bot, fenced to its keys, and the reader.

    Password hashes are shown as <sha256>; the passwords themselves never are.
    """
    fleet = load(spec)
    bots = [b.name for b in fleet.bots if b.memory.enabled]
    for rule in acl.rules_for_display(bots):
        typer.echo(rule)
    typer.echo(acl.reader_rule("<password>").replace(password_hash("<password>"), "<sha256>"))
    if apply:
        access = _access(spec, fleet)
        typer.echo(
            f"applied: {len(access.bots)} bot user(s) and {acl.READER_USER} "
            f"on {_redacted(access.admin.url)}"
        )


def build_app() -> typer.Typer:
    app = typer.Typer(
        help=(
            "Each bot's memory in Redis: trades, orders, events, equity and insights.\n\n"
            "Look with `show`, back up with `export`, restore with `import`, bound it with "
            "`prune`, and see each bot's ACL user with `acl`."
        ),
        no_args_is_help=True,
    )
    app.command()(show)
    app.command()(export)
    app.command(name="import")(import_)
    app.command()(prune)
    app.command(name="acl")(acl_)
    return app
