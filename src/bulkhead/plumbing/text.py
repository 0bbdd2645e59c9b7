"""Redis answers as text: redis-py returns bytes (clients are built without
``decode_responses``, so record JSON is parsed straight from bytes), and every reader of a
hash field, a stream entry or a script's reply needs the same one-line conversion."""

from __future__ import annotations

from typing import Any


def as_text(value: Any) -> str:
    """``value`` as ``str``: bytes decoded as UTF-8, anything else through ``str``."""
    return value.decode() if isinstance(value, bytes) else str(value)
