"""The Lua scripts in ``lua/``: read from the package and registered on a client, in one way.

A registered script runs by its SHA (EVALSHA) and falls back to loading itself, so each
client registers a script once and never resends its text on every call.
"""

from __future__ import annotations

from importlib import resources
from typing import Any

import redis


def source(name: str) -> str:
    return resources.files("bulkhead.memory").joinpath(f"lua/{name}.lua").read_text()


def register(client: redis.Redis, name: str) -> Any:
    """``lua/<name>.lua`` as a callable script bound to ``client``."""
    return client.register_script(source(name))
