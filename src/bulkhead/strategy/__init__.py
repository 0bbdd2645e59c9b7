"""Moved: strategies live in the Freqtrade adapter, ``bulkhead.freqtrade``.

Kept only while ``bulkhead.config`` still names the bundled strategies itself; whether a
strategy loads is the adapter's question (``bulkhead.freqtrade.loading``).
"""

from __future__ import annotations

from bulkhead.freqtrade.strategies import NAMES, STRATEGY_DIR

#: bundled strategy names (the adapter's registry says where each is defined)
REGISTRY: dict[str, str] = {name: name for name in NAMES}

__all__ = ["REGISTRY", "STRATEGY_DIR"]
