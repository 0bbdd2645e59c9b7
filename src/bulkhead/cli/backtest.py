"""``bulkhead backtest BOT``: Freqtrade's backtesting of the bot exactly as it would run."""

from __future__ import annotations

import sys
from collections import Counter
from pathlib import Path
from typing import Annotated

import typer

from bulkhead.cli.bots import BotArgument, describe_stack, strategy_stack
from bulkhead.cli.common import DEFAULT_SPEC, SpecOption, fail, load, select, workspace
from bulkhead.config.models import Bot
from bulkhead.freqtrade.backtest import (
    Outcome,
    Progress,
    Summary,
    backtest_command,
    backtest_config,
    backtest_paths,
    latest_result,
    results_dir,
    run_freqtrade,
    summarize,
)
from bulkhead.freqtrade.candles import (
    RECORDINGS_DIR,
    download_command,
    place_recordings,
    recordings,
)
from bulkhead.freqtrade.config import write_private

TimerangeOption = Annotated[
    str | None,
    typer.Option(help="Freqtrade's timerange, e.g. 20211116-20211120 (default: all candles)."),
]


class ProgressLine:
    """Progress on stderr: one line rewritten in place on a terminal, else a line per phase."""

    def __init__(self, what: str) -> None:
        self.what = what
        self.live = sys.stderr.isatty()
        self.phase = ""

    def __call__(self, progress: Progress) -> None:
        plural = "" if progress.trades == 1 else "s"
        trades = f", {progress.trades} trade{plural}" if progress.trades else ""
        line = f"{self.what}: {progress.phase}{trades} ({progress.elapsed_s:.0f} s)"
        if self.live:
            typer.echo(f"\r\033[K{line}", err=True, nl=False)
        elif progress.phase != self.phase:
            typer.echo(line, err=True)
        self.phase = progress.phase

    def done(self) -> None:
        if self.live:
            typer.echo("", err=True)


def _run(command: list[str], what: str, cwd: Path, report: Path) -> Outcome:
    progress = ProgressLine(what)
    try:
        return run_freqtrade(command, progress, cwd=cwd, report=report)
    finally:
        progress.done()


def _candles(bot: Bot, datadir: Path, source: Path) -> None:
    placed = place_recordings(list(bot.pairs), bot.timeframe, datadir, source)
    for entry in placed:
        typer.echo(f"  {entry.pair} {bot.timeframe}: {entry.origin}")
    missing = [entry.pair for entry in placed if entry.missing]
    if missing:
        known = ", ".join(f"{pair} {tf}" for pair, tf in recordings(source)) or "none"
        raise fail(
            f"no {bot.timeframe} candles for {', '.join(missing)} (recordings in {source}: "
            f"{known}); add --download to fetch them with freqtrade download-data"
        )


#: how each kind of guard decision is named in the summary
GUARD_KINDS = {
    "state": "state changes",
    "deny": "entries denied",
    "scale": "stakes cut",
    "alert": "alerts",
    "recovered": "recoveries",
}


def guard_line(bot: Bot, tally: Counter[tuple[str, str]]) -> str:
    """How often each of the risk guard's rules fired in the backtest, on one line."""
    if not bot.risk.guard.enabled:
        return "  risk guard  off (risk.guard.enabled: false)"
    allowed = sum(n for (decision, _), n in tally.items() if decision == "allow")
    parts = []
    for kind, label in GUARD_KINDS.items():
        codes = Counter({code: n for (decision, code), n in tally.items() if decision == kind})
        if codes:
            detail = ", ".join(f"{code or '?'} {n}" for code, n in codes.most_common())
            parts.append(f"{sum(codes.values())} {label} ({detail})")
    fired = "; ".join(parts) if parts else "no rule fired"
    return f"  risk guard  {allowed} entries allowed; {fired}"


