"""A bot's memory on one Redis connection: idempotent writes and fast full reads.

Writes go through the Lua scripts in ``lua/`` (registered once per store), so a replay or
a reconciliation never duplicates a trade, an order or its announcement, and re-recording
an unchanged record writes nothing. ``record_order``/``record_trade`` are one round trip
each (a fill is recorded as it happens); ``record_many`` sends the same script calls on a
pipeline in chunks, which is what a reconciliation of many records uses.

Trades and orders live as JSON values of one hash per class (see ``keys.py``), so a full
history is one ZRANGE (the order) plus one HGETALL (the records) in a single round trip.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import time
import uuid
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, cast

import orjson
import redis

from bulkhead.memory import scripts
from bulkhead.memory.keys import BotKeys
from bulkhead.memory.records import OrderRecord, TradeRecord, from_json_many
from bulkhead.plumbing import as_text

DAY_MS = 86_400_000
READ_CHUNK = 2_000
#: script calls per pipeline round trip in ``record_many``: large enough that the round
#: trip and fsync are shared by many records, small enough that one batch does not hold
#: the server (and the other bots on it) for long
WRITE_CHUNK = 200


@dataclass(frozen=True)
class Recorded:
    """What one ``record_many`` changed: records sent, and the ones that were news."""

    orders: int = 0
    orders_new: int = 0
    trades: int = 0
    trades_new_open: int = 0
    closes_new: int = 0


def now_ms() -> int:
    return time.time_ns() // 1_000_000


class MemoryStore:
    """One bot's memory. ``client`` should be that bot's own ACL user's connection."""

    def __init__(self, client: redis.Redis, bot: str, *, events_days: float = 90) -> None:
        self.client = client
        self.keys = BotKeys(bot)
        self.events_days = events_days
        self._record_order = scripts.register(client, "record_order")
        self._record_trade = scripts.register(client, "record_trade")

    def _events_minid(self) -> int:
        return now_ms() - int(self.events_days * DAY_MS)

    # -- writes -------------------------------------------------------------------------

    def _order_call(self, order: OrderRecord, minid: int) -> tuple[list[str], list[Any]]:
        """KEYS and ARGV of ``record_order.lua`` for ``order``."""
        payload = orjson.dumps(
            {
                "order_id": order.order_id,
                "trade_id": order.trade_id,
                "pair": order.pair,
                "side": order.side,
                "amount": order.amount,
                "price": order.price,
                "fee_quote": order.fee_quote,
            }
        )
        return (
            [self.keys.order_data, self.keys.orders, self.keys.events],
            [order.order_id, order.filled_time_ms, order.to_json(), payload, minid],
        )

    def _trade_call(self, trade: TradeRecord, minid: int) -> tuple[list[str], list[Any]]:
        """KEYS and ARGV of ``record_trade.lua`` for ``trade``."""
        payload = orjson.dumps(
            {
                "trade_id": trade.trade_id,
                "pair": trade.pair,
                "realized_pnl": trade.realized_pnl,
                "exit_reason": trade.exit_reason,
            }
        )
        return (
            [self.keys.trade_data, self.keys.trades, self.keys.events],
            [
                trade.trade_id,
                trade.open_time_ms,
                "0" if trade.is_open else "1",
                trade.to_json(),
                payload,
                minid,
            ],
        )

    def record_order(self, order: OrderRecord) -> bool:
        """Store a filled order; True if it was new (its event is written only then)."""
        keys, args = self._order_call(order, self._events_minid())
        return bool(self._record_order(keys=keys, args=args))

    def record_trade(self, trade: TradeRecord) -> int:
        """Store a trade; 2 when this call recorded its close, 1 new open trade, else 0."""
        keys, args = self._trade_call(trade, self._events_minid())
        return int(self._record_trade(keys=keys, args=args))

    def record_many(
        self,
        orders: Iterable[OrderRecord],
        trades: Iterable[TradeRecord],
        *,
        chunk: int = WRITE_CHUNK,
    ) -> Recorded:
        """``record_order`` for each order, then ``record_trade`` for each trade, batched.

        The same scripts, so the same guarantees (idempotent, each announcement once),
        but ``chunk`` calls per round trip on a non-transactional pipeline: one round trip
        and one fsync are shared by the whole chunk instead of paid per record, which is
        what makes re-recording a long history cheap. Orders go first, so a trade's fills
        are announced before its close, as when they are recorded one by one.

        Not atomic: if the connection fails midway, the chunks sent are recorded and the
        rest are not; calling again with the same records completes it (and announces
        only what was not announced yet).
        """
        if chunk < 1:
            raise ValueError("chunk must be at least 1")
        minid = self._events_minid()
        calls: Iterator[tuple[Any, tuple[list[str], list[Any]]]] = itertools.chain(
            ((self._record_order, self._order_call(o, minid)) for o in orders),
            ((self._record_trade, self._trade_call(t, minid)) for t in trades),
        )
        counts = {"orders": 0, "orders_new": 0, "trades": 0, "trades_new_open": 0, "closes": 0}
        pipe = self.client.pipeline(transaction=False)
        scripts: list[Any] = []
        for script, (keys, args) in calls:
            script(keys=keys, args=args, client=pipe)
            scripts.append(script)
            if len(scripts) >= chunk:
                self._tally(scripts, pipe.execute(), counts)
                scripts = []
        if scripts:
            self._tally(scripts, pipe.execute(), counts)
        return Recorded(
            orders=counts["orders"],
            orders_new=counts["orders_new"],
            trades=counts["trades"],
            trades_new_open=counts["trades_new_open"],
            closes_new=counts["closes"],
        )

    def _tally(self, scripts: list[Any], results: list[Any], counts: dict[str, int]) -> None:
        for script, result in zip(scripts, results, strict=True):
            if script is self._record_order:
                counts["orders"] += 1
                counts["orders_new"] += int(result)
            else:
                counts["trades"] += 1
                counts["trades_new_open"] += int(result) == 1
                counts["closes"] += int(result) == 2

    def record_regime(self, trade_id: int, regime: str) -> None:
        """The volatility regime a trade entered in (the guard's reading), for the
        breakdowns by regime."""
        self.client.hset(self.keys.regimes, str(trade_id), regime[:20])

    def regimes(self, trade_ids: Sequence[int] | None = None) -> dict[int, str]:
        """Each recorded trade's regime at entry, by trade id; only ``trade_ids``' when
        given (one HMGET, not the whole history)."""
        raw: Any
        if trade_ids is None:
            raw = self.client.hgetall(self.keys.regimes)
        elif trade_ids:
            values = self.client.hmget(self.keys.regimes, list(trade_ids))
            raw = {i: v for i, v in zip(trade_ids, values, strict=True) if v is not None}
        else:
            raw = {}
        found = {}
        for key, value in (raw or {}).items():
            with contextlib.suppress(ValueError):
                found[int(as_text(key))] = as_text(value)
        return found

    def record_event(self, name: str, data: dict[str, Any]) -> str:
        """Append one action or decision to the bot's event stream (trimmed by age)."""
        entry_id = self.client.xadd(
            self.keys.events,
            {"event": name, "data": json.dumps(data, default=str)},
            minid=self._events_minid(),
            approximate=True,
        )
        return str(entry_id)

    def record_equity(self, value: float, at_ms: int | None = None) -> None:
        at = now_ms() if at_ms is None else at_ms
        self.client.zadd(self.keys.equity_fine, {f"{at}:{value!r}": at})

    def set_meta(self, **values: str | int | float) -> None:
        self.client.hset(self.keys.meta, mapping={k: str(v) for k, v in values.items()})

    def add_insight(
        self,
        text: str,
        *,
        source: str,
        evidence: dict[str, Any] | None = None,
        ttl_days: float = 30,
    ) -> str:
        """A structured note (analysis, operator or advisor) that expires on its own."""
        created = now_ms()
        insight_id = f"{created}-{uuid.uuid4().hex[:8]}"
        fields = {
            "id": insight_id,
            "text": text,
            "source": source,
            "evidence": json.dumps(evidence or {}, default=str),
            "created_ms": str(created),
            "expires_ms": str(created + int(ttl_days * DAY_MS)),
        }
        pipe = self.client.pipeline(transaction=True)
        pipe.hset(self.keys.insight(insight_id), mapping=cast(Any, fields))
        pipe.pexpire(self.keys.insight(insight_id), int(ttl_days * DAY_MS))
        pipe.zadd(self.keys.insights, {insight_id: created})
        pipe.execute()
        return insight_id

    # -- reads --------------------------------------------------------------------------

    def _hashes(self, ids: list[str], key_of: Any) -> Iterator[dict[str, str]]:
        for start in range(0, len(ids), READ_CHUNK):
            pipe = self.client.pipeline(transaction=False)
            for item in ids[start : start + READ_CHUNK]:
                pipe.hgetall(key_of(item))
            for raw in pipe.execute():
                if raw:
                    yield {as_text(k): as_text(v) for k, v in raw.items()}

    def _records(self, index: str, data: str) -> list[bytes]:
        """The JSON of every record of one class, in index order, in one round trip.

        Not a transaction (the read-only user may not run MULTI): a record written between
        the two reads is either in both or left out, never half there.
        """
        pipe = self.client.pipeline(transaction=False)
        pipe.zrange(index, 0, -1)
        pipe.hgetall(data)
        ids, raw = pipe.execute()
        return [value for value in map(raw.get, ids) if value is not None]

    def trade_ids(self) -> list[str]:
        return [as_text(i) for i in self.client.zrange(self.keys.trades, 0, -1)]

    def trades(self) -> list[TradeRecord]:
        """The whole trade history, oldest first (by open time; ties by id as text)."""
        return from_json_many(TradeRecord, self._records(self.keys.trades, self.keys.trade_data))

    def recent_trades(self, count: int) -> list[TradeRecord]:
        """The newest ``count`` trades (by open time), oldest first: one round trip, and a
        read that stays as cheap at 100,000 trades as at 1,000."""
        ids: list[Any] = self.client.zrange(self.keys.trades, -count, -1) if count > 0 else []
        if not ids:
            return []
        raw = self.client.hmget(self.keys.trade_data, ids)
        return from_json_many(TradeRecord, [value for value in raw if value is not None])

    def orders(self) -> list[OrderRecord]:
        """Every filled order, oldest first (by fill time; ties by id as text)."""
        return from_json_many(OrderRecord, self._records(self.keys.orders, self.keys.order_data))

    def events(self, count: int = 20) -> list[dict[str, Any]]:
        """The newest events, newest last."""
        rows: Any = self.client.xrevrange(self.keys.events, count=count)
        return [
            {
                "id": as_text(entry_id),
                "event": as_text(fields[b"event"]),
                "data": json.loads(as_text(fields.get(b"data", b"{}"))),
            }
            for entry_id, fields in reversed(rows)
        ]

    def equity(self, coarse: bool = False) -> list[tuple[int, float]]:
        key = self.keys.equity_coarse if coarse else self.keys.equity_fine
        points = []
        for member in self.client.zrange(key, 0, -1):
            at, _, value = as_text(member).partition(":")
            points.append((int(at), float(value)))
        return points

    def insights(self) -> list[dict[str, str]]:
        ids = [as_text(i) for i in self.client.zrange(self.keys.insights, 0, -1)]
        return list(self._hashes(ids, self.keys.insight))

    def memory_used(self) -> int:
        """Bytes used by this bot's keys (MEMORY USAGE summed; a scan of its prefix)."""
        total = 0
        for key in self.client.scan_iter(match=self.keys.pattern, count=1000):
            total += int(self.client.memory_usage(key) or 0)
        return total
