"""Redis on the running event loop, for the gateway's hot path: one multiplexed connection.

Why not worker threads (before): each hop to a thread and back cost a guarded buy ~150 us
of CPU and ~125 us of latency, and under load the threads and the loop fought over the
GIL (a 2-core machine topped out near 950 guarded orders/s). Why not ``redis.asyncio``
(tried next): paced as a fleet's load, a command took 150-250 us longer through it than
over a bare connection (its pool and lock, stream reader, timeouts and hooks per
command), a quarter of what the gateway added to a bot's buy.

So: per synchronous client (its server, user, password and socket timeout) and event
loop, one connection that carries every caller's commands at once, pipelined: each
command's reply is the next one back (Redis answers a connection's commands in order), so
concurrent buys' reservations travel together and share Redis's fsync. Commands are
packed and replies parsed by hiredis, the C library redis-py itself uses. redis-py's own
exceptions come out: ``ConnectionError`` (also an authentication refused), ``TimeoutError``
and ``ResponseError``, so callers handle them as they handle the synchronous client's.

A command without its reply within the socket timeout, or a connection lost, fails every
command waiting on that connection (their replies can no longer be told apart) and closes
it; the next command connects again. Nothing is ever sent twice.
"""

from __future__ import annotations

import asyncio
import hashlib
import time
import types
import weakref
from collections import deque
from collections.abc import Callable, Sequence
from typing import Any

import hiredis
import redis

from bulkhead.memory import scripts
from bulkhead.plumbing import sending_at_once

#: the socket timeout when the synchronous client has none
DEFAULT_TIMEOUT_S = 5.0
#: after a failed connect, callers fail at once for this long rather than retry each
RECONNECT_PAUSE_S = 0.5
Command = Sequence[Any]


class _Connection(asyncio.Protocol):
    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self._reader = hiredis.Reader(replyError=redis.ResponseError)
        self._waiting: deque[asyncio.Future[Any]] = deque()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = sending_at_once(transport)

    def data_received(self, data: bytes) -> None:
        self._reader.feed(data)
        try:
            while (reply := self._reader.gets()) is not False:
                if not self._waiting:  # a reply nobody asked for: nothing lines up anymore
                    self.fail(redis.ConnectionError("Redis sent a reply nobody asked for"))
                    return
                waiter = self._waiting.popleft()
                if not waiter.done():
                    waiter.set_result(reply)
        except hiredis.ProtocolError as error:
            self.fail(redis.ConnectionError(f"Redis sent garbage ({error})"))

    def connection_lost(self, exc: Exception | None) -> None:
        self.transport = None
        self.fail(redis.ConnectionError(f"connection to Redis lost ({exc or 'closed'})"))

    @property
    def open(self) -> bool:
        return self.transport is not None and not self.transport.is_closing()

    def send(self, commands: Sequence[Command]) -> list[asyncio.Future[Any]]:
        """Write the commands at once; one future per reply, in order."""
        assert self.transport is not None
        # packed first: a command that cannot be packed (TypeError) must leave no future
        # queued, or every later reply would go to the caller before its own
        packed = b"".join(hiredis.pack_command(tuple(c)) for c in commands)
        loop = asyncio.get_running_loop()
        futures = [loop.create_future() for _ in commands]
        self._waiting.extend(futures)
        self.transport.write(packed)
        return futures

    def fail(self, error: Exception) -> None:
        """Fail every command waiting here and close: their replies can't be told apart."""
        waiting, self._waiting = self._waiting, deque()
        for waiter in waiting:
            if not waiter.done():
                waiter.set_exception(error)
        if self.transport is not None:
            self.transport.close()
            self.transport = None


