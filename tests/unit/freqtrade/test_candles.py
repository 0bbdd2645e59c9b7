"""Candles for a backtest come from the bundled recordings, resampled when needed."""

from __future__ import annotations

import shutil
from pathlib import Path

import pandas as pd
import pytest

from bulkhead.freqtrade.candles import (
    RECORDINGS_DIR,
    Placed,
    data_file,
    download_command,
    place_recordings,
    recordings,
)

XRP = RECORDINGS_DIR / "XRP_USDT-5m.feather"


def test_the_bundled_recordings_are_found_by_pair_and_timeframe():
    assert recordings() == [("ADA/BTC", "5m"), ("ETH/BTC", "5m"), ("XRP/USDT", "5m")]


def test_a_recording_of_the_bots_timeframe_is_copied_as_is(tmp_path: Path):
    placed = place_recordings(["XRP/USDT"], "5m", tmp_path)

    assert placed == [Placed("XRP/USDT", "recording")]
    assert data_file(tmp_path, "XRP/USDT", "5m").read_bytes() == XRP.read_bytes()


@pytest.mark.parametrize(("timeframe", "per_candle"), [("15m", 3), ("1h", 12)])
def test_a_longer_timeframe_is_resampled_from_complete_candles(
    tmp_path: Path, timeframe: str, per_candle: int
):
    (placed,) = place_recordings(["XRP/USDT"], timeframe, tmp_path)
    resampled = pd.read_feather(data_file(tmp_path, "XRP/USDT", timeframe))
    source = pd.read_feather(XRP)

    assert placed == Placed("XRP/USDT", "resampled from 5m")
    assert list(resampled.columns) == ["date", "open", "high", "low", "close", "volume"]
    first = resampled.iloc[0]
    start = first["date"]
    inside = source[(source["date"] >= start) & (source["date"] < start + pd.Timedelta(timeframe))]
    assert len(inside) == per_candle
    assert first["open"] == inside["open"].iloc[0]
    assert first["high"] == inside["high"].max()
    assert first["low"] == inside["low"].min()
    assert first["close"] == inside["close"].iloc[-1]
    assert first["volume"] == pytest.approx(inside["volume"].sum())
    assert resampled["date"].diff().dropna().min() == pd.Timedelta(timeframe)


def test_a_shorter_timeframe_than_any_recording_is_missing(tmp_path: Path):
    assert place_recordings(["XRP/USDT"], "1m", tmp_path) == [Placed("XRP/USDT", "missing")]


def test_candles_already_there_are_used_for_a_pair_no_recording_covers(tmp_path: Path):
    shutil.copyfile(XRP, data_file(tmp_path, "ETH/USDT", "5m"))

    placed = place_recordings(["ETH/USDT", "ADA/USDT"], "5m", tmp_path)

    assert placed == [Placed("ETH/USDT", "already there"), Placed("ADA/USDT", "missing")]


def test_the_download_is_freqtrades_own_for_the_bots_timeframe(tmp_path: Path):
    command = download_command(tmp_path / "config.json", "5m", "20211116-")

    assert command[1:] == [
        "-m",
        "freqtrade",
        "download-data",
        "--config",
        str(tmp_path / "config.json"),
        "--timeframes",
        "5m",
        "--timerange",
        "20211116-",
    ]
