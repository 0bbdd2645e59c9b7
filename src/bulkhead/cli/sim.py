"""``bulkhead sim serve | demo | intervals``: run the local KuCoin twin.

A scenario the twin refuses (``TwinConfigError``) ends the command through the central
catch (``cli.common.BulkheadGroup``): one line, exit 2.
"""

from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path
from typing import Annotated

import typer

from bulkhead.sim.app import TwinApp
from bulkhead.sim.engine import Twin
from bulkhead.sim.prices import INTERVALS
from bulkhead.sim.server import Prepared, TwinServer, prepare
from bulkhead.sim.server import serve as serve_twin
from bulkhead.sim.tour import run_tour

ADMIN_TOKEN_ENV = "BULKHEAD_SIM_ADMIN_TOKEN"  # noqa: S105 - the variable name, not a token

HELP = "The KuCoin twin: a local KuCoin that real ccxt and Freqtrade trade against."


def _print_banner(prepared: Prepared, host: str, port: int, state: Path | None) -> None:
    twin: Twin = prepared.twin
    typer.echo(f"KuCoin twin on http://{host}:{port}")
    typer.echo(f"  users:   {', '.join(u.name for u in twin.state.users.values()) or '-'}")
    typer.echo(f"  symbols: {', '.join(twin.state.symbols) or '-'}")
    if prepared.credentials_path is not None:
        names = ", ".join(str(c["name"]) for c in prepared.credentials)
        typer.echo(f"  keys:    {names or '-'} -> {prepared.credentials_path}")
    if state is not None:
        typer.echo(f"  state:   {state}")
    typer.echo("Ctrl-C stops it.")


def serve(
    scenario: Annotated[
        Path | None,
        typer.Option(help="YAML scenario: users, sub-accounts, keys, balances, markets."),
    ] = None,
    port: Annotated[int, typer.Option(min=0, max=65535, help="TCP port on --host.")] = 8899,
    host: Annotated[
        str, typer.Option(help="Address to listen on. The admin API answers loopback only.")
    ] = "127.0.0.1",
    state: Annotated[
        Path | None,
        typer.Option(
            help="Snapshot file: loaded at start if present, saved every few "
            "seconds and at shutdown, so a restart keeps balances and orders."
        ),
    ] = None,
    credentials_out: Annotated[
        Path | None,
        typer.Option(
            help="Where to write created API credentials (JSON, mode 0600); "
            "overrides the scenario's credentials_out."
        ),
    ] = None,
    verbose: Annotated[bool, typer.Option(help="Log every request.")] = False,
) -> None:
    """Serve KuCoin's spot REST API (and the /sim/v1 admin API) on HOST:PORT.

    Set BULKHEAD_SIM_ADMIN_TOKEN to require a bearer token on the admin API.
    """
    prepared = prepare(scenario, state_path=state, credentials_out=credentials_out)
    app = TwinApp(
        prepared.twin, admin_token=os.environ.get(ADMIN_TOKEN_ENV) or None, state_path=state
    )
    _print_banner(prepared, host, port, state)
    serve_twin(app, host, port, quiet=not verbose)


def demo(
    scenario: Annotated[Path, typer.Option(help="Scenario to start the twin from.")] = Path(
        "examples/sim.yaml"
    ),
    port: Annotated[int, typer.Option(min=0, max=65535, help="0 picks a free port.")] = 0,
    wait: Annotated[
        bool, typer.Option(help="Keep the twin serving after the tour until Ctrl-C.")
    ] = True,
) -> None:
    """Start a twin and tour it with the real ccxt client: trade, then try to move money."""
    with tempfile.TemporaryDirectory(prefix="bulkhead-demo-") as scratch:
        credentials_path = Path(scratch) / "credentials.json"
        prepared = prepare(scenario, credentials_out=credentials_path)
        with TwinServer(prepared.twin, port=port or None) as server:
            typer.echo(f"KuCoin twin running on {server.url} (scenario {scenario})")
            run_tour(prepared.twin, server.url, prepared.credentials, typer.echo)
            if not wait:
                return
            typer.echo(
                f"The twin keeps serving on {server.url}; credentials in "
                f"{credentials_path}. Ctrl-C stops it."
            )
            try:
                while True:
                    time.sleep(1)
            except KeyboardInterrupt:
                typer.echo("stopped")


def intervals() -> None:
    """List the candle intervals the twin serves."""
    for name, seconds in INTERVALS.items():
        typer.echo(f"{name:>7}  {seconds} s")


def build_app() -> typer.Typer:
    app = typer.Typer(help=HELP, no_args_is_help=True)
    for command in (serve, demo, intervals):
        app.command()(command)
    return app
