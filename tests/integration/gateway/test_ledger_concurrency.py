"""Hundreds of buys for one bot, from several processes at once: the cap holds to the unit."""

from __future__ import annotations

import asyncio
import multiprocessing
import random
from collections.abc import Iterator
from decimal import Decimal as D
from pathlib import Path

import pytest

from bulkhead.gateway.ledger import Ledger
from bulkhead.memory.keys import GatewayKeys
from bulkhead.memory.server import Connection, ManagedRedis

PROCESSES = 6
ORDERS_EACH = 100
BUDGET = D("100")


@pytest.fixture
def connection(tmp_path: Path) -> Iterator[Connection]:
    server = ManagedRedis(tmp_path / "redis", fsync="no")
    yield server.ensure_running()
    server.stop()


def _buyer(connection: Connection, seed: int, start: object, results: object, mode: str) -> None:
    """Reserve ORDERS_EACH random costs as fast as possible; cancel every fifth accepted one.
    ``loop``: as the gateway's hot path does, all at once on an event loop (``memory.aio``)."""
    rng = random.Random(seed)
    client = connection.client(socket_timeout=10)
    ledger = Ledger(client, "alpha", BUDGET)
    orders = [(f"p{seed}-{i}", D(rng.randint(1, 300_000_000)) / 10**8) for i in range(ORDERS_EACH)]
    start.wait()  # type: ignore[attr-defined]
    kept = D(0)
    if mode == "loop":

        async def all_at_once() -> list[bool]:
            decisions = [ledger.reserve_on_loop(oid, cost, new=True) for oid, cost in orders]
            return [decision.allowed for decision in await asyncio.gather(*decisions)]

        # none cancelled: after all-at-once reservations, cancels would leave headroom that
        # no later buy takes up
        allowed = asyncio.run(all_at_once())
        kept = sum((cost for (_, cost), ok in zip(orders, allowed, strict=True) if ok), D(0))
    else:
        for i, (oid, cost) in enumerate(orders):
            if ledger.reserve(oid, cost).allowed:
                if i % 5 == 0:
                    ledger.cancel(oid)
                else:
                    kept += cost
    results.put(str(kept))  # type: ignore[attr-defined]
    client.close()


@pytest.mark.parametrize("mode", ["sync", "loop"])
def test_hundreds_of_concurrent_buys_never_take_committed_above_the_cap(
    connection: Connection, mode: str
) -> None:
    context = multiprocessing.get_context("fork")
    start = context.Barrier(PROCESSES)
    results = context.Queue()
    workers = [
        context.Process(target=_buyer, args=(connection, seed, start, results, mode))
        for seed in range(PROCESSES)
    ]
    for worker in workers:
        worker.start()
    # watch the committed total while they race: never above the cap, at any moment
    watcher = connection.client()
    peak = 0
    while any(worker.is_alive() for worker in workers) and results.qsize() < PROCESSES:
        peak = max(peak, int(watcher.hget(GatewayKeys("alpha").ledger, "committed") or 0))
    assert D(peak) / 10**8 <= BUDGET
    kept = [D(results.get(timeout=60)) for _ in workers]
    for worker in workers:
        worker.join(timeout=30)
        assert worker.exitcode == 0
    client = connection.client()
    snap = Ledger(client, "alpha", BUDGET).snapshot()
    assert snap.committed <= snap.cap == BUDGET
    assert snap.committed == sum(kept)
    assert len(snap.reservations) > 0
    # 600 orders averaging 1.5 USDT ask for ~900: the cap was reached, and nearly filled
    assert snap.headroom < D("3")
