"""The supervised Freqtrade process: started holding the lease, ended as a group, and the
one line that says why it died.

The child inherits the lease's descriptor (``pass_fds``), so the lease stays held while
any part of the instance lives, and it gets SIGINT the moment its supervisor dies, however
it dies (``PR_SET_PDEATHSIG``). It leads its own session, so killing its process group
ends whatever it started too.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import json
import os
import signal
import subprocess
import sys
from collections.abc import Callable, Mapping
from datetime import datetime
from pathlib import Path
from typing import IO, Any

from bulkhead.fleet.lease import Lease

PR_SET_PDEATHSIG = 1
TAIL_BYTES = 64 * 1024


def start_child(
    command: list[str], lease: Lease, env: Mapping[str, str], output: IO[bytes] | None
) -> subprocess.Popen[bytes]:
    """Start ``command`` holding ``lease``, in its own session, dying with its parent."""
    return subprocess.Popen(  # noqa: S603 - our own interpreter and config
        command,
        stdout=output,
        stderr=subprocess.STDOUT if output else None,
        stdin=subprocess.DEVNULL,
        start_new_session=True,
        pass_fds=(lease.fd,),
        preexec_fn=die_with_parent(os.getpid()),  # the supervisor runs no threads
        env=dict(env),
    )


def die_with_parent(parent: int) -> Callable[[], None] | None:
    """A pre-exec hook giving the child SIGINT when its parent dies (Linux), so an
    orphaned Freqtrade stops trading and frees the lease instead of trading on alone.

    libc is looked up here, before the fork: the hook itself only makes two system calls.
    If the parent already died before the hook ran, the child kills itself at once.
    """
    name = ctypes.util.find_library("c")
    if not sys.platform.startswith("linux") or name is None:
        return None
    prctl = ctypes.CDLL(name, use_errno=True).prctl

    def hook() -> None:
        prctl(PR_SET_PDEATHSIG, signal.SIGINT)
        if os.getppid() != parent:
            os.kill(os.getpid(), signal.SIGKILL)

    return hook


def kill_group(pid: int) -> None:
    """SIGKILL a child and everything in its session (it leads its own process group)."""
    try:
        os.killpg(pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


def last_error(log: Path, raw_output: Path | None, since: float) -> str:
    """The last error Freqtrade logged since ``since`` (its JSON log), else the last line
    of its raw output (a traceback before logging was set up); "" when there is none."""
    for line in reversed(_tail_lines(log)):
        try:
            entry = json.loads(line)
        except ValueError:
            continue
        if not isinstance(entry, dict) or entry.get("level") not in ("error", "critical"):
            continue
        if _logged_at(entry) < since - 0.5:
            break
        return str(entry.get("event", "")).splitlines()[0] if entry.get("event") else ""
    if raw_output is not None:
        for line in reversed(_tail_lines(raw_output)):
            if line.strip():
                return line.strip()
    return ""


def _tail_lines(path: Path) -> list[str]:
    try:
        with path.open("rb") as handle:
            handle.seek(0, os.SEEK_END)
            size = handle.tell()
            handle.seek(max(0, size - TAIL_BYTES))
            return handle.read().decode(errors="replace").splitlines()
    except OSError:
        return []


def _logged_at(entry: dict[str, Any]) -> float:
    try:
        return datetime.fromisoformat(str(entry.get("time"))).timestamp()
    except ValueError:
        return 0.0
