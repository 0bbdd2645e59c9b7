"""The twin's price engine: replayed and synthetic paths, candles and extremes."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from datetime import UTC, datetime
from itertools import pairwise
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from pydantic import TypeAdapter, ValidationError

from bulkhead.sim.prices import (
    INTERVALS,
    Candle,
    PriceSource,
    PriceSourceSpec,
    ReplaySpec,
    SyntheticSpec,
    build_price_source,
)

DATA = Path(__file__).resolve().parents[3] / "data" / "ohlcv"
XRP = DATA / "XRP_USDT-5m.feather"
# A Wednesday, mid-candle, so alignment down to the candle grid matters.
ANCHOR_MS = int(datetime(2024, 3, 13, 10, 7, 31, 250000, tzinfo=UTC).timestamp() * 1000)
ANCHOR_S = ANCHOR_MS // 1000 // 300 * 300  # the anchor aligned to XRP's 5m grid
FAR = 4_000_000_000
DAY_MS = 86_400_000


@pytest.fixture(scope="module")
def xrp_df() -> pd.DataFrame:
    df = pd.read_feather(XRP)
    shift = pd.Timestamp(ANCHOR_S, unit="s", tz="UTC") - df["date"].iloc[-1] - pd.Timedelta("5min")
    return df.assign(date=df["date"] + shift).set_index("date")


def replay(path: Path = XRP, **kw: object) -> PriceSource:
    return build_price_source(ReplaySpec(kind="replay", path=str(path), **kw), ANCHOR_MS)


def synthetic(**kw: object) -> PriceSource:
    fields: dict[str, object] = {"kind": "synthetic", "start_price": 100.0, "history_days": 1}
    return build_price_source(SyntheticSpec.model_validate(fields | kw), ANCHOR_MS)


def oldest_first(candles: list[Candle]) -> list[Candle]:
    return candles[::-1]


def test_intervals_name_every_kucoin_candle_type() -> None:
    assert INTERVALS["1min"] == 60
    assert INTERVALS["8hour"] == 28800
    assert INTERVALS["1week"] == 604800
    assert len(INTERVALS) == 14


def test_replay_ends_at_anchor_so_the_whole_recording_is_history(xrp_df: pd.DataFrame) -> None:
    src = replay()
    history = src.candles("5min", 0, ANCHOR_S, ANCHOR_S * 1000, limit=10_000)
    assert len(history) == len(xrp_df)
    assert history[0].time_s == ANCHOR_S - 300
    assert history[-1].time_s == src.first_time_s == ANCHOR_S - 300 * len(xrp_df)


def test_replay_5min_candles_reproduce_the_recording_exactly(xrp_df: pd.DataFrame) -> None:
    got = oldest_first(replay().candles("5min", 0, ANCHOR_S, ANCHOR_S * 1000, limit=10_000))
    times = [int(t.timestamp()) for t in xrp_df.index]
    want = xrp_df[["open", "close", "high", "low", "volume"]].to_numpy()
    assert [c.time_s for c in got] == times
    assert np.array_equal(np.array([c[1:6] for c in got]), want)
    assert got[0].turnover == pytest.approx(want[0, 4] * (want[0, 0] + want[0, 1]) / 2)


@pytest.mark.parametrize(("interval", "rule"), [("15min", "15min"), ("1hour", "1h")])
def test_coarser_candles_aggregate_the_recording(
    xrp_df: pd.DataFrame, interval: str, rule: str
) -> None:
    want = xrp_df.resample(rule).agg(
        {"open": "first", "close": "last", "high": "max", "low": "min", "volume": "sum"}
    )
    got = oldest_first(replay().candles(interval, 0, ANCHOR_S, ANCHOR_S * 1000, limit=10_000))
    assert [c.time_s for c in got] == [int(t.timestamp()) for t in want.index]
    table = np.array([c[1:6] for c in got])
    assert np.array_equal(table[:, :4], want[["open", "close", "high", "low"]].to_numpy())
    assert table[:, 4] == pytest.approx(want["volume"].to_numpy(), rel=1e-12)


def test_one_minute_candles_are_cut_from_the_path_inside_each_recorded_candle(
    xrp_df: pd.DataFrame,
) -> None:
    ones = oldest_first(replay().candles("1min", 0, ANCHOR_S, ANCHOR_S * 1000, limit=1500))
    assert len(ones) == 1500
    for k in range(0, 1500, 5):
        parent = xrp_df.loc[pd.Timestamp(ones[k].time_s, unit="s", tz="UTC")]
        kids = ones[k : k + 5]
        assert kids[0].open == parent["open"]
        assert kids[-1].close == parent["close"]
        assert max(c.high for c in kids) == parent["high"]
        assert min(c.low for c in kids) == parent["low"]
        assert sum(c.volume for c in kids) == pytest.approx(parent["volume"], rel=1e-12)
        # Neighbours meet 1 ms apart on one straight segment of the path.
        assert all(b.open == pytest.approx(a.close, rel=1e-6) for a, b in pairwise(kids))


def test_candles_are_newest_first_and_capped_at_limit_keeping_the_newest() -> None:
    src = replay()
    now_ms = ANCHOR_S * 1000 - 1
    got = src.candles("5min", 0, FAR, now_ms, limit=7)
    assert [c.time_s for c in got] == [ANCHOR_S - 300 * i for i in range(1, 8)]


def test_candle_window_is_start_inclusive_and_end_exclusive() -> None:
    src = replay()
    start, end = ANCHOR_S - 3000, ANCHOR_S - 1500
    got = src.candles("5min", start, end, ANCHOR_MS)
    assert [c.time_s for c in got] == list(range(end - 300, start - 1, -300))


def test_the_candle_holding_now_is_partial() -> None:
    src = replay()
    now_ms = (ANCHOR_S + 3 * 300 + 200) * 1000  # 200 s into the 4th candle after the anchor
    current, _ = src.candles("5min", 0, FAR, now_ms, limit=2)
    assert current.time_s == ANCHOR_S + 900
    assert current.close == src.price_at(now_ms)
    assert (current.low, current.high) == src.extremes((ANCHOR_S + 900) * 1000, now_ms)
    full = src.candles("5min", 0, FAR, (ANCHOR_S + 1200) * 1000, limit=2)[1]
    assert current.volume == pytest.approx(full.volume * 200 / 300)
    assert current.open == full.open


def test_nothing_exists_before_the_source_begins() -> None:
    src = replay()
    assert src.candles("5min", 0, FAR, src.first_time_s * 1000 - 1) == []
    assert src.price_at(0) == src.price_at(src.first_time_s * 1000)
    day = src.candles("1day", 0, FAR, ANCHOR_MS, limit=10_000)[-1]
    assert day.time_s < src.first_time_s  # the first day bucket is trimmed, not omitted
    assert day.open == src.price_at(src.first_time_s * 1000)


def test_a_bullish_candle_visits_its_low_before_its_high(xrp_df: pd.DataFrame) -> None:
    src = replay()
    bull = xrp_df[(xrp_df["close"] > xrp_df["open"]) & (xrp_df["low"] < xrp_df["open"])].iloc[0]
    t0 = int(bull.name.timestamp()) * 1000
    low, high = src.extremes(t0, t0 + 100_000)  # the first third of the candle
    assert low == bull["low"]
    assert high == bull["open"] < bull["high"]
    assert src.extremes(t0, t0 + 299_999) == (bull["low"], bull["high"])


def test_the_paths_trades_are_each_candles_breakpoints_sharing_its_volume(
    xrp_df: pd.DataFrame,
) -> None:
    src = replay()
    last = xrp_df.iloc[-1]  # the candle just before the anchor, wholly in the past
    t0 = int(last.name.timestamp()) * 1000
    prints = src.prints(t0 + 299_999, 4)
    assert [t for t, _, _ in prints] == [t0, t0 + 100_000, t0 + 200_000, t0 + 299_999]
    first, second = (
        (last["low"], last["high"])
        if last["close"] >= last["open"]
        else (
            last["high"],
            last["low"],
        )
    )
    assert [p for _, p, _ in prints] == [last["open"], first, second, last["close"]]
    assert sum(size for _, _, size in prints) == pytest.approx(last["volume"])
    # only what has happened by then, oldest first
    assert [t for t, _, _ in src.prints(t0 + 150_000, 3)] == [t0 - 1, t0, t0 + 100_000]
    assert src.prints(src.first_time_s * 1000 - 1, 10) == []


def test_a_bearish_candle_visits_its_high_before_its_low(xrp_df: pd.DataFrame) -> None:
    src = replay()
    bear = xrp_df[(xrp_df["close"] < xrp_df["open"]) & (xrp_df["high"] > xrp_df["open"])].iloc[0]
    t0 = int(bear.name.timestamp()) * 1000
    assert src.extremes(t0, t0 + 100_000) == (bear["open"], bear["high"])


def test_extremes_interpolate_between_breakpoints() -> None:
    src = replay()
    t0 = (ANCHOR_S - 300) * 1000
    a, b = src.price_at(t0 + 100_000), src.price_at(t0 + 200_000)
    low, high = src.extremes(t0 + 140_000, t0 + 160_000)
    assert (low, high) == pytest.approx(
        (min(a, b) + abs(b - a) * 0.4, max(a, b) - abs(b - a) * 0.4)
    )
    with pytest.raises(ValueError, match="before start"):
        src.extremes(t0 + 1, t0)


def test_replay_loops_continuously_scaling_each_cycle(xrp_df: pd.DataFrame) -> None:
    src = replay()
    first_open, last_close = xrp_df["open"].iloc[0], xrp_df["close"].iloc[-1]
    factor = last_close / first_open
    length_ms = 300_000 * len(xrp_df)
    anchor = ANCHOR_S * 1000
    assert src.price_at(anchor - 1) == last_close
    assert src.price_at(anchor) == pytest.approx(last_close)
    assert src.price_at(anchor + length_ms) == pytest.approx(first_open * factor**2)
    end_of_second = anchor + 2 * length_ms
    second = src.candles("5min", 0, end_of_second // 1000, end_of_second, limit=1)[0]
    assert second.close == pytest.approx(last_close * factor**2)
    assert second.volume == xrp_df["volume"].iloc[-1]


def test_replay_can_look_three_days_ahead() -> None:
    src = replay()
    now_ms = ANCHOR_MS + 3 * DAY_MS
    got = src.candles("1hour", 0, FAR, now_ms, limit=100)
    assert len(got) == 100
    assert got[0].time_s == now_ms // 1000 // 3600 * 3600
    low, high = src.extremes(ANCHOR_MS, now_ms)
    assert 0 < low <= src.price_at(now_ms) <= high


def test_without_loop_the_price_stays_at_the_last_close(xrp_df: pd.DataFrame) -> None:
    src = replay(loop=False)
    later = ANCHOR_MS + 30 * DAY_MS
    assert src.price_at(later) == xrp_df["close"].iloc[-1]
    assert src.candles("5min", 0, FAR, later, limit=1)[0].volume == 0


def test_scale_multiplies_prices_but_not_volume() -> None:
    plain, double = replay(), replay(scale=2.0)
    t = ANCHOR_MS + DAY_MS
    assert double.price_at(t) == pytest.approx(2 * plain.price_at(t))
    a, b = plain.candles("1hour", 0, FAR, t, limit=3), double.candles("1hour", 0, FAR, t, limit=3)
    assert [c.high * 2 for c in a] == pytest.approx([c.high for c in b])
    assert [c.volume for c in a] == pytest.approx([c.volume for c in b])


def test_gaps_in_a_recording_are_filled_flat_at_the_previous_close(tmp_path: Path) -> None:
    dates = pd.to_datetime([0, 300, 1200], unit="s", utc=True)
    frame = pd.DataFrame(
        {
            "date": dates,
            "open": [1.0, 2.0, 3.0],
            "high": [1.5, 2.5, 3.5],
            "low": [0.5, 1.5, 2.5],
            "close": [1.2, 2.2, 3.2],
            "volume": [10.0, 20.0, 30.0],
        }
    )
    frame.to_feather(tmp_path / "gappy.feather")
    src = replay(tmp_path / "gappy.feather")
    got = oldest_first(src.candles("5min", 0, ANCHOR_S, ANCHOR_S * 1000))
    assert len(got) == 5
    assert got[2][1:6] == got[3][1:6] == (2.2, 2.2, 2.2, 2.2, 0.0)
    assert got[4][1:6] == (3.0, 3.2, 3.5, 2.5, 30.0)


def test_a_freqtrade_json_recording_replays_like_the_feather(
    tmp_path: Path, xrp_df: pd.DataFrame
) -> None:
    raw = pd.read_feather(XRP).head(50)
    rows = [
        [int(r.date.timestamp() * 1000), r.open, r.high, r.low, r.close, r.volume]
        for r in raw.itertuples()
    ]
    (tmp_path / "XRP_USDT-5m.json").write_text(json.dumps(rows))
    spec = ReplaySpec(kind="replay", path="XRP_USDT-5m.json")
    src = build_price_source(spec, ANCHOR_MS, base_dir=tmp_path)
    got = oldest_first(src.candles("5min", 0, ANCHOR_S, ANCHOR_S * 1000))
    assert len(got) == 50
    assert got[0][1:6] == tuple(raw[["open", "close", "high", "low", "volume"]].iloc[0])


def test_a_missing_file_is_a_value_error_naming_the_path(tmp_path: Path) -> None:
    missing = tmp_path / "nope.feather"
    with pytest.raises(ValueError, match=re.escape(f"{missing}: price data file does not exist")):
        replay(missing)


def test_a_file_with_wrong_columns_is_a_value_error_naming_what_is_missing(
    tmp_path: Path,
) -> None:
    bad = tmp_path / "bad.feather"
    pd.DataFrame({"date": pd.to_datetime([0, 60], unit="s"), "price": [1.0, 2.0]}).to_feather(bad)
    with pytest.raises(ValueError, match=r"bad\.feather: missing column\(s\) open, high"):
        replay(bad)
    garbage = tmp_path / "garbage.feather"
    garbage.write_bytes(b"not arrow")
    with pytest.raises(ValueError, match=r"garbage\.feather: cannot read"):
        replay(garbage)


def test_synthetic_is_deterministic_however_it_is_extended() -> None:
    end_ms = ANCHOR_MS + 3 * DAY_MS
    at_once, stepwise = synthetic(), synthetic()
    at_once.price_at(end_ms)
    for t in range(ANCHOR_MS, end_ms, 3_600_000):
        stepwise.extremes(t - 60_000, t)
    a = at_once.candles("1min", 0, FAR, end_ms, limit=5000)
    b = stepwise.candles("1min", 0, FAR, end_ms, limit=5000)
    assert a == b
    assert len(a) == 5000


def test_synthetic_seeds_give_different_markets() -> None:
    a = synthetic(seed=1).candles("1hour", 0, FAR, ANCHOR_MS, limit=24)
    b = synthetic(seed=2).candles("1hour", 0, FAR, ANCHOR_MS, limit=24)
    assert [c.close for c in a] != [c.close for c in b]


def test_synthetic_candles_are_well_formed_and_stay_positive() -> None:
    src = synthetic(volatility=0.05, jump_prob=0.1, jump_size=0.5, drift=-0.01)
    got = oldest_first(src.candles("1min", 0, FAR, ANCHOR_MS + 2 * DAY_MS, limit=4000))
    o, c, h, lo, v = (np.array([x[i] for x in got]) for i in range(1, 6))
    assert (lo > 0).all()
    assert (h >= np.maximum(o, c)).all()
    assert (lo <= np.minimum(o, c)).all()
    assert (v > 0).all()
    assert o[1:] == pytest.approx(c[:-1])


def test_synthetic_history_ends_at_the_anchor_at_the_start_price() -> None:
    src = synthetic(history_days=2, interval_s=300)
    anchor = ANCHOR_S * 1000
    assert src.price_at(anchor) == pytest.approx(100.0)
    assert src.first_time_s == ANCHOR_S - 2 * 86400
    assert src.candles("5min", 0, FAR, anchor - 1, limit=1000)[-1].time_s == src.first_time_s


def test_week_candles_open_on_monday_and_month_candles_on_the_first() -> None:
    src = replay()
    weeks = src.candles("1week", 0, FAR, ANCHOR_MS)
    months = src.candles("1month", 0, FAR, ANCHOR_MS + 40 * DAY_MS)
    assert len(weeks) == 2
    for w in weeks:
        opened = datetime.fromtimestamp(w.time_s, UTC)
        assert (opened.weekday(), opened.hour, opened.minute) == (0, 0, 0)
    assert [datetime.fromtimestamp(m.time_s, UTC).date().isoformat() for m in months] == [
        "2024-04-01",
        "2024-03-01",
    ]
    assert months[0].open == pytest.approx(months[1].close, rel=1e-2)


def test_spec_union_picks_the_model_by_kind_and_rejects_unknown_fields() -> None:
    adapter: TypeAdapter[ReplaySpec | SyntheticSpec] = TypeAdapter(PriceSourceSpec)
    spec = adapter.validate_python({"kind": "synthetic", "start_price": 3})
    assert isinstance(spec, SyntheticSpec)
    assert spec.interval_s == 60
    with pytest.raises(ValidationError):
        adapter.validate_python({"kind": "replay", "path": "x.feather", "speed": 2})
    with pytest.raises(ValidationError):
        adapter.validate_python({"kind": "replay", "path": "x.feather", "scale": 0})


@pytest.mark.parametrize("make", [replay, synthetic], ids=["replay", "synthetic"])
def test_price_lookups_agree_with_the_vectorised_path_in_any_order(
    make: Callable[[], PriceSource],
) -> None:
    # price_at reuses the segment of the lookup before; forward steps, jumps back,
    # breakpoints themselves and times past the generated path must all stay exact.
    src = make()
    rng = np.random.default_rng(7)
    start = (ANCHOR_S - 3 * 86_400) * 1000
    forward = start + np.cumsum(rng.integers(0, 5_000, 2_000))
    jumps = rng.integers(start, ANCHOR_MS + 2 * DAY_MS, 2_000)
    src.price_at(int(jumps.max()))  # the path is generated far enough for _interp
    breakpoints = src._bp_t[100:140]
    times = np.concatenate([forward, jumps, breakpoints, breakpoints - 1]).astype(np.int64)
    expected = src._interp(times)
    assert [src.price_at(int(t)) for t in times] == expected.tolist()
