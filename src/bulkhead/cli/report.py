"""``bulkhead report BOT... [--since ...] [--format table|json]``: how each bot is doing,
from its memory: the textbook metrics of ``analytics.metrics`` and the breakdowns.

Reads through the read-only operator user (``prepare_memory``), as ``memory show`` does.
"""

from __future__ import annotations

import json
import math
import re
import time
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated, Any

import typer

from bulkhead.cli.common import DEFAULT_SPEC, SpecOption, environ, fail, load, select, workspace

#: how many groups of each breakdown the table shows (JSON has them all)
TABLE_GROUPS = 5
SINCE_HELP = (
    "Only trades closed since: a date (2026-01-31, UTC) or an age (7d, 12h, 30m). "
    "Default: the whole history."
)
AGE = re.compile(r"^(\d{1,6})([dhm])$")


def parse_since(
    text: str | None, now: datetime | None = None, option: str = "--since"
) -> int | None:
    """``--since`` (or ``--until``) as epoch ms; ``None`` for no limit. A clear error for
    anything else."""
    if text is None:
        return None
    now = now or datetime.now(UTC)
    age = AGE.match(text.strip())
    if age:
        amount, unit = int(age.group(1)), age.group(2)
        delta = {"d": timedelta(days=amount), "h": timedelta(hours=amount)}.get(
            unit, timedelta(minutes=amount)
        )
        return int((now - delta).timestamp() * 1000)
    try:
        day = datetime.strptime(text.strip(), "%Y-%m-%d").replace(tzinfo=UTC)
    except ValueError:
        raise fail(
            f"{option} {text[:40]!r}: give a date (2026-01-31) or an age (7d, 12h, 30m)"
        ) from None
    return int(day.timestamp() * 1000)


def _shown(value: object, kind: str = "") -> str:
    if value is None:
        return "-"
    if isinstance(value, float) and math.isinf(value):
        return "∞"
    if kind == "%" and isinstance(value, float):
        return f"{value:.2%}"
    if isinstance(value, float):
        return f"{value:.2f}" if kind != "4" else f"{value:.4f}"
    return str(value)


def report_and_trades(
    bot_name: str,
    budget: float,
    records: list[Any],
    since_ms: int | None,
    pairs: Sequence[str] = (),
    candle_folders: Sequence[Path] = (),
    regimes: dict[int, str] | None = None,
    until_ms: int | None = None,
) -> tuple[dict[str, Any], Any]:
    """What the report says of one bot, and its closed trades (for the plots)."""
    from bulkhead.analytics.benchmarks import benchmarks
    from bulkhead.analytics.freqtrade_compat import freqtrade_numbers
    from bulkhead.analytics.metrics import breakdowns, compute
    from bulkhead.analytics.patterns import MIN_TRADES, patterns
    from bulkhead.analytics.trades import Trades

    trades = Trades.from_records(records, regimes).within(since_ms, until_ms)
    metrics = compute(trades, budget)
    groups = breakdowns(trades)
    held = []
    if len(trades) and budget > 0:
        start, end = int(trades.open_ms.min()), int(trades.close_ms.max())
        traded = list(dict.fromkeys([*pairs, *trades.pair.names]))
        held = benchmarks(
            traded, start, end, metrics.net_pnl / budget, candle_folders, trades.close_ms
        )
    data = {
        "bot": bot_name,
        "benchmarks": [
            {"pair": b.pair, "buy_and_hold": b.buy_and_hold, "excess": b.excess, "note": b.note}
            for b in held
        ],
        "since_ms": since_ms,
        "until_ms": until_ms,
        "definitions": "metrics: textbook (quantstats/empyrical, 365-day year); freqtrade: "
        "Freqtrade's own functions, as its backtest report; see README: Reports",
        "metrics": metrics.as_dict(),
        "freqtrade": freqtrade_numbers(trades, budget).as_dict(),
        "patterns": {
            "min_trades": MIN_TRADES,
            "found": [
                {
                    "feature": p.feature,
                    "value": p.value,
                    "trades": p.trades,
                    "mean": p.mean,
                    "others_mean": p.others_mean,
                    "difference": p.difference,
                    "ci95": [p.low, p.high],
                    "text": p.text,
                }
                for p in patterns(trades)
            ],
        },
        "breakdowns": {
            name: [
                {
                    "key": g.key,
                    "trades": g.trades,
                    "wins": g.wins,
                    "win_rate": g.win_rate,
                    "net_pnl": g.net_pnl,
                    "mean_ratio": g.mean_ratio,
                }
                for g in found
            ]
            for name, found in groups.items()
        },
    }
    data["_curves"] = {b.pair: b.curve for b in held if b.curve is not None}
    return data, trades


