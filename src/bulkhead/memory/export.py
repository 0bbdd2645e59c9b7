"""A bot's memory out of Redis and back: JSONL to restore exactly, Parquet to analyse.

JSONL is the backup format: one object per line, the first a header::

    {"kind": "header", "bot": "bot1", "version": 1, "exported_ms": 1767225600000}
    {"kind": "trade", "bot": "bot1", "trade_id": 7, "pair": "XRP/USDT", ...}
    {"kind": "order", "bot": "bot1", "order_id": "o-1", "trade_id": 7, ...}
    {"kind": "event", "bot": "bot1", "id": "1767225600000-0", "fields": {"event": ..., "data": ...}}
    {"kind": "equity_fine", "bot": "bot1", "at_ms": 1767225600000, "value": 101.5}
    {"kind": "equity_coarse", "bot": "bot1", "at_ms": 1767222000000, "value": 100.0}
    {"kind": "insight", "bot": "bot1", "ttl_ms": 2591999000, "id": ..., "text": ..., ...}
    {"kind": "meta", "bot": "bot1", "fields": {...}}

Trades, orders and insights have a fixed schema, so their fields sit at the top level
(trades and orders typed, as ``TradeRecord``/``OrderRecord``). Stream entries and the meta
hash are open-ended, so theirs are nested under ``fields`` and can never collide with
``kind`` or ``bot``. Event ids are kept, so a restored stream is the same stream.

Importing fills in what is missing and never overwrites: a record already in memory is
left as it is (an old backup cannot reopen a closed trade), an event is appended only if
its id is newer than the stream's last id, an insight gets back the TTL it had left (as an
absolute deadline, so a backup restored later does not extend it; already expired ones
are skipped). Into an empty memory that is an exact restore; a second import changes
nothing. Trades and orders are written by ``lua/restore_records.lua`` (many per call,
HSETNX into the class's hash), insights by ``lua/restore_hash.lua``, rather than by the
recorder's scripts, because those announce each new trade and order on the event stream,
and the export already carries those announcements with their original ids.

An export is not a point-in-time snapshot of a bot that keeps writing; stop the bot (or
accept a few records of skew) for a consistent copy.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

import redis

from bulkhead.memory.keys import BotKeys
from bulkhead.memory.records import OrderRecord, TradeRecord
from bulkhead.memory.store import MemoryStore, now_ms
from bulkhead.plumbing import as_text, open_private

FORMAT_VERSION = 1
KINDS = ("trade", "order", "event", "equity_fine", "equity_coarse", "insight", "meta")
RESERVED = frozenset({"kind", "bot", "ttl_ms"})
EVENT_PAGE = 10_000
WRITE_CHUNK = 1_000


@dataclass(frozen=True)
class _Snapshot:
    """Everything a bot remembers, read once and shared by both export formats."""

    trades: list[TradeRecord]
    orders: list[OrderRecord]
    events: list[tuple[str, dict[str, str]]]
    equity_fine: list[tuple[int, str]]
    equity_coarse: list[tuple[int, str]]
    insights: list[tuple[dict[str, str], int | None]]
    meta: dict[str, str]


def _read(store: MemoryStore) -> _Snapshot:
    client, keys = store.client, store.keys
    return _Snapshot(
        trades=store.trades(),
        orders=store.orders(),
        events=list(_events(client, keys)),
        equity_fine=_equity(client, keys.equity_fine),
        equity_coarse=_equity(client, keys.equity_coarse),
        insights=_insights(client, keys),
        meta={as_text(k): as_text(v) for k, v in _any(client.hgetall(keys.meta)).items()},
    )


def _any(value: Any) -> Any:
    return value


def _events(client: redis.Redis, keys: BotKeys) -> Iterator[tuple[str, dict[str, str]]]:
    """The whole stream, oldest first, paged so a long stream is not one huge reply."""
    start = "-"
    while True:
        page: Any = client.xrange(keys.events, min=start, max="+", count=EVENT_PAGE)
        for entry_id, entry in page:
            yield as_text(entry_id), {as_text(k): as_text(v) for k, v in entry.items()}
        if len(page) < EVENT_PAGE:
            return
        start = f"({as_text(page[-1][0])}"


def _equity(client: redis.Redis, key: str) -> list[tuple[int, str]]:
    """(ms, value text) per point: the text is kept so a restored member is the same."""
    points = []
    for member in _any(client.zrange(key, 0, -1)):
        at, _, value = as_text(member).partition(":")
        points.append((int(at), value))
    return points


def _insights(client: redis.Redis, keys: BotKeys) -> list[tuple[dict[str, str], int | None]]:
    """Each live insight's hash with its remaining TTL (None: it does not expire)."""
    ids = [as_text(i) for i in _any(client.zrange(keys.insights, 0, -1))]
    pipe = client.pipeline(transaction=False)
    for insight_id in ids:
        pipe.hgetall(keys.insight(insight_id))
        pipe.pttl(keys.insight(insight_id))
    replies = pipe.execute()
    found = []
    for raw, ttl in zip(replies[::2], replies[1::2], strict=True):
        if raw:  # expired between the index read and now: nothing to keep
            found.append(
                ({as_text(k): as_text(v) for k, v in raw.items()}, int(ttl) if ttl > 0 else None)
            )
    return found