class LoopRedis:
    """The synchronous ``client``'s server on this event loop (``on_loop``)."""

    def __init__(self, client: redis.Redis) -> None:
        settings = client.connection_pool.connection_kwargs
        self.source = client
        self._path: str | None = settings.get("path")
        self._host = str(settings.get("host", "127.0.0.1"))
        self._port = int(settings.get("port", 6379))
        self._username: str | None = settings.get("username")
        self._password: str | None = settings.get("password")
        self._db = int(settings.get("db", 0) or 0)
        if client.connection_pool.connection_class.__name__ == "SSLConnection":
            raise TypeError("Redis over TLS is not supported on the loop")
        timeout = settings.get("socket_timeout")
        self._timeout_s = float(timeout) if timeout else DEFAULT_TIMEOUT_S
        connect_timeout = settings.get("socket_connect_timeout")
        self._connect_timeout_s = float(connect_timeout) if connect_timeout else self._timeout_s
        self._connection: _Connection | None = None
        self._connecting = asyncio.Lock()
        #: when the last connect failed, and why
        self._failed: tuple[float, str] | None = None
        #: Lua sources by name, and their SHA-1s (EVALSHA; loaded when Redis lacks one)
        self._scripts: dict[str, tuple[str, str]] = {}

    async def execute(self, commands: Sequence[Command]) -> list[Any]:
        """Send the commands together (a pipeline, not a transaction); their replies.
        A reply that is an error raises it (``redis.ResponseError``)."""
        connection = await self._connected()
        replies = await self._replies(connection, connection.send(commands))
        # a lost connection first: it says more than any reply's error
        _raise_first(replies, redis.ConnectionError | redis.TimeoutError)
        _raise_first(replies, redis.ResponseError)
        return replies

    async def _replies(
        self, connection: _Connection, futures: list[asyncio.Future[Any]]
    ) -> list[Any]:
        """Every reply, errors as values (all retrieved: no "never retrieved" noise). A
        timeout fails the connection: the replies after it could not be told apart."""
        try:
            async with asyncio.timeout(self._timeout_s):
                if len(futures) == 1:
                    return [await futures[0]]
                return list(await asyncio.gather(*futures, return_exceptions=True))
        except TimeoutError:
            error = redis.TimeoutError(f"no reply from Redis in {self._timeout_s} s")
            connection.fail(error)
            raise error from None

    async def script(self, name: str, keys: Sequence[str], args: Sequence[Any]) -> Any:
        """``lua/<name>.lua`` by EVALSHA, loaded first if Redis lacks it (a restart)."""
        source, sha = self._script(name)
        call = ("EVALSHA", sha, len(keys), *keys, *args)
        try:
            return (await self.execute([call]))[0]
        except redis.ResponseError as error:
            if not str(error).startswith("NOSCRIPT"):
                raise
        await self.execute([("SCRIPT", "LOAD", source)])
        return (await self.execute([call]))[0]

    async def pipeline(self, build: Callable[[Any], None]) -> list[Any]:
        """The commands ``build`` queues on a redis-py pipeline (``pipe.hset(...)``...),
        sent together here: redis-py shapes the commands, this sends them."""
        shaper = self.source.pipeline(transaction=False)
        try:
            build(shaper)
            commands = [args for args, _ in shaper.command_stack]
        finally:
            shaper.reset()
        return await self.execute(commands) if commands else []

    def _script(self, name: str) -> tuple[str, str]:
        found = self._scripts.get(name)
        if found is None:
            source = scripts.source(name)
            sha = hashlib.sha1(source.encode(), usedforsecurity=False).hexdigest()
            found = self._scripts[name] = (source, sha)
        return found

    async def _connected(self) -> _Connection:
        connection = self._connection
        if connection is not None and connection.open:
            return connection
        async with self._connecting:
            if self._connection is not None and self._connection.open:
                return self._connection
            failed = self._failed
            if failed is not None and time.monotonic() - failed[0] < RECONNECT_PAUSE_S:
                # callers that queued behind a failed attempt fail with it, at once,
                # rather than each waiting out a connect timeout of its own
                raise redis.ConnectionError(failed[1])
            try:
                self._connection = await self._connect()
            except redis.ConnectionError as error:
                self._failed = (time.monotonic(), str(error))
                raise
            self._failed = None
            return self._connection

    async def _connect(self) -> _Connection:
        loop = asyncio.get_running_loop()
        connection = _Connection()
        try:
            async with asyncio.timeout(self._connect_timeout_s):
                if self._path:
                    await loop.create_unix_connection(lambda: connection, self._path)
                else:
                    await loop.create_connection(lambda: connection, self._host, self._port)
        except (OSError, TimeoutError) as error:
            where = self._path or f"{self._host}:{self._port}"
            raise redis.ConnectionError(f"cannot connect to Redis at {where} ({error})") from None
        greeting: list[Command] = []
        if self._password is not None:
            user = [self._username] if self._username else []
            greeting.append(("AUTH", *user, self._password))
        if self._db:
            greeting.append(("SELECT", self._db))
        if greeting:
            try:
                replies = await self._replies(connection, connection.send(greeting))
            except redis.TimeoutError:
                raise redis.ConnectionError("no greeting from Redis (timed out)") from None
            except BaseException:  # the caller cancelled, or the connection is gone: close it
                connection.fail(redis.ConnectionError("greeting not answered"))
                raise
            _raise_first(replies, redis.ConnectionError)
            for reply in replies:
                if isinstance(reply, redis.ResponseError):
                    connection.fail(redis.ConnectionError("refused"))
                    raise redis.AuthenticationError(f"Redis refused the connection: {reply}")
        return connection

    def close(self) -> None:
        if self._connection is not None:
            self._connection.fail(redis.ConnectionError("closed"))
            self._connection = None


_loop_clients: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[int, LoopRedis]] = (
    weakref.WeakKeyDictionary()
)


def on_loop(client: redis.Redis) -> LoopRedis:
    """``client``'s server on the running event loop (one per client and loop)."""
    per_loop = _loop_clients.setdefault(asyncio.get_running_loop(), {})
    found = per_loop.get(id(client))
    if found is None or found.source is not client:
        found = per_loop[id(client)] = LoopRedis(client)
    return found


async def close_on_loop() -> None:
    """Close every connection opened on the running loop (they end with the loop)."""
    for found in _loop_clients.pop(asyncio.get_running_loop(), {}).values():
        found.close()


def _raise_first(replies: list[Any], kind: type[Exception] | types.UnionType) -> None:
    """Raise the first reply that is an error of ``kind`` (replies hold errors as values)."""
    for reply in replies:
        if isinstance(reply, kind):
            raise reply
