"""A redis-py client's asyncio twin: the same server, user and timeouts, on the running loop.

Why: the gateway's hot path (a buy's reservation, the settlement of an accepted one) ran
its synchronous Redis calls on worker threads, so that a hung Redis could not freeze the
event loop. Each hop to a thread and back cost a guarded buy ~150 us of CPU and ~125 us
of latency, and under load the threads and the loop fought over the GIL (a 2-core machine
topped out near 950 guarded orders/s). On the loop, with ``redis.asyncio``, a hung Redis
still freezes nothing: the call awaits, up to the client's own socket timeout.

The twin is built from the synchronous client's connection settings, once per client and
event loop (an asyncio connection belongs to the loop that opened it), and its Lua
scripts are registered once per twin, as ``scripts.register`` does for the sync client.
"""

from __future__ import annotations

import asyncio
import weakref
from typing import Any

import redis
import redis.asyncio as aioredis
import redis.asyncio.connection as aioconnection

from bulkhead.memory import scripts

#: the sync client's settings the twin takes (the rest are redis-py's internal plumbing)
_SETTINGS = frozenset(
    {
        "host",
        "port",
        "path",
        "db",
        "username",
        "password",
        "socket_timeout",
        "socket_connect_timeout",
        "client_name",
    }
)
_CLASSES: dict[str, type[aioconnection.AbstractConnection]] = {
    "Connection": aioconnection.Connection,
    "SSLConnection": aioconnection.SSLConnection,
    "UnixDomainSocketConnection": aioconnection.UnixDomainSocketConnection,
}


class _Twin:
    def __init__(self, client: redis.Redis) -> None:
        pool = client.connection_pool
        kind = _CLASSES.get(pool.connection_class.__name__)
        if kind is None:
            raise TypeError(f"no asyncio twin for {pool.connection_class.__name__} connections")
        settings = {
            name: value
            for name, value in pool.connection_kwargs.items()
            if name in _SETTINGS or name.startswith("ssl_")
        }
        self.source = client
        self.client = aioredis.Redis(
            connection_pool=aioredis.ConnectionPool(connection_class=kind, **settings)
        )
        self.scripts: dict[str, Any] = {}


_twins: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[int, _Twin]] = (
    weakref.WeakKeyDictionary()
)


def _twin(client: redis.Redis) -> _Twin:
    per_loop = _twins.setdefault(asyncio.get_running_loop(), {})
    twin = per_loop.get(id(client))
    if twin is None or twin.source is not client:
        twin = per_loop[id(client)] = _Twin(client)
    return twin


def on_loop(client: redis.Redis) -> aioredis.Redis:
    """``client``'s twin on the running event loop."""
    return _twin(client).client


def script(client: redis.Redis, name: str) -> Any:
    """``lua/<name>.lua`` registered on ``client``'s twin on the running loop: awaitable
    with ``keys=`` and ``args=`` (EVALSHA, loading the script when Redis lacks it)."""
    twin = _twin(client)
    found = twin.scripts.get(name)
    if found is None:
        found = twin.scripts[name] = twin.client.register_script(scripts.source(name))
    return found


async def close_twins() -> None:
    """Close every twin opened on the running loop (its connections go with the loop)."""
    for twin in _twins.pop(asyncio.get_running_loop(), {}).values():
        await twin.client.aclose()
