"""One live instance per bot whatever is killed, and a bot that cannot stay up reported as
failing: real Freqtrade, real supervisor, the ``bulkhead`` CLI as an operator types it.

- The supervisor of a live bot is SIGKILLed mid-trade and ``bulkhead up`` is run at once:
  the orphaned Freqtrade keeps the lease until it has stopped, so the new instance starts
  only after it; the twin's order log shows no order from the old instance once the new
  one runs, and ``bulkhead down`` leaves nothing behind.
- A dry-run bot whose exchange cannot be reached (Freqtrade exits at start, every time):
  ``up`` says it is failing and exits 1; the supervisor gives up after a bounded number of
  tries, with Freqtrade's own reason in ``status``.
"""

from __future__ import annotations

import os
import signal
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import botkit
import pytest

from bulkhead.config.workspace import BotPaths, Workspace
from bulkhead.fleet.lease import lease_holder, read_record
from bulkhead.fleet.supervisor import MAX_QUICK_FAILURES
from bulkhead.plumbing import free_port

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
SPEC_EXAMPLE = ROOT / "examples" / "bulkhead.yaml"
EXAMPLE_TWIN_URL = "http://127.0.0.1:8899"
BOT = "bot1"
BOT_KEY = "bot1-trade"

FIRST_ORDER_DEADLINE_S = 180
RESTART_DEADLINE_S = 150
GIVE_UP_DEADLINE_S = 420


@pytest.fixture(scope="module")
def rig(tmp_path_factory: pytest.TempPathFactory) -> Iterator[botkit.Rig]:
    with botkit.twin_rig(tmp_path_factory.mktemp("one_instance")) as rig:
        yield rig


def _spec(directory: Path, url: str, key: dict[str, str], *, mode: str = "live") -> Path:
    text = SPEC_EXAMPLE.read_text()
    assert text.count(EXAMPLE_TWIN_URL) == 1, "examples/bulkhead.yaml changed its twin URL"
    text = text.replace(EXAMPLE_TWIN_URL, url).replace("mode: live", f"mode: {mode}")
    return botkit.write_spec(directory, text, key)


def _paths(spec: Path) -> BotPaths:
    return Workspace.for_spec(spec).bot(BOT)


def _diagnosis(paths: BotPaths) -> str:
    logs = paths.root / "logs"
    return "\n".join(
        f"--- tail of {path.name} ---\n{botkit.tail(path)}"
        for path in (paths.status, paths.log, logs / "supervisor.out", logs / "freqtrade.out")
    )


class DeathWatch(threading.Thread):
    """Notes the moment a process is gone, polling every 20 ms."""

    def __init__(self, pid: int) -> None:
        super().__init__(daemon=True)
        self.pid = pid
        self.gone_at: float | None = None

    def run(self) -> None:
        while botkit.alive(self.pid):
            time.sleep(0.02)
        self.gone_at = time.time()


def test_a_killed_supervisor_never_leaves_two_instances_trading(rig: botkit.Rig) -> None:
    spec = _spec(rig.root / "killed", rig.url, rig.keys[BOT_KEY])
    paths = _paths(spec)
    bot_uid = rig.twin.user_by_name(BOT).uid
    try:
        up = botkit.cli(spec, "up", BOT)
        assert up.returncode == 0, botkit.shown(up)
        first = botkit.status(paths)
        supervisor, child = int(first["pid"]), int(first["child_pid"])

        def orders() -> list[Any]:
            return [o for o in list(rig.twin.state.orders.values()) if o.uid == bot_uid]

        botkit.poll(
            "the bot's first order on the twin",
            orders,
            FIRST_ORDER_DEADLINE_S,
            lambda: _diagnosis(paths),
            0.2,
        )
        watch = DeathWatch(child)
        watch.start()

        os.kill(supervisor, signal.SIGKILL)
        killed_at = time.time()
        up_again = botkit.cli(spec, "up", BOT)

        assert up_again.returncode == 0, botkit.shown(up_again)
        assert f"{BOT}: running" in up_again.stdout, botkit.shown(up_again)
        # `up` stops an orphan it finds (tests/integration/fleet/test_orphan_stops.py); this
        # one may have ended by itself first (the kernel sent it SIGINT when its supervisor
        # died, and `up` loads the strategy before it looks), and then there is none to name.
        if "first stopped pid" in up_again.stdout:
            assert f"first stopped pid {child}" in up_again.stdout, botkit.shown(up_again)
        watch.join(timeout=5)
        assert watch.gone_at is not None, "the orphaned Freqtrade is still alive"
        second = botkit.status(paths)
        new_child = int(second["child_pid"])
        assert new_child != child
        (started,) = [
            e
            for e in botkit.events(paths.log, "freqtrade_started", since=killed_at)
            if e["pid"] == new_child
        ]
        new_started_at = botkit.when(started)
        # The new Freqtrade started only once the old one was gone: never two at once.
        assert watch.gone_at <= new_started_at, (watch.gone_at, new_started_at)
        # The twin saw no order between the old instance's end and the new one's start.
        gap = [o for o in orders() if watch.gone_at * 1000 < o.created_at < new_started_at * 1000]
        assert gap == [], gap
        record = read_record(paths.lock)
        assert record is not None
        assert (record.supervisor, record.child) == (second["pid"], new_child)

        down = botkit.cli(spec, "down", BOT)
        assert down.returncode == 0, botkit.shown(down)
        assert lease_holder(paths.lock) is None
        assert not botkit.alive(new_child)
    finally:
        leftovers = botkit.bring_down(spec, str(spec.parent), running_inside=True)
    assert leftovers == [], "`bulkhead down` left these running (now killed)"


def test_a_bot_that_cannot_stay_up_is_reported_failing_and_given_up(rig: botkit.Rig) -> None:
    nowhere = f"http://127.0.0.1:{free_port()}"
    spec = _spec(rig.root / "unreachable", nowhere, rig.keys[BOT_KEY], mode="dry_run")
    paths = _paths(spec)
    try:
        up = botkit.cli(spec, "up", BOT)

        assert up.returncode == 1, botkit.shown(up)
        assert f"{BOT}: failing" in up.stdout, botkit.shown(up)
        assert "Freqtrade exited with code" in up.stdout, botkit.shown(up)

        def gave_up() -> dict[str, Any] | None:
            status = botkit.status(paths)
            return status if status.get("state") == "failed" else None

        final = botkit.poll(
            "the supervisor to give up", gave_up, GIVE_UP_DEADLINE_S, lambda: _diagnosis(paths)
        )
        assert final["failures"] == MAX_QUICK_FAILURES
        assert "markets" in final["reason"].lower(), final["reason"]
        botkit.poll(
            "the lease to be free",
            lambda: lease_holder(paths.lock) is None,
            10,
            lambda: _diagnosis(paths),
        )
        shown = botkit.cli(spec, "status", BOT)
        assert shown.returncode == 0, botkit.shown(shown)
        row = next(line.split() for line in shown.stdout.splitlines() if line.startswith(BOT))
        assert row[:4] == [BOT, "dry_run", "failed", "-"], shown.stdout
        assert f"{BOT}: failed: gave up after {MAX_QUICK_FAILURES}" in shown.stdout
    finally:
        leftovers = botkit.bring_down(spec, str(spec.parent), running_inside=True)
    assert leftovers == [], "`bulkhead down` left these running (now killed)"
