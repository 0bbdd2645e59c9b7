"""Keep a bot's memory bounded: trim old events, downsample equity, drop expired insights.

Each class of memory has its own policy (``Retention`` in the bot's spec):

- events: the stream is trimmed exactly at ``now - events_days`` (``XTRIM MINID``); the
  recorder's own writes only trim approximately, so this is where the bound becomes exact.
- equity: fine points older than ``equity_fine_days`` are folded into the coarse series,
  one point per ``equity_coarse_every_s`` bucket (the bucket's last value, which is what an
  equity curve at that resolution shows), then removed from the fine series. Coarse points
  older than ``equity_coarse_days`` are removed.
- insights: their hashes expire on their own (TTL); the index entries they leave behind
  are removed here.
- trades and their orders are the bot's record of what it did, so they are never removed
  by age unless ``trades_older_than_days`` is given explicitly (``bulkhead memory prune
  --trades-older-than DAYS --yes``); even then only closed trades go.

Every step is idempotent: pruning twice in a row removes and adds nothing the second time.
Each step touches only one bot's keys, all passed to its script, so it runs as the bot's
own ACL user as well as the admin user.

Automatic pruning: ``prune_due`` is the call for a long-running owner (the recorder's
loop, a supervisor tick). It remembers when it last pruned in the bot's meta hash, so a
restart does not prune again at once and several callers do not add up; it never prunes
trades. The recorder calls it from its loop (hourly by default), with the bot's policy.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import redis

from bulkhead.config.models import Retention
from bulkhead.memory import scripts
from bulkhead.memory.keys import BotKeys
from bulkhead.memory.records import OrderRecord, TradeRecord
from bulkhead.memory.store import DAY_MS, READ_CHUNK, MemoryStore
from bulkhead.memory.store import now_ms as clock_ms
from bulkhead.plumbing import as_text

#: fine equity points folded per script call (keeps each call short on a busy server)
EQUITY_BATCH = 5_000
#: insight or trade ids checked per script call
ID_BATCH = 500
#: the meta field ``prune_due`` keeps its last run in
PRUNED_FIELD = "pruned_ms"


@dataclass(frozen=True)
class PruneReport:
    """What one prune removed (or, for the coarse equity series, wrote), per class."""

    events_removed: int = 0
    equity_fine_removed: int = 0
    equity_coarse_added: int = 0
    equity_coarse_removed: int = 0
    insights_removed: int = 0
    trades_removed: int = 0
    orders_removed: int = 0

    def as_dict(self) -> dict[str, int]:
        return asdict(self)

    @property
    def changed(self) -> bool:
        return any(self.as_dict().values())


def _target(target: MemoryStore | redis.Redis, bot: str | None) -> tuple[redis.Redis, BotKeys]:
    if isinstance(target, MemoryStore):
        if bot is not None and bot != target.keys.bot:
            raise ValueError(f"store is bot {target.keys.bot!r}, not {bot!r}")
        return target.client, target.keys
    if bot is None:
        raise ValueError("pass bot= with a bare Redis client")
    return target, BotKeys(bot)


def prune(
    target: MemoryStore | redis.Redis,
    retention: Retention,
    *,
    bot: str | None = None,
    now_ms: int | None = None,
    trades_older_than_days: float | None = None,
) -> PruneReport:
    """Apply ``retention`` to one bot's memory: a ``MemoryStore``, or a client and ``bot``.

    ``now_ms`` fixes the clock (tests, or pruning "as of" a moment). Trades are touched
    only when ``trades_older_than_days`` is given.
    """
    client, keys = _target(target, bot)
    now = clock_ms() if now_ms is None else now_ms
    events = _prune_events(client, keys, now - int(retention.events_days * DAY_MS))
    fine_removed, coarse_added, coarse_removed = _prune_equity(client, keys, retention, now)
    insights = _prune_insights(client, keys)
    trades = orders = 0
    if trades_older_than_days is not None:
        if trades_older_than_days < 0:
            raise ValueError("trades_older_than_days must be 0 or more")
        cutoff = now - int(trades_older_than_days * DAY_MS)
        trades, orders = _prune_trades(client, keys, cutoff)
    return PruneReport(
        events_removed=events,
        equity_fine_removed=fine_removed,
        equity_coarse_added=coarse_added,
        equity_coarse_removed=coarse_removed,
        insights_removed=insights,
        trades_removed=trades,
        orders_removed=orders,
    )


def prune_due(
    store: MemoryStore,
    retention: Retention,
    *,
    every_s: float = 3600.0,
    now_ms: int | None = None,
) -> PruneReport | None:
    """Prune (never trades) if the last prune is ``every_s`` old; None when not due.

    Meant for a periodic caller such as the recorder's loop: it is cheap when not due
    (one HGET), and the time of the last run lives in the bot's meta hash, so it survives
    restarts and is shared by every process of the bot. Two callers racing both prune,
    which is harmless: pruning is idempotent.
    """
    now = clock_ms() if now_ms is None else now_ms
    last = store.client.hget(store.keys.meta, PRUNED_FIELD)
    if last is not None and now - int(as_text(last)) < every_s * 1000:
        return None
    report = prune(store, retention, now_ms=now)
    store.client.hset(store.keys.meta, PRUNED_FIELD, str(now))
    return report


# -- the policies ---------------------------------------------------------------------------


def _prune_events(client: redis.Redis, keys: BotKeys, minid_ms: int) -> int:
    # exact (not "~"): the stream holds nothing older than the retention afterwards; a
    # retention longer than the epoch is clamped (a negative stream id is refused)
    return int(client.xtrim(keys.events, minid=max(minid_ms, 0), approximate=False))


def _prune_equity(
    client: redis.Redis, keys: BotKeys, retention: Retention, now: int
) -> tuple[int, int, int]:
    downsample = scripts.register(client, "downsample_equity")
    fine_cutoff = now - int(retention.equity_fine_days * DAY_MS)
    coarse_cutoff = now - int(retention.equity_coarse_days * DAY_MS)
    width = retention.equity_coarse_every_s * 1000
    added = removed = 0
    while True:
        written, taken = downsample(
            keys=[keys.equity_fine, keys.equity_coarse],
            args=[fine_cutoff, width, coarse_cutoff, EQUITY_BATCH],
        )
        added += int(written)
        removed += int(taken)
        if int(taken) < EQUITY_BATCH:
            break
    coarse_removed = int(client.zremrangebyscore(keys.equity_coarse, "-inf", f"({coarse_cutoff}"))
    return removed, added, coarse_removed


def _prune_insights(client: redis.Redis, keys: BotKeys) -> int:
    script = scripts.register(client, "prune_insights")
    ids = [as_text(member) for member in client.zrange(keys.insights, 0, -1)]
    removed = 0
    for start in range(0, len(ids), ID_BATCH):
        chunk = ids[start : start + ID_BATCH]
        removed += int(script(keys=[keys.insights, *[keys.insight(i) for i in chunk]], args=chunk))
    return removed


def _prune_trades(client: redis.Redis, keys: BotKeys, cutoff: int) -> tuple[int, int]:
    """Closed trades whose close time is below ``cutoff``, with their orders.

    A trade closes after it opens, so only trades opened before the cutoff can qualify;
    the script checks each again, atomically, before deleting.
    """
    opened: Any = client.zrangebyscore(keys.trades, "-inf", f"({cutoff}")
    candidate_ids = [as_text(i) for i in opened]
    doomed: list[str] = []
    for start in range(0, len(candidate_ids), READ_CHUNK):
        chunk = candidate_ids[start : start + READ_CHUNK]
        stored: Any = client.hmget(keys.trade_data, chunk)
        for trade_id, raw in zip(chunk, stored, strict=True):
            if raw is None:
                continue
            trade = TradeRecord.from_json(raw)
            closed = trade.close_time_ms
            if not trade.is_open and closed is not None and closed < cutoff:
                doomed.append(trade_id)
    if not doomed:
        return 0, 0
    orders_of = _orders_by_trade(client, keys, set(doomed))
    script = scripts.register(client, "prune_trades")
    trades = orders = 0
    for start in range(0, len(doomed), ID_BATCH):
        chunk = doomed[start : start + ID_BATCH]
        order_ids = [order_id for trade_id in chunk for order_id in orders_of.get(trade_id, [])]
        removed_trades, removed_orders = script(
            keys=[keys.trades, keys.orders, keys.trade_data, keys.order_data],
            args=[cutoff, len(chunk), *chunk, *order_ids],
        )
        trades += int(removed_trades)
        orders += int(removed_orders)
    return trades, orders


def _orders_by_trade(
    client: redis.Redis, keys: BotKeys, trade_ids: set[str]
) -> dict[str, list[str]]:
    """The order ids of ``trade_ids`` (read from the orders' records: the index is by time)."""
    stored: Any = client.hgetall(keys.order_data)
    found: dict[str, list[str]] = {}
    for order_id, raw in stored.items():
        trade_id = str(OrderRecord.from_json(raw).trade_id)
        if trade_id in trade_ids:
            found.setdefault(trade_id, []).append(as_text(order_id))
    return found
