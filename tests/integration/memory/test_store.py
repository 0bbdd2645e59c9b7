"""A bot's memory store on a real Redis: writes are idempotent, reads give back the history."""

from __future__ import annotations

import dataclasses
from typing import Any

import redis

from bulkhead.memory.store import MemoryStore, Recorded, now_ms

T0 = 1_767_225_600_000  # 2026-01-01 00:00 UTC


def _events_named(store: MemoryStore, name: str) -> int:
    return sum(entry["event"] == name for entry in store.events(count=10_000))


def _changes(client: redis.Redis) -> int:
    """The server's count of writes since its last save: unchanged by a write-free call."""
    info: Any = client.info("persistence")
    return int(info["rdb_changes_since_last_save"])


def _aof_size(client: redis.Redis) -> int:
    info: Any = client.info("persistence")
    return int(info["aof_current_size"])


def test_recording_the_same_order_twice_keeps_one_record_one_index_entry_and_one_event(
    client: redis.Redis, make_order
):
    store = MemoryStore(client, "alpha")
    order = make_order("o-1", 1, T0)
    assert store.record_order(order) is True
    assert store.record_order(order) is False
    assert client.hlen(store.keys.order_data) == 1
    assert client.hget(store.keys.order_data, "o-1") == order.to_json().encode()
    assert client.zcard(store.keys.orders) == 1
    assert _events_named(store, "order_recorded") == 1
    assert store.orders() == [order]


def test_recording_the_same_trade_twice_keeps_one_hash_and_one_index_entry(
    client: redis.Redis, make_trade
):
    store = MemoryStore(client, "alpha")
    trade = make_trade(1, T0)
    assert store.record_trade(trade) == 1
    assert store.record_trade(trade) == 0
    assert client.zcard(store.keys.trades) == 1
    assert store.trades() == [trade]


def test_a_trade_close_is_announced_exactly_once_however_often_it_is_recorded(
    client: redis.Redis, make_trade
):
    store = MemoryStore(client, "alpha")
    store.record_trade(make_trade(1, T0))
    closed = make_trade(1, T0, close_ms=T0 + 60_000)
    assert store.record_trade(closed) == 2
    assert store.record_trade(closed) == 0
    assert store.record_trade(closed) == 0
    assert _events_named(store, "trade_closed") == 1
    assert store.trades() == [closed]


def test_re_recording_unchanged_records_writes_nothing_to_the_server_or_its_aof(
    client: redis.Redis, make_trade, make_order
):
    store = MemoryStore(client, "alpha")
    orders = [make_order(f"o-{i}", i, T0 + i) for i in range(1, 21)]
    trades = [make_trade(i, T0 + i, close_ms=T0 + 60_000 + i) for i in range(1, 21)]
    store.record_many(orders, trades)
    changes, aof = _changes(client), _aof_size(client)
    for order in orders:
        assert store.record_order(order) is False
    for trade in trades:
        assert store.record_trade(trade) == 0
    assert store.record_many(orders, trades) == Recorded(orders=20, trades=20)
    assert (_changes(client), _aof_size(client)) == (changes, aof)


def test_a_changed_order_is_updated_without_a_second_announcement(client: redis.Redis, make_order):
    store = MemoryStore(client, "alpha")
    store.record_order(make_order("o-1", 1, T0))
    changed = dataclasses.replace(make_order("o-1", 1, T0 + 5), fee_quote=0.01)
    assert store.record_order(changed) is False
    assert store.orders() == [changed]
    assert client.zscore(store.keys.orders, "o-1") == T0 + 5
    assert _events_named(store, "order_recorded") == 1


def test_record_many_counts_the_news_and_announces_like_single_calls(
    client: redis.Redis, make_trade, make_order
):
    batched, single = MemoryStore(client, "alpha"), MemoryStore(client, "beta")
    single.record_trade(make_trade(2, T0 + 2))  # open already: its close is news
    batched.record_trade(make_trade(2, T0 + 2))
    orders = [make_order(f"o-{i}", i, T0 + i) for i in range(1, 8)]
    trades = [make_trade(1, T0 + 1, close_ms=T0 + 9)]  # new and closed: a close
    trades += [make_trade(2, T0 + 2, close_ms=T0 + 9)]  # closes now
    trades += [make_trade(i, T0 + i) for i in range(3, 8)]  # new, open
    recorded = batched.record_many(orders, trades, chunk=3)  # chunks end mid-class
    assert recorded == Recorded(orders=7, orders_new=7, trades=7, trades_new_open=5, closes_new=2)
    for order in orders:
        single.record_order(order)
    for trade in trades:
        single.record_trade(trade)
    assert batched.trades() == single.trades()
    assert batched.orders() == single.orders()
    events = [(e["event"], e["data"]) for e in batched.events(count=100)]
    assert events == [(e["event"], e["data"]) for e in single.events(count=100)]
    assert batched.record_many(orders, trades, chunk=3) == Recorded(orders=7, trades=7)
    assert _events_named(batched, "trade_closed") == 2
    assert _events_named(batched, "order_recorded") == 7


def test_a_trade_recorded_again_after_its_close_with_other_values_is_not_announced_again(
    client: redis.Redis, make_trade
):
    store = MemoryStore(client, "alpha")
    assert store.record_trade(make_trade(1, T0, close_ms=T0 + 60_000)) == 2
    corrected = make_trade(1, T0, close_ms=T0 + 60_000, pnl=1.25)
    assert store.record_trade(corrected) == 0
    assert store.trades() == [corrected]
    assert _events_named(store, "trade_closed") == 1


def test_the_full_history_reads_back_exactly_as_written_oldest_first(
    client: redis.Redis, make_trade, make_order
):
    store = MemoryStore(client, "alpha")
    trades, orders = [], []
    # written out of order, read back by open/fill time
    for trade_id in reversed(range(1, 61)):
        opened = T0 + trade_id * 3_600_000
        closed = opened + 600_000 if trade_id % 3 else None
        trade = make_trade(trade_id, opened, close_ms=closed, pnl=trade_id / 7 - 4)
        buy = make_order(f"b-{trade_id}", trade_id, opened)
        store.record_order(buy)
        orders.append(buy)
        if closed is not None:
            sell = make_order(f"s-{trade_id}", trade_id, closed, side="sell")
            store.record_order(sell)
            orders.append(sell)
        store.record_trade(trade)
        trades.append(trade)
    assert store.trades() == sorted(trades, key=lambda t: t.open_time_ms)
    assert store.orders() == sorted(orders, key=lambda o: o.filled_time_ms)


def test_events_come_newest_last_and_count_picks_the_newest(client: redis.Redis):
    store = MemoryStore(client, "alpha")
    for name in ("first", "second", "third"):
        store.record_event(name, {"n": name})
    assert [e["event"] for e in store.events(count=3)] == ["first", "second", "third"]
    assert [e["event"] for e in store.events(count=2)] == ["second", "third"]
    assert store.events(count=1)[0]["data"] == {"n": "third"}


def test_equity_points_and_insights_read_back(client: redis.Redis):
    store = MemoryStore(client, "alpha")
    start = now_ms()
    store.record_equity(100.0, start)
    store.record_equity(101.25, start + 1000)
    insight = store.add_insight("XRP dips at the open", source="analysis", evidence={"n": 12})
    assert store.equity() == [(start, 100.0), (start + 1000, 101.25)]
    [stored] = store.insights()
    assert stored["id"] == insight
    assert stored["text"] == "XRP dips at the open"
    assert 0 < client.pttl(store.keys.insight(insight)) <= 30 * 86_400_000