def _number(text: str) -> int | float:
    """An equity value as JSON: an int stays an int, so ``repr`` gives back the same text."""
    try:
        return int(text)
    except ValueError:
        return float(text)


# -- JSONL -------------------------------------------------------------------------------


def _lines(bot: str, snapshot: _Snapshot, exported: int) -> Iterator[dict[str, Any]]:
    yield {"kind": "header", "bot": bot, "version": FORMAT_VERSION, "exported_ms": exported}
    for trade in snapshot.trades:
        yield {"kind": "trade", "bot": bot, **asdict(trade)}
    for order in snapshot.orders:
        yield {"kind": "order", "bot": bot, **asdict(order)}
    for entry_id, entry in snapshot.events:
        yield {"kind": "event", "bot": bot, "id": entry_id, "fields": entry}
    for series, points in (("fine", snapshot.equity_fine), ("coarse", snapshot.equity_coarse)):
        for at, value in points:
            yield {"kind": f"equity_{series}", "bot": bot, "at_ms": at, "value": _number(value)}
    for insight, ttl in snapshot.insights:
        clash = RESERVED & insight.keys()
        if clash:
            raise ValueError(f"insight {insight.get('id')} has reserved field(s) {sorted(clash)}")
        yield {"kind": "insight", "bot": bot, "ttl_ms": ttl, **insight}
    if snapshot.meta:
        yield {"kind": "meta", "bot": bot, "fields": snapshot.meta}


def _write_atomically(path: Path, lines: Iterator[str]) -> None:
    """Write next to ``path`` and rename: an interrupted export never looks complete, and
    a bot's trades and insights are the owner's to read (0600)."""
    with open_private(path) as handle:
        for line in lines:
            handle.write(line.encode("utf-8"))
            handle.write(b"\n")


def export_jsonl(store: MemoryStore, path: Path) -> dict[str, int]:
    """Write the bot's whole memory to ``path``; how many lines of each kind were written."""
    counts = dict.fromkeys(KINDS, 0)

    def encoded() -> Iterator[str]:
        for line in _lines(store.keys.bot, _read(store), now_ms()):
            if line["kind"] in counts:
                counts[line["kind"]] += 1
            yield json.dumps(line, ensure_ascii=False)

    _write_atomically(path, encoded())
    return counts


_ARROW_TYPES = {"int": "int64", "float": "float64", "str": "string", "bool": "bool"}


def _stream_id(text: str) -> tuple[int, int]:
    ms, _, seq = text.partition("-")
    return int(ms), int(seq or 0)


def _record_schema(cls: type[TradeRecord] | type[OrderRecord]) -> Any:
    import pyarrow as pa

    return pa.schema(
        [
            (field.name, pa.type_for_alias(_ARROW_TYPES[str(field.type).replace(" | None", "")]))
            for field in fields(cls)
        ]
    )


def export_parquet(store: MemoryStore, directory: Path) -> dict[str, int]:
    """One typed Parquet file per class in ``directory``; rows written per file.

    For analysis (pandas, DuckDB): trades and orders typed as their records, events with
    their id and time, equity fine and coarse in one table (``series``), live insights.
    It is not a backup: use JSONL to restore.
    """
    import pyarrow as pa
    import pyarrow.parquet as pq

    snapshot = _read(store)
    tables = {
        "trades": pa.Table.from_pylist(
            [asdict(t) for t in snapshot.trades], schema=_record_schema(TradeRecord)
        ),
        "orders": pa.Table.from_pylist(
            [asdict(o) for o in snapshot.orders], schema=_record_schema(OrderRecord)
        ),
        "events": pa.Table.from_pylist(
            [
                {
                    "id": entry_id,
                    "time_ms": _stream_id(entry_id)[0],
                    "event": entry.get("event", ""),
                    "data": entry.get("data", ""),
                }
                for entry_id, entry in snapshot.events
            ],
            schema=pa.schema(
                [
                    ("id", pa.string()),
                    ("time_ms", pa.int64()),
                    ("event", pa.string()),
                    ("data", pa.string()),
                ]
            ),
        ),
        "equity": pa.Table.from_pylist(
            [
                {"series": series, "at_ms": at, "value": float(value)}
                for series, points in (
                    ("fine", snapshot.equity_fine),
                    ("coarse", snapshot.equity_coarse),
                )
                for at, value in points
            ],
            schema=pa.schema(
                [("series", pa.string()), ("at_ms", pa.int64()), ("value", pa.float64())]
            ),
        ),
        "insights": pa.Table.from_pylist(
            [
                {
                    "id": insight.get("id", ""),
                    "text": insight.get("text", ""),
                    "source": insight.get("source", ""),
                    "evidence": insight.get("evidence", ""),
                    "created_ms": int(insight.get("created_ms") or 0),
                    "expires_ms": int(insight.get("expires_ms") or 0),
                    "ttl_ms": ttl,
                }
                for insight, ttl in snapshot.insights
            ],
            schema=pa.schema(
                [
                    ("id", pa.string()),
                    ("text", pa.string()),
                    ("source", pa.string()),
                    ("evidence", pa.string()),
                    ("created_ms", pa.int64()),
                    ("expires_ms", pa.int64()),
                    ("ttl_ms", pa.int64()),
                ]
            ),
        ),
    }
    for name, table in tables.items():
        with open_private(directory / f"{name}.parquet") as handle:
            pq.write_table(table, handle)
    return {name: int(table.num_rows) for name, table in tables.items()}
