"""Redis on the event loop (``memory.aio``), against real servers: many callers on one
connection each get their own reply, errors come out as redis-py's, and a connection
that failed is never trusted again."""

from __future__ import annotations

import asyncio
import os
import signal
from collections.abc import Awaitable, Callable

import pytest
import redis

from bulkhead.memory import aio
from bulkhead.memory.server import Connection, ManagedRedis


def run(test: Callable[[], Awaitable[None]]) -> None:
    asyncio.run(test())


def test_hundreds_of_callers_at_once_each_get_their_own_reply(client: redis.Redis) -> None:
    async def one(i: int) -> None:
        on_loop = aio.on_loop(client)
        (written, read) = await on_loop.execute([("SET", f"k{i}", f"v{i}"), ("GET", f"k{i}")])
        assert (written, read) == (b"OK", f"v{i}".encode())

    async def test() -> None:
        await asyncio.gather(*(one(i) for i in range(500)))
        assert aio.on_loop(client) is aio.on_loop(client)  # one per client and loop
        await aio.close_on_loop()

    run(test)
    assert client.get("k499") == b"v499"


def test_an_error_reply_raises_and_the_connection_stays_usable(client: redis.Redis) -> None:
    async def test() -> None:
        on_loop = aio.on_loop(client)
        client.set("text", "not a number")
        with pytest.raises(redis.ResponseError, match="not an integer"):
            await on_loop.execute([("INCR", "text")])
        assert await on_loop.execute([("PING",)]) == [b"PONG"]
        await aio.close_on_loop()

    run(test)


def test_a_script_redis_lost_is_loaded_again(client: redis.Redis) -> None:
    """A Redis restarted from its append-only file has no scripts: EVALSHA says NOSCRIPT."""

    async def test() -> None:
        on_loop = aio.on_loop(client)
        keys = ["bhgw:x:ledger", "bhgw:x:ledger:orders"]
        args = ["oid-1", 100, 1_000, "0", "1"]
        assert (await on_loop.script("ledger_reserve", keys, args))[0] == 1
        client.script_flush()
        # the same clientOid again, new: refused as in use (2), by the reloaded script
        assert (await on_loop.script("ledger_reserve", keys, args))[0] == 2
        await aio.close_on_loop()

    run(test)


def test_a_pipeline_is_shaped_by_redis_py_and_sent_at_once(client: redis.Redis) -> None:
    async def test() -> None:
        def build(pipe: redis.client.Pipeline) -> None:
            pipe.hset("h", "a", "1")
            pipe.xadd("s", {"kind": "order", "cost": "1.5"}, maxlen=10, approximate=True)

        replies = await aio.on_loop(client).pipeline(build)
        assert replies[0] == 1
        await aio.close_on_loop()

    run(test)
    assert client.hget("h", "a") == b"1"
    assert [fields for _, fields in client.xrange("s")] == [{b"kind": b"order", b"cost": b"1.5"}]


def test_wrong_credentials_are_refused_as_redis_py_refuses_them(admin: Connection) -> None:
    wrong = redis.Redis.from_url(admin.url, username=admin.username, password="wrong")

    async def test() -> None:
        with pytest.raises(redis.AuthenticationError):
            await aio.on_loop(wrong).execute([("PING",)])
        await aio.close_on_loop()

    run(test)


def test_redis_down_raises_connection_error_and_back_it_serves_again(
    managed: ManagedRedis, client: redis.Redis
) -> None:
    async def test() -> None:
        on_loop = aio.on_loop(client)
        assert await on_loop.execute([("PING",)]) == [b"PONG"]
        managed.stop()
        with pytest.raises(redis.ConnectionError):
            await on_loop.execute([("PING",)])
        with pytest.raises(redis.ConnectionError):  # refused, not hung
            await on_loop.execute([("PING",)])
        managed.ensure_running()
        await asyncio.sleep(aio.RECONNECT_PAUSE_S)  # callers fail at once for this long
        assert await on_loop.execute([("PING",)]) == [b"PONG"]
        await aio.close_on_loop()

    run(test)


def test_a_hung_redis_times_out_every_waiting_caller_and_late_replies_go_nowhere(
    managed: ManagedRedis, admin: Connection
) -> None:
    """Replies that come after the timeout must not be taken for later commands': the
    connection they come on is closed, and the next command opens another."""
    client = admin.client(socket_timeout=0.5)
    pid = managed.pid()
    assert pid is not None

    async def test() -> None:
        on_loop = aio.on_loop(client)
        await on_loop.execute([("SET", "a", "1"), ("SET", "b", "2")])
        os.kill(pid, signal.SIGSTOP)
        try:
            outcomes = await asyncio.gather(
                on_loop.execute([("GET", "a")]),
                on_loop.execute([("GET", "b")]),
                return_exceptions=True,
            )
        finally:
            os.kill(pid, signal.SIGCONT)
        assert all(isinstance(outcome, redis.TimeoutError) for outcome in outcomes)
        await asyncio.sleep(0.2)  # Redis answers the two GETs now, on the closed connection
        assert await on_loop.execute([("GET", "b")]) == [b"2"]
        assert await on_loop.execute([("GET", "a")]) == [b"1"]
        await aio.close_on_loop()

    run(test)
    client.close()


def test_a_command_that_cannot_be_sent_leaves_the_replies_in_line(client: redis.Redis) -> None:
    async def test() -> None:
        on_loop = aio.on_loop(client)
        await on_loop.execute([("SET", "a", "1"), ("SET", "b", "2")])
        with pytest.raises(TypeError):
            await on_loop.execute([("SET", "x", None)])
        replies = await asyncio.gather(
            on_loop.execute([("GET", "a")]), on_loop.execute([("GET", "b")])
        )
        assert replies == [[b"1"], [b"2"]]
        await aio.close_on_loop()

    run(test)


def test_callers_queued_behind_a_failed_connect_fail_with_it_at_once(
    managed: ManagedRedis, client: redis.Redis, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Fifty buys waiting on an unreachable Redis make one connect attempt, not fifty in a
    row (each could take the whole connect timeout)."""
    managed.stop()
    attempts = []
    connect = aio.LoopRedis._connect

    async def counted(self: aio.LoopRedis) -> object:
        attempts.append(1)
        return await connect(self)

    monkeypatch.setattr(aio.LoopRedis, "_connect", counted)

    async def test() -> None:
        on_loop = aio.on_loop(client)
        outcomes = await asyncio.gather(
            *(on_loop.execute([("PING",)]) for _ in range(50)), return_exceptions=True
        )
        assert all(isinstance(outcome, redis.ConnectionError) for outcome in outcomes)
        assert len(attempts) == 1
        await aio.close_on_loop()

    run(test)
