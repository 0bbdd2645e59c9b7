"""What a bot remembers, as plain records: the shapes written to and read from Redis.

Each record is stored as one compact JSON object (a field of ``bh:{bot}:trade_data`` or
``bh:{bot}:order_data``): one string per record is what makes a full history cheap to
read back, where a hash per record cost ~17 strings per trade to parse.

The JSON is deterministic (keys sorted, orjson's shortest round-tripping floats), so the
same record always gives the same bytes: the write scripts compare the stored value with
the new one and skip the write when they are equal, and a record read back compares equal
to the one written (ints stay ints, floats come back bit for bit, None is null).
JSON has no NaN or infinity: orjson writes them as null, so such a value comes back None.
"""

from __future__ import annotations

import gc
from collections.abc import Iterable
from dataclasses import dataclass, fields
from typing import Any, TypeVar

import orjson


@dataclass(frozen=True)
class TradeRecord:
    trade_id: int
    pair: str
    side: str
    is_open: bool
    amount: float
    stake_amount: float
    open_rate: float
    close_rate: float | None
    open_time_ms: int
    close_time_ms: int | None
    fee_open_cost: float
    fee_close_cost: float | None
    realized_pnl: float | None
    realized_pnl_ratio: float | None
    entry_tag: str
    exit_reason: str
    duration_s: float | None

    def to_json(self) -> str:
        return _dumps(self)

    @classmethod
    def from_json(cls, text: str | bytes) -> TradeRecord:
        return _loads(cls, text)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TradeRecord:
        return cls(**_checked(cls, data))


@dataclass(frozen=True)
class OrderRecord:
    order_id: str
    trade_id: int
    pair: str
    side: str
    order_type: str
    amount: float
    price: float
    cost: float
    fee_quote: float
    fee_base: float
    filled_time_ms: int

    def to_json(self) -> str:
        return _dumps(self)

    @classmethod
    def from_json(cls, text: str | bytes) -> OrderRecord:
        return _loads(cls, text)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> OrderRecord:
        return cls(**_checked(cls, data))


Record = TradeRecord | OrderRecord
R = TypeVar("R", TradeRecord, OrderRecord)


def _dumps(record: Record) -> str:
    # Equal to orjson.dumps(asdict(record), option=OPT_SORT_KEYS): the records are flat
    # (scalars only), so the instance's __dict__ is what asdict would build, without its
    # recursive deep copy (~20x the cost: it showed in the recorder's write rate).
    return orjson.dumps(record.__dict__, option=orjson.OPT_SORT_KEYS).decode()


def _loads(cls: type[R], text: str | bytes) -> R:
    """A record from its stored JSON, without the dataclass ``__init__``.

    Full-history reads decode 100,000 records: a frozen dataclass's ``__init__`` sets each
    field through ``object.__setattr__`` and costs several times the JSON decoding. The
    stored JSON was written by ``to_json``, so setting the instance's ``__dict__`` gives
    the same record; the field names are still checked, so a value that is not a record
    of this class fails here rather than as a missing attribute later.
    """
    data = orjson.loads(text)
    if not isinstance(data, dict) or data.keys() != _NAMES[cls]:
        return cls(**_checked(cls, data))  # raises, naming what is wrong
    record = object.__new__(cls)
    object.__setattr__(record, "__dict__", data)  # the decoded dict itself: no copy
    return record


def from_json_many(cls: type[R], texts: Iterable[str | bytes]) -> list[R]:
    """Many records of ``cls`` from their stored JSON (a full history), in order.

    The cyclic garbage collector is paused meanwhile: building 100,000 records that all
    stay alive makes it scan the growing heap again and again for cycles the records
    cannot have, about a quarter of a full read (more in a process with a large heap,
    such as Freqtrade's). It is switched back on afterwards, even on an error, unless it
    was off already.
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        return [_loads(cls, text) for text in texts]
    finally:
        if enabled:
            gc.enable()


_NAMES: dict[type, frozenset[str]] = {
    cls: frozenset(field.name for field in fields(cls)) for cls in (TradeRecord, OrderRecord)
}
#: per class: field name -> (base type name, whether None is allowed)
_KINDS: dict[type, dict[str, tuple[str, bool]]] = {
    cls: {
        field.name: (str(field.type).replace(" | None", ""), "None" in str(field.type))
        for field in fields(cls)
    }
    for cls in (TradeRecord, OrderRecord)
}


_JSON_TYPES: dict[str, type | tuple[type, ...]] = {
    "int": int,
    "float": (int, float),
    "bool": bool,
    "str": str,
}


def _checked(cls: type, data: Any) -> dict[str, Any]:
    """``data`` as keyword arguments of ``cls``, every field present and of its type.

    For records from outside (an import file): JSON numbers are accepted for floats (an
    integer becomes a float), ints must be integers, bools true/false; nothing is parsed
    out of strings, so what is stored is exactly what the file said.
    """
    if not isinstance(data, dict):
        raise ValueError(f"a {cls.__name__} must be a JSON object")
    kinds = _KINDS[cls]
    if data.keys() != kinds.keys():
        missing, extra = sorted(kinds.keys() - data.keys()), sorted(data.keys() - kinds.keys())
        raise ValueError(f"fields missing {missing} or unknown {extra}")
    checked: dict[str, Any] = {}
    for name, (kind, optional) in kinds.items():
        value: Any = data[name]
        if value is None and optional:
            checked[name] = None
            continue
        # bool is an int in Python, but true/false is no number in JSON
        typed = isinstance(value, _JSON_TYPES[kind]) and (
            kind == "bool" or not isinstance(value, bool)
        )
        if not typed:
            raise ValueError(f"{name} must be {kind}{' or null' if optional else ''}")
        checked[name] = float(value) if kind == "float" else value
    return checked
