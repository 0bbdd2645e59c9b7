"""The at-a-glance values of a bot's memory, computed without Redis."""

from __future__ import annotations

import dataclasses
from datetime import datetime

import pytest

from bulkhead.memory.records import TradeRecord
from bulkhead.memory.server import Connection, MemoryUnavailable
from bulkhead.memory.summary import TradeSummary, brief, event_time, trade_summary

CLOSED = TradeRecord(
    trade_id=1,
    pair="XRP/USDT",
    side="long",
    is_open=False,
    amount=10.0,
    stake_amount=5.0,
    open_rate=0.5,
    close_rate=0.6,
    open_time_ms=1_700_000_000_000,
    close_time_ms=1_700_000_060_000,
    fee_open_cost=0.01,
    fee_close_cost=0.02,
    realized_pnl=1.0,
    realized_pnl_ratio=0.2,
    entry_tag="",
    exit_reason="roi",
    duration_s=60.0,
)


def trade(trade_id: int, **changes: object) -> TradeRecord:
    return dataclasses.replace(CLOSED, trade_id=trade_id, **changes)  # type: ignore[arg-type]


def test_an_empty_history_has_no_win_rate():
    assert trade_summary([]) == TradeSummary(0, 0, 0, 0, 0.0, None)


def test_pnl_and_win_rate_count_closed_trades_and_fees_count_every_trade():
    trades = [
        trade(1, realized_pnl=1.5),
        trade(2, realized_pnl=-0.5),
        trade(3, realized_pnl=None),  # closed, PnL unknown: neither a win nor a loss
        trade(4, is_open=True, fee_close_cost=None, realized_pnl=0.25, close_rate=None),
    ]
    summary = trade_summary(trades)
    assert (summary.trades, summary.open, summary.closed) == (4, 1, 3)
    assert summary.realized_pnl == pytest.approx(1.0)
    assert summary.win_rate == pytest.approx(0.5)
    assert summary.fees == pytest.approx(3 * 0.03 + 0.01)


def test_an_event_is_dated_by_the_milliseconds_of_its_stream_id():
    assert event_time("1700000000123-4") == datetime.fromtimestamp(1_700_000_000.123)


def test_a_redis_that_does_not_answer_makes_the_brief_unavailable_naming_why():
    nowhere = Connection("redis://127.0.0.1:1/0", "nobody", "x")
    with pytest.raises(MemoryUnavailable, match=r"^ConnectionError$"):
        brief(nowhere, "bot1")