def table_lines(data: dict[str, Any], currency: str) -> list[str]:
    m = data["metrics"]
    lines = [
        f"{data['bot']}: {m['trades']} closed trades over {m['days']:.1f} days"
        + (
            f" (since {datetime.fromtimestamp(data['since_ms'] / 1000, UTC):%Y-%m-%d %H:%M} UTC)"
            if data["since_ms"]
            else ""
        ),
        f"  result      {_shown(m['net_pnl'])} {currency} net of {_shown(m['fees'])} fees "
        f"({_shown(m['fee_share_of_gross'], '%')} of gross): "
        f"{_shown(m['start_balance'])} -> {_shown(m['final_balance'])}",
        f"  trades      {m['wins']} won, {m['draws']} even, {m['losses']} lost; win rate "
        f"{_shown(m['win_rate'], '%')}; avg win {_shown(m['avg_win'])}, avg loss "
        f"{_shown(m['avg_loss'])}; best {_shown(m['best_ratio'], '%')}, worst "
        f"{_shown(m['worst_ratio'], '%')}",
        f"  edge        profit factor {_shown(m['profit_factor'])}, expectancy "
        f"{_shown(m['expectancy'], '4')} {currency}/trade, expectancy ratio "
        f"{_shown(m['expectancy_ratio'])}",
        f"  drawdown    max {_shown(m['max_drawdown'], '%')} ({_shown(m['max_drawdown_abs'])} "
        f"{currency}, longest {m['max_drawdown_duration_s'] / 3600:.1f} h), now "
        f"{_shown(m['current_drawdown'], '%')}",
        f"  ratios      CAGR {_shown(m['cagr'], '%')}, Sharpe {_shown(m['sharpe'])}, Sortino "
        f"{_shown(m['sortino'])}, Calmar {_shown(m['calmar'])} (daily, 365-day year)",
        f"  time        exposure {_shown(m['exposure'], '%')}, average trade "
        + (f"{m['avg_duration_s'] / 60:.1f} min" if m["avg_duration_s"] is not None else "-"),
    ]
    for held in data["benchmarks"]:
        if held["buy_and_hold"] is None:
            lines.append(f"  vs {held['pair']:<10} buy-and-hold unavailable: {held['note']}")
        else:
            lines.append(
                f"  vs {held['pair']:<10} buy-and-hold {held['buy_and_hold']:+.2%}; "
                f"the bot {held['excess']:+.2%} against it"
            )
    ft = data["freqtrade"]
    lines.append(
        f"  freqtrade   Sharpe {ft['sharpe']:.2f}, Sortino {ft['sortino']:.2f}, Calmar "
        f"{ft['calmar']:.2f}, CAGR {ft['cagr']:.2%}, profit factor {ft['profit_factor']:.2f} "
        "(Freqtrade's definitions, as in its reports)"
    )
    for name, groups in data["breakdowns"].items():
        if not groups or (len(groups) == 1 and groups[0]["key"] == ""):
            continue
        shown = ", ".join(_group(g) for g in groups[:TABLE_GROUPS])
        more = f" (+{len(groups) - TABLE_GROUPS} more)" if len(groups) > TABLE_GROUPS else ""
        lines.append(f"  by {name:<11} {shown}{more}")
    found = data["patterns"]["found"]
    if not found:
        minimum = data["patterns"]["min_trades"]
        lines.append(
            f"  patterns    none beyond chance (groups of at least {minimum} trades compared)"
        )
    for pattern in found[:TABLE_GROUPS]:
        lines.append(f"  pattern     {pattern['text']}")
    return lines


