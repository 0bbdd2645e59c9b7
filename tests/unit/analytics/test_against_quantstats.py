"""The textbook metrics equal quantstats' own on the same daily returns.

quantstats cannot live in Freqtrade's environment (it brings yfinance, matplotlib,
seaborn and a newer pandas), so it runs in a venv of its own: ``.venv-qs`` at the
repository's root (``.ci/run`` makes it: ``python3 -m venv .venv-qs && .venv-qs/bin/pip
install quantstats``), or the interpreter in BULKHEAD_QUANTSTATS_PYTHON. Skipped where
there is none, unless BULKHEAD_REQUIRE_QUANTSTATS=1 (CI), where that is a failure."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import numpy as np
import pytest

from bulkhead.analytics.metrics import compute, daily_returns
from bulkhead.analytics.trades import DAY_MS, Trades

ROOT = Path(__file__).resolve().parents[3]
T0 = 1_795_824_000_000  # a UTC midnight
SCRIPT = """
import json, sys
import pandas as pd
import quantstats as qs
out = []
for returns in json.load(open(sys.argv[1])):
    r = pd.Series(returns, index=pd.date_range("2026-11-28", periods=len(returns)))
    out.append({
        "sharpe": float(qs.stats.sharpe(r, periods=365)),
        "sortino": float(qs.stats.sortino(r, periods=365)),
        "max_drawdown": float(qs.stats.max_drawdown(r)),
    })
json.dump(out, sys.stdout)
"""


def _quantstats() -> str:
    given = os.environ.get("BULKHEAD_QUANTSTATS_PYTHON")
    python = Path(given) if given else ROOT / ".venv-qs" / "bin" / "python"
    if not python.exists():
        if os.environ.get("BULKHEAD_REQUIRE_QUANTSTATS") == "1":
            pytest.fail(f"quantstats is required here but {python} does not exist")
        pytest.skip(f"no quantstats venv at {python} (python3 -m venv .venv-qs; pip install)")
    return str(python)


def test_sharpe_sortino_and_drawdown_equal_quantstats(tmp_path: Path) -> None:
    python = _quantstats()
    histories = []
    ours = []
    for seed in range(12):
        rng = np.random.default_rng(seed)
        n = int(rng.integers(3, 40))
        pnl = rng.normal(0.3, 2.0, n)  # one trade a day: daily equity = trade equity
        opens = T0 + np.arange(n) * DAY_MS + 3_600_000
        trades = Trades.from_arrays(pnl=pnl, stake=np.full(n, 50.0), open_ms=opens,
                                    close_ms=opens + 60_000)  # fmt: skip
        histories.append(daily_returns(trades, 100.0).tolist())
        ours.append(compute(trades, 100.0))
    (tmp_path / "returns.json").write_text(json.dumps(histories))
    done = subprocess.run(
        [python, "-c", SCRIPT, str(tmp_path / "returns.json")],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    theirs = json.loads(done.stdout)

    for mine, qs in zip(ours, theirs, strict=True):
        if np.isfinite(qs["sharpe"]) and mine.sharpe is not None:
            assert mine.sharpe == pytest.approx(qs["sharpe"], rel=1e-6)
        if np.isfinite(qs["sortino"]) and mine.sortino is not None:
            assert mine.sortino == pytest.approx(qs["sortino"], rel=1e-6)
        assert mine.max_drawdown == pytest.approx(-qs["max_drawdown"], abs=1e-9)
    assert sum(m.sharpe is not None for m in ours) >= 10  # the comparison was made