def summary_lines(bot: Bot, summary: Summary, config: Path) -> list[str]:
    """The backtest on one screen."""
    percent = f"{summary.profit_ratio:+.2%}"
    exits = ", ".join(f"{reason} {count}" for reason, count in summary.exit_reasons.items())
    pairs = "; ".join(
        f"{pair} {count} trade{'' if count == 1 else 's'} {profit:+.2f}"
        for pair, (count, profit) in summary.pairs.items()
    )
    lines = [
        f"{bot.name}: {summary.strategy} on {', '.join(bot.pairs)}, {bot.timeframe} candles, "
        f"{summary.start} -> {summary.end} ({summary.days} days)",
        f"  trades      {summary.trades}: {summary.wins} won, {summary.draws} even, "
        f"{summary.losses} lost" + (f"; exits: {exits}" if exits else ""),
        f"  profit      {summary.profit_abs:+.2f} {summary.currency} ({percent}): "
        f"{summary.starting_balance:g} -> {summary.final_balance:.2f} {summary.currency}, "
        f"max drawdown {summary.max_drawdown_ratio:.2%}",
        f"  market      {summary.market_change:+.2%} over the same candles",
    ]
    if pairs:
        lines.append(f"  per pair    {pairs}")
    if summary.locks:
        times = "once" if summary.locks == 1 else f"{summary.locks} times"
        lines.append(f"  protections locked trading {times}")
    lines += [
        f"  results     {summary.result_file}",
        f"  by hand     freqtrade backtesting --config {config}",
    ]
    return lines


def backtest(
    bot: BotArgument,
    spec: SpecOption = DEFAULT_SPEC,
    timerange: TimerangeOption = None,
    download: Annotated[
        bool, typer.Option(help="Fetch candles with freqtrade download-data first.")
    ] = False,
    recorded: Annotated[
        Path, typer.Option("--recordings", help="Folder of recorded candles to use.")
    ] = RECORDINGS_DIR,
) -> None:
    """Backtest BOT with Freqtrade, exactly as it would run.

    Same strategy stack, params, budget, stake, stop-loss and protections. Candles come
    from the bundled recordings (resampled to the bot's timeframe when needed) or, with
    --download, from the exchange.

    Prints Freqtrade's report and a one-screen summary; the files are in
    .bulkhead/bots/BOT/backtest/, whose config.json Freqtrade can be run on by hand.
    """
    fleet = load(spec)
    chosen = select(fleet, bot)[0]
    stack = strategy_stack(spec, fleet, chosen)
    paths = backtest_paths(workspace(spec).bot(chosen.name))
    config = backtest_config(stack, paths)
    write_private(paths.config, config)
    typer.echo(f"backtest {chosen.name}: {describe_stack(stack)}")
    typer.echo(
        f"  budget {chosen.budget.amount} {chosen.budget.currency}, stake "
        f"{config['stake_amount']} x {config['max_open_trades']}, stoploss {config['stoploss']}, "
        f"protections: {', '.join(p['method'] for p in config['bulkhead']['protections']) or '-'}"
    )
    if download:
        fetched = _run(
            download_command(paths.config, chosen.timeframe, timerange),
            "downloading candles",
            paths.root,
            paths.root / "download.txt",
        )
        if not fetched.ok:
            raise fail(f"download failed: {fetched.problem}", 1)
    else:
        _candles(chosen, Path(config["datadir"]), recorded)
    outcome = _run(
        backtest_command(paths.config, timerange),
        "backtesting",
        paths.root,
        paths.root / "report.txt",
    )
    if not outcome.ok:
        raise fail(f"backtest failed: {outcome.problem}", 1)
    typer.echo(outcome.report.rstrip())
    typer.echo("")
    for line in summary_lines(chosen, summarize(latest_result(results_dir(paths))), paths.config):
        typer.echo(line)
    typer.echo(guard_line(chosen, outcome.guard))


def register(app: typer.Typer) -> None:
    app.command()(backtest)
