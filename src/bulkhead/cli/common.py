"""What every command shares: finding bulkhead.yaml, reporting errors, choosing bots."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Any

import typer
from typer.core import TyperGroup

from bulkhead.config.loader import SpecError, load_fleet
from bulkhead.config.models import Bot, Fleet
from bulkhead.config.workspace import Workspace
from bulkhead.errors import BulkheadError

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


class BulkheadGroup(TyperGroup):
    """The ``bulkhead`` command: catches the error tree once, for every subcommand.

    A ``BulkheadError`` ends the command with ``error: <message>`` on stderr (one line per
    line of the message) and its group's exit code (``bulkhead.errors``); anything else is
    a bug and keeps its traceback.
    """

    def invoke(self, ctx: Any) -> Any:  # typer's (vendored) click.Context
        try:
            return super().invoke(ctx)
        except BulkheadError as error:
            for line in error.lines():
                typer.secho(f"error: {line}", err=True, fg=typer.colors.RED)
            raise typer.Exit(error.exit_code) from None


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


#: most bytes read from a .env file; one holds a few short lines
MAX_DOTENV_BYTES = 256 * 1024


def read_dotenv(path: Path) -> dict[str, str]:
    """KEY=VALUE lines of a .env file (comments and blanks skipped, quotes stripped).

    The file holds secrets, so a problem with it is told by line number only, and it is
    read bounded, like the spec beside it.
    """
    values: dict[str, str] = {}
    if not path.exists():
        return values
    try:
        with path.open("rb") as handle:
            data = handle.read(MAX_DOTENV_BYTES + 1)
    except OSError as error:
        raise fail(f"{path}: cannot read ({error.strerror or type(error).__name__})") from None
    if len(data) > MAX_DOTENV_BYTES:
        raise fail(f"{path}: larger than {MAX_DOTENV_BYTES // 1024} KiB; is it really a .env?")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as error:
        number = data.count(b"\n", 0, error.start) + 1
        raise fail(f"{path}: line {number} is not UTF-8 text; save the file as UTF-8") from None
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#") or "=" not in line:
            continue
        key, _, value = line.removeprefix("export ").partition("=")
        values[key.strip()] = value.strip().strip("'\"")
    return values


def environ(spec: Path) -> dict[str, str]:
    """The process environment over the .env beside the spec, as Docker Compose reads it."""
    return {**read_dotenv(spec.resolve().parent / ".env"), **os.environ}
