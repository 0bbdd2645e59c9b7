"""The report as one self-contained HTML file with interactive plots (plotly, its script
inlined once), to look at rather than read: equity and drawdown, PnL by pair, the
distribution of trade returns, the breakdowns, the metrics and the patterns.

Self-contained: no network at view time, so it opens the same on a laptop offline, from
an e-mail, or in CI's headless Chromium (``tests/integration/analytics``).
"""

from __future__ import annotations

import html
import math
from datetime import UTC, datetime
from typing import Any

import numpy as np
import plotly.graph_objects as go
import plotly.io as pio
from plotly.subplots import make_subplots

from bulkhead.analytics.trades import Trades

#: metrics shown in the summary table, with their label and format
SHOWN = (
    ("trades", "trades", "d"),
    ("win_rate", "win rate", "%"),
    ("net_pnl", "net PnL", "f"),
    ("fees", "fees", "f"),
    ("profit_factor", "profit factor", "f"),
    ("expectancy", "expectancy / trade", "f"),
    ("max_drawdown", "max drawdown", "%"),
    ("cagr", "CAGR", "%"),
    ("sharpe", "Sharpe", "f"),
    ("sortino", "Sortino", "f"),
    ("calmar", "Calmar", "f"),
    ("exposure", "exposure", "%"),
)
STYLE = """
body { font-family: system-ui, sans-serif; margin: 2rem auto; max-width: 1200px; color: #222; }
h1 { font-size: 1.5rem; } h2 { font-size: 1.15rem; margin-top: 2rem; }
table { border-collapse: collapse; margin: 0.5rem 0; }
td, th { padding: 0.25rem 0.8rem; border-bottom: 1px solid #ddd; text-align: right; }
th { text-align: left; font-weight: 600; }
.note { color: #666; font-size: 0.9rem; }
"""


def _value(value: Any, kind: str) -> str:
    if value is None:
        return "-"
    if value == "inf" or (isinstance(value, float) and math.isinf(value)):
        return "∞"
    if kind == "%":
        return f"{float(value):.2%}"
    if kind == "d":
        return str(int(value))
    return f"{float(value):.2f}"


def _equity_figure(
    trades: Trades, start: float, title: str, curves: dict[str, np.ndarray] | None = None
) -> go.Figure:
    times = [datetime.fromtimestamp(ms / 1000, UTC) for ms in trades.close_ms]
    equity = start + np.cumsum(trades.pnl)
    peak = np.maximum.accumulate(np.concatenate([[start], equity]))[1:]
    drawdown = np.where(peak > 0, (equity - peak) / peak, 0.0)
    figure = make_subplots(rows=2, cols=1, shared_xaxes=True, row_heights=[0.7, 0.3],
                           vertical_spacing=0.05)  # fmt: skip
    figure.add_trace(go.Scatter(x=times, y=equity, name="equity", mode="lines"), row=1, col=1)
    for pair, curve in (curves or {}).items():
        held = go.Scatter(x=times, y=start * curve, name=f"hold {pair}", mode="lines",
                          line={"dash": "dot"})  # fmt: skip
        figure.add_trace(held, row=1, col=1)
    figure.add_trace(
        go.Scatter(x=times, y=drawdown, name="drawdown", fill="tozeroy", mode="lines"),
        row=2,
        col=1,
    )
    figure.update_yaxes(title_text="equity", row=1, col=1)
    figure.update_yaxes(title_text="drawdown", tickformat=".1%", row=2, col=1)
    figure.update_layout(title=title, height=520, margin={"t": 50, "b": 30})
    return figure


def _bars(groups: list[dict[str, Any]], title: str, value: str = "net_pnl") -> go.Figure:
    keys = [g["key"] or "(none)" for g in groups]
    figure = go.Figure(
        go.Bar(
            x=keys,
            y=[g[value] for g in groups],
            text=[f"{g['trades']} trades" for g in groups],
            name=value,
        )
    )
    figure.update_layout(title=title, height=340, margin={"t": 50, "b": 30})
    return figure


