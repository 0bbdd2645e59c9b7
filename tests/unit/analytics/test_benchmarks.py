"""Buy-and-hold benchmarks from Freqtrade candle files; unavailable ones say why."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from bulkhead.analytics.benchmarks import benchmarks

T0 = 1_795_824_000_000
DAY = 86_400_000


def candles(folder: Path, pair: str, days: int, start_price: float, end_price: float) -> None:
    dates = pd.date_range(pd.Timestamp(T0, unit="ms", tz="UTC"), periods=days * 288, freq="5min")
    closes = np.linspace(start_price, end_price, dates.size)
    frame = pd.DataFrame({"date": dates, "open": closes, "high": closes, "low": closes,
                          "close": closes, "volume": 1.0})  # fmt: skip
    folder.mkdir(parents=True, exist_ok=True)
    frame.to_feather(folder / f"{pair.replace('/', '_')}-5m.feather")


def test_buy_and_hold_and_the_bots_excess_over_the_window(tmp_path: Path) -> None:
    candles(tmp_path, "XRP/USDT", 10, 1.0, 2.0)
    candles(tmp_path, "BTC/USDT", 10, 100.0, 90.0)
    start, end = T0 + DAY, T0 + 5 * DAY
    closes = np.array([T0 + 2 * DAY, end])

    xrp, btc = benchmarks(["XRP/USDT"], start, end, 0.05, [tmp_path / "none", tmp_path], closes)

    prices = np.linspace(1.0, 2.0, 10 * 288)
    expected = prices[5 * 288] / prices[288] - 1
    assert xrp.buy_and_hold == pytest.approx(expected, rel=1e-9)
    assert xrp.excess == pytest.approx(0.05 - expected)
    assert xrp.curve is not None
    assert xrp.curve[-1] == pytest.approx(1 + expected)
    assert btc.pair == "BTC/USDT"
    assert btc.buy_and_hold is not None
    assert btc.buy_and_hold < 0


def test_missing_or_short_candles_are_unavailable_with_the_reason(tmp_path: Path) -> None:
    candles(tmp_path, "XRP/USDT", 2, 1.0, 1.1)

    short, btc = benchmarks(["XRP/USDT"], T0, T0 + 5 * DAY, 0.0, [tmp_path])

    assert short.buy_and_hold is None
    assert "do not cover the window" in short.note
    assert btc.buy_and_hold is None
    assert btc.note.startswith("no candles in ")
