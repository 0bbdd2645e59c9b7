"""Restore a JSONL export into a bot's memory: fill in what is missing, overwrite nothing.

The format and the restore rules are described in ``export``; this module checks the whole
file before writing anything, then restores trades and orders with
``lua/restore_records.lua``, events with their original ids, equity points and insights
with the time they had left.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import redis

from bulkhead.errors import OperatorError
from bulkhead.memory import scripts
from bulkhead.memory.export import (
    FORMAT_VERSION,
    KINDS,
    RESERVED,
    WRITE_CHUNK,
    _any,
    _stream_id,
)
from bulkhead.memory.keys import BotKeys
from bulkhead.memory.records import OrderRecord, TradeRecord
from bulkhead.memory.store import MemoryStore, now_ms
from bulkhead.plumbing import as_text


class ImportRefused(OperatorError, ValueError):
    """The file cannot be imported here (another bot's, another version, malformed)."""


def read_header(path: Path) -> dict[str, Any]:
    """The export's header line (which bot, which version), checked."""
    try:
        with path.open(encoding="utf-8") as handle:
            first = handle.readline()
    except OSError as error:
        raise ImportRefused(f"{path}: cannot read ({error.strerror})") from None
    try:
        header: dict[str, Any] = json.loads(first)
    except ValueError:
        raise ImportRefused(f"{path}: line 1 is not JSON; not a bulkhead memory export") from None
    if not isinstance(header, dict) or header.get("kind") != "header":
        raise ImportRefused(f"{path}: line 1 is not a header; not a bulkhead memory export")
    if header.get("version") != FORMAT_VERSION:
        raise ImportRefused(
            f"{path}: export version {header.get('version')!r}, this Bulkhead reads "
            f"version {FORMAT_VERSION}"
        )
    if not isinstance(header.get("bot"), str) or not isinstance(header.get("exported_ms"), int):
        raise ImportRefused(f"{path}: header lacks bot or exported_ms")
    return header


def _record(cls: type[TradeRecord] | type[OrderRecord], line: dict[str, Any]) -> Any:
    """The line's record, every field present and typed (``from_dict`` checks): what is
    restored is then stored exactly as ``to_json`` stores a recorded one."""
    return cls.from_dict(
        {name: value for name, value in line.items() if name not in ("kind", "bot")}
    )


def _last_stream_id(client: redis.Redis, key: str) -> tuple[int, int]:
    """The stream's last generated id: XADD accepts only ids after it, even if trimmed."""
    try:
        info: Any = client.xinfo_stream(key)
    except redis.ResponseError:  # no such stream yet
        return 0, 0
    return _stream_id(as_text(info["last-generated-id"]))


@dataclass
class _Parsed:
    """An export file read and checked, ready to write."""

    exported_ms: int
    trades: list[TradeRecord]
    orders: list[OrderRecord]
    events: list[tuple[str, dict[str, str]]]
    equity: dict[str, list[str]]
    insights: list[tuple[dict[str, str], int | None]]
    meta: dict[str, str]


def _strings(value: Any, what: str) -> dict[str, str]:
    if not isinstance(value, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in value.items()
    ):
        raise ValueError(f"{what} must be an object of strings")
    return dict(value)


def _parse_line(line: dict[str, Any], parsed: _Parsed) -> None:
    kind = line.get("kind")
    if kind == "trade":
        parsed.trades.append(_record(TradeRecord, line))
    elif kind == "order":
        parsed.orders.append(_record(OrderRecord, line))
    elif kind == "event":
        entry_id = str(line["id"])
        _stream_id(entry_id)  # raises on a malformed id
        parsed.events.append((entry_id, _strings(line["fields"], "fields")))
    elif kind in ("equity_fine", "equity_coarse"):
        at, value = line["at_ms"], line["value"]
        if not isinstance(at, int) or isinstance(value, bool) or not isinstance(value, int | float):
            raise ValueError("at_ms must be an integer and value a number")
        parsed.equity[kind].append(f"{at}:{value!r}")
    elif kind == "insight":
        ttl = line["ttl_ms"]
        if ttl is not None and not isinstance(ttl, int):
            raise ValueError("ttl_ms must be an integer or null")
        insight = _strings({k: v for k, v in line.items() if k not in RESERVED}, "insight")
        if not insight.get("id"):
            raise ValueError("insight without an id")
        int(insight["created_ms"])  # the index score; raises if absent or not a number
        parsed.insights.append((insight, ttl))
    elif kind == "meta":
        parsed.meta.update(_strings(line["fields"], "fields"))
    else:
        raise ValueError(f"unknown kind {kind!r}")


def _parse(path: Path, header: dict[str, Any]) -> _Parsed:
    """Every line checked before anything is written: a bad file changes nothing."""
    parsed = _Parsed(
        header["exported_ms"], [], [], [], {"equity_fine": [], "equity_coarse": []}, [], {}
    )
    with path.open(encoding="utf-8") as handle:
        handle.readline()
        for number, text in enumerate(handle, start=2):
            if not text.strip():
                continue
            try:
                line = json.loads(text)
                if not isinstance(line, dict):
                    raise ValueError("not a JSON object")
                if line.get("bot") != header["bot"]:
                    raise ValueError(f"bot {line.get('bot')!r} differs from the header's")
                _parse_line(line, parsed)
            except (ValueError, KeyError, TypeError) as error:
                detail = f"missing {error}" if isinstance(error, KeyError) else str(error)
                raise ImportRefused(f"{path}:{number}: {detail}") from None
    parsed.events.sort(key=lambda item: _stream_id(item[0]))
    return parsed


def import_jsonl(
    store: MemoryStore, path: Path, *, allow_other_bot: bool = False
) -> dict[str, int]:
    """Restore an export into ``store``'s bot; how many records of each kind were new.

    The file must be this bot's unless ``allow_other_bot`` (``memory import --as BOT``).
    The whole file is read and checked before anything is written, so a malformed file
    changes nothing. Besides the kinds, ``skipped_events`` counts events not restored
    because the stream already holds them or newer ids (a stream only appends), and
    ``expired_insights`` insights whose TTL ran out since the export.
    """
    header = read_header(path)
    bot = store.keys.bot
    if header["bot"] != bot and not allow_other_bot:
        raise ImportRefused(
            f"{path} holds bot {header['bot']!r}'s memory, not {bot!r}'s; "
            f"use --as {bot} to copy it into {bot!r}"
        )
    parsed = _parse(path, header)
    counts = dict.fromkeys(KINDS, 0) | {"skipped_events": 0, "expired_insights": 0}
    client, keys = store.client, store.keys
    restore_records = scripts.register(client, "restore_records")
    restore_hash = scripts.register(client, "restore_hash")
    # per class: its data hash and index, and (id, index score, JSON) per record
    classes: list[tuple[str, str, str, list[tuple[str, int, str]]]] = [
        (
            "trade",
            keys.trade_data,
            keys.trades,
            [(str(t.trade_id), t.open_time_ms, t.to_json()) for t in parsed.trades],
        ),
        (
            "order",
            keys.order_data,
            keys.orders,
            [(o.order_id, o.filled_time_ms, o.to_json()) for o in parsed.orders],
        ),
    ]
    for kind, data, index, rows in classes:
        for start in range(0, len(rows), WRITE_CHUNK):
            args = [item for row in rows[start : start + WRITE_CHUNK] for item in row]
            counts[kind] += int(restore_records(keys=[data, index], args=args))
    # (insight key, member, score, absolute expiry or '', fields)
    insights: list[tuple[str, str, int, str, dict[str, str]]] = []
    now = now_ms()
    for insight, ttl in parsed.insights:
        deadline = None if ttl is None else parsed.exported_ms + ttl
        if deadline is not None and deadline <= now:
            counts["expired_insights"] += 1
            continue
        insights.append(
            (
                keys.insight(insight["id"]),
                insight["id"],
                int(insight["created_ms"]),
                "" if deadline is None else str(deadline),
                insight,
            )
        )
    for start in range(0, len(insights), WRITE_CHUNK):
        chunk = insights[start : start + WRITE_CHUNK]
        pipe = client.pipeline(transaction=False)
        for key, member, score, expiry, raw in chunk:
            flat = [item for pair in raw.items() for item in pair]
            restore_hash(
                keys=[key, keys.insights], args=[member, score, expiry, *flat], client=pipe
            )
        counts["insight"] += sum(int(written) for written in pipe.execute())
    counts["event"], counts["skipped_events"] = _restore_events(client, keys, parsed.events)
    for kind, members in parsed.equity.items():
        key = keys.equity_fine if kind == "equity_fine" else keys.equity_coarse
        for start in range(0, len(members), WRITE_CHUNK):
            scores = {m: int(m.partition(":")[0]) for m in members[start : start + WRITE_CHUNK]}
            counts[kind] += int(_any(client.zadd(key, scores, nx=True)))
    if parsed.meta:
        pipe = client.pipeline(transaction=False)
        for field, value in parsed.meta.items():
            pipe.hsetnx(keys.meta, field, value)
        counts["meta"] = sum(int(added) for added in pipe.execute())
    return counts


def _restore_events(
    client: redis.Redis, keys: BotKeys, events: list[tuple[str, dict[str, str]]]
) -> tuple[int, int]:
    """Append the events newer than the stream's last id, each with its own id."""
    last = _last_stream_id(client, keys.events)
    fresh = [(i, entry) for i, entry in events if _stream_id(i) > last]
    added = 0
    for start in range(0, len(fresh), WRITE_CHUNK):
        pipe = client.pipeline(transaction=False)
        for entry_id, entry in fresh[start : start + WRITE_CHUNK]:
            pipe.xadd(keys.events, _any(entry), id=entry_id)
        # an id refused (the bot appended meanwhile) is skipped, not fatal
        results = pipe.execute(raise_on_error=False)
        added += sum(not isinstance(result, Exception) for result in results)
    return added, len(events) - added


# -- Parquet -----------------------------------------------------------------------------
