"""``bulkhead sim``: run the local KuCoin twin."""

from __future__ import annotations

import gc
import os
import tempfile
import time
from pathlib import Path
from typing import Annotated

import typer
import uvicorn

from bulkhead.sim.app import TwinApp
from bulkhead.sim.engine import TwinConfigError
from bulkhead.sim.prices import INTERVALS
from bulkhead.sim.server import TwinServer, prepare, uvicorn_config
from bulkhead.sim.tour import run_tour

ADMIN_TOKEN_ENV = "BULKHEAD_SIM_ADMIN_TOKEN"  # noqa: S105 - the variable name, not a token


def build_app() -> typer.Typer:
    app = typer.Typer(
        help="The KuCoin twin: a local KuCoin that real ccxt and Freqtrade trade against.",
        no_args_is_help=True,
    )

    @app.command()
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
        try:
            prepared = prepare(scenario, state_path=state, credentials_out=credentials_out)
        except (TwinConfigError, ValueError) as error:
            typer.echo(f"error: {error}", err=True)
            raise typer.Exit(2) from None
        twin = prepared.twin
        app_ = TwinApp(twin, admin_token=os.environ.get(ADMIN_TOKEN_ENV) or None, state_path=state)
        typer.echo(f"KuCoin twin on http://{host}:{port}")
        typer.echo(f"  users:   {', '.join(u.name for u in twin.state.users.values()) or '-'}")
        typer.echo(f"  symbols: {', '.join(twin.state.symbols) or '-'}")
        if prepared.credentials_path is not None:
            names = ", ".join(str(c["name"]) for c in prepared.credentials)
            typer.echo(f"  keys:    {names or '-'} -> {prepared.credentials_path}")
        if state is not None:
            typer.echo(f"  state:   {state}")
        typer.echo("Ctrl-C stops it.")
        # The twin keeps every order in memory: move the set-up objects out of the
        # collector's way and collect young objects less often (fewer long GC pauses).
        gc.freeze()
        gc.set_threshold(50_000, 20, 20)
        uvicorn.Server(uvicorn_config(app_, host, port, quiet=not verbose)).run()

    @app.command()
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
            try:
                prepared = prepare(scenario, credentials_out=credentials_path)
            except (TwinConfigError, ValueError) as error:
                typer.echo(f"error: {error}", err=True)
                raise typer.Exit(2) from None
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

    @app.command()
    def intervals() -> None:
        """List the candle intervals the twin serves."""
        for name, seconds in INTERVALS.items():
            typer.echo(f"{name:>7}  {seconds} s")

    return app
