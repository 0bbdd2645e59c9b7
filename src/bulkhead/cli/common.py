"""What every command shares: finding bulkhead.yaml, reporting spec errors, choosing bots."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import typer

from bulkhead.config.loader import SpecError, load_fleet
from bulkhead.config.models import Bot, Fleet
from bulkhead.config.workspace import Workspace

SPEC_ENV = "BULKHEAD_SPEC"

SpecOption = Annotated[
    Path,
    typer.Option(
        "--spec",
        envvar=SPEC_ENV,
        help="The fleet spec. Each bot's files go to .bulkhead/bots/<bot>/ beside it.",
    ),
]
DEFAULT_SPEC = Path("bulkhead.yaml")


def fail(message: str, code: int = 2) -> typer.Exit:
    typer.secho(f"error: {message}", err=True, fg=typer.colors.RED)
    return typer.Exit(code)


def load(spec: Path) -> Fleet:
    """The fleet, or exit 2 with one line per problem and nothing started."""
    try:
        return load_fleet(spec)
    except SpecError as error:
        for line in error.problems:
            typer.secho(f"error: {spec}: {line}", err=True, fg=typer.colors.RED)
        raise typer.Exit(2) from None


def select(fleet: Fleet, name: str | None) -> list[Bot]:
    if name is None:
        return list(fleet.bots)
    try:
        return [fleet.bot(name)]
    except KeyError:
        known = ", ".join(bot.name for bot in fleet.bots)
        raise fail(f"no bot named {name!r} in the spec (bots: {known})") from None


def workspace(spec: Path) -> Workspace:
    return Workspace.for_spec(spec)


def secrets_dir(spec: Path) -> Path:
    """Relative {file: ...} secret references resolve against the spec's folder."""
    return spec.resolve().parent


def read_dotenv(path: Path) -> dict[str, str]:
    """KEY=VALUE lines of a .env file (comments and blanks skipped, quotes stripped)."""
    values: dict[str, str] = {}
    if not path.exists():
        return values
    for raw in path.read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith("#") or "=" not in line:
            continue
        key, _, value = line.removeprefix("export ").partition("=")
        values[key.strip()] = value.strip().strip("'\"")
    return values


def environ(spec: Path) -> dict[str, str]:
    """The process environment over the .env beside the spec, as Docker Compose reads it."""
    return {**read_dotenv(spec.resolve().parent / ".env"), **os.environ}