def _group(g: dict[str, Any]) -> str:
    key = g["key"] or "(none)"
    return f"{key} {g['trades']} trades {g['net_pnl']:+.2f} ({g['win_rate']:.0%} won)"


def report(
    bots: Annotated[list[str], typer.Argument(help="Bot names from the spec.")],
    spec: SpecOption = DEFAULT_SPEC,
    since: Annotated[str | None, typer.Option(help=SINCE_HELP)] = None,
    until: Annotated[
        str | None,
        typer.Option(help="Only trades closed before: a date (UTC) or an age, as --since."),
    ] = None,
    output_format: Annotated[
        str,
        typer.Option(
            "--format",
            help="table (for people), json (for machines) or html (a self-contained page "
            "with interactive plots).",
        ),
    ] = "table",
    output: Annotated[
        Path | None,
        typer.Option(
            "--output",
            "-o",
            help="Where the html report goes (default: .bulkhead/reports/ beside the spec).",
        ),
    ] = None,
) -> None:
    """How each BOT is doing, from its memory: PnL net of fees, win rate, profit factor,
    expectancy, drawdown, CAGR, Sharpe, Sortino, Calmar, exposure, Freqtrade's own
    values, breakdowns by pair, entry tag, exit reason, hour and weekday, and the patterns
    that separate winning from losing trades."""
    from bulkhead.memory.deployment import prepare_memory
    from bulkhead.memory.store import MemoryStore

    if output_format not in FORMATS:
        raise fail(f"--format {output_format[:20]!r}: choose table, json or html")
    if output is not None and output_format != "html":
        raise fail("--output is for --format html (table and json go to the terminal)")
    since_ms, until_ms = parse_since(since), parse_since(until, option="--until")
    if since_ms is not None and until_ms is not None and until_ms <= since_ms:
        raise fail("--until must come after --since")
    fleet = load(spec)
    chosen = [select(fleet, name)[0] for name in bots]
    for bot in chosen:
        if not bot.memory.enabled:
            raise fail(f"bot {bot.name!r} has memory switched off (memory.enabled: false)")
    access = prepare_memory(fleet, workspace(spec), environ(spec))
    client = access.reader.client(socket_timeout=30)
    began = time.perf_counter()
    stores = {bot.name: MemoryStore(client, bot.name) for bot in chosen}
    made = [
        report_and_trades(
            bot.name,
            float(bot.budget.amount),
            stores[bot.name].trades(),
            since_ms,
            bot.pairs,
            candle_folders(spec, bot.name),
            regimes=stores[bot.name].regimes(),
            until_ms=until_ms,
        )
        for bot in chosen
    ]
    reports = [{k: v for k, v in data.items() if not k.startswith("_")} for data, _ in made]
    if output_format == "json":
        typer.echo(json.dumps(reports if len(reports) > 1 else reports[0], indent=2))
        return
    if output_format == "html":
        from bulkhead.analytics.html import render
        from bulkhead.plumbing import write_private

        target = output or _default_html(spec, [bot.name for bot in chosen])
        target.parent.mkdir(parents=True, exist_ok=True)
        write_private(target, render(made, chosen[0].budget.currency), 0o644)
        typer.echo(f"report written to {target} ({time.perf_counter() - began:.2f} s)")
        return
    for bot, data in zip(chosen, reports, strict=True):
        for line in table_lines(data, bot.budget.currency):
            typer.echo(line)
    typer.echo(f"({time.perf_counter() - began:.2f} s)", err=True)


FORMATS = ("table", "json", "html")


def candle_folders(spec: Path, bot: str) -> list[Path]:
    """Where benchmark prices are looked for: the bot's own candles (live and backtest),
    then the bundled recordings."""
    from bulkhead.freqtrade.candles import RECORDINGS_DIR

    paths = workspace(spec).bot(bot)
    return [
        paths.user_data / "data" / "kucoin",
        paths.root / "backtest" / "user_data" / "data" / "kucoin",
        RECORDINGS_DIR,
    ]


def _default_html(spec: Path, names: list[str]) -> Path:
    stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
    return workspace(spec).root / "reports" / f"report-{'-'.join(names)}-{stamp}.html"


def register(app: typer.Typer) -> None:
    app.command()(report)
