"""Price sources for the twin: replayed recordings and seeded synthetic markets.

Each symbol of the twin gets one :class:`PriceSource`, a continuous price path through
time (see :mod:`bulkhead.sim.price_path`). History before the server's start ("the
anchor") exists so bots can download candles at once; time after it keeps unfolding in
real time, generated lazily as the clock reaches it.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Annotated, Any, Literal

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field, model_validator

from bulkhead.sim import limits
from bulkhead.sim.price_path import INTERVALS, Block, Candle, FloatArray, IntArray, PriceSource

__all__ = [
    "INTERVALS",
    "Candle",
    "PriceSource",
    "PriceSourceSpec",
    "ReplaySource",
    "ReplaySpec",
    "SyntheticSource",
    "SyntheticSpec",
    "build_price_source",
]

_COLUMNS = ("date", "open", "high", "low", "close", "volume")


class ReplaySpec(BaseModel):
    """Replay a recorded Freqtrade OHLCV file, looped so it never runs out."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    kind: Literal["replay"]
    #: A Freqtrade ``.feather`` file or a ``.json`` list of [ms, o, h, l, c, v] rows.
    path: str
    #: Multiplies every price, e.g. to make ETH/BTC data look like an ETH/USDT market.
    scale: float = Field(default=1.0, gt=0, allow_inf_nan=False)
    #: After the recording, replay it again (continuously rescaled); otherwise stay flat.
    loop: bool = True


