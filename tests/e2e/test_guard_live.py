"""The risk guard in a live bot on the twin, through the gateway, as an operator meets it.

examples/bulkhead.yaml aimed at the twin runs with `bulkhead up`. Freezing the bot's
sub-account at the twin (KuCoin's 411100 on every private call) halts it. The gateway sees
the errors, and the guard inside Freqtrade counts them past `risk.guard.max_errors` and
asks the gateway for HALTED. A crashed Freqtrade, restarted by its supervisor, comes back
still HALTED. `bulkhead guard` shows why, and only `bulkhead resume` lets it trade again.
"""

from __future__ import annotations

import json
import os
import signal
import time
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import botkit
import httpx
import pytest

from bulkhead.config.workspace import BotPaths, Workspace

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
SPEC_EXAMPLE = ROOT / "examples" / "bulkhead.yaml"
RECORDING = ROOT / "data" / "ohlcv" / "XRP_USDT-5m.feather"
#: the twin's XRP-USDT prices after the crash: every price x this
CRASH_SCALE = 0.8
REDUCE_DEADLINE_S = 120
QUIET_S = 30
EXAMPLE_TWIN_URL = "http://127.0.0.1:8899"
BOT = "bot1"
GUARD_STARTED_DEADLINE_S = 120
HALT_DEADLINE_S = 120
RESTART_DEADLINE_S = 90


def _diagnosis(paths: BotPaths) -> str:
    logs = paths.root / "logs"
    return "\n".join(
        f"--- tail of {path.name} ---\n{botkit.tail(path)}"
        for path in (paths.log, paths.freqtrade_log, logs / "supervisor.out")
    )


def _guard(spec: Path) -> dict[str, Any]:
    done = botkit.cli(spec, "guard", BOT, "--json")
    assert done.returncode == 0, botkit.shown(done)
    view: dict[str, Any] = json.loads(done.stdout)
    return view


@pytest.fixture(scope="module")
def running(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[botkit.Rig, Path]]:
    with botkit.twin_rig(tmp_path_factory.mktemp("guard_live")) as rig:
        text = SPEC_EXAMPLE.read_text().replace(EXAMPLE_TWIN_URL, rig.url)
        text = text.replace("loss_streak: 4 ", "loss_streak: 4\n        max_errors: 3 ", 1)
        # only the guard stops entries here: Freqtrade's own protections off
        for protection in ("stoploss_guard", "max_drawdown", "cooldown_period"):
            text = text.replace(f"{protection}: {{enabled: true", f"{protection}: {{enabled: false")
        spec = botkit.write_spec(rig.root / "live", text, rig.key)
        try:
            up = botkit.cli(spec, "up", BOT)
            assert up.returncode == 0, botkit.shown(up)
            yield rig, spec
        finally:
            leftovers = botkit.bring_down(spec, str(spec.parent), running_inside=True)
        assert leftovers == [], "`bulkhead down` left these running (now killed)"


def test_a_frozen_account_halts_the_bot_a_restart_keeps_it_halted_and_resume_lifts_it(
    running: tuple[botkit.Rig, Path],
) -> None:
    rig, spec = running
    paths = Workspace.for_spec(spec).bot(BOT)
    diagnosis = lambda: _diagnosis(paths)  # noqa: E731

    (started,) = botkit.poll(
        "the guard to start",
        lambda: botkit.events(paths.freqtrade_log, "guard_start"),
        GUARD_STARTED_DEADLINE_S,
        diagnosis,
    )[:1]
    assert started["enforced_at"] == "gateway", started
    assert started["memory"] == "redis", started
    assert _guard(spec)["state"]["state"] == "ACTIVE"

    frozen = httpx.patch(f"{rig.url}/sim/v1/users/{BOT}", json={"frozen": True})
    assert frozen.status_code == 200, frozen.text

    def halted() -> dict[str, Any] | None:
        view = _guard(spec)
        return view if view["state"]["state"] == "HALTED" else None

    view = botkit.poll("the guard to halt the bot", halted, HALT_DEADLINE_S, diagnosis, 1.0)
    assert view["state"]["by"] == "guard", view["state"]
    assert view["state"]["reason"].startswith("EXCHANGE_ERRORS"), view["state"]
    assert "411100" in json.dumps(view["guard"]["decisions"]), view["guard"]["decisions"]
    alerts = botkit.events(paths.freqtrade_log, "guard_alert")
    assert alerts, diagnosis()
    assert alerts[0]["reason"].startswith("EXCHANGE_ERRORS")

    # The account thaws, Freqtrade crashes and is restarted: still HALTED.
    assert httpx.patch(f"{rig.url}/sim/v1/users/{BOT}", json={"frozen": False}).is_success
    child = botkit.status(paths)["child_pid"]
    killed_at = time.time()
    os.kill(child, signal.SIGKILL)
    restarted = botkit.poll(
        "the guard of the restarted Freqtrade",
        lambda: botkit.events(paths.freqtrade_log, "guard_start", since=killed_at),
        RESTART_DEADLINE_S,
        diagnosis,
    )
    assert restarted[0]["state"] == "HALTED", restarted[0]
    assert _guard(spec)["state"]["state"] == "HALTED"
    refused_before = len(rig.twin.state.orders)

    resumed = botkit.cli(spec, "resume", BOT)
    assert resumed.returncode == 0, botkit.shown(resumed)
    botkit.poll(
        "the guard to see the resume",
        lambda: botkit.events(paths.freqtrade_log, "guard_resumed", since=killed_at),
        RESTART_DEADLINE_S,
        diagnosis,
    )
    assert _guard(spec)["state"]["state"] == "ACTIVE"
    assert len(rig.twin.state.orders) >= refused_before


