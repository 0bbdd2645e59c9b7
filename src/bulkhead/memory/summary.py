"""What a bot's memory says at a glance: the values ``bulkhead memory show`` and the demo's
status view print (computed here, printed by the CLI; nothing here prints)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import redis

from bulkhead.memory.deployment import MemoryAccess
from bulkhead.memory.records import TradeRecord
from bulkhead.memory.server import Connection, MemoryUnavailable
from bulkhead.memory.store import MemoryStore


@dataclass(frozen=True)
class TradeSummary:
    """Counts, realized PnL, fees and win rate of a trade history."""

    trades: int
    open: int
    closed: int
    #: of closed trades only
    realized_pnl: float
    #: entry and exit fees of every trade
    fees: float
    #: share of closed trades with a positive realized PnL; None before the first
    win_rate: float | None


def trade_summary(trades: Sequence[TradeRecord]) -> TradeSummary:
    closed = [t for t in trades if not t.is_open]
    realized = [t.realized_pnl for t in closed if t.realized_pnl is not None]
    return TradeSummary(
        trades=len(trades),
        open=len(trades) - len(closed),
        closed=len(closed),
        realized_pnl=sum(realized),
        fees=sum(t.fee_open_cost + (t.fee_close_cost or 0.0) for t in trades),
        win_rate=(sum(pnl > 0 for pnl in realized) / len(realized)) if realized else None,
    )


@dataclass(frozen=True)
class RecentEvent:
    at: datetime
    event: str
    data: Any


def event_time(entry_id: str) -> datetime:
    """When an event was stored: a Redis stream id is ``<milliseconds>-<sequence>``."""
    return datetime.fromtimestamp(int(entry_id.split("-")[0]) / 1000)


@dataclass(frozen=True)
class MemoryOverview:
    """``bulkhead memory show``: the trade summary, the last equity point (when, value),
    how many insights, the bytes the bot's keys use and its newest events, newest last."""

    trades: TradeSummary
    last_equity: tuple[datetime, float] | None
    insights: int
    memory_used: int
    events: list[RecentEvent]


def overview(access: MemoryAccess, bot: str, events: int = 10) -> MemoryOverview:
    """Read through the read-only user; only the size falls back to the admin user."""
    store = MemoryStore(access.reader.client(socket_timeout=10), bot)
    fine, coarse = store.equity(), store.equity(coarse=True)
    points = fine or coarse
    last_equity = None
    if points:
        at, value = points[-1]
        last_equity = (datetime.fromtimestamp(at / 1000), value)
    try:
        used = store.memory_used()
    except redis.exceptions.NoPermissionError:
        # a reader rule from an older Bulkhead may lack SCAN: the admin can always
        used = MemoryStore(access.admin.client(socket_timeout=10), bot).memory_used()
    return MemoryOverview(
        trades=trade_summary(store.trades()),
        last_equity=last_equity,
        insights=len(store.insights()),
        memory_used=used,
        events=[
            RecentEvent(event_time(entry["id"]), entry["event"], entry["data"])
            for entry in (store.events(events) if events else [])
        ],
    )


@dataclass(frozen=True)
class MemoryBrief:
    """The demo's one line: trades (open among them), orders, realized PnL (every trade's,
    an open one's partial exits too) and events (up to 1000 counted)."""

    trades: int
    open: int
    orders: int
    realized_pnl: float
    events: int


def brief(reader: Connection, bot: str) -> MemoryBrief:
    """Counted quickly (1 s socket timeout); MemoryUnavailable, naming what failed, when
    Redis does not answer."""
    try:
        store = MemoryStore(reader.client(socket_timeout=1), bot)
        trades = store.trades()
        return MemoryBrief(
            trades=len(trades),
            open=sum(t.is_open for t in trades),
            orders=len(store.orders()),
            realized_pnl=sum(t.realized_pnl or 0.0 for t in trades),
            events=len(store.events(1000)),
        )
    except (redis.RedisError, OSError) as error:
        raise MemoryUnavailable(type(error).__name__) from error
