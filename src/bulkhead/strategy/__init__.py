"""Strategies Bulkhead ships for Freqtrade to load, by name from an explicit registry.

Names are resolved here, not by Freqtrade's class search with its silent fallbacks, so a
typo in bulkhead.yaml is an error before any process starts.
"""

from __future__ import annotations

from pathlib import Path

STRATEGY_DIR = Path(__file__).resolve().parent

#: strategy name (the Freqtrade class name) -> file in this package that defines it
REGISTRY: dict[str, str] = {
    "TwinScalper": "twin_scalper.py",
}
