"""Candles for a backtest: the bundled recordings, resampled when needed, or a download.

Freqtrade backtests from its data directory (``<user_data>/data/kucoin``, feather files
named ``BASE_QUOTE-<timeframe>.feather``). ``place_recordings`` puts there, for each of
the bot's pairs, the bundled recording of its timeframe, or one of a shorter timeframe
that divides it, resampled (open first, high max, low min, close last, volume summed; an
incomplete last candle dropped); whatever is already there (an earlier download) is kept
for pairs no recording covers. ``download_command`` is Freqtrade's own ``download-data``
for the rest.
"""

from __future__ import annotations

import shutil
import sys
from dataclasses import dataclass
from pathlib import Path

#: the recordings shipped in a source checkout (data/ohlcv beside src/)
RECORDINGS_DIR = Path(__file__).resolve().parents[3] / "data" / "ohlcv"
#: timeframes in minutes, as Freqtrade names them
MINUTES = {
    "1m": 1,
    "3m": 3,
    "5m": 5,
    "15m": 15,
    "30m": 30,
    "1h": 60,
    "2h": 120,
    "4h": 240,
    "6h": 360,
    "8h": 480,
    "12h": 720,
    "1d": 1440,
    "1w": 10080,
}


@dataclass(frozen=True)
class Placed:
    """Where one pair's candles for the backtest come from."""

    pair: str
    #: "recording", "resampled from 5m", "already there", or "missing"
    origin: str

    @property
    def missing(self) -> bool:
        return self.origin == "missing"


def data_file(datadir: Path, pair: str, timeframe: str) -> Path:
    """Freqtrade's file for a spot pair's candles."""
    return datadir / f"{pair.replace('/', '_')}-{timeframe}.feather"


def recordings(folder: Path = RECORDINGS_DIR) -> list[tuple[str, str]]:
    """(pair, timeframe) of every recording in ``folder``."""
    found = []
    for path in sorted(folder.glob("*-*.feather")) if folder.is_dir() else []:
        symbol, _, timeframe = path.stem.rpartition("-")
        if "_" in symbol and timeframe in MINUTES:
            found.append((symbol.replace("_", "/", 1), timeframe))
    return found


def resample(source: Path, target: Path, timeframe: str) -> None:
    """``source`` candles as ``timeframe`` candles in ``target`` (complete candles only)."""
    import pandas as pd

    frame = pd.read_feather(source).set_index("date").sort_index()
    rule = f"{MINUTES[timeframe]}min"
    grouped = frame.resample(rule, label="left", closed="left")
    candles = grouped.agg(
        {"open": "first", "high": "max", "low": "min", "close": "last", "volume": "sum"}
    )
    steps = frame.index.to_series().diff().dropna()
    step = max(1, int(steps.min().total_seconds() // 60)) if len(steps) else 1
    counts = grouped["close"].count()
    complete = candles[counts == MINUTES[timeframe] // step].dropna().reset_index()
    complete.to_feather(target)


def place_recordings(
    pairs: list[str], timeframe: str, datadir: Path, folder: Path = RECORDINGS_DIR
) -> list[Placed]:
    """Candles for each pair in ``datadir`` from the recordings; what came from where."""
    datadir.mkdir(parents=True, exist_ok=True)
    placed = []
    for pair in pairs:
        target = data_file(datadir, pair, timeframe)
        exact = data_file(folder, pair, timeframe)
        shorter = [
            data_file(folder, pair, other)
            for other, minutes in sorted(MINUTES.items(), key=lambda item: -item[1])
            if minutes < MINUTES[timeframe] and MINUTES[timeframe] % minutes == 0
        ]
        source = next((path for path in shorter if path.is_file()), None)
        if exact.is_file():
            shutil.copyfile(exact, target)
            placed.append(Placed(pair, "recording"))
        elif source is not None:
            resample(source, target, timeframe)
            placed.append(Placed(pair, f"resampled from {source.stem.rpartition('-')[2]}"))
        elif target.is_file():
            placed.append(Placed(pair, "already there"))
        else:
            placed.append(Placed(pair, "missing"))
    return placed


def download_command(config: Path, timeframe: str, timerange: str | None) -> list[str]:
    """Freqtrade's ``download-data`` for the config's pairs and the bot's timeframe."""
    command = [sys.executable, "-m", "freqtrade", "download-data", "--config", str(config)]
    command += ["--timeframes", timeframe]
    if timerange:
        command += ["--timerange", timerange]
    return command
