"""``bulkhead compose | twin-keys``: the Docker Compose project of a fleet.

Settings Compose would refuse (``ComposeRefused``) end the command through the central
catch (``cli.common.BulkheadGroup``): one line, exit 2.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from bulkhead.cli.common import DEFAULT_SPEC, SpecOption, fail, load
from bulkhead.fleet.docker import Project, up, write_project
from bulkhead.fleet.redis_service import REDIS_IMAGE
from bulkhead.fleet.twin_keys import write_twin_secrets
from bulkhead.fleet.twin_service import TWIN_SERVICE, TwinService, targets_twin

#: the twin answers within seconds; its health check runs every 10 s
TWIN_START_S = 120.0


def compose(
    spec: SpecOption = DEFAULT_SPEC,
    output: Annotated[
        Path | None,
        typer.Option(
            "-o", "--output", help="Where to write the Compose file (default: beside the spec)."
        ),
    ] = None,
    image: Annotated[str, typer.Option(help="The Bulkhead image to run.")] = "bulkhead:latest",
    cpus: Annotated[float, typer.Option(help="CPU limit per bot, and the gateway's.")] = 0.5,
    memory: Annotated[
        str, typer.Option(help="Memory limit per bot, and the gateway's, e.g. 512m.")
    ] = "512m",
    twin: Annotated[
        bool,
        typer.Option(
            "--twin",
            help="Add the KuCoin twin as a service (bots reach it at http://twin:8899).",
        ),
    ] = False,
    twin_scenario: Annotated[
        str,
        typer.Option(
            help="The twin's scenario, relative to the Compose file; drafted from the "
            "spec when it does not exist."
        ),
    ] = "./sim.yaml",
    redis_image: Annotated[str, typer.Option(help="The Redis 7 image.")] = REDIS_IMAGE,
    project: Annotated[str, typer.Option(help="The Compose project name.")] = "bulkhead",
) -> None:
    """Write docker-compose.yml: one service per bot, limits, no root, and the gateway.

    Secrets are never written into it: each bot's key parts are read from
    ./secrets/<bot>/{api_key,secret,passphrase} beside the Compose file, by the gateway
    service alone; each bot gets only its gateway credential (generated here, in
    ./secrets/<bot>/gateway_credential) and sits on an internal network with the gateway
    and Redis.
    """
    fleet = load(spec)
    written = write_project(
        fleet,
        spec,
        output=output,
        image=image,
        cpus=cpus,
        memory=memory,
        redis_image=redis_image,
        twin=TwinService(scenario=twin_scenario) if twin else None,
        project=project,
    )
    *secrets, path = written
    for created in secrets:
        typer.echo(f"wrote {created}")
    extra = " + twin" if twin else ""
    typer.echo(f"wrote {path}: {len(fleet.bots)} bot service(s) + gateway + redis{extra}")
    typer.echo("  gateway: every bot's key from ./secrets/<bot>/{api_key,secret,passphrase}")
    for bot in fleet.bots:
        typer.echo(f"  bot-{bot.name}: ./secrets/{bot.name}/gateway_credential only")
    if twin:
        typer.echo(
            f"  twin: scenario {twin_scenario}; `bulkhead twin-keys` starts it and puts "
            "its keys in ./secrets/"
        )


def twin_keys(spec: SpecOption = DEFAULT_SPEC) -> None:
    """Start the project's twin if needed, and put the keys it created into ./secrets/.

    For each bot whose exchange.target is the twin service, the trade-only key of its
    sub-account, as a real deployment's key would be put there by hand.
    """
    fleet = load(spec)
    if not any(targets_twin(bot) for bot in fleet.bots):
        raise fail(f"no bot targets the twin service ({TwinService().url})")
    project = Project.for_spec(spec)
    # A DockerError (docker missing or failing, or a twin without a bot's key) ends the
    # command through the central catch: exit 1, as for `bulkhead up`.
    (twin,) = up(project, [TWIN_SERVICE], wait_s=TWIN_START_S)
    if not twin.ok:
        raise fail(f"the twin did not start: {twin.state} {twin.detail}")
    written = write_twin_secrets(project, fleet)
    for path in written:
        typer.echo(f"wrote {path}")


def register(app: typer.Typer) -> None:
    app.command()(compose)
    app.command("twin-keys")(twin_keys)
