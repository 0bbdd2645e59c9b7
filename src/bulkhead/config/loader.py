"""Read bulkhead.yaml into a ``Fleet``, turning every problem into one readable line.

An error names the field path, the bad value and what is allowed; values under
``credentials`` are never echoed, since a misplaced secret must not reach a terminal.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError
from pydantic_core import ErrorDetails

from bulkhead.config.models import Fleet
from bulkhead.strategy import REGISTRY


class SpecError(ValueError):
    """bulkhead.yaml is unusable: stop, start nothing, and show the operator the lines."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems


def _describe(error: ErrorDetails) -> str:
    location = ".".join(str(part) for part in error["loc"]) or "(top level)"
    message = error["msg"].removeprefix("Value error, ")
    if "credentials" in location or error["type"] == "missing":
        return f"{location}: {message}"
    shown = repr(error.get("input"))
    if len(shown) > 60:
        shown = shown[:57] + "..."
    return f"{location}: {message} (got {shown})"


def parse_fleet(document: Any) -> Fleet:
    try:
        fleet = Fleet.model_validate(document)
    except ValidationError as error:
        raise SpecError([_describe(e) for e in error.errors()]) from None
    problems = [
        f"bots.{index}.strategy.name: unknown strategy {bot.strategy.name!r} "
        f"(allowed: {', '.join(sorted(REGISTRY))})"
        for index, bot in enumerate(fleet.bots)
        if bot.strategy.name not in REGISTRY
    ]
    if problems:
        raise SpecError(problems)
    return fleet


def load_fleet(path: Path) -> Fleet:
    try:
        document = yaml.safe_load(path.read_text())
    except OSError as error:
        raise SpecError([f"{path}: cannot read ({error.strerror})"]) from None
    except yaml.YAMLError as error:
        raise SpecError([f"{path}: not valid YAML ({error})"]) from None
    return parse_fleet(document)
