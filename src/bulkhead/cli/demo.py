"""``bulkhead demo``: the whole MVP on one machine, with no account and no money.

A KuCoin twin (master with 10,000 USDT, sub-account bot1 with 100 USDT and a trade-only
key), one bot live against it under supervision, its LLM advisor consulting a fake
provider on this machine every 30 seconds, and a status view that refreshes. Ctrl-C (or
SIGTERM) stops the bot, then the twin, and leaves nothing running.
"""

from __future__ import annotations

import json
import os
import secrets
import signal
import tempfile
import time
from datetime import datetime
from pathlib import Path
from types import FrameType
from typing import Annotated

import typer

from bulkhead.cli.bots import _template
from bulkhead.cli.runtime import STATUS_HEADER, render_table, status_rows
from bulkhead.config.advisor import AdvisorDeployment
from bulkhead.config.loader import load_fleet
from bulkhead.config.models import Bot
from bulkhead.config.workspace import BotPaths, Workspace
from bulkhead.fleet import gateway_process, local
from bulkhead.fleet.demo import LoggedEvent, recent_decisions, write_demo_spec
from bulkhead.memory.deployment import prepare_memory, stop_embedded
from bulkhead.memory.server import Connection, MemoryUnavailable
from bulkhead.memory.summary import brief
from bulkhead.sim.engine import Twin, TwinConfigError
from bulkhead.sim.llm import Step, serve_fake_provider
from bulkhead.sim.server import TwinServer, prepare
from bulkhead.sim.tour import books

#: the key of sub-account bot1 the demo bot trades with (examples/sim.yaml has it)
DEMO_KEY = "bot1-trade"
#: what the fake LLM answers the demo's first consultations (then: no_change)
DEMO_ANSWERS = (
    Step.tool_calls(
        [
            ("write_insight", '{"text": "TwinScalper pays two fees per round trip for no edge"}'),
            ("adjust_stake_scale", '{"scale": 0.75, "reason": "no edge: smaller stakes"}'),
        ],
        input_tokens=1800,
        output_tokens=90,
    ),
    Step.tool_calls([("pause_pair", '{"pair": "DOGE/USDT", "reason": "not one of ours"}')]),
)


def _event_line(event: LoggedEvent) -> str:
    text = " ".join(f"{k}={v}" for k, v in event.fields.items())
    return f"  {event.time} {event.event:<13} {text}"


def _twin_view(twin: Twin) -> list[str]:
    seen = books(twin)
    lines = [
        f"  {user:<7} "
        + (", ".join(f"{acc}:{cur} {amount:.4f}" for acc, cur, amount in money) or "-")
        for user, money in seen.balances
    ]
    lines.append(
        f"  orders {seen.orders} (from the master account: {seen.master_orders}), "
        f"fills {seen.fills}, refused fund moves {seen.refused_moves}"
    )
    return lines


def _memory_view(reader: Connection, bot: str) -> str:
    try:
        seen = brief(reader, bot)
    except MemoryUnavailable as error:
        return f"  unavailable ({error})"
    return (
        f"  {seen.trades} trades ({seen.open} open), {seen.orders} orders, "
        f"realized PnL {seen.realized_pnl:+.4f}, {seen.events} events"
    )


def _advisor_view(admin: Connection, settings: AdvisorDeployment | None, bot: str) -> list[str]:
    """Calls, spend and the newest proposals of the bot's advisor."""
    from bulkhead.advisor.advice import ProposalStore
    from bulkhead.advisor.spend import SpendLedger

    if settings is None:
        return ["  off"]
    try:
        client = admin.client(socket_timeout=2)
        day = SpendLedger(client, settings.caps).usage(bot)["day"]
        proposals = ProposalStore(client, bot).recent(3)
    except Exception as error:  # a view: never a reason to stop the demo
        return [f"  unavailable ({type(error).__name__})"]
    lines = [
        f"  {day['calls']} calls today, {day['spent_eur']:.6f} EUR of {day['cap_eur']:.2f} "
        f"({settings.provider.model} prices)"
    ]
    lines += [
        f"  {p.get('status', '?'):8} {p.get('kind', '?')} {json.dumps(p.get('arguments'))[:70]}"
        for p in proposals
    ]
    return lines


def _screen(
    bot: Bot,
    spec: Path,
    paths: BotPaths,
    twin: Twin,
    reader: Connection,
    admin: Connection,
    advisor: AdvisorDeployment | None,
) -> str:
    return "\n".join(
        [
            f"bulkhead demo  {datetime.now():%H:%M:%S}  (Ctrl-C stops everything)",
            "",
            render_table(STATUS_HEADER, status_rows([bot], spec)),
            "",
            "recent decisions:",
            *(_event_line(event) for event in recent_decisions(paths)),
            "",
            "the twin's books:",
            *_twin_view(twin),
            "",
            "the bot's memory (Redis, read-only user):",
            _memory_view(reader, bot.name),
            "",
            "its LLM advisor (a fake provider on this machine; bulkhead advice list bot1):",
            *_advisor_view(admin, advisor, bot.name),
        ]
    )


def _interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


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
    credential = {c["name"]: c for c in prepared.credentials}.get(DEMO_KEY)
    if credential is None:
        raise TwinConfigError(f"scenario {scenario}: the demo trades with a key named {DEMO_KEY}")
    previous = signal.signal(signal.SIGTERM, _interrupt)
    llm_key = secrets.token_hex(16)
    with TwinServer(prepared.twin) as server, serve_fake_provider(llm_key) as (llm_url, llm):
        llm.add(*DEMO_ANSWERS)
        spec = write_demo_spec(
            directory,
            _template(),
            server.url,
            {k: str(v) for k, v in credential.items()},
            advisor=(llm_url, llm_key),
        )
        bot = load_fleet(spec).bots[0]
        paths = Workspace.for_spec(spec).bot(bot.name)
        typer.echo(f"twin on {server.url}; bot {bot.name} spec at {spec}")
        try:
            typer.echo("starting the order gateway (preflight of the bot's key, ledger)...")
            gateway = gateway_process.ensure_running(spec, Workspace.for_spec(spec).gateway)
            typer.echo(f"gateway: {gateway.detail}")
            typer.echo(f"starting {bot.name} (live, through the gateway)...")
            result = local.start_detached(bot.name, spec, paths)
            typer.echo(f"{bot.name}: {result.state} {result.detail}")
            fleet = load_fleet(spec)
            access = prepare_memory(fleet, Workspace.for_spec(spec))
            started = time.monotonic()
            while duration == 0 or time.monotonic() - started < duration:
                screen = _screen(
                    bot, spec, paths, prepared.twin, access.reader, access.admin, fleet.advisor
                )
                if os.isatty(1):
                    typer.echo("\033[2J\033[H", nl=False)
                typer.echo(screen)
                time.sleep(refresh)
        except KeyboardInterrupt:
            typer.echo("\nstopping...")
        finally:
            stopped = local.stop(paths)
            typer.echo(f"{bot.name}: {'stopped' if stopped else 'was not running'}")
            if gateway_process.stop(Workspace.for_spec(spec).gateway):
                typer.echo("gateway: stopped")
            if stop_embedded(load_fleet(spec), Workspace.for_spec(spec)):
                typer.echo("memory (embedded redis): stopped")
            signal.signal(signal.SIGTERM, previous)
    typer.echo("twin stopped; nothing left running")
    if scratch is not None:
        scratch.cleanup()


def register(app: typer.Typer) -> None:
    app.command()(demo)
