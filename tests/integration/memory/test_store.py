"""A bot's memory store on a real Redis: writes are idempotent, reads give back the history."""

from __future__ import annotations

import redis

from bulkhead.memory.store import MemoryStore, now_ms

T0 = 1_767_225_600_000  # 2026-01-01 00:00 UTC


def _events_named(store: MemoryStore, name: str) -> int:
    return sum(entry["event"] == name for entry in store.events(count=10_000))


def test_recording_the_same_order_twice_keeps_one_hash_one_index_entry_and_one_event(
    client: redis.Redis, make_order
):
    store = MemoryStore(client, "alpha")
    order = make_order("o-1", 1, T0)
    assert store.record_order(order) is True
    assert store.record_order(order) is False
    assert client.exists(store.keys.order("o-1")) == 1
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
