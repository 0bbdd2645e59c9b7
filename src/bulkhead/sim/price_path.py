"""The piecewise-linear price path that every twin price source shares.

A source only has to produce base OHLCV candles, block by block; this module turns them
into a continuous path (so limit and stop orders trigger where a real market would have
touched their price) and serves KuCoin candles of any interval cut from that path. Keeping
the path maths here means the replay and synthetic sources cannot disagree about what a
candle "means".
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import NamedTuple

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]

#: KuCoin candle type -> bucket length in seconds. "1month" is listed with a nominal 30
#: days for callers that want a rough size, but its buckets are real calendar months.
INTERVALS: dict[str, int] = {
    "1min": 60,
    "3min": 180,
    "5min": 300,
    "15min": 900,
    "30min": 1800,
    "1hour": 3600,
    "2hour": 7200,
    "4hour": 14400,
    "6hour": 21600,
    "8hour": 28800,
    "12hour": 43200,
    "1day": 86400,
    "1week": 604800,
    "1month": 2592000,
}

# The epoch fell on a Thursday; KuCoin weeks open on Monday 00:00 UTC, four days later.
_WEEK_OFFSET_S = 4 * 86400


class Candle(NamedTuple):
    """One KuCoin kline row; a tuple so the HTTP layer can emit it as a JSON array as is.

    The field order is KuCoin's (close before high), not the usual OHLC, so that
    ``list(candle)`` is already the wire format.
    """

    time_s: int
    open: float
    close: float
    high: float
    low: float
    volume: float
    turnover: float


@dataclass(frozen=True)
class Block:
    """A run of consecutive base candles, all ``interval_s`` long, as parallel arrays."""

    open_s: IntArray
    open: FloatArray
    high: FloatArray
    low: FloatArray
    close: FloatArray
    volume: FloatArray


def _month_index(t_s: int) -> int:
    d = datetime.fromtimestamp(t_s, UTC)
    return d.year * 12 + d.month - 1


def _month_start(index: int) -> int:
    return int(datetime(index // 12, index % 12 + 1, 1, tzinfo=UTC).timestamp())


def _buckets(interval: str, lo_s: int, hi_s: int, limit: int) -> tuple[IntArray, IntArray]:
    """Open and end times of the newest ``limit`` buckets whose open lies in [lo_s, hi_s].

    Returned newest first. Months are calendar months, weeks start on Monday, everything
    else is aligned to multiples of its length since the epoch, as on KuCoin.
    """
    if interval == "1month":
        opens: list[int] = []
        m = _month_index(hi_s)
        while len(opens) < limit and (start := _month_start(m)) >= lo_s:
            opens.append(start)
            m -= 1
        ends = [_month_start(_month_index(t) + 1) for t in opens]
        return np.array(opens, dtype=np.int64), np.array(ends, dtype=np.int64)
    size = INTERVALS[interval]
    off = _WEEK_OFFSET_S if interval == "1week" else 0
    last = (hi_s - off) // size * size + off
    first = -((off - lo_s) // size) * size + off  # ceil to the bucket grid
    count = max(0, min(limit, (last - first) // size + 1))
    starts = last - size * np.arange(count, dtype=np.int64)
    return starts, starts + size


class PriceSource(ABC):
    """A price path built lazily from consecutive blocks of base candles.

    Inside each base candle the path visits four breakpoints: the open at the start, the
    two extremes at one and two thirds of the candle, and the close 1 ms before the end.
    A bullish candle dips first (O -> L -> H -> C), a bearish one rallies first
    (O -> H -> L -> C), which is the usual backtester assumption. Between breakpoints the
    price moves linearly, so the extremes of any interval are found exactly by looking at
    the breakpoints inside it plus its two interpolated endpoints.

    Subclasses implement :meth:`_block`; block ``k`` must start exactly where block
    ``k - 1`` ended. Blocks are generated only when a query reaches past the known path,
    which lets a twin run for days without precomputing the future.
    """

    def __init__(self, interval_s: int, first_time_s: int) -> None:
        if interval_s < 1:
            raise ValueError(f"base candle interval must be at least 1 s, got {interval_s}")
        self._d = interval_s
        self._first_s = first_time_s
        self._next_block = 0
        self._end_ms = first_time_s * 1000
        self._bp_t: IntArray = np.empty(0, dtype=np.int64)
        self._bp_p: FloatArray = np.empty(0, dtype=np.float64)
        # Volume of base candle i, which spans [first + i*d, first + (i+1)*d).
        self._vol: FloatArray = np.empty(0, dtype=np.float64)
        self._turn: FloatArray = np.empty(0, dtype=np.float64)
        #: the segment the last lookup fell in: (times, prices, t0, t1, p0, p1), see
        #: ``_interp_one``; the arrays say which path it belongs to
        self._segment: tuple[IntArray, FloatArray, int, int, float, float] | None = None

    @abstractmethod
    def _block(self, index: int) -> Block:
        """Base candles of block ``index``, contiguous with block ``index - 1``."""

    @property
    def first_time_s(self) -> int:
        """Open time of the first base candle; nothing exists before it."""
        return self._first_s

    @property
    def interval_s(self) -> int:
        """Duration of one base candle."""
        return self._d

    def _ensure(self, t_ms: int) -> None:
        """Generate blocks until the path is defined at ``t_ms`` (one concatenation).

        Always covers the first candle too, so lookups never see an empty path. Not
        thread-safe: the twin queries sources from its single event loop.
        """
        t_ms = max(t_ms, self._first_s * 1000)
        if t_ms < self._end_ms:
            return
        blocks: list[Block] = []
        end = self._end_ms
        while t_ms >= end:
            b = self._block(self._next_block)
            self._next_block += 1
            if len(b.open_s) == 0 or int(b.open_s[0]) * 1000 != end:
                raise RuntimeError("price source produced a block that does not continue the path")
            blocks.append(b)
            end = (int(b.open_s[-1]) + self._d) * 1000
        self._append(blocks, end)

    def _append(self, blocks: list[Block], end_ms: int) -> None:
        d_ms = self._d * 1000
        open_s = np.concatenate([b.open_s for b in blocks])
        o, h, lo, c, v = (
            np.concatenate([getattr(b, f) for b in blocks])
            for f in ("open", "high", "low", "close", "volume")
        )
        bull = c >= o
        first_ext = np.where(bull, lo, h)
        second_ext = np.where(bull, h, lo)
        offsets = np.array([0, d_ms // 3, 2 * d_ms // 3, d_ms - 1], dtype=np.int64)
        times = (open_s[:, None] * 1000 + offsets[None, :]).ravel()
        prices = np.stack([o, first_ext, second_ext, c], axis=1).ravel()
        self._bp_t = np.concatenate([self._bp_t, times])
        self._bp_p = np.concatenate([self._bp_p, prices.astype(np.float64)])
        self._vol = np.concatenate([self._vol, v.astype(np.float64)])
        self._turn = np.concatenate([self._turn, (v * (o + c) / 2.0).astype(np.float64)])
        self._end_ms = end_ms

    def _interp(self, t_ms: IntArray) -> FloatArray:
        t, p = self._bp_t, self._bp_p
        i = np.clip(np.searchsorted(t, t_ms, side="right") - 1, 0, len(t) - 2)
        frac = np.clip((t_ms - t[i]) / (t[i + 1] - t[i]), 0.0, 1.0)
        a, b = p[i], p[i + 1]
        value = np.where(frac >= 1.0, b, a + (b - a) * frac)
        # Rounding must never take the path outside its segment: a flat segment must stay
        # exactly flat, or a candle's low would dip below the recorded one.
        return np.asarray(np.clip(value, np.minimum(a, b), np.maximum(a, b)), dtype=np.float64)

    def _interp_one(self, t_ms: int) -> float:
        """Scalar twin of :meth:`_interp`: the matching engine's hot path (~1 µs, not ~20).

        Market time moves forward in small steps, so most lookups land in the segment
        of the one before: that segment is kept as plain numbers, which skips the
        search and numpy's scalar conversions (several times cheaper).
        """
        t, p = self._bp_t, self._bp_p
        segment = self._segment
        if (
            segment is not None
            and segment[0] is t
            and segment[1] is p
            and segment[2] <= t_ms < segment[3]
        ):
            t0, t1, a, b = segment[2], segment[3], segment[4], segment[5]
        else:
            i = int(t.searchsorted(t_ms, side="right")) - 1
            i = min(max(i, 0), len(t) - 2)
            t0, t1 = int(t[i]), int(t[i + 1])
            a, b = float(p[i]), float(p[i + 1])
            if t0 <= t_ms < t1:
                self._segment = (t, p, t0, t1, a, b)
        frac = (t_ms - t0) / (t1 - t0)
        if frac >= 1.0:
            return b
        if frac <= 0.0:
            return a
        value = a + (b - a) * frac
        return min(max(value, min(a, b)), max(a, b))

    def price_at(self, t_ms: int) -> float:
        """Price on the path at ``t_ms``; before the first candle, its open."""
        self._ensure(t_ms)
        return self._interp_one(t_ms)

    def extremes(self, start_ms: int, end_ms: int) -> tuple[float, float]:
        """(lowest, highest) price touched in the closed interval [start_ms, end_ms].

        This is what decides whether a resting order was crossed between two matching
        passes, so it is exact for the path rather than sampled.
        """
        if end_ms < start_ms:
            raise ValueError(f"extremes: end {end_ms} is before start {start_ms}")
        self._ensure(end_ms)
        first, last = self._interp_one(start_ms), self._interp_one(end_ms)
        low, high = min(first, last), max(first, last)
        lo_i = int(self._bp_t.searchsorted(start_ms, side="left"))
        hi_i = int(self._bp_t.searchsorted(end_ms, side="right"))
        if hi_i - lo_i > 16:
            inner = self._bp_p[lo_i:hi_i]
            low, high = min(low, float(inner.min())), max(high, float(inner.max()))
        elif hi_i > lo_i:
            inner_list = self._bp_p[lo_i:hi_i].tolist()
            low, high = min(low, *inner_list), max(high, *inner_list)
        return low, high

    def prints(self, until_ms: int, count: int) -> list[tuple[int, float, float]]:
        """The path's trades: its last ``count`` breakpoints at or before ``until_ms``.

        Each base candle trades four times, at its breakpoints (open, the two extremes,
        close), a quarter of its volume each: the tape adds up to the candles a client
        reads. Oldest first, as ``(time_ms, price, size)``.
        """
        if count <= 0 or until_ms < self._first_s * 1000:
            return []
        self._ensure(until_ms)
        end = int(self._bp_t.searchsorted(until_ms, side="right"))
        start = max(0, end - count)
        sizes = self._vol[np.arange(start, end) // 4] / 4  # four breakpoints per candle
        return list(
            zip(
                self._bp_t[start:end].tolist(),
                self._bp_p[start:end].tolist(),
                sizes.tolist(),
                strict=True,
            )
        )

    def candles(
        self, interval: str, start_s: int, end_s: int, now_ms: int, limit: int = 1500
    ) -> list[Candle]:
        """KuCoin candles with open time in [start_s, end_s) and not after now, newest first.

        The candle holding ``now`` is partial: it closes at the current price and its
        high/low/volume cover only up to now. Buckets that begin before the source do are
        trimmed to its first candle; buckets wholly before it are omitted. Each base
        candle's turnover is approximated as its volume times the mean of its open and
        close (the path cannot know at which prices the volume traded), and is spread
        over time like the volume.
        """
        if interval not in INTERVALS:
            raise ValueError(f"unknown candle interval {interval!r}")
        first_ms = self._first_s * 1000
        if limit <= 0 or now_ms < first_ms:
            return []
        self._ensure(now_ms)
        opens, ends = _buckets(interval, start_s, min(end_s - 1, now_ms // 1000), limit)
        keep = ends * 1000 > first_ms
        opens, ends = opens[keep], ends[keep]
        if len(opens) == 0:
            return []
        s_ms = np.maximum(opens * 1000, first_ms)
        e_ms = np.minimum(ends * 1000 - 1, now_ms)
        v_end = np.minimum(ends * 1000, now_ms)
        open_p = self._interp(s_ms)
        close_p = self._interp(e_ms)
        low, high = self._many_extremes(s_ms, e_ms)
        vol = self._spread(self._vol, s_ms, v_end)
        turnover = self._spread(self._turn, s_ms, v_end)
        return [
            Candle(int(t), float(op), float(cl), float(hi), float(lw), float(vo), float(tu))
            for t, op, cl, hi, lw, vo, tu in zip(
                opens, open_p, close_p, high, low, vol, turnover, strict=True
            )
        ]

    def _many_extremes(self, s_ms: IntArray, e_ms: IntArray) -> tuple[FloatArray, FloatArray]:
        """Vectorised :meth:`extremes` for many closed intervals at once."""
        lo_i = np.searchsorted(self._bp_t, s_ms, side="left")
        hi_i = np.searchsorted(self._bp_t, e_ms, side="right")
        edge_s, edge_e = self._interp(s_ms), self._interp(e_ms)
        # fmax/fmin skip the NaN that marks intervals without an inner breakpoint.
        high = np.fmax(
            np.maximum(edge_s, edge_e), _reduce_ranges(np.maximum, self._bp_p, lo_i, hi_i, np.nan)
        )
        low = np.fmin(
            np.minimum(edge_s, edge_e), _reduce_ranges(np.minimum, self._bp_p, lo_i, hi_i, np.nan)
        )
        return low, high

    def _spread(self, per_candle: FloatArray, s_ms: IntArray, e_ms: IntArray) -> FloatArray:
        """A per-candle quantity summed over each half-open [s, e), spread evenly in time.

        Whole base candles are summed as recorded rather than via a running total, so a
        candle of the base interval reports its recorded volume without rounding drift.
        """
        d = self._d * 1000
        first = self._first_s * 1000
        ia = (s_ms - first) // d
        ib = np.maximum((e_ms - 1 - first) // d, ia)
        same = ia == ib
        v = per_candle
        head = v[ia] * np.where(same, (e_ms - s_ms) / d, (first + (ia + 1) * d - s_ms) / d)
        tail = np.where(same, 0.0, v[ib] * ((e_ms - first - ib * d) / d))
        middle = _reduce_ranges(np.add, v, ia + 1, ib, 0.0)
        return np.asarray(np.maximum(head + middle + tail, 0.0), dtype=np.float64)


def _reduce_ranges(
    op: np.ufunc, arr: FloatArray, lo: IntArray, hi: IntArray, empty: float
) -> FloatArray:
    """``op`` reduced over ``arr[lo[k]:hi[k]]`` for every k, ``empty`` for empty ranges.

    One ``reduceat`` call instead of a Python loop: with indices interleaved as
    [lo0, hi0, lo1, hi1, ...] the even slots are exactly the wanted ranges; the odd
    slots (and any slot of an empty range) are discarded.
    """
    if len(lo) == 0:
        return np.empty(0, dtype=np.float64)
    base = int(lo.min())
    top = max(int(hi.max()), base)
    window = np.append(arr[base:top], empty)  # the sentinel keeps every index in range
    idx = np.clip(np.stack([lo, hi], axis=1).ravel() - base, 0, len(window) - 1)
    out = op.reduceat(window, idx)[::2]
    return np.asarray(np.where(hi > lo, out, empty), dtype=np.float64)
