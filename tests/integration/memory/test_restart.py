"""Memory outlives its server: a clean restart, and a SIGKILL with fsync on every write."""

from __future__ import annotations

import os
import signal

from bulkhead.memory.server import ManagedRedis
from bulkhead.memory.store import MemoryStore
from bulkhead.plumbing import wait_until

T0 = 1_767_225_600_000


def _write(server: ManagedRedis, make_trade, make_order) -> dict[str, object]:
    store = MemoryStore(server.admin().client(), "alpha")
    store.record_order(make_order("o-1", 1, T0))
    store.record_trade(make_trade(1, T0, close_ms=T0 + 60_000))
    store.record_event("decision", {"signal": "enter"})
    store.record_equity(100.5, T0)
    store.add_insight("survives restarts", source="operator")
    store.set_meta(strategy="TwinScalper")
    return _read(server)


def _read(server: ManagedRedis) -> dict[str, object]:
    client = server.admin().client()
    store = MemoryStore(client, "alpha")
    return {
        "trades": store.trades(),
        "orders": store.orders(),
        "events": store.events(count=100),
        "equity": store.equity(),
        "insights": store.insights(),
        "meta": client.hgetall(store.keys.meta),
    }


def test_memory_written_before_a_stop_is_there_after_a_start(
    managed: ManagedRedis, make_trade, make_order
):
    written = _write(managed, make_trade, make_order)
    assert managed.stop() is True
    assert not managed.is_running()
    managed.ensure_running()
    assert _read(managed) == written


def test_memory_survives_a_sigkill_of_the_server_and_heal_brings_it_back(
    managed: ManagedRedis, make_trade, make_order
):
    written = _write(managed, make_trade, make_order)
    pid = managed.pid()
    assert pid is not None
    os.kill(pid, signal.SIGKILL)
    wait_until(lambda: not managed.is_running(), 10, what="the killed server to be gone")
    assert managed.heal() is True
    assert managed.pid() != pid
    assert _read(managed) == written
    assert managed.heal() is False  # running: nothing to heal
