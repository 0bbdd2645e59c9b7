"""``bulkhead demo``: the whole MVP on one machine, with no account and no money.

A KuCoin twin (master with 10,000 USDT, sub-account bot1 with 100 USDT and a trade-only
key), one bot live against it under supervision, and a status view that refreshes.
Ctrl-C (or SIGTERM) stops the bot, then the twin, and leaves nothing running.
"""

from __future__ import annotations

import json
import os
import signal
import tempfile
import time
from datetime import datetime
from pathlib import Path
from types import FrameType
from typing import Annotated

import redis
import typer

from bulkhead.cli.bots import _template
from bulkhead.cli.runtime import STATUS_HEADER, render_table, status_rows
from bulkhead.config.loader import load_fleet
from bulkhead.config.workspace import Workspace
from bulkhead.fleet import local
from bulkhead.memory.deployment import prepare_memory, stop_embedded
from bulkhead.memory.server import Connection
from bulkhead.memory.store import MemoryStore
from bulkhead.plumbing import write_private
from bulkhead.sim.engine import Twin
from bulkhead.sim.server import TwinServer, prepare

TEMPLATE_TWIN_URL = "http://127.0.0.1:8899"
SHOWN_EVENTS = ("preflight", "entry_signal", "order_filled", "exit_signal", "freqtrade_crashed")


def _write_demo_spec(directory: Path, twin_url: str, credential: dict[str, str]) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    spec = directory / "bulkhead.yaml"
    spec.write_text(_template().replace(TEMPLATE_TWIN_URL, twin_url))
    write_private(
        directory / ".env",
        f"BOT1_KUCOIN_API_KEY={credential['apiKey']}\n"
        f"BOT1_KUCOIN_API_SECRET={credential['secret']}\n"
        f"BOT1_KUCOIN_API_PASSPHRASE={credential['passphrase']}\n",
    )
    return spec


def _recent_events(log: Path, count: int = 6) -> list[str]:
    if not log.exists():
        return []
    shown = []
    for line in log.read_text(errors="replace").splitlines():
        try:
            entry = json.loads(line)
        except ValueError:
            continue
        if entry.get("event") in SHOWN_EVENTS:
            fields = {
                k: entry.get(k)
                for k in ("pair", "reason", "side", "amount", "price", "passed")
                if entry.get(k) is not None
            }
            text = " ".join(f"{k}={v}" for k, v in fields.items())
            shown.append(f"  {str(entry.get('time'))[11:19]} {entry['event']:<13} {text}")
    return shown[-count:]


def _twin_view(twin: Twin) -> list[str]:
    lines = []
    for user in twin.state.users.values():
        money = []
        for account, per_currency in sorted(user.accounts.items()):
            for currency, balance in sorted(per_currency.items()):
                if balance.balance:
                    money.append(f"{account}:{currency} {balance.balance:.4f}")
        lines.append(f"  {user.name:<7} {', '.join(money) or '-'}")
    orders = [o for o in twin.state.orders.values()]
    by_master = sum(1 for o in orders if twin.state.users[o.uid].is_master)
    lines.append(
        f"  orders {len(orders)} (from the master account: {by_master}), "
        f"fills {len(twin.state.fills)}, refused fund moves "
        f"{sum(1 for m in twin.state.movements if not m.accepted)}"
    )
    return lines


def _memory_view(reader: Connection, bot: str) -> str:
    try:
        store = MemoryStore(reader.client(socket_timeout=1), bot)
        trades = store.trades()
        pnl = sum(t.realized_pnl or 0.0 for t in trades)
        return (
            f"  {len(trades)} trades ({sum(t.is_open for t in trades)} open), "
            f"{len(store.orders())} orders, realized PnL {pnl:+.4f}, "
            f"{len(store.events(1000))} events"
        )
    except (redis.RedisError, OSError) as error:
        return f"  unavailable ({type(error).__name__})"


def register(app: typer.Typer) -> None:
    @app.command()
    def demo(
        scenario: Annotated[
            Path, typer.Option(help="Twin scenario (needs sub-account bot1 and key bot1-trade).")
        ] = Path("examples/sim.yaml"),
        directory: Annotated[
            Path | None,
            typer.Option(
                "--dir",
                help="Where the demo's spec and bot files go (default: a fresh temporary folder).",
            ),
        ] = None,
        refresh: Annotated[float, typer.Option(min=0.5, help="Seconds between refreshes.")] = 2,
        duration: Annotated[
            float, typer.Option(min=0, help="Stop by itself after N seconds (0: until Ctrl-C).")
        ] = 0,
    ) -> None:
        """Run a twin and one live bot against it, with a status view, until Ctrl-C."""
        scratch = None
        if directory is None:
            scratch = tempfile.TemporaryDirectory(prefix="bulkhead-demo-")
            directory = Path(scratch.name)
        prepared = prepare(scenario, credentials_out=directory / "twin-credentials.json")
        credential = {c["name"]: c for c in prepared.credentials}["bot1-trade"]

        def interrupt(signum: int, frame: FrameType | None) -> None:
            raise KeyboardInterrupt

        previous = signal.signal(signal.SIGTERM, interrupt)
        with TwinServer(prepared.twin) as server:
            spec = _write_demo_spec(
                directory, server.url, {k: str(v) for k, v in credential.items()}
            )
            bot = load_fleet(spec).bots[0]
            paths = Workspace.for_spec(spec).bot(bot.name)
            typer.echo(f"twin on {server.url}; bot {bot.name} spec at {spec}")
            try:
                typer.echo(f"starting {bot.name} (live, preflight first)...")
                result = local.start_detached(bot.name, spec, paths)
                typer.echo(f"{bot.name}: {result.state} {result.detail}")
                reader = prepare_memory(load_fleet(spec), Workspace.for_spec(spec)).reader
                started = time.monotonic()
                while duration == 0 or time.monotonic() - started < duration:
                    screen = [
                        f"bulkhead demo  {datetime.now():%H:%M:%S}  (Ctrl-C stops everything)",
                        "",
                        render_table(STATUS_HEADER, status_rows([bot], spec)),
                        "",
                        "recent decisions:",
                        *(_recent_events(paths.log) + _recent_events(paths.freqtrade_log))[-8:],
                        "",
                        "the twin's books:",
                        *_twin_view(prepared.twin),
                        "",
                        "the bot's memory (Redis, read-only user):",
                        _memory_view(reader, bot.name),
                    ]
                    if os.isatty(1):
                        typer.echo("\033[2J\033[H", nl=False)
                    typer.echo("\n".join(screen))
                    time.sleep(refresh)
            except KeyboardInterrupt:
                typer.echo("\nstopping...")
            finally:
                stopped = local.stop(paths)
                typer.echo(f"{bot.name}: {'stopped' if stopped else 'was not running'}")
                if stop_embedded(load_fleet(spec), Workspace.for_spec(spec)):
                    typer.echo("memory (embedded redis): stopped")
                signal.signal(signal.SIGTERM, previous)
        typer.echo("twin stopped; nothing left running")
        if scratch is not None:
            scratch.cleanup()
