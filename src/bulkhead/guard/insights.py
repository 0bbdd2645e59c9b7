"""Insights: what the bot's own closed trades say, turned into decisions the guard takes.

- **pause a pair**: its trades lose reliably. Over at least ``min_trades``, the 95 %
  interval of its mean return (mean ± 1.96 sd / √n) lies below 0. The pair takes no
  entry for ``pause_hours``.
- **scale stakes down**: the last ``recent_trades`` trades (all pairs) lose reliably, by
  the same test. Stakes are multiplied by ``losing_stake_scale`` until they no longer do.
- **note a regime's effect**: the trades entered in one volatility regime win or lose
  reliably. This is noted with its evidence but not acted on: the volatility rule's own
  settings decide what each regime allows.

Each insight carries its evidence (trades, mean, interval), an id, and a plain sentence.
The guard cites the id in every decision it takes because of one. The live bot also
writes them into its memory (``MemoryStore.add_insight``), where `memory show` and reports
see them. Derived from Freqtrade's closed trades, so backtests (the walk-forward
comparison) take the same decisions on simulated time.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import numpy as np

from bulkhead.config.guard_rules import InsightRules

Z95 = 1.959963984540054


@dataclass(frozen=True)
class ClosedTrade:
    pair: str
    ratio: float  # realized profit / stake, fees included
    close: datetime
    regime: str = "unknown"  # the volatility regime it entered in


@dataclass(frozen=True)
class Insight:
    id: str
    kind: str  # pause_pair | scale_stakes
    text: str
    until: datetime | None
    pair: str = ""
    scale: float = 1.0
    evidence: dict[str, float | int | str] = field(default_factory=dict)


def _interval(ratios: np.ndarray) -> tuple[float, float, float]:
    mean = float(ratios.mean())
    sd = float(ratios.std(ddof=1)) if ratios.size > 1 else 0.0
    half = Z95 * sd / math.sqrt(ratios.size)
    return mean, mean - half, mean + half


def _id(*parts: object) -> str:
    return hashlib.sha256("|".join(str(p) for p in parts).encode()).hexdigest()[:10]


def derive(trades: Sequence[ClosedTrade], rules: InsightRules, now: datetime) -> list[Insight]:
    """The insights ``trades`` (oldest close first) support at ``now``."""
    found: list[Insight] = []
    if not trades:
        return found
    pairs = sorted({t.pair for t in trades})
    for pair in pairs:
        ratios = np.array([t.ratio for t in trades if t.pair == pair])
        if ratios.size < rules.min_trades:
            continue
        mean, low, high = _interval(ratios)
        if high < 0:
            last = max(t.close for t in trades if t.pair == pair)
            evidence: dict[str, float | int | str] = {
                "trades": int(ratios.size),
                "mean": round(mean, 6),
                "ci95_low": round(low, 6),
                "ci95_high": round(high, 6),
            }
            found.append(
                Insight(
                    id=_id("pause_pair", pair, ratios.size, last.isoformat()),
                    kind="pause_pair",
                    pair=pair,
                    until=now + timedelta(hours=rules.pause_hours),
                    text=(
                        f"{pair} lost {abs(mean):.2%} per trade over {ratios.size} trades "
                        f"(95 % CI {low:+.2%} to {high:+.2%}): no entries on it for "
                        f"{rules.pause_hours:g} h"
                    ),
                    evidence=evidence,
                )
            )
    found += _regime_effects(trades, rules)
    recent = np.array([t.ratio for t in trades[-rules.recent_trades :]])
    if recent.size >= rules.recent_trades:
        mean, low, high = _interval(recent)
        if high < 0:
            found.append(
                Insight(
                    id=_id("scale_stakes", len(trades), trades[-1].close.isoformat()),
                    kind="scale_stakes",
                    scale=rules.losing_stake_scale,
                    until=None,
                    text=(
                        f"the last {recent.size} trades lost {abs(mean):.2%} each on average "
                        f"(95 % CI {low:+.2%} to {high:+.2%}): stakes x "
                        f"{rules.losing_stake_scale:g} until they no longer do"
                    ),
                    evidence={
                        "trades": int(recent.size),
                        "mean": round(mean, 6),
                        "ci95_low": round(low, 6),
                        "ci95_high": round(high, 6),
                    },
                )
            )
    return found


def _regime_effects(trades: Sequence[ClosedTrade], rules: InsightRules) -> list[Insight]:
    """Regimes whose entries lose or win reliably: noted (with evidence), not acted on.
    Acting stays with the volatility rule's own scale and stop, which the operator sets."""
    noted = []
    for regime in sorted({t.regime for t in trades} - {"unknown"}):
        ratios = np.array([t.ratio for t in trades if t.regime == regime])
        if ratios.size < rules.min_trades:
            continue
        mean, low, high = _interval(ratios)
        if low <= 0 <= high:
            continue
        verb = "lost" if mean < 0 else "gained"
        noted.append(
            Insight(
                id=_id("regime_effect", regime, ratios.size, round(mean, 6)),
                kind="regime_effect",
                until=None,
                text=(
                    f"entries in the {regime}-volatility regime {verb} {abs(mean):.2%} on "
                    f"average over {ratios.size} trades (95 % CI {low:+.2%} to {high:+.2%})"
                ),
                evidence={
                    "regime": regime,
                    "trades": int(ratios.size),
                    "mean": round(mean, 6),
                    "ci95_low": round(low, 6),
                    "ci95_high": round(high, 6),
                },
            )
        )
    return noted