def _returns_figure(trades: Trades) -> go.Figure:
    figure = go.Figure(go.Histogram(x=trades.ratio * 100, nbinsx=60, name="trade return %"))
    figure.update_layout(title="Distribution of trade returns (%)", height=340,
                         margin={"t": 50, "b": 30})  # fmt: skip
    return figure


def render(reports: list[tuple[dict[str, Any], Trades]], currency: str) -> str:
    """One page for the bots of ``reports`` (each: ``cli.report.report_and_trades`` and its
    trades), side by side in order."""
    parts: list[str] = []
    figures: list[go.Figure] = []
    for data, trades in reports:
        bot = html.escape(str(data["bot"]))
        metrics = data["metrics"]
        rows = "".join(
            f"<tr><th>{label}</th><td>{_value(metrics.get(key), kind)}</td></tr>"
            for key, label, kind in SHOWN
        )
        ft = data["freqtrade"]
        ft_row = html.escape(
            f"Freqtrade's definitions: Sharpe {ft['sharpe']:.2f}, Sortino {ft['sortino']:.2f}, "
            f"Calmar {ft['calmar']:.2f}, CAGR {ft['cagr']:.2%}"
        )
        found = data["patterns"]["found"]
        patterns = (
            "".join(f"<li>{html.escape(p['text'])}</li>" for p in found[:10])
            or f"<li>none beyond chance (groups of at least {data['patterns']['min_trades']}"
            " trades compared)</li>"
        )
        held = "".join(
            f"<tr><th>hold {html.escape(b['pair'])}</th><td>{_value(b['buy_and_hold'], '%')}"
            f"</td><td>bot {_value(b['excess'], '%')} against it</td></tr>"
            if b["buy_and_hold"] is not None
            else f"<tr><th>hold {html.escape(b['pair'])}</th><td colspan='2'>unavailable: "
            f"{html.escape(b['note'])}</td></tr>"
            for b in data.get("benchmarks", [])
        )
        parts.append(
            f"<h2>{bot}</h2><table>{rows}</table><table>{held}</table>"
            f"<p class='note'>{ft_row}</p>"
            f"<h3>Patterns</h3><ul>{patterns}</ul>"
        )
        if len(trades) == 0:
            parts.append("<p class='note'>No closed trades: nothing to plot.</p>")
            continue
        start = float(metrics["start_balance"])
        bot_figures = [
            _equity_figure(
                trades,
                start,
                f"{data['bot']}: equity and drawdown against buy-and-hold ({currency})",
                data.get("_curves"),
            ),
            _bars(data["breakdowns"]["pair"], f"{data['bot']}: net PnL by pair ({currency})"),
            _returns_figure(trades),
            _bars(data["breakdowns"]["exit_reason"], f"{data['bot']}: net PnL by exit reason"),
            _bars(data["breakdowns"]["hour"], f"{data['bot']}: net PnL by hour of entry (UTC)"),
            _bars(data["breakdowns"]["weekday"], f"{data['bot']}: net PnL by weekday of entry"),
            _bars(data["breakdowns"]["entry_tag"], f"{data['bot']}: net PnL by entry tag"),
            _bars(
                data["breakdowns"]["regime"],
                f"{data['bot']}: net PnL by volatility regime at entry",
            ),
        ]
        for figure in bot_figures:
            # plotly's script once, inlined with the first figure: no network at view time
            parts.append(pio.to_html(figure, full_html=False, include_plotlyjs=not figures))
            figures.append(figure)
    made = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    names = ", ".join(html.escape(str(d["bot"])) for d, _ in reports)
    return (
        "<!doctype html><html><head><meta charset='utf-8'>"
        f"<title>Bulkhead report: {names}</title><style>{STYLE}</style></head><body>"
        f"<h1>Bulkhead report: {names}</h1><p class='note'>Made {made}. Metrics: textbook "
        "definitions (365-day year); see the README's Reports section.</p>"
        + "".join(parts)
        + "</body></html>"
    )