def _bot_buys(rig: botkit.Rig) -> set[str]:
    uid = rig.twin.user_by_name(BOT).uid
    return {o.id for o in list(rig.twin.state.orders.values()) if o.uid == uid and o.side == "buy"}


def _xrp_held(rig: botkit.Rig) -> float:
    held = botkit.balances(rig.twin.user_by_name(BOT).accounts)
    balance, _holds = held.get("trade", {}).get("XRP", (Decimal(0), Decimal(0)))
    return float(balance)


def test_a_price_crash_reduces_the_bot_exits_go_out_no_entry_reaches_the_twin_and_resume(
    running: tuple[botkit.Rig, Path],
) -> None:
    """The twin's XRP price drops 20 % while the bot holds XRP: the guard sees the drawdown
    (or the day's loss) and asks the gateway for REDUCING; the position is sold; the
    strategy keeps asking to enter, and not one buy reaches the twin; resume lets it buy."""
    rig, spec = running
    paths = Workspace.for_spec(spec).bot(BOT)
    diagnosis = lambda: _diagnosis(paths)  # noqa: E731
    botkit.poll("the bot to be ACTIVE", lambda: _guard(spec)["state"]["state"] == "ACTIVE",
                REDUCE_DEADLINE_S, diagnosis)  # fmt: skip
    botkit.poll("the bot to hold XRP", lambda: _xrp_held(rig) > 0, REDUCE_DEADLINE_S, diagnosis)

    crashed_at = time.time()
    source = {"kind": "replay", "path": str(RECORDING), "scale": CRASH_SCALE}
    crash = httpx.put(f"{rig.url}/sim/v1/symbols/XRP-USDT/source", json=source)
    assert crash.status_code == 200, crash.text

    def reducing() -> dict[str, Any] | None:
        view = _guard(spec)
        return view if view["state"]["state"] == "REDUCING" else None

    view = botkit.poll("the guard to reduce", reducing, REDUCE_DEADLINE_S, diagnosis, 1.0)
    assert view["state"]["by"] == "guard", view["state"]
    assert view["state"]["reason"].split()[0] in ("DRAWDOWN_LIMIT", "DAILY_LOSS_LIMIT"), view
    buys_when_reduced = _bot_buys(rig)

    # exits still go out: the position is sold
    botkit.poll("the position to be sold", lambda: _xrp_held(rig) < 1, REDUCE_DEADLINE_S,
                diagnosis)  # fmt: skip
    # the strategy asks to enter again and again; the guard denies, nothing reaches the twin
    denied = botkit.poll(
        "an entry denied by the guard",
        lambda: [
            e
            for e in botkit.events(paths.freqtrade_log, "entry_signal", since=crashed_at)
            if e.get("decided_by") == "guard"
        ],
        REDUCE_DEADLINE_S,
        diagnosis,
    )
    assert "STATE_NOT_ACTIVE state=REDUCING" in denied[0]["guard_reason"], denied[0]
    time.sleep(QUIET_S)
    assert _bot_buys(rig) == buys_when_reduced

    resumed = botkit.cli(spec, "resume", BOT)
    assert resumed.returncode == 0, botkit.shown(resumed)
    botkit.poll("a buy after resume", lambda: _bot_buys(rig) - buys_when_reduced,
                REDUCE_DEADLINE_S, diagnosis)  # fmt: skip
