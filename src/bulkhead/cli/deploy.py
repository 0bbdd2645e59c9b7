"""``bulkhead compose``: a Docker Compose file with one hardened service per bot."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from bulkhead.cli.common import DEFAULT_SPEC, SpecOption, fail, load
from bulkhead.fleet.compose import compose_document, write_compose, write_memory_secrets


def register(app: typer.Typer) -> None:
    @app.command()
    def compose(
        spec: SpecOption = DEFAULT_SPEC,
        output: Annotated[
            Path, typer.Option("-o", "--output", help="Where to write the Compose file.")
        ] = Path("docker-compose.yml"),
        image: Annotated[str, typer.Option(help="The Bulkhead image to run.")] = "bulkhead:latest",
        cpus: Annotated[float, typer.Option(help="CPU limit per bot.")] = 0.5,
        memory: Annotated[str, typer.Option(help="Memory limit per bot, e.g. 512m.")] = "512m",
    ) -> None:
        """Write docker-compose.yml: one service per bot, its own secrets, limits, no root.

        Secrets are never written into it: each bot's key parts are read from
        ./secrets/<bot>/{api_key,secret,passphrase} beside the Compose file.
        """
        fleet = load(spec)
        try:
            document = compose_document(
                fleet, image=image, spec_path=f"./{spec.name}", cpus=cpus, memory=memory
            )
        except ValueError as error:
            raise fail(str(error)) from None
        write_compose(document, output)
        created = write_memory_secrets(fleet, output.parent / "secrets")
        for path in created:
            typer.echo(f"wrote {path}")
        typer.echo(f"wrote {output}: {len(fleet.bots)} bot service(s) + redis")
        for bot in fleet.bots:
            typer.echo(f"  bot-{bot.name}: secrets from ./secrets/{bot.name}/")
