"""A bot's memory on one Redis connection: idempotent writes and fast full reads.

Writes go through the Lua scripts in ``lua/`` (registered once per store), so a replay or
a reconciliation never duplicates a trade, an order or its announcement. Reads of a full
history pipeline their hash fetches in chunks: 100,000 trades come back in one or two
round trips per chunk rather than one per trade.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from importlib import resources
from typing import Any, cast

import redis

from bulkhead.memory.keys import BotKeys
from bulkhead.memory.records import OrderRecord, TradeRecord

DAY_MS = 86_400_000
READ_CHUNK = 2_000


def _script(name: str) -> str:
    return resources.files("bulkhead.memory").joinpath(f"lua/{name}.lua").read_text()


def now_ms() -> int:
    return time.time_ns() // 1_000_000


class MemoryStore:
    """One bot's memory. ``client`` should be that bot's own ACL user's connection."""

    def __init__(self, client: redis.Redis, bot: str, *, events_days: float = 90) -> None:
        self.client = client
        self.keys = BotKeys(bot)
        self.events_days = events_days
        self._record_order = client.register_script(_script("record_order"))
        self._record_trade = client.register_script(_script("record_trade"))

    def _events_minid(self) -> int:
        return now_ms() - int(self.events_days * DAY_MS)

    # -- writes -------------------------------------------------------------------------

    def record_order(self, order: OrderRecord) -> bool:
        """Store a filled order; True if it was new (its event is written only then)."""
        payload = json.dumps(
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
        flat = [item for pair in order.to_fields().items() for item in pair]
        created = self._record_order(
            keys=[self.keys.order(order.order_id), self.keys.orders, self.keys.events],
            args=[order.order_id, order.filled_time_ms, payload, self._events_minid(), *flat],
        )
        return bool(created)

    def record_trade(self, trade: TradeRecord) -> int:
        """Store a trade; 2 when this call recorded its close, 1 new open trade, else 0."""
        payload = json.dumps(
            {
                "trade_id": trade.trade_id,
                "pair": trade.pair,
                "realized_pnl": trade.realized_pnl,
                "exit_reason": trade.exit_reason,
            }
        )
        flat = [item for pair in trade.to_fields().items() for item in pair]
        result = self._record_trade(
            keys=[self.keys.trade(trade.trade_id), self.keys.trades, self.keys.events],
            args=[
                trade.trade_id,
                trade.open_time_ms,
                "0" if trade.is_open else "1",
                payload,
                self._events_minid(),
                *flat,
            ],
        )
        return int(result)

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
                    yield {_s(k): _s(v) for k, v in raw.items()}

    def trade_ids(self) -> list[str]:
        return [_s(i) for i in self.client.zrange(self.keys.trades, 0, -1)]

    def trades(self) -> list[TradeRecord]:
        """The whole trade history, oldest first."""
        return [
            TradeRecord.from_fields(raw) for raw in self._hashes(self.trade_ids(), self.keys.trade)
        ]

    def orders(self) -> list[OrderRecord]:
        ids = [_s(i) for i in self.client.zrange(self.keys.orders, 0, -1)]
        return [OrderRecord.from_fields(raw) for raw in self._hashes(ids, self.keys.order)]

    def events(self, count: int = 20) -> list[dict[str, Any]]:
        """The newest events, newest last."""
        rows: Any = self.client.xrevrange(self.keys.events, count=count)
        return [
            {
                "id": _s(entry_id),
                "event": _s(fields[b"event"]),
                "data": json.loads(_s(fields.get(b"data", b"{}"))),
            }
            for entry_id, fields in reversed(rows)
        ]

    def equity(self, coarse: bool = False) -> list[tuple[int, float]]:
        key = self.keys.equity_coarse if coarse else self.keys.equity_fine
        points = []
        for member in self.client.zrange(key, 0, -1):
            at, _, value = _s(member).partition(":")
            points.append((int(at), float(value)))
        return points

    def insights(self) -> list[dict[str, str]]:
        ids = [_s(i) for i in self.client.zrange(self.keys.insights, 0, -1)]
        return list(self._hashes(ids, self.keys.insight))

    def memory_used(self) -> int:
        """Bytes used by this bot's keys (MEMORY USAGE summed; a scan of its prefix)."""
        total = 0
        for key in self.client.scan_iter(match=self.keys.pattern, count=1000):
            total += int(self.client.memory_usage(key) or 0)
        return total


def _s(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)
