"""Entry point of the ``bulkhead`` command."""

from __future__ import annotations

import typer

from bulkhead import __version__
from bulkhead.cli import (
    advisor,
    backtest,
    bots,
    demo,
    deploy,
    gateway,
    memory,
    report,
    runtime,
    sim,
)
from bulkhead.cli.common import BulkheadGroup


def version() -> None:
    """Print Bulkhead's version."""
    typer.echo(__version__)


def build_app() -> typer.Typer:
    app = typer.Typer(
        name="bulkhead",
        help=(
            "Run Freqtrade bots on KuCoin, each walled into its own sub-account, "
            "trade-only key, process and memory.\n\n"
            "Rehearse first: `bulkhead sim serve --scenario examples/sim.yaml` runs a local "
            "KuCoin twin; `bulkhead init` writes a bulkhead.yaml to start from."
        ),
        no_args_is_help=True,
        add_completion=False,
        cls=BulkheadGroup,
    )
    app.add_typer(sim.build_app(), name="sim")
    app.add_typer(memory.build_app(), name="memory")
    bots.register(app)
    runtime.register(app)
    demo.register(app)
    deploy.register(app)
    backtest.register(app)
    gateway.register(app)
    report.register(app)
    advisor.register(app)
    app.command()(version)
    return app


def run() -> None:
    build_app()()
