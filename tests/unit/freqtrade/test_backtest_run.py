"""A Freqtrade run reports its progress from its log as it goes, keeps its report, and fails
in one line; here with a stand-in that logs as Freqtrade does (the real run is in e2e)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from bulkhead.freqtrade.backtest import Outcome, Progress, backtest_command, run_freqtrade

STANDIN = """
import json, sys, time
def log(event, level="info", **fields):
    print(json.dumps({"level": level, "event": event, **fields}), file=sys.stderr, flush=True)
log("Using fee 0.1000%")
log("Loading data from 2021-11-15 up to 2021-11-21")
log("Dataload complete. Calculating indicators")
time.sleep(0.7)
log("Backtesting with data from 2021-11-15")
log("order_filled", side="buy")
log("order_filled", side="sell")
log("order_filled", side="buy")
print("2021-11-15 - freqtrade - INFO - a plain line", file=sys.stderr, flush=True)
print("BACKTESTING REPORT")
for line in sys.argv[1:]:
    log(line, level="error")
sys.exit(1 if len(sys.argv) > 1 else 0)
"""


def run(tmp_path: Path, *errors: str) -> tuple[list[Progress], Outcome]:
    seen: list[Progress] = []
    outcome = run_freqtrade(
        [sys.executable, "-c", STANDIN, *errors],
        seen.append,
        cwd=tmp_path,
        report=tmp_path / "report.txt",
    )
    return seen, outcome


def test_progress_follows_freqtrades_phases_and_counts_trades_entered(tmp_path: Path):
    seen, outcome = run(tmp_path)

    phases = list(dict.fromkeys(p.phase for p in seen))
    assert phases == [
        "loading markets",
        "loading candles",
        "calculating indicators",
        "simulating trades",
    ]
    assert seen[-1].trades == 2
    # Silence is reported too, so a progress line keeps ticking.
    assert [p for p in seen if p.phase == "calculating indicators"][-1].elapsed_s >= 0.5
    assert outcome.ok
    assert outcome.report == "BACKTESTING REPORT\n"
    assert (tmp_path / "report.txt").read_text() == "BACKTESTING REPORT\n"


def test_a_failed_run_is_one_line_with_freqtrades_last_error(tmp_path: Path):
    _, outcome = run(tmp_path, "first", "No data found.\nTerminating.")

    assert not outcome.ok
    assert outcome.problem == "No data found."


def test_unreachable_markets_are_told_as_such(tmp_path: Path):
    _, outcome = run(tmp_path, "Could not load markets, therefore cannot start.")

    assert str(outcome.problem).startswith("Freqtrade could not load the exchange's markets")


def test_the_backtest_is_freqtrades_on_the_rendered_config_never_from_its_cache(tmp_path: Path):
    command = backtest_command(tmp_path / "config.json", "20211116-20211120")

    assert command[1:] == [
        "-m",
        "freqtrade",
        "backtesting",
        "--config",
        str(tmp_path / "config.json"),
        "--cache",
        "none",
        "--timerange",
        "20211116-20211120",
    ]
    assert json.dumps(command)  # plain strings only
