"""What separates winning from losing trades: for each value of each feature (pair, entry
tag, exit reason, hour, weekday, holding time), how its trades' mean return differs from
all the others', with the sample size and a 95 % confidence interval, ranked.

The interval is Welch's (unequal variances) on the difference of mean returns. A normal
quantile (1.96) stands in for Student's t, since no group with fewer than ``min_trades``
trades is reported at all. A pattern is reported only when its interval excludes 0: a
difference the data cannot tell from chance is not a pattern. A finding says it in plain
words:
"XRP/USDT entries lost 1.80 % on average over 23 trades (others +0.20 %); difference 95 % CI
-2.90 to -0.70 %".
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from bulkhead.analytics.metrics import HOURS, WEEKDAYS
from bulkhead.analytics.trades import DAY_MS, Trades

#: below this many trades in a group (or among the others), nothing is said about it
MIN_TRADES = 20
Z95 = 1.959963984540054
HOLDING = ("<15 min", "15-60 min", "1-4 h", "4-24 h", ">1 day")
_HOLDING_EDGES_MS = np.array([15 * 60_000, 3_600_000, 4 * 3_600_000, DAY_MS])


@dataclass(frozen=True)
class Pattern:
    feature: str
    value: str
    trades: int
    mean: float  # mean return (ratio) of the group's trades
    others_mean: float
    difference: float
    low: float  # 95 % CI of the difference
    high: float

    @property
    def text(self) -> str:
        verb = "gained" if self.mean >= 0 else "lost"
        subject = _subject(self.feature, self.value)
        return (
            f"{subject} {verb} {abs(self.mean):.2%} on average over {self.trades} trades "
            f"(others {self.others_mean:+.2%}); difference 95 % CI "
            f"{self.low:+.2%} to {self.high:+.2%}"
        )


def _subject(feature: str, value: str) -> str:
    return {
        "pair": f"{value} entries",
        "entry_tag": f"entries tagged {value!r}",
        "exit_reason": f"trades closed by {value}",
        "hour": f"entries at {value}:00 UTC",
        "weekday": f"entries on {value}",
        "holding": f"trades held {value}",
        "regime": f"entries in the {value}-volatility regime",
    }.get(feature, f"{feature}={value}")


def _features(trades: Trades) -> dict[str, tuple[np.ndarray, tuple[str, ...]]]:
    held = trades.close_ms - trades.open_ms
    return {
        "pair": (trades.pair.codes, trades.pair.names),
        "entry_tag": (trades.tag.codes, trades.tag.names),
        "exit_reason": (trades.exit.codes, trades.exit.names),
        "hour": (((trades.open_ms // 3_600_000) % 24).astype(np.int64), HOURS),
        "weekday": (((trades.open_ms // DAY_MS + 3) % 7).astype(np.int64), WEEKDAYS),
        "holding": (np.searchsorted(_HOLDING_EDGES_MS, held, side="right"), HOLDING),
        "regime": (trades.regime.codes, trades.regime.names),
    }


def patterns(trades: Trades, min_trades: int = MIN_TRADES) -> list[Pattern]:
    """Every group whose mean return differs from the rest's beyond chance, the largest
    (most certain) difference first."""
    found: list[Pattern] = []
    x = trades.ratio
    n_all = x.size
    if n_all < 2 * min_trades:
        return found
    total, total_sq = float(x.sum()), float((x * x).sum())
    for feature, (codes, names) in _features(trades).items():
        size = len(names)
        n = np.bincount(codes, minlength=size)
        s = np.bincount(codes, weights=x, minlength=size)
        sq = np.bincount(codes, weights=x * x, minlength=size)
        for i in np.flatnonzero((n >= min_trades) & (n_all - n >= min_trades)):
            group = (int(n[i]), float(s[i]), float(sq[i]))
            rest = (n_all - group[0], total - group[1], total_sq - group[2])
            found += _compare(feature, names[i], *group, *rest)
    return sorted(found, key=lambda p: -min(abs(p.low), abs(p.high)))


def _compare(
    feature: str, value: str, n1: int, s1: float, sq1: float, n2: int, s2: float, sq2: float
) -> list[Pattern]:
    mean1, mean2 = s1 / n1, s2 / n2
    var1 = max(0.0, (sq1 - n1 * mean1 * mean1) / (n1 - 1))
    var2 = max(0.0, (sq2 - n2 * mean2 * mean2) / (n2 - 1))
    se = math.sqrt(var1 / n1 + var2 / n2)
    difference = mean1 - mean2
    low, high = difference - Z95 * se, difference + Z95 * se
    if low <= 0 <= high:
        return []
    return [Pattern(feature, value, n1, mean1, mean2, difference, low, high)]
