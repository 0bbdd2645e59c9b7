"""Retention on a real Redis: each policy removes what it should and nothing else."""

from __future__ import annotations

import redis

from bulkhead.config.models import Retention
from bulkhead.memory.retention import PruneReport, prune, prune_due
from bulkhead.memory.store import MemoryStore, now_ms
from bulkhead.plumbing import wait_until

DAY_MS = 86_400_000
HOUR_MS = 3_600_000


def _some_of_everything(store: MemoryStore, make_trade, make_order, now: int) -> None:
    store.record_order(make_order("o-1", 1, now - HOUR_MS))
    store.record_trade(make_trade(1, now - HOUR_MS))
    store.add_insight("keep me", source="operator")
    store.record_equity(100.0, now - 60_000)


def test_events_older_than_the_retention_are_trimmed_and_newer_ones_kept(
    bot_content, client: redis.Redis, make_trade, make_order
):
    store = MemoryStore(client, "alpha")
    now = now_ms()
    old = [now - 100 * DAY_MS, now - 95 * DAY_MS, now - 90 * DAY_MS - 1]
    recent = [now - 90 * DAY_MS + 1000, now - 1 * DAY_MS]
    for at in old + recent:
        client.xadd(store.keys.events, {"event": "decision", "data": "{}"}, id=f"{at}-0")
    _some_of_everything(store, make_trade, make_order, now)
    others = bot_content(client, store.keys.bot)
    others.pop(store.keys.events)
    report = prune(store, Retention(events_days=90), now_ms=now)
    after = bot_content(client, store.keys.bot)
    assert after.pop(store.keys.events)
    assert after == others
    ids = [entry_id.decode() for entry_id, _ in client.xrange(store.keys.events)]
    assert report.events_removed == 3
    assert ids[:2] == [f"{at}-0" for at in recent]
    assert [e["event"] for e in store.events(count=10)][2:] == ["order_recorded"]  # just now
    assert report == PruneReport(events_removed=3)


def test_aged_equity_is_downsampled_to_the_last_point_of_each_bucket(client: redis.Redis):
    store = MemoryStore(client, "alpha")
    now = now_ms()
    hour0 = (now - 10 * DAY_MS) // HOUR_MS * HOUR_MS
    aged = {hour0 + 60_000: 100.0, hour0 + 1_800_000: 101.0, hour0 + 3_540_000: 102.0}
    aged |= {hour0 + HOUR_MS + 300_000: 103.0}
    fresh = {now - HOUR_MS: 110.0, now - 60_000: 111.0}
    for at, value in (aged | fresh).items():
        store.record_equity(value, at)
    retention = Retention(equity_fine_days=7, equity_coarse_every_s=3600)
    report = prune(store, retention, now_ms=now)
    assert store.equity(coarse=True) == [
        (hour0 + 3_540_000, 102.0),
        (hour0 + HOUR_MS + 300_000, 103.0),
    ]
    assert store.equity() == sorted(fresh.items())
    assert report == PruneReport(equity_fine_removed=4, equity_coarse_added=2)


def test_downsampling_again_adds_nothing_and_a_late_point_only_wins_its_bucket_if_later(
    client: redis.Redis,
):
    store = MemoryStore(client, "alpha")
    now = now_ms()
    hour0 = (now - 10 * DAY_MS) // HOUR_MS * HOUR_MS
    store.record_equity(100.0, hour0 + 600_000)
    store.record_equity(101.0, hour0 + 1_200_000)
    retention = Retention()
    prune(store, retention, now_ms=now)
    assert prune(store, retention, now_ms=now) == PruneReport()
    assert prune(store, retention, now_ms=now + 60_000) == PruneReport()
    store.record_equity(99.0, hour0 + 900_000)  # late, but earlier in its bucket: dropped
    assert prune(store, retention, now_ms=now) == PruneReport(equity_fine_removed=1)
    assert store.equity(coarse=True) == [(hour0 + 1_200_000, 101.0)]
    store.record_equity(104.0, hour0 + 3_000_000)  # late and later: replaces the bucket's point
    report = prune(store, retention, now_ms=now)
    assert report == PruneReport(equity_fine_removed=1, equity_coarse_added=1)
    assert store.equity(coarse=True) == [(hour0 + 3_000_000, 104.0)]
    assert store.equity() == []


