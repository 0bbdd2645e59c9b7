"""Walk-forward: the same strategy on the bundled recording, with and without decisions
informed by its own history (the guard's insights), both results reported, whichever wins.

The insights read only trades closed before each candle (Freqtrade's backtest hands the
guard the trades closed so far), so each decision uses the past only: walking forward
by construction. The numbers printed here are the README's (Reports: walk-forward).
"""

from __future__ import annotations

import json
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import botkit
import pytest
import yaml
from freqtrade.data.btanalysis import load_backtest_stats

from bulkhead.sim.server import TwinServer, prepare

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
SPEC_EXAMPLE = ROOT / "examples" / "bulkhead.yaml"
SCENARIO = ROOT / "examples" / "sim.yaml"
BOT = "bot1"
STRATEGY = textwrap.dedent(
    """
    from freqtrade.strategy import IStrategy


    class Churner(IStrategy):
        \"\"\"In on any dip below the 12-candle mean, out at +0.4 % or -1 %: many trades,
        some streaks of losers, the material insights learn from.\"\"\"

        INTERFACE_VERSION = 3
        timeframe = "5m"
        minimal_roi = {"0": 0.004}
        stoploss = -0.01
        startup_candle_count = 20

        def populate_indicators(self, dataframe, metadata):
            dataframe["mean"] = dataframe["close"].rolling(12).mean()
            return dataframe

        def populate_entry_trend(self, dataframe, metadata):
            dataframe["enter_long"] = (dataframe["close"] < dataframe["mean"] * 0.998).astype(int)
            return dataframe

        def populate_exit_trend(self, dataframe, metadata):
            dataframe["exit_long"] = 0
            return dataframe
    """
)
INSIGHTS = {"min_trades": 10, "recent_trades": 10, "pause_hours": 12, "every_minutes": 60}


def _spec(folder: Path, twin_url: str, insights_on: bool) -> Path:
    document = yaml.safe_load(SPEC_EXAMPLE.read_text())
    (bot,) = document["bots"]
    bot["exchange"] = {"target": twin_url}
    bot["pairs"] = ["XRP/USDT"]
    bot["timeframe"] = "5m"
    bot["strategy"] = {"file": "churner.py", "class": "Churner"}
    # the loss limits wide open: the comparison is about the insights alone
    limits = {"max_drawdown": 0.9, "daily_loss": 1.0, "weekly_loss": 1.0}
    bot["risk"] = {"guard": {**limits, "insights": {**INSIGHTS, "enabled": insights_on}}}
    folder.mkdir(parents=True)
    (folder / "churner.py").write_text(STRATEGY)
    spec = folder / "bulkhead.yaml"
    spec.write_text(yaml.safe_dump(document, sort_keys=False))
    return spec


def _result(stdout: str) -> dict[str, Any]:
    line = next(x for x in stdout.splitlines() if x.strip().startswith("results"))
    ((_, run),) = load_backtest_stats(Path(line.strip().removeprefix("results").strip()))[
        "strategy"
    ].items()
    found: dict[str, Any] = run
    return found


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    root = tmp_path_factory.mktemp("walk_forward")
    prepared = prepare(SCENARIO, credentials_out=root / "twin-creds.json")
    with TwinServer(prepared.twin) as server:
        done = {}
        for name, on in (("with_insights", True), ("without_insights", False)):
            spec = _spec(root / name, server.url, on)
            finished = botkit.cli(spec, "backtest", BOT, timeout=300)
            assert finished.returncode == 0, botkit.shown(finished)
            done[name] = finished
        yield done


def test_both_runs_are_reported_and_the_insights_decided_only_in_theirs(
    runs: dict[str, Any],
) -> None:
    results = {name: _result(done.stdout) for name, done in runs.items()}
    shown = {
        name: {
            "trades": run["total_trades"],
            "profit_total_abs": round(run["profit_total_abs"], 4),
            "profit_total": round(run["profit_total"], 6),
            "max_drawdown_account": round(run["max_drawdown_account"], 6),
            "winrate": round(run["winrate"], 4),
        }
        for name, run in results.items()
    }
    print("walk-forward:", json.dumps(shown, indent=2))
    guard_lines = {
        name: next(x for x in done.stdout.splitlines() if x.startswith("  risk guard  "))
        for name, done in runs.items()
    }
    print("\n".join(f"{name}: {line.strip()}" for name, line in guard_lines.items()))

    assert results["without_insights"]["total_trades"] > 0
    assert "INSIGHT_" not in guard_lines["without_insights"]
    with_insights = guard_lines["with_insights"]
    differ = shown["with_insights"] != shown["without_insights"]
    # a different result can only come from the insights' decisions, which say so
    assert not differ or "INSIGHT_" in with_insights, with_insights