class SyntheticSpec(BaseModel):
    """A seeded random market: two volatility regimes plus occasional jumps."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    kind: Literal["synthetic"]
    seed: int = Field(default=0, ge=0)
    #: The price at the anchor (server start), so a configured market is "at" this price
    #: when bots connect, whatever the random history before it did.
    start_price: float = Field(gt=0, allow_inf_nan=False)
    interval_s: int = Field(default=60, gt=0, le=86400)
    #: history is generated when the source is built: bounded, like all of it
    #: (``limits.MAX_HISTORY_CANDLES`` base candles at most)
    history_days: float = Field(default=7, ge=0, le=366, allow_inf_nan=False)
    volatility: float = Field(default=0.002, ge=0, allow_inf_nan=False)
    regime_switch_prob: float = Field(default=0.01, ge=0, le=1)
    volatile_multiplier: float = Field(default=4.0, gt=0, allow_inf_nan=False)
    jump_prob: float = Field(default=0.002, ge=0, le=1)
    jump_size: float = Field(default=0.03, ge=0, allow_inf_nan=False)
    drift: float = Field(default=0.0, allow_inf_nan=False)

    @model_validator(mode="after")
    def _history_is_bounded(self) -> SyntheticSpec:
        candles = self.history_days * 86400 / self.interval_s
        if candles > limits.MAX_HISTORY_CANDLES:
            raise ValueError(
                f"history_days={self.history_days} at interval_s={self.interval_s} is "
                f"{candles:.0f} candles; at most {limits.MAX_HISTORY_CANDLES}"
            )
        return self


PriceSourceSpec = Annotated[ReplaySpec | SyntheticSpec, Field(discriminator="kind")]


def _read_rows(path: Path) -> tuple[IntArray, FloatArray]:
    """(open times in ms, [n, 5] array of o, h, l, c, v) from a feather or JSON file."""
    if not path.is_file():
        raise ValueError(f"{path}: price data file does not exist")
    if path.suffix == ".json":
        try:
            raw: Any = json.loads(path.read_text())
            table = np.asarray(raw, dtype=np.float64)
        except (OSError, ValueError, TypeError) as exc:
            raise ValueError(f"{path}: cannot read JSON OHLCV rows ({exc})") from None
        if table.ndim != 2 or table.shape[1] != 6:
            raise ValueError(f"{path}: expected a list of [ms, open, high, low, close, volume]")
        return table[:, 0].astype(np.int64), table[:, 1:]
    try:
        df = pd.read_feather(path)
    except Exception as exc:  # pyarrow raises many unrelated types for a bad file
        raise ValueError(f"{path}: cannot read feather file ({type(exc).__name__})") from None
    missing = [c for c in _COLUMNS if c not in df.columns]
    if missing:
        raise ValueError(f"{path}: missing column(s) {', '.join(missing)}")
    try:
        dates = pd.to_datetime(df["date"], utc=True)
        ms = (dates - pd.Timestamp(0, tz="UTC")) // pd.Timedelta(milliseconds=1)
        times = np.asarray(ms, dtype=np.int64)
        values = df[list(_COLUMNS[1:])].to_numpy(dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{path}: bad date or price column ({exc})") from None
    return times, values


def _load_recording(path: Path) -> Block:
    """Load a recording onto a regular candle grid.

    The candle length is the smallest gap between rows. Missing candles are filled flat
    at the previous close with zero volume (as Freqtrade does), and highs/lows are widened
    to bracket open and close, so the path always reproduces the file's candles.
    """
    times, values = _read_rows(path)
    order = np.argsort(times, kind="stable")
    times, values = times[order], values[order]
    keep = np.append(times[1:] != times[:-1], True)  # last row wins on duplicate times
    times, values = times[keep], values[keep]
    if len(times) < 2:
        raise ValueError(f"{path}: needs at least two candles to know their interval")
    if not np.isfinite(values).all() or (values[:, :4] <= 0).any() or (values[:, 4] < 0).any():
        raise ValueError(f"{path}: prices must be positive and volumes non-negative")
    d_ms = int(np.diff(times).min())
    rel = times - times[0]
    if d_ms % 1000 or (rel % d_ms).any():
        raise ValueError(f"{path}: candle times are not on a regular whole-second grid")
    pos = rel // d_ms
    n = int(pos[-1]) + 1
    full = np.empty((n, 5), dtype=np.float64)
    present = np.zeros(n, dtype=bool)
    present[pos] = True
    full[pos] = values
    prev = np.maximum.accumulate(np.where(present, np.arange(n), 0))
    gap_close = full[prev, 3]
    for col in range(4):
        full[~present, col] = gap_close[~present]
    full[~present, 4] = 0.0
    o, h, lo, c, v = (full[:, i] for i in range(5))
    d_s = d_ms // 1000
    return Block(
        open_s=np.arange(n, dtype=np.int64) * d_s,
        open=o,
        high=np.maximum.reduce([h, o, c]),
        low=np.minimum.reduce([lo, o, c]),
        close=c,
        volume=v,
    )


class ReplaySource(PriceSource):
    """A recording shifted to end at the anchor, then looped into the future.

    Block ``c`` is cycle ``c`` of the recording: cycle 0 is the history ending at the
    anchor; cycle ``c >= 1`` follows it with prices times ``(last close / first open)**c``
    so each cycle opens at the previous cycle's close. Without ``loop`` the price stays
    flat at the last close after the recording, with zero volume.
    """

    def __init__(self, recording: Block, interval_s: int, anchor_ms: int, loop: bool) -> None:
        self._rec = recording
        self._n = len(recording.open_s)
        self._loop = loop
        self._factor = float(recording.close[-1] / recording.open[0])
        self._anchor_s = anchor_ms // 1000 // interval_s * interval_s
        super().__init__(interval_s, self._anchor_s - self._n * interval_s)
        self._ensure(self._anchor_s * 1000 - 1)

    def _block(self, index: int) -> Block:
        r = self._rec
        open_s = self.first_time_s + (index * self._n + np.arange(self._n)) * self.interval_s
        if index > 0 and not self._loop:
            flat = np.full(self._n, float(r.close[-1]))
            return Block(open_s, flat, flat, flat, flat, np.zeros(self._n))
        f = self._factor**index
        return Block(open_s, r.open * f, r.high * f, r.low * f, r.close * f, r.volume)


# Candles per synthetic block. Fixed, so the walk is the same however it is extended.
_SYNTH_BLOCK = 1024
_SUBSTEPS = 6
_LOG_BOUND = 600.0  # keeps exp() finite and positive even for absurd drift settings


class SyntheticSource(PriceSource):
    """A regime-switching random walk, reproducible from (seed, anchor).

    Block ``k`` draws its randomness from ``SeedSequence([seed, k])`` and continues from
    block ``k - 1``'s last close and regime, with a fixed number of draws per block; so
    the candles do not depend on how lazily or in which chunks the path was extended.
    The whole walk is then scaled so the price at the anchor is ``start_price``.
    """

    def __init__(self, spec: SyntheticSpec, anchor_ms: int) -> None:
        self._spec = spec
        d = spec.interval_s
        anchor_s = anchor_ms // 1000 // d * d
        history = math.ceil(spec.history_days * 86400 / d)
        self._log_close = 0.0
        self._regime = 0
        self._scale = 1.0
        super().__init__(d, anchor_s - history * d)
        self._ensure(anchor_s * 1000)
        factor = spec.start_price / self.price_at(anchor_s * 1000)
        self._scale = factor
        # Same turnover at the new price level: prices scale up, base volume down.
        self._bp_p = self._bp_p * factor
        self._vol = self._vol / factor

    def _block(self, index: int) -> Block:
        s = self._spec
        rng = np.random.default_rng(np.random.SeedSequence([s.seed, index]))
        n, m = _SYNTH_BLOCK, _SUBSTEPS
        switches = rng.random(n) < s.regime_switch_prob
        regime = (self._regime + np.cumsum(switches)) % 2
        sigma = s.volatility * np.where(regime == 1, s.volatile_multiplier, 1.0)
        steps = rng.standard_normal((n, m)) * (sigma / math.sqrt(m))[:, None] + s.drift / m
        jumps = rng.random(n) < s.jump_prob
        jump_sign = np.where(rng.random(n) < 0.5, -1.0, 1.0)
        jump_at = rng.integers(0, m, n)
        steps[np.arange(n), jump_at] += np.where(jumps, jump_sign * s.jump_size, 0.0)
        path = np.clip(self._log_close + np.cumsum(steps.ravel()), -_LOG_BOUND, _LOG_BOUND)
        sub = path.reshape(n, m)
        log_open = np.concatenate([[self._log_close], sub[:-1, -1]])
        log_close = sub[:, -1]
        log_high = np.maximum(sub.max(axis=1), log_open)
        log_low = np.minimum(sub.min(axis=1), log_open)
        self._log_close = float(log_close[-1])
        self._regime = int(regime[-1])
        # About one quote-currency million per day, busier when the market is volatile.
        busy = np.where(regime == 1, 2.5, 1.0)
        turnover = rng.lognormal(0.0, 0.6, n) * busy * 1e6 * s.interval_s / 86400
        close = np.exp(log_close) * self._scale
        open_s = self.first_time_s + (index * n + np.arange(n, dtype=np.int64)) * s.interval_s
        return Block(
            open_s=open_s,
            open=np.exp(log_open) * self._scale,
            high=np.exp(log_high) * self._scale,
            low=np.exp(log_low) * self._scale,
            close=close,
            volume=turnover / close,
        )


def build_price_source(
    spec: ReplaySpec | SyntheticSpec, anchor_ms: int, base_dir: Path | None = None
) -> PriceSource:
    """Build the price source a spec describes, with history ending at ``anchor_ms``.

    Relative replay paths are resolved against ``base_dir`` (the scenario file's folder)
    so scenarios can ship next to their data. Bad data files raise ``ValueError``.
    """
    if isinstance(spec, SyntheticSpec):
        return SyntheticSource(spec, anchor_ms)
    path = Path(spec.path).expanduser()
    if not path.is_absolute() and base_dir is not None:
        path = base_dir / path
    rec = _load_recording(path)
    interval_s = int(rec.open_s[1] - rec.open_s[0])
    scaled = Block(
        rec.open_s,
        rec.open * spec.scale,
        rec.high * spec.scale,
        rec.low * spec.scale,
        rec.close * spec.scale,
        rec.volume,
    )
    return ReplaySource(scaled, interval_s, anchor_ms, spec.loop)
