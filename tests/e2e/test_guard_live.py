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
from pathlib import Path
from typing import Any

import botkit
import httpx
import pytest

from bulkhead.config.workspace import BotPaths, Workspace

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
SPEC_EXAMPLE = ROOT / "examples" / "bulkhead.yaml"
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
