"""The local-process runtime: start, stop and inspect supervised bots on this machine.

``up`` starts ``bulkhead run-bot`` detached in its own session and waits until the bot
runs (or says why it will not); ``down`` sends it SIGTERM and waits for its lease to be
released, so "stopped" means nothing of it is left running.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bulkhead.config.workspace import BotPaths
from bulkhead.fleet.lease import lease_holder

START_TIMEOUT_S = 120.0
STOP_TIMEOUT_S = 45.0


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
    return lease_holder(paths.lock) is not None


def start_detached(name: str, spec: Path, paths: BotPaths, *, wait: bool = True) -> StartResult:
    if is_running(paths):
        return StartResult(name, "already running", f"pid {lease_holder(paths.lock)}")
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
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        status = read_status(paths)
        state = status.get("state")
        if state in ("running", "refused"):
            return StartResult(name, state, status.get("reason", f"pid {status.get('pid')}"))
        code = process.poll()
        if code is not None:
            return StartResult(name, "exited", f"exit code {code}; see `bulkhead logs {name}`")
        time.sleep(0.2)
    return StartResult(name, "starting", "still starting; see `bulkhead status`")


def stop(paths: BotPaths) -> bool:
    """SIGTERM the supervisor and wait until its lease is free; True if it was running."""
    pid = lease_holder(paths.lock)
    if pid is None:
        return False
    if pid > 0:
        try:
            os.kill(pid, signal.SIGTERM)
        except ProcessLookupError:
            return False
    deadline = time.monotonic() + STOP_TIMEOUT_S
    while time.monotonic() < deadline:
        if lease_holder(paths.lock) is None:
            return True
        time.sleep(0.2)
    # It ignored SIGTERM for too long: kill the supervisor and its Freqtrade outright.
    child = read_status(paths).get("child_pid")
    for target in (child, pid):
        if isinstance(target, int) and target > 0:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(target, signal.SIGKILL)
    return True
