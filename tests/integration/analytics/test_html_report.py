"""The HTML report renders in a real headless Chromium (Debian's package): the page loads
with no console error, every plot is drawn, and a screenshot is taken.

Skipped where Chromium is not installed, unless BULKHEAD_REQUIRE_CHROMIUM=1 (CI installs
it, and there a missing browser is a failure)."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from bulkhead.analytics.html import render
from bulkhead.cli.report import report_and_trades
from bulkhead.memory.records import TradeRecord

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
T0 = 1_795_824_000_000
H = 3_600_000
PLOTS_PER_BOT = 8


def _records(n: int, seed: int) -> list[TradeRecord]:
    rng = np.random.default_rng(seed)
    pairs = ["XRP/USDT", "ADA/USDT", "ETH/USDT"]
    found = []
    for i in range(n):
        opened = T0 + i * 5 * H
        pnl = float(rng.normal(0.05, 0.6))
        found.append(
            TradeRecord(
                trade_id=i + 1,
                pair=pairs[i % 3],
                side="long",
                is_open=False,
                amount=10.0,
                stake_amount=20.0,
                open_rate=1.0,
                close_rate=1.0 + pnl / 20,
                open_time_ms=opened,
                close_time_ms=opened + 2 * H,
                fee_open_cost=0.02,
                fee_close_cost=0.02,
                realized_pnl=pnl,
                realized_pnl_ratio=pnl / 20,
                entry_tag="dip" if i % 2 else "breakout",
                exit_reason="roi" if pnl > 0 else "stop_loss",
                duration_s=7200.0,
            )
        )
    return found


@pytest.fixture
def chromium() -> str:
    if CHROMIUM is None:
        if os.environ.get("BULKHEAD_REQUIRE_CHROMIUM") == "1":
            pytest.fail("Chromium is required here (BULKHEAD_REQUIRE_CHROMIUM=1) but not installed")
        pytest.skip("Chromium is not installed (Debian: apt-get install chromium)")
    return CHROMIUM


def _browse(chromium: str, page: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            chromium,
            "--headless=new",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--enable-logging=stderr",
            "--v=0",
            "--virtual-time-budget=10000",
            "--window-size=1300,4000",
            *extra,
            page.as_uri(),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_the_html_report_renders_every_plot_without_a_console_error(
    chromium: str, tmp_path: Path
) -> None:
    made = [
        report_and_trades("alpha", 100.0, _records(120, 1), None),
        report_and_trades("beta", 100.0, _records(60, 2), None),
    ]
    page = tmp_path / "report.html"
    page.write_text(render(made, "USDT"))
    assert '<script src="http' not in page.read_text()  # self-contained: no network

    dom = _browse(chromium, page, "--dump-dom")
    shot = tmp_path / "report.png"
    screenshot = _browse(chromium, page, f"--screenshot={shot}")

    assert dom.returncode == 0, dom.stderr[-2000:]
    console = [line for line in dom.stderr.splitlines() if "CONSOLE" in line]
    assert not [line for line in console if "rror" in line or "Uncaught" in line], console
    assert dom.stdout.count('class="plot-container plotly"') == 2 * PLOTS_PER_BOT
    assert dom.stdout.count('class="main-svg"') >= 2 * PLOTS_PER_BOT  # drawn, not just placed
    assert "Bulkhead report: alpha, beta" in dom.stdout
    assert screenshot.returncode == 0, screenshot.stderr[-2000:]
    assert shot.stat().st_size > 20_000  # a real picture, not a blank page


def test_a_bot_without_trades_gets_a_page_that_says_so(tmp_path: Path) -> None:
    page = render([report_and_trades("idle", 100.0, [], None)], "USDT")

    assert "No closed trades: nothing to plot." in page
    assert "plot-container" not in page