def test_coarse_equity_older_than_its_retention_is_removed(client: redis.Redis):
    store = MemoryStore(client, "alpha")
    now = now_ms()
    client.zadd(store.keys.equity_coarse, {f"{now - 400 * DAY_MS}:90.0": now - 400 * DAY_MS})
    client.zadd(store.keys.equity_coarse, {f"{now - 300 * DAY_MS}:95.0": now - 300 * DAY_MS})
    store.record_equity(80.0, now - 500 * DAY_MS)  # too old even for the coarse series
    report = prune(store, Retention(equity_coarse_days=365), now_ms=now)
    assert store.equity(coarse=True) == [(now - 300 * DAY_MS, 95.0)]
    assert store.equity() == []
    assert report == PruneReport(equity_fine_removed=1, equity_coarse_removed=1)


def test_expired_insights_leave_the_index_and_live_ones_stay(client: redis.Redis):
    store = MemoryStore(client, "alpha")
    brief = store.add_insight("short-lived", source="analysis", ttl_days=0.2 / 86_400)
    lasting = store.add_insight("lasting", source="operator")
    wait_until(
        lambda: not client.exists(store.keys.insight(brief)), 5, what="the brief insight to expire"
    )
    report = prune(store, Retention())
    assert report == PruneReport(insights_removed=1)
    assert [i.decode() for i in client.zrange(store.keys.insights, 0, -1)] == [lasting]
    assert [i["id"] for i in store.insights()] == [lasting]


def test_trades_are_never_removed_by_default_however_old(
    bot_content, client: redis.Redis, make_trade, make_order
):
    store = MemoryStore(client, "alpha")
    now = now_ms()
    ancient = now - 1000 * DAY_MS
    store.record_order(make_order("b-1", 1, ancient))
    store.record_order(make_order("s-1", 1, ancient + HOUR_MS, side="sell"))
    store.record_trade(make_trade(1, ancient, close_ms=ancient + HOUR_MS))
    store.record_trade(make_trade(2, ancient))
    before = bot_content(client, store.keys.bot)
    report = prune(store, Retention(events_days=99_999), now_ms=now)
    assert report == PruneReport()
    assert bot_content(client, store.keys.bot) == before


def test_old_closed_trades_go_with_their_orders_only_when_asked(
    client: redis.Redis, make_trade, make_order
):
    store = MemoryStore(client, "alpha")
    now = now_ms()
    old, recent = now - 400 * DAY_MS, now - 10 * DAY_MS
    store.record_order(make_order("b-1", 1, old))
    store.record_order(make_order("s-1", 1, old + HOUR_MS, side="sell"))
    store.record_trade(make_trade(1, old, close_ms=old + HOUR_MS))  # old, closed: goes
    store.record_order(make_order("b-2", 2, old))
    store.record_trade(make_trade(2, old))  # old but still open: stays
    store.record_order(make_order("b-3", 3, old))
    store.record_trade(make_trade(3, old, close_ms=recent))  # opened long ago, closed lately
    store.record_order(make_order("b-4", 4, recent))
    store.record_trade(make_trade(4, recent, close_ms=recent + HOUR_MS))  # recent: stays
    retention = Retention(events_days=99_999)
    report = prune(store, retention, now_ms=now, trades_older_than_days=365)
    assert report == PruneReport(trades_removed=1, orders_removed=2)
    assert [t.trade_id for t in store.trades()] == [2, 3, 4]
    assert sorted(o.order_id for o in store.orders()) == ["b-2", "b-3", "b-4"]
    assert client.hexists(store.keys.trade_data, "1") is False
    assert client.hmget(store.keys.order_data, ["b-1", "s-1"]) == [None, None]
    assert client.hlen(store.keys.order_data) == 3
    assert client.zscore(store.keys.trades, "1") is None
    assert client.zscore(store.keys.orders, "s-1") is None
    again = prune(store, retention, now_ms=now, trades_older_than_days=365)
    assert again == PruneReport()


def test_prune_due_runs_once_per_interval_and_remembers_it_in_meta(client: redis.Redis):
    store = MemoryStore(client, "alpha")
    now = now_ms()
    client.xadd(store.keys.events, {"event": "old"}, id=f"{now - 200 * DAY_MS}-0")
    first = prune_due(store, Retention(), every_s=3600, now_ms=now)
    assert first == PruneReport(events_removed=1)
    assert prune_due(store, Retention(), every_s=3600, now_ms=now + 1000) is None
    assert prune_due(store, Retention(), every_s=3600, now_ms=now + HOUR_MS) == PruneReport()
    assert client.hget(store.keys.meta, "pruned_ms") == str(now + HOUR_MS).encode()
