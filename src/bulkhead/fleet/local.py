"""The local-process runtime: start, stop and inspect supervised bots on this machine.

``up`` starts ``bulkhead run-bot`` detached in its own session and waits until the bot
trades (or says why it will not); ``down`` stops whatever holds the bot's lease (the
supervisor, or a Freqtrade left behind by a killed one) and waits for the lease to be
released, so "stopped" means nothing of it is left running.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bulkhead.config.workspace import BotPaths
from bulkhead.fleet.lease import is_held, lease_processes, read_record
from bulkhead.plumbing import WaitTimeout, wait_until

START_TIMEOUT_S = 120.0
STOP_TIMEOUT_S = 45.0
#: how long `down` waits for a supervisor to exit once it has released the lease
EXIT_WAIT_S = 10.0


@dataclass(frozen=True)
class StartResult:
    bot: str
    state: str
    detail: str = ""


def read_status(paths: BotPaths) -> dict[str, Any]:
    try:
        loaded: dict[str, Any] = json.loads(paths.status.read_text())
    except (OSError, ValueError):
        return {}
    return loaded


def is_running(paths: BotPaths) -> bool:
    """Whether anything of the bot runs: the lease is held by its supervisor or by a
    Freqtrade it started (which holds it for as long as it lives)."""
    return is_held(paths.lock)


@dataclass(frozen=True)
class Observed:
    """What ``status`` shows of a bot: its state, the pid to name, and why."""

    state: str
    pid: int | None
    detail: str = ""


def observe(paths: BotPaths) -> Observed:
    """The bot's state as the lease and its status file tell it together.

    An ``orphaned`` bot is one whose supervisor is gone while its Freqtrade still holds
    the lease (it was told to stop when its supervisor died); ``failed`` and ``refused``
    keep their reason after the supervisor gave up.
    """
    record = read_record(paths.lock)
    status = read_status(paths)
    state = str(status.get("state", ""))
    reason = str(status.get("reason", ""))
    if record is None:
        if state in ("failed", "refused"):
            return Observed(state, None, reason)
        return Observed("stopped", None)
    if record.supervisor > 0 and not _alive(record.supervisor):
        holders = lease_processes(paths.lock)
        return Observed("orphaned", holders[0] if holders else None, "supervisor gone")
    if state == "backoff":
        return Observed("failing", record.supervisor, reason)
    return Observed(state or "starting", record.supervisor, reason)


def start_detached(name: str, spec: Path, paths: BotPaths, *, wait: bool = True) -> StartResult:
    """Start the bot's supervisor in the background, and (``wait``) until it trades.

    What was left of a previous instance whose supervisor died is stopped first: one
    instance per bot, whatever was killed before.
    """
    seen = observe(paths)
    note = ""
    if seen.state == "orphaned":
        stop(paths)
        note = f" (first stopped pid {seen.pid}, left by a supervisor that died)"
    elif is_running(paths):
        return StartResult(name, "already running", f"pid {seen.pid}")
    paths.root.mkdir(parents=True, exist_ok=True)
    if paths.status.exists():
        paths.status.unlink()
    log = paths.root / "logs" / "supervisor.out"
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("ab") as output:
        process = subprocess.Popen(  # noqa: S603 - our own interpreter
            [
                sys.executable,
                "-m",
                "bulkhead",
                "run-bot",
                name,
                "--spec",
                str(spec),
                "--child-output",
                str(paths.root / "logs" / "freqtrade.out"),
            ],
            stdout=output,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
    if not wait:
        return StartResult(name, "starting", f"pid {process.pid}")

    def settled() -> StartResult | None:
        status = read_status(paths)
        state = status.get("state")
        if state == "running":
            return StartResult(name, "running", f"pid {status.get('pid')}{note}")
        if state in ("refused", "failed"):
            return StartResult(name, str(state), str(status.get("reason", "")))
        if state == "backoff":
            attempts = f"{status.get('failures')}/{status.get('max_failures')}"
            return StartResult(
                name,
                "failing",
                f"{status.get('reason', '')} (restarting, failed starts {attempts}); "
                f"see `bulkhead logs {name}`",
            )
        code = process.poll()
        if code is not None:
            return StartResult(name, "exited", f"exit code {code}; see `bulkhead logs {name}`")
        return None

    try:
        return wait_until(settled, START_TIMEOUT_S, 0.2, what=f"bot {name} to start")
    except WaitTimeout:
        return StartResult(name, "starting", "still starting; see `bulkhead status`")


def stop(paths: BotPaths) -> bool:
    """Stop whatever holds the bot's lease and wait until the lease is free; True if
    anything was running.

    The supervisor gets SIGTERM and stops its Freqtrade gracefully. A Freqtrade whose
    supervisor is gone already got SIGINT from the kernel when it died (the supervisor
    asks for that), and a second one would cut its clean shutdown short, so it is only
    waited for. Whatever still holds the lease after the grace period is killed with its
    process group.
    """
    record = read_record(paths.lock)
    if record is None:
        return False
    if record.supervisor > 0 and _alive(record.supervisor):
        _signal(record.supervisor, signal.SIGTERM)

    def released() -> bool:
        return not is_held(paths.lock)

    try:
        wait_until(released, STOP_TIMEOUT_S, 0.2, what="the bot to release its lease")
        _wait_for_exit(record.supervisor)
        return True
    except WaitTimeout:
        pass
    for pid in lease_processes(paths.lock):
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pid, signal.SIGKILL)
        _signal(pid, signal.SIGKILL)
    with contextlib.suppress(WaitTimeout):
        wait_until(released, 10, 0.1, what="the killed bot to release its lease")
    return True


def _wait_for_exit(pid: int) -> None:
    """Let a supervisor that has released the lease finish exiting (Python's shutdown takes
    a moment), so `down` returns when nothing of the bot runs; one that lingers past
    ``EXIT_WAIT_S`` holds no lease and trades nothing, so it is left to end."""
    if pid > 0:
        with contextlib.suppress(WaitTimeout):
            wait_until(lambda: not _alive(pid), EXIT_WAIT_S, 0.05, what="the supervisor to exit")


def _signal(pid: int, signum: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.kill(pid, signum)


def _alive(pid: int) -> bool:
    """Whether ``pid`` runs; a zombie (dead, not yet reaped) counts as dead."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return True
    return fields[0] != "Z"
