"""A bot's closed trades as columns: the one shape every metric and breakdown reads.

Metrics over a million trades must take well under a second (``bench/analytics.py``), so
trades are held as numpy arrays, and text columns (pair, entry tag, exit reason) as integer
codes into a small table of names, which turns every breakdown into a ``bincount``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from bulkhead.memory.records import TradeRecord

DAY_MS = 86_400_000
UNKNOWN_REGIME = "unknown"


@dataclass(frozen=True)
class Codes:
    """A text column: ``codes[i]`` indexes ``names``."""

    codes: np.ndarray
    names: tuple[str, ...]

    @classmethod
    def of(cls, values: Sequence[str]) -> Codes:
        names, codes = np.unique(np.asarray(values, dtype=object).astype(str), return_inverse=True)
        return cls(codes.astype(np.int64), tuple(str(n) for n in names))

    def take(self, mask: np.ndarray) -> Codes:
        return Codes(self.codes[mask], self.names)


@dataclass(frozen=True)
class Trades:
    """Closed trades, oldest close first. Amounts in the stake currency, net of fees."""

    pnl: np.ndarray  # realized profit, fees included
    ratio: np.ndarray  # realized profit / stake
    stake: np.ndarray
    fees: np.ndarray  # open + close fees
    open_ms: np.ndarray
    close_ms: np.ndarray
    pair: Codes
    tag: Codes
    exit: Codes
    #: the volatility regime at entry, as the risk guard saw it ("unknown" where none)
    regime: Codes

    def __len__(self) -> int:
        return int(self.pnl.shape[0])

    @classmethod
    def from_arrays(
        cls,
        *,
        pnl: Sequence[float] | np.ndarray,
        stake: Sequence[float] | np.ndarray,
        open_ms: Sequence[int] | np.ndarray,
        close_ms: Sequence[int] | np.ndarray,
        fees: Sequence[float] | np.ndarray | None = None,
        pair: Codes | Sequence[str] | None = None,
        tag: Codes | Sequence[str] | None = None,
        exit_reason: Codes | Sequence[str] | None = None,
        regime: Codes | Sequence[str] | None = None,
    ) -> Trades:
        pnl_a = np.asarray(pnl, dtype=float)
        n = pnl_a.shape[0]
        stake_a = np.asarray(stake, dtype=float)
        close_a = np.asarray(close_ms, dtype=np.int64)
        order = np.argsort(close_a, kind="stable")

        def codes(column: Codes | Sequence[str] | None, missing: str = "") -> Codes:
            if column is None:
                return Codes(np.zeros(n, dtype=np.int64), (missing,))
            built = column if isinstance(column, Codes) else Codes.of(column)
            return Codes(built.codes[order], built.names)

        with np.errstate(divide="ignore", invalid="ignore"):
            ratio = np.where(stake_a > 0, pnl_a / stake_a, 0.0)
        return cls(
            pnl=pnl_a[order],
            ratio=ratio[order],
            stake=stake_a[order],
            fees=(np.zeros(n) if fees is None else np.asarray(fees, dtype=float))[order],
            open_ms=np.asarray(open_ms, dtype=np.int64)[order],
            close_ms=close_a[order],
            pair=codes(pair),
            tag=codes(tag),
            exit=codes(exit_reason),
            regime=codes(regime, UNKNOWN_REGIME),
        )

    @classmethod
    def from_records(
        cls, records: Iterable[TradeRecord], regimes: Mapping[int, str] | None = None
    ) -> Trades:
        """The closed trades among ``records`` (open ones have no result yet), with their
        regime at entry from ``regimes`` (by trade id) where known."""
        closed = [r for r in records if not r.is_open and r.close_time_ms is not None]
        known = regimes or {}
        return cls.from_arrays(
            pnl=[r.realized_pnl or 0.0 for r in closed],
            stake=[r.stake_amount for r in closed],
            open_ms=[r.open_time_ms for r in closed],
            close_ms=[r.close_time_ms or 0 for r in closed],
            fees=[r.fee_open_cost + (r.fee_close_cost or 0.0) for r in closed],
            pair=[r.pair for r in closed],
            tag=[r.entry_tag or "" for r in closed],
            exit_reason=[r.exit_reason or "" for r in closed],
            regime=[known.get(r.trade_id, UNKNOWN_REGIME) for r in closed],
        )

    def since(self, start_ms: int) -> Trades:
        """The trades closed at or after ``start_ms``."""
        return self.within(start_ms, None)

    def within(self, start_ms: int | None, end_ms: int | None) -> Trades:
        """The trades closed in [start_ms, end_ms) (either bound may be open)."""
        mask = np.ones(len(self), dtype=bool)
        if start_ms is not None:
            mask &= self.close_ms >= start_ms
        if end_ms is not None:
            mask &= self.close_ms < end_ms
        return Trades(
            self.pnl[mask],
            self.ratio[mask],
            self.stake[mask],
            self.fees[mask],
            self.open_ms[mask],
            self.close_ms[mask],
            self.pair.take(mask),
            self.tag.take(mask),
            self.exit.take(mask),
            self.regime.take(mask),
        )
