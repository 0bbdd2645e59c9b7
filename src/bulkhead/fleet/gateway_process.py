"""The order gateway as a local background process: started before the bots, stopped after.

``ensure_running`` starts ``bulkhead gateway`` detached (its own session, like a bot's
supervisor) unless one already holds the workspace's gateway lease, and waits until it
says it serves (its state file) or why it could not. ``stop`` sends SIGTERM to the lease
holder and waits for the lease to be free. One gateway per workspace, whatever was killed:
the lease is a lock the kernel drops with the process.
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

from bulkhead.config.workspace import GatewayPaths
from bulkhead.fleet.gateway_access import gateway_running, read_gateway_state
from bulkhead.fleet.lease import is_held, lease_processes, read_record
from bulkhead.plumbing import WaitTimeout, wait_until, write_private

START_TIMEOUT_S = 90.0
STOP_TIMEOUT_S = 20.0


@dataclass(frozen=True)
class GatewayStart:
    ok: bool
    detail: str


def ensure_running(spec: Path, paths: GatewayPaths) -> GatewayStart:
    """The gateway serving this workspace, started if needed."""
    if gateway_running(paths):
        return GatewayStart(True, f"already running at {read_gateway_state(paths).get('url')}")
    if is_held(paths.lock):  # starting, or stuck: let it finish or fail first
        try:
            wait_until(
                lambda: gateway_running(paths) or not is_held(paths.lock), 30, 0.2, what="gateway"
            )
        except WaitTimeout:
            return GatewayStart(False, "a gateway holds the lease but does not serve")
        if gateway_running(paths):
            return GatewayStart(True, "running")
    paths.output.parent.mkdir(parents=True, exist_ok=True)
    _forget_serving(paths)
    with paths.output.open("ab") as output:
        process = subprocess.Popen(  # noqa: S603 - our own interpreter
            [sys.executable, "-m", "bulkhead", "gateway", "--spec", str(spec)],
            stdout=output,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )

    def settled() -> GatewayStart | None:
        if gateway_running(paths):
            return GatewayStart(True, f"serving at {read_gateway_state(paths).get('url')}")
        code = process.poll()
        if code is not None:
            return GatewayStart(False, f"exit code {code}: {_last_line(paths.output)}")
        return None

    try:
        return wait_until(settled, START_TIMEOUT_S, 0.2, what="the gateway to serve")
    except WaitTimeout:
        return GatewayStart(False, f"not serving after {START_TIMEOUT_S:.0f}s; see {paths.log}")


def _forget_serving(paths: GatewayPaths) -> None:
    """Mark the last state stale but keep its port: running bots' configs point at it, so a
    gateway started again (after a crash, by a supervisor) must come back on the same one."""
    port = read_gateway_state(paths).get("port")
    if isinstance(port, int):
        write_private(paths.state, json.dumps({"state": "stopped", "port": port}))
    else:
        with contextlib.suppress(FileNotFoundError):
            paths.state.unlink()


def stop(paths: GatewayPaths) -> bool:
    """Stop the gateway and wait until its lease is free; True if one was running."""
    record = read_record(paths.lock)
    if record is None:
        return False
    holders = lease_processes(paths.lock) or ([record.supervisor] if record.supervisor else [])
    for pid in holders:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, signal.SIGTERM)
    try:
        wait_until(lambda: not is_held(paths.lock), STOP_TIMEOUT_S, 0.1, what="the gateway")
    except WaitTimeout:
        for pid in lease_processes(paths.lock):
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGKILL)
        with contextlib.suppress(WaitTimeout):
            wait_until(lambda: not is_held(paths.lock), 10, 0.1, what="the killed gateway")
    return True


def _last_line(path: Path) -> str:
    try:
        lines = [line for line in path.read_text(errors="replace").splitlines() if line.strip()]
    except OSError:
        return "no output"
    return lines[-1][-300:] if lines else "no output"
