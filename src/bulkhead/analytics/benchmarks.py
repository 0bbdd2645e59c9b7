"""Buy-and-hold benchmarks: what holding each traded pair, and BTC, over the same window
would have returned, and the bot's excess return against each.

Prices come from Freqtrade candle files (``<PAIR>-<timeframe>.feather``, as
``freqtrade download-data`` and the bundled recordings write them) in the folders given,
first found wins, shortest timeframe first. A pair without candles covering the window is
listed as unavailable, with the reason, rather than guessed.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

TIMEFRAMES = ("1m", "5m", "15m", "30m", "1h", "4h", "1d")
BTC = "BTC/USDT"


@dataclass(frozen=True)
class Benchmark:
    pair: str
    buy_and_hold: float | None  # return over the window, None when unavailable
    excess: float | None  # the bot's return minus it
    note: str = ""  # why it is unavailable, or where the prices came from
    #: the benchmark's value of the starting balance at each trade close (for plots)
    curve: np.ndarray | None = None


def _file(folders: Sequence[Path], pair: str) -> Path | None:
    stem = pair.replace("/", "_")
    for folder in folders:
        for timeframe in TIMEFRAMES:
            path = folder / f"{stem}-{timeframe}.feather"
            if path.is_file():
                return path
    return None


def benchmarks(
    pairs: Sequence[str],
    start_ms: int,
    end_ms: int,
    bot_return: float,
    folders: Sequence[Path],
    close_ms: np.ndarray | None = None,
) -> list[Benchmark]:
    """Buy-and-hold of each of ``pairs`` and of BTC/USDT over [start_ms, end_ms]."""
    found = []
    for pair in [*dict.fromkeys([*pairs, BTC])]:
        path = _file(folders, pair)
        if path is None:
            found.append(Benchmark(pair, None, None, "no candles in " + _shown(folders)))
            continue
        frame = pd.read_feather(path, columns=["date", "close"])
        dates = pd.to_datetime(frame["date"], utc=True).dt.as_unit("ms")
        times = dates.astype("int64").to_numpy()
        closes = frame["close"].to_numpy(dtype=float)
        if times.size == 0 or times[0] > start_ms or times[-1] < end_ms:
            covered = f"{path.name}: {_day(times[0])} to {_day(times[-1])}" if times.size else ""
            note = f"candles do not cover the window ({covered})"
            found.append(Benchmark(pair, None, None, note))
            continue
        first = closes[max(0, np.searchsorted(times, start_ms, side="right") - 1)]
        last = closes[max(0, np.searchsorted(times, end_ms, side="right") - 1)]
        hold = float(last / first - 1)
        curve = None
        if close_ms is not None and close_ms.size:
            at = np.maximum(np.searchsorted(times, close_ms, side="right") - 1, 0)
            curve = closes[at] / first
        found.append(Benchmark(pair, hold, bot_return - hold, path.name, curve))
    return found


def _day(ms: int) -> str:
    return str(pd.Timestamp(int(ms), unit="ms", tz="UTC").date())


def _shown(folders: Sequence[Path]) -> str:
    return ", ".join(str(f) for f in folders) or "(no folder)"
