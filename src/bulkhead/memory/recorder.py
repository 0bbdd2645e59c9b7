"""The recorder inside a bot: every fill and trade into memory once, whatever fails.

It runs in Freqtrade's process, called from the strategy callbacks. Redis being down
never stops the bot (exits stay possible) and nothing is queued in RAM to be lost:
Freqtrade's own database is durable, so after an outage (or a crash of either side) the
recorder reconciles from it, and the idempotent scripts make that safe to repeat.

Reconciling is incremental: the whole history is re-recorded only at start-up and after an
outage (when anything may have been missed); the periodic pass re-records the open trades
and the trades closed since the previous pass (with a margin), batched, so its cost follows
the bot's recent activity rather than the length of its history.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable, Iterable
from typing import Any

import redis

from bulkhead.config.models import Retention
from bulkhead.logs import event
from bulkhead.memory.from_freqtrade import filled_orders, order_record, trade_record
from bulkhead.memory.records import OrderRecord, TradeRecord
from bulkhead.memory.retention import prune_due
from bulkhead.memory.server import Connection
from bulkhead.memory.store import MemoryStore

logger = logging.getLogger("bulkhead.memory")

URL_ENV = "BULKHEAD_MEMORY_URL"
USER_ENV = "BULKHEAD_MEMORY_USER"
PASSWORD_ENV = "BULKHEAD_MEMORY_PASSWORD"  # noqa: S105 - the variable's name
EVENTS_DAYS_ENV = "BULKHEAD_MEMORY_EVENTS_DAYS"
RETENTION_ENV = "BULKHEAD_MEMORY_RETENTION"
RECONCILE_ENV = "BULKHEAD_MEMORY_RECONCILE_S"
#: An incremental reconciliation takes the trades closed since the previous one started,
#: minus this: Freqtrade dates a close by the exchange's fill time and may commit it a
#: little later, and the trade list a reconciliation gets is read before it starts.
RECONCILE_MARGIN_S = 600.0


class Recorder:
    def __init__(
        self,
        connect: Callable[[], MemoryStore],
        *,
        reconcile_every_s: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
        wall_clock: Callable[[], float] = time.time,
        retention: Retention | None = None,
    ) -> None:
        self.retention = retention
        self._connect = connect
        self._store: MemoryStore | None = None
        self._healthy = True
        self._needs_full_reconcile = True
        self._last_reconcile = float("-inf")
        #: wall time (s) at which the last successful reconciliation started
        self._reconciled_from: float | None = None
        #: ids of the trades that were open at the last successful reconciliation
        self._open_ids: frozenset[int] = frozenset()
        self._wall_clock = wall_clock
        self.reconcile_every_s = reconcile_every_s
        self._clock = clock

    @classmethod
    def from_environment(cls, bot: str) -> Recorder | None:
        """The recorder the supervisor configured, or None when memory is off."""
        url = os.environ.get(URL_ENV)
        if not url:
            return None
        connection = Connection(url, os.environ.get(USER_ENV, ""), os.environ.get(PASSWORD_ENV, ""))
        events_days = float(os.environ.get(EVENTS_DAYS_ENV, "90"))

        def connect() -> MemoryStore:
            client = connection.client(socket_timeout=2, socket_connect_timeout=2)
            return MemoryStore(client, bot, events_days=events_days)

        raw_retention = os.environ.get(RETENTION_ENV)
        retention = Retention.model_validate_json(raw_retention) if raw_retention else None
        return cls(
            connect,
            reconcile_every_s=float(os.environ.get(RECONCILE_ENV, "60")),
            retention=retention,
        )

    # -- resilience ---------------------------------------------------------------------

    def _attempt(self, what: str, action: Callable[[MemoryStore], Any]) -> bool:
        try:
            if self._store is None:
                self._store = self._connect()
            action(self._store)
        except (redis.RedisError, OSError) as error:
            self._store = None
            if self._healthy:
                self._healthy = False
                event(
                    logger,
                    "memory_outage",
                    logging.WARNING,
                    during=what,
                    error=type(error).__name__,
                    detail=str(error)[:200],
                )
            self._needs_full_reconcile = True
            return False
        if not self._healthy:
            self._healthy = True
            event(logger, "memory_restored", during=what)
        return True

    def store(self) -> MemoryStore:
        """The connected store (connecting if needed); raises when Redis does not answer.
        For other users of the bot's memory (the risk guard), who handle the failure."""
        if self._store is None:
            self._store = self._connect()
        return self._store

    # -- what the strategy calls --------------------------------------------------------

    def on_fill(self, trade: Any, order: Any) -> None:
        # One round trip (and one fsync) for the order and its trade.
        self._attempt(
            "order_filled",
            lambda store: store.record_many([order_record(trade, order)], [trade_record(trade)]),
        )

    def on_event(self, name: str, data: dict[str, Any]) -> None:
        self._attempt(name, lambda store: store.record_event(name, data))

    def on_loop(self, trades: Callable[[], Iterable[Any]], equity: float | None = None) -> None:
        """Each bot loop: reconcile when due (or after an outage), record equity."""
        now = self._clock()
        due = now - self._last_reconcile >= self.reconcile_every_s
        if (self._needs_full_reconcile or due) and self.reconcile(trades()):
            self._last_reconcile = now
        if equity is not None and due:
            self._attempt("equity", lambda store: store.record_equity(equity))
        if due and self.retention is not None:
            retention = self.retention
            self._attempt("prune", lambda store: self._prune(store, retention))

    @staticmethod
    def _prune(store: MemoryStore, retention: Retention) -> None:
        report = prune_due(store, retention)
        if report is not None and report.changed:
            event(logger, "memory_pruned", **report.as_dict())

    def reconcile(self, trades: Iterable[Any]) -> bool:
        """Upsert the trades (Freqtrade ``Trade`` rows) and their filled orders; no duplicates.

        A full pass records every trade given: at start-up and after an outage. Otherwise
        only the trades open now or at the previous pass, and those closed since the
        previous pass started (minus ``RECONCILE_MARGIN_S``) are recorded: any other closed
        trade was closed at the previous pass, which recorded it, and a closed trade does
        not change. Unchanged records cost a comparison in Redis and write nothing.
        Returns False when Redis failed (the next pass is then a full one).
        """
        previous = self._reconciled_from
        full = self._needs_full_reconcile or previous is None
        started = self._wall_clock()
        cutoff = None if full or previous is None else previous - RECONCILE_MARGIN_S
        were_open = self._open_ids
        open_now: set[int] = set()
        counts: dict[str, Any] = {"trades": 0, "orders_new": 0, "closes_new": 0, "full": full}

        def write(store: MemoryStore) -> None:
            orders: list[OrderRecord] = []
            records: list[TradeRecord] = []
            for trade in trades:
                if trade.is_open:
                    open_now.add(int(trade.id))
                elif (
                    cutoff is not None
                    and int(trade.id) not in were_open
                    and not _closed_since(trade, cutoff)
                ):
                    continue
                orders.extend(order_record(trade, order) for order in filled_orders(trade))
                records.append(trade_record(trade))
            recorded = store.record_many(orders, records)
            counts["trades"] = recorded.trades
            counts["orders_new"] = recorded.orders_new
            counts["closes_new"] = recorded.closes_new

        done = self._attempt("reconcile", write)
        if done:
            if full or counts["orders_new"] or counts["closes_new"]:
                event(logger, "memory_reconciled", **counts)
            self._needs_full_reconcile = False
            self._reconciled_from = started
            self._open_ids = frozenset(open_now)
        return done


def _closed_since(trade: Any, since_s: float) -> bool:
    """Whether a closed Freqtrade trade closed at or after ``since_s`` (Unix time); a close
    without a date counts as recent."""
    closed = trade.close_date_utc
    return closed is None or closed.timestamp() >= since_s
