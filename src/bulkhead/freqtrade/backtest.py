"""``bulkhead backtest``: Freqtrade's own backtesting of a bot exactly as it would run.

The bot's config is rendered by the same code the supervisor uses (the same strategy
stack, params, budget, stake, stop-loss and protections, which a backtest only applies
when ``enable_protections`` is set, as the rendered config does), into the bot's
``backtest/`` folder beside its live files, so a backtest never touches a running bot's
config, strategy module or logs. Only the REST API section goes: it is the live bot's,
and its secrets reach a live Freqtrade through its environment alone. Running
``freqtrade backtesting --config .bulkhead/bots/<bot>/backtest/config.json`` by hand
gives the same trades.

Freqtrade runs as a child process; its JSON log lines are read as they come to report
progress (the phase it is in, the trades so far), its report (stdout) is kept, and the
result file it exports is summarised.
"""

from __future__ import annotations

import json
import os
import queue
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bulkhead.config.workspace import BotPaths
from bulkhead.freqtrade.loading import quoted
from bulkhead.freqtrade.stack import Stack

#: how often progress is reported while Freqtrade says nothing
TICK_S = 0.5
#: a Freqtrade log message starting with the key means it entered the phase
PHASES = {
    "Using fee": "loading markets",
    "Loading data from": "loading candles",
    "Dataload complete": "calculating indicators",
    "Running backtesting for Strategy": "starting the strategy",
    "Backtesting with data from": "simulating trades",
    "dumping json to": "writing results",
}
#: what a failure to reach the exchange looks like in Freqtrade's log
NO_MARKETS = ("Could not load markets", "Error in reload_markets")


def backtest_paths(paths: BotPaths) -> BotPaths:
    """The bot's backtest files: a workspace of their own inside the bot's folder."""
    return BotPaths(paths.root / "backtest")


def backtest_config(stack: Stack, paths: BotPaths) -> dict[str, Any]:
    """The bot's rendered config (its strategy files written) without the REST API."""
    config = stack.render(paths)
    config.pop("api_server", None)
    return config


def results_dir(paths: BotPaths) -> Path:
    """Where Freqtrade exports results for this config (its default, under user_data)."""
    return paths.user_data / "backtest_results"


def backtest_command(config: Path, timerange: str | None) -> list[str]:
    """``freqtrade backtesting`` on ``config``, always run afresh (no result cache)."""
    command = [sys.executable, "-m", "freqtrade", "backtesting", "--config", str(config)]
    command += ["--cache", "none"]
    if timerange:
        command += ["--timerange", timerange]
    return command


@dataclass(frozen=True)
class Progress:
    """Where a running Freqtrade is, for a progress line."""

    phase: str
    elapsed_s: float
    #: trades entered so far (simulated entry fills)
    trades: int


@dataclass
class Outcome:
    """How a Freqtrade command ended."""

    returncode: int
    #: Freqtrade's own output (the backtesting report)
    report: str
    #: one line saying why it failed (None when it did not)
    problem: str | None = None
    errors: list[str] = field(default_factory=list)
    #: the risk guard's decisions in the run: (decision, reason code) -> count
    guard: Counter[tuple[str, str]] = field(default_factory=Counter)

    @property
    def ok(self) -> bool:
        return self.returncode == 0


def _message(line: str) -> tuple[str, dict[str, Any]]:
    """(message, the whole entry) of one stderr line: JSON log, or Freqtrade's plain log."""
    try:
        entry = json.loads(line)
    except ValueError:
        return line.split(" - ", 3)[-1].strip(), {}
    if not isinstance(entry, dict):
        return line.strip(), {}
    return str(entry.get("event", "")), entry


def _lines(stream: Any, into: queue.Queue[str | None]) -> None:
    for raw in iter(stream.readline, b""):
        into.put(raw.decode(errors="replace").rstrip("\n"))
    into.put(None)


def child_environment(environ: dict[str, str] | None = None) -> dict[str, str]:
    """Ours, minus FREQTRADE__ overrides (the rendered config must be all there is)."""
    source = os.environ if environ is None else environ
    return {k: v for k, v in source.items() if not k.startswith("FREQTRADE__")}


