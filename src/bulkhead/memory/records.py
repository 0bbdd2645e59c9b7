"""What a bot remembers, as plain records: the shapes written to and read from Redis.

Numbers are stored as text (Redis hashes are strings) and come back as the same text,
so a record read back compares equal to the one written.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, fields
from typing import Any


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

    def to_fields(self) -> dict[str, str]:
        return {k: _text(v) for k, v in asdict(self).items()}

    @classmethod
    def from_fields(cls, raw: dict[str, str]) -> TradeRecord:
        return cls(**_parse(cls, raw))


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

    def to_fields(self) -> dict[str, str]:
        return {k: _text(v) for k, v in asdict(self).items()}

    @classmethod
    def from_fields(cls, raw: dict[str, str]) -> OrderRecord:
        return cls(**_parse(cls, raw))


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, float):
        return repr(value)
    return str(value)


_CASTS: dict[str, Callable[[str], Any]] = {
    "int": int,
    "float": float,
    "str": str,
    "bool": lambda v: v == "1",
}


def _parse(cls: type, raw: dict[str, str]) -> dict[str, Any]:
    parsed: dict[str, Any] = {}
    for field in fields(cls):
        text = raw.get(field.name, "")
        kind = str(field.type).replace(" | None", "")
        if text == "" and "None" in str(field.type):
            parsed[field.name] = None
        else:
            parsed[field.name] = _CASTS[kind](text)
    return parsed
