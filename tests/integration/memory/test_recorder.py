"""The recorder inside a bot: exactly once, and never in the way when Redis is down."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from typing import Any

import pytest

from bulkhead.memory.recorder import Recorder
from bulkhead.memory.server import Connection, ManagedRedis
from bulkhead.memory.store import MemoryStore

OPENED = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)
CLOSED = datetime(2026, 11, 1, 12, 5, tzinfo=UTC)


def freqtrade_order(order_id: str, side: str, price: float) -> Any:
    """The fields of a Freqtrade ``Order`` row that the recorder reads."""
    return SimpleNamespace(
        order_id=order_id,
        ft_order_side=side,
        ft_pair="XRP/USDT",
        order_type="market",
        status="closed",
        filled=10.0,
        safe_filled=10.0,
        safe_price=price,
        safe_cost=10.0 * price,
        safe_fee_base=0.0,
        order_filled_utc=OPENED,
        order_date_utc=OPENED,
    )


def freqtrade_trade(
    closed: bool, trade_id: int = 7, closed_at: datetime = CLOSED, suffix: str = "1"
) -> Any:
    orders = [freqtrade_order(f"buy-{suffix}", "buy", 1.0)]
    if closed:
        orders.append(freqtrade_order(f"sell-{suffix}", "sell", 1.1))
    return SimpleNamespace(
        id=trade_id,
        pair="XRP/USDT",
        is_short=False,
        is_open=not closed,
        amount=10.0,
        stake_amount=10.0,
        open_rate=1.0,
        close_rate=1.1 if closed else None,
        open_date_utc=OPENED,
        close_date_utc=closed_at if closed else None,
        fee_open_cost=0.01,
        fee_close_cost=0.011 if closed else None,
        close_profit_abs=0.979 if closed else None,
        close_profit=0.0979 if closed else None,
        enter_tag="signal",
        exit_reason="roi" if closed else None,
        orders=orders,
        entry_side="buy",
        fee_open=0.001,
        fee_close=0.001,
    )


@pytest.fixture
def recorder(admin: Connection) -> Recorder:
    return Recorder(
        lambda: MemoryStore(admin.client(socket_timeout=1), "bot1"), reconcile_every_s=3600
    )


def test_replayed_fills_and_reconciliations_record_everything_exactly_once(
    recorder: Recorder, admin: Connection
):
    trade = freqtrade_trade(closed=True)
    for order in trade.orders:
        recorder.on_fill(trade, order)
        recorder.on_fill(trade, order)
    recorder.reconcile([trade])
    recorder.reconcile([trade])
    store = MemoryStore(admin.client(), "bot1")
    assert [t.trade_id for t in store.trades()] == [7]
    assert sorted(o.order_id for o in store.orders()) == ["buy-1", "sell-1"]
    assert store.orders()[0].fee_quote == pytest.approx(0.01)
    events = [e["event"] for e in store.events(100)]
    assert events.count("trade_closed") == 1
    assert events.count("order_recorded") == 2


def test_a_redis_outage_is_logged_once_never_raised_and_caught_up_afterwards(
    recorder: Recorder,
    managed: ManagedRedis,
    admin: Connection,
    caplog: pytest.LogCaptureFixture,
):
    open_trade = freqtrade_trade(closed=False)
    recorder.on_fill(open_trade, open_trade.orders[0])
    managed.stop()
    closed_trade = freqtrade_trade(closed=True)
    with caplog.at_level(logging.INFO, logger="bulkhead.memory"):
        recorder.on_fill(closed_trade, closed_trade.orders[1])  # must not raise
        recorder.on_event("exit_signal", {"pair": "XRP/USDT"})
        recorder.on_loop(lambda: [closed_trade])
        outages = [r for r in caplog.records if r.getMessage() == "memory_outage"]
        assert len(outages) == 1
        managed.ensure_running()
        recorder.on_loop(lambda: [closed_trade])
    messages = [r.getMessage() for r in caplog.records]
    assert "memory_restored" in messages
    assert "memory_reconciled" in messages
    store = MemoryStore(admin.client(), "bot1")
    (trade,) = store.trades()
    assert not trade.is_open
    assert trade.realized_pnl == pytest.approx(0.979)
    assert sorted(o.order_id for o in store.orders()) == ["buy-1", "sell-1"]


def _reconciled(caplog: pytest.LogCaptureFixture) -> list[dict[str, Any]]:
    return [
        {k: getattr(r, k) for k in ("trades", "orders_new", "closes_new", "full")}
        for r in caplog.records
        if r.getMessage() == "memory_reconciled"
    ]


def test_periodic_reconciliations_take_open_and_recent_trades_and_a_full_one_follows_an_outage(
    managed: ManagedRedis, admin: Connection, caplog: pytest.LogCaptureFixture
):
    sent: list[list[int]] = []

    class Spy(MemoryStore):
        def record_many(self, orders: Any, trades: Any, **options: Any) -> Any:
            trades = list(trades)
            sent.append(sorted(t.trade_id for t in trades))
            return super().record_many(orders, trades, **options)

    wall = [(CLOSED + timedelta(days=1)).timestamp()]
    recorder = Recorder(
        lambda: Spy(admin.client(socket_timeout=1), "bot1"),
        reconcile_every_s=60,
        wall_clock=lambda: wall[0],
    )
    old = freqtrade_trade(closed=True, trade_id=1, suffix="1")
    with caplog.at_level(logging.INFO, logger="bulkhead.memory"):
        assert recorder.reconcile([old, freqtrade_trade(closed=False, trade_id=2, suffix="2")])
        wall[0] += 60
        # 2 was open at the last pass: taken whatever its close date says
        closed_2 = freqtrade_trade(closed=True, trade_id=2, suffix="2")
        recent = datetime.fromtimestamp(wall[0] - 300, UTC)  # within the margin
        closed_3 = freqtrade_trade(closed=True, trade_id=3, closed_at=recent, suffix="3")
        history = [old, closed_2, closed_3]
        assert recorder.reconcile(history)
        wall[0] += 60
        assert recorder.reconcile(history)  # nothing new: no event
        managed.stop()
        assert not recorder.reconcile(history)
        managed.ensure_running()
        assert recorder.reconcile(history)
    # the pass that meets the outage is still a periodic one; the one after it is full
    assert sent == [[1, 2], [2, 3], [3], [3], [1, 2, 3]]
    assert _reconciled(caplog) == [
        {"trades": 2, "orders_new": 3, "closes_new": 1, "full": True},
        {"trades": 2, "orders_new": 3, "closes_new": 2, "full": False},
        {"trades": 3, "orders_new": 0, "closes_new": 0, "full": True},
    ]
    store = MemoryStore(admin.client(), "bot1")
    assert [(t.trade_id, t.is_open) for t in store.trades()] == [(1, False), (2, False), (3, False)]
    assert [e["event"] for e in store.events(100)].count("trade_closed") == 3