def run_freqtrade(
    command: list[str],
    on_progress: Callable[[Progress], None],
    *,
    cwd: Path,
    report: Path,
    columns: int = 160,
) -> Outcome:
    """Run a Freqtrade command, calling ``on_progress`` as it goes (at least every
    ``TICK_S``); its stdout is kept in ``report``."""
    started = time.monotonic()
    phase, trades, errors = "starting Freqtrade", 0, []
    guard: Counter[tuple[str, str]] = Counter()
    report.parent.mkdir(parents=True, exist_ok=True)
    env = child_environment() | {"COLUMNS": str(columns)}
    with report.open("wb") as stdout:
        child = subprocess.Popen(  # noqa: S603 - our own interpreter and arguments
            command, cwd=cwd, stdout=stdout, stderr=subprocess.PIPE, env=env
        )
        lines: queue.Queue[str | None] = queue.Queue()
        reader = threading.Thread(target=_lines, args=(child.stderr, lines), daemon=True)
        reader.start()
        for line in _drain(lines):
            if line is not None:
                message, entry = _message(line)
                phase = next((p for k, p in PHASES.items() if message.startswith(k)), phase)
                if message == "order_filled" and entry.get("side") == "buy":
                    trades += 1
                if message in ("guard_decision", "guard_alert"):
                    guard[_guard_key(message, entry)] += 1
                if entry.get("level") in ("error", "critical") or " - ERROR - " in line:
                    errors.append(message)
            on_progress(Progress(phase, time.monotonic() - started, trades))
        code = child.wait()
    text = report.read_text(errors="replace")
    outcome = Outcome(code, text, errors=errors, guard=guard)
    if code != 0:
        outcome.problem = _problem(errors, code)
    return outcome


def _guard_key(message: str, entry: dict[str, Any]) -> tuple[str, str]:
    """How a guard decision is tallied: what it did, and its first reason code."""
    decision = "alert" if message == "guard_alert" else str(entry.get("decision", ""))
    if decision == "allow" and entry.get("rule") != "entry":
        decision = "recovered"  # a rule's own all-clear, such as DRAWDOWN_RECOVERED
    reason = str(entry.get("reason", ""))
    return decision, (reason.split()[0] if reason and decision != "allow" else "")


def _drain(lines: queue.Queue[str | None]) -> Iterator[str | None]:
    """Each line as it comes, and None every ``TICK_S`` of silence, until the end."""
    while True:
        try:
            line = lines.get(timeout=TICK_S)
        except queue.Empty:
            yield None
            continue
        if line is None:
            return
        yield line


def _problem(errors: list[str], code: int) -> str:
    text = " ".join(errors)
    if any(sign in text for sign in NO_MARKETS):
        return (
            "Freqtrade could not load the exchange's markets (a backtest needs their "
            "precision and minimums): is the exchange, or the twin, reachable?"
        )
    last = next((e for e in reversed(errors) if e.strip()), "")
    first_line = last.strip().splitlines()[0] if last.strip() else f"exit code {code}"
    return quoted(first_line, 300)


@dataclass(frozen=True)
class Summary:
    """The numbers of one backtest, for a one-screen summary."""

    strategy: str
    start: str
    end: str
    days: int
    trades: int
    wins: int
    draws: int
    losses: int
    starting_balance: float
    final_balance: float
    profit_abs: float
    profit_ratio: float
    max_drawdown_ratio: float
    market_change: float
    currency: str
    exit_reasons: dict[str, int]
    locks: int
    pairs: dict[str, tuple[int, float]]
    result_file: Path


def latest_result(folder: Path) -> Path:
    """The newest result file Freqtrade exported into ``folder``."""
    from freqtrade.data.btanalysis import get_latest_backtest_filename

    return folder / str(get_latest_backtest_filename(folder))


def summarize(result_file: Path) -> Summary:
    from freqtrade.data.btanalysis import load_backtest_stats

    stats = load_backtest_stats(result_file)
    (name, run), *_ = stats["strategy"].items()
    return Summary(
        strategy=name,
        start=str(run["backtest_start"]),
        end=str(run["backtest_end"]),
        days=int(run.get("backtest_days", 0)),
        trades=int(run["total_trades"]),
        wins=int(run["wins"]),
        draws=int(run["draws"]),
        losses=int(run["losses"]),
        starting_balance=float(run["starting_balance"]),
        final_balance=float(run["final_balance"]),
        profit_abs=float(run["profit_total_abs"]),
        profit_ratio=float(run["profit_total"]),
        max_drawdown_ratio=float(run.get("max_relative_drawdown", 0.0)),
        market_change=float(run.get("market_change", 0.0)),
        currency=str(run["stake_currency"]),
        exit_reasons={
            str(r["key"]): int(r["trades"])
            for r in run.get("exit_reason_summary", [])
            if r["key"] != "TOTAL"
        },
        locks=len(run.get("locks", [])),
        pairs={
            str(r["key"]): (int(r["trades"]), float(r["profit_total_abs"]))
            for r in run.get("results_per_pair", [])
            if r["key"] != "TOTAL"
        },
        result_file=result_file,
    )
