"""What the supervisor's unit tests share: a real ``Supervisor`` over the stand-in engine
(``standin_engine.py``), run in the test's main thread (it installs signal handlers) while
a driver thread plays the operator, and the status file watched as ``bulkhead status``
reads it."""

from __future__ import annotations

import json
import logging
import os
import signal
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from bulkhead.config.loader import load_fleet
from bulkhead.config.workspace import BotPaths, Workspace
from bulkhead.fleet.backoff import Backoff
from bulkhead.fleet.gateway_access import GatewayAccess
from bulkhead.fleet.supervisor import Supervisor, SupervisorSettings
from bulkhead.gateway.custody import GatewayCredential
from bulkhead.plumbing import wait_until

ROOT = Path(__file__).resolve().parents[3]
STANDIN = Path(__file__).with_name("standin_engine.py")
#: what the bot's Freqtrade is given instead of its KuCoin key
GATEWAY = GatewayAccess(
    "http://127.0.0.1:9", GatewayCredential("bot1", "gw-key", "gw-secret", "gw-passphrase")
)
DEADLINE_S = 5.0


def write_spec(folder: Path, mode: str = "dry_run") -> Path:
    """The example spec with its one bot in ``mode``, in a folder of its own."""
    text = (ROOT / "examples" / "bulkhead.yaml").read_text()
    assert text.count("mode: live") == 1
    spec = folder / "bulkhead.yaml"
    spec.write_text(text.replace("mode: live", f"mode: {mode}"))
    return spec


def settings_for(spec: Path, behaviour: str, **overrides: Any) -> SupervisorSettings:
    """Settings for the spec's bot running the stand-in: through a gateway (never asked), no
    memory, a rendered config of two numbers, healthy at once unless told otherwise."""
    bot = load_fleet(spec).bots[0]
    chosen: dict[str, Any] = {
        "gateway": lambda: GATEWAY,
        "freqtrade": (sys.executable, "-S", str(STANDIN), behaviour),
        "healthy": lambda _paths: True,
        "health_every_s": 0.02,
        "backoff": Backoff(initial_s=0.05, maximum_s=0.2),
        "render": lambda _bot, _paths: {"stake_amount": 10, "available_capital": 20},
        "inherited": {"PATH": os.environ.get("PATH", "")},
        **overrides,
    }
    return SupervisorSettings(bot, Workspace.for_spec(spec).bot(bot.name), **chosen)


def status(paths: BotPaths) -> dict[str, Any]:
    try:
        loaded: dict[str, Any] = json.loads(paths.status.read_text())
    except (OSError, ValueError):
        return {}
    return loaded


def runs(paths: BotPaths) -> list[int]:
    """The pids of every start of the stand-in, in order."""
    try:
        return [int(pid) for pid in (paths.root / "runs").read_text().split()]
    except OSError:
        return []


def sigints(paths: BotPaths) -> list[int]:
    """The pids of the stand-ins that received SIGINT, once per signal."""
    try:
        return [int(pid) for pid in (paths.root / "sigints").read_text().split()]
    except OSError:
        return []


def alive(pid: int) -> bool:
    """Whether ``pid`` runs (a zombie, killed but not yet reaped, does not)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z"


def wait_for(what: str, probe: Callable[[], Any], deadline_s: float = DEADLINE_S) -> Any:
    return wait_until(probe, deadline_s, 0.01, what=what)


def running_child(paths: BotPaths) -> int:
    found = wait_for(
        "the supervisor to report its child running",
        lambda: status(paths).get("state") == "running" and status(paths),
    )
    return int(found["child_pid"])


@dataclass
class Outcome:
    code: int
    #: every distinct status the watcher saw, in order (state plus details)
    statuses: list[dict[str, Any]] = field(default_factory=list)
    #: the driver's error, if it failed (raised again by ``run``)
    error: BaseException | None = None

    @property
    def states(self) -> list[str]:
        return [seen["state"] for seen in self.statuses]


def run(
    supervisor: Supervisor,
    driver: Callable[[], None] = lambda: None,
    deadline_s: float = DEADLINE_S,
) -> Outcome:
    """Run ``supervisor`` here (the main thread) while ``driver`` runs beside it, and a
    watcher records every status it writes. A run that outlives ``deadline_s`` is stopped
    (twice, so it ends) and the test fails; a driver that fails fails the test too."""
    outcome = Outcome(code=-1)
    finished = threading.Event()
    paths = supervisor.settings.paths

    def drive() -> None:
        try:
            driver()
        except BaseException as error:  # reported by the main thread
            outcome.error = error
            supervisor.stop()
            supervisor.stop()

    def watch() -> None:
        last: dict[str, Any] = {}
        give_up = time.monotonic() + deadline_s
        while not finished.is_set():
            seen = status(paths)
            if seen and seen != last:
                outcome.statuses.append(seen)
                last = seen
            if time.monotonic() > give_up and outcome.error is None:
                outcome.error = AssertionError(f"the supervisor ran past {deadline_s} s")
                supervisor.stop()
                supervisor.stop()
                # a supervisor that does not act on its stop must not hang the suite
                for pid in runs(paths):
                    if alive(pid):
                        os.kill(pid, signal.SIGKILL)
            time.sleep(0.005)

    threads = [threading.Thread(target=drive, daemon=True)]
    threads.append(threading.Thread(target=watch, daemon=True))
    for thread in threads:
        thread.start()
    try:
        outcome.code = supervisor.run()
    finally:
        finished.set()
        for thread in threads:
            thread.join(timeout=deadline_s)
    final = status(paths)
    if final and (not outcome.statuses or outcome.statuses[-1] != final):
        outcome.statuses.append(final)
    if outcome.error is not None:
        raise outcome.error
    return outcome


def events(caplog: pytest.LogCaptureFixture, name: str) -> list[logging.LogRecord]:
    """The supervisor's events called ``name``, in order."""
    return [
        record
        for record in caplog.records
        if record.name == "bulkhead.supervisor" and record.getMessage() == name
    ]


def assert_every_run_gone(paths: BotPaths) -> None:
    """No stand-in this test started runs on (each is killed first, so none leaks)."""
    left = [pid for pid in runs(paths) if alive(pid)]
    for pid in left:
        os.kill(pid, signal.SIGKILL)
    assert not left, f"stand-ins left running: {left}"
