"""The strategies Bulkhead ships, by name, from an explicit registry.

A bundled strategy is an ordinary Freqtrade strategy file, loaded and layered exactly as a
user's own (``strategy: {file: ..., class: ...}``) would be; a name only saves writing the
path. Names are resolved here, not by Freqtrade's class search with its silent fallbacks,
so a typo in bulkhead.yaml is an error before any process starts.

- ``TwinScalper`` (this package): trades as often as it can, to rehearse a bot on the twin.
- ``SampleStrategy``: Freqtrade's own sample strategy (RSI, TEMA and Bollinger bands on 5m
  candles), read from the installed Freqtrade (``freqtrade/templates/sample_strategy.py``)
  rather than copied, so it is always the file of the pinned Freqtrade release (and its
  GPL source stays in Freqtrade's package).
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from pathlib import Path

STRATEGY_DIR = Path(__file__).resolve().parent


@dataclass(frozen=True)
class Bundled:
    """Where a bundled strategy's class is: the file that defines it, and its name."""

    file: Path
    class_name: str


def _freqtrade_templates() -> Path:
    found = importlib.util.find_spec("freqtrade")
    locations = list(found.submodule_search_locations or []) if found else []
    if not locations:  # pragma: no cover - freqtrade is a dependency
        raise RuntimeError("Freqtrade is not installed")
    return Path(locations[0]) / "templates"


def registry() -> dict[str, Bundled]:
    """Strategy name (its Freqtrade class name) -> where it is defined."""
    return {
        "TwinScalper": Bundled(STRATEGY_DIR / "twin_scalper.py", "TwinScalper"),
        "SampleStrategy": Bundled(_freqtrade_templates() / "sample_strategy.py", "SampleStrategy"),
    }


#: the names alone, for checks that need no file
NAMES: tuple[str, ...] = ("TwinScalper", "SampleStrategy")
