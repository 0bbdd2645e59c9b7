"""One live instance per bot: an exclusive ``flock`` on the bot's lock file.

The kernel drops the lock when the last process holding its open file dies, however it
dies. The supervisor takes it and hands the same open file to Freqtrade (an inherited
descriptor), so the lease is held as long as *anything that trades* lives: SIGKILL the
supervisor and the orphaned Freqtrade still holds it, and no second instance can start
beside it. The file records who holds it (``{"supervisor": pid, "child": pid}``) so that
``status`` and ``down`` find and stop what trades, not only the supervisor.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import ClassVar

from bulkhead.errors import OperatorError


class LeaseHeld(OperatorError, RuntimeError):
    """Another instance of this bot is running: do not start a second one."""

    #: ``run-bot``'s "already running"
    exit_code: ClassVar[int] = 4


@dataclass(frozen=True)
class LeaseRecord:
    """Who holds a lease: the supervisor, and the Freqtrade child it handed the lease to."""

    supervisor: int
    child: int | None = None


class Lease:
    def __init__(self, path: Path) -> None:
        self.path = path
        self._fd: int | None = None

    @property
    def fd(self) -> int:
        """The locked descriptor; a child that inherits it holds the lease with us."""
        if self._fd is None:
            raise RuntimeError("the lease is not held")
        return self._fd

    def acquire(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise LeaseHeld(f"{self.path} is held by another running instance") from None
        self._fd = fd
        self._write(LeaseRecord(supervisor=os.getpid()))

    def record_child(self, child: int | None) -> None:
        """Name the process the lease was handed to (None once it exited)."""
        self._write(LeaseRecord(supervisor=os.getpid(), child=child))

    def _write(self, record: LeaseRecord) -> None:
        text = json.dumps({"supervisor": record.supervisor, "child": record.child}).encode()
        os.ftruncate(self.fd, 0)
        os.pwrite(self.fd, text, 0)

    def release(self) -> None:
        if self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None

    def __enter__(self) -> Lease:
        self.acquire()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.release()


def is_held(path: Path) -> bool:
    """Whether any live process holds the lease (probing never blocks)."""
    if not path.exists():
        return False
    fd = os.open(path, os.O_RDONLY)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        fcntl.flock(fd, fcntl.LOCK_UN)
        return False
    finally:
        os.close(fd)


def read_record(path: Path) -> LeaseRecord | None:
    """Who holds the lease, or None when nobody does.

    A held lease whose file cannot be parsed (a holder from an older version writing a
    bare pid, or a write caught half way) still counts as held: supervisor -1.
    """
    if not is_held(path):
        return None
    try:
        text = path.read_text().strip()
    except OSError:
        return LeaseRecord(supervisor=-1)
    if text.isdigit():
        return LeaseRecord(supervisor=int(text))
    try:
        loaded = json.loads(text)
        supervisor = int(loaded["supervisor"])
        child = loaded.get("child")
        return LeaseRecord(supervisor, int(child) if child is not None else None)
    except (ValueError, KeyError, TypeError):
        return LeaseRecord(supervisor=-1)


def lease_holder(path: Path) -> int | None:
    """The supervisor pid holding the lease, or None when nobody does."""
    record = read_record(path)
    return None if record is None else record.supervisor


def holds_open(pid: int, path: Path) -> bool:
    """Whether process ``pid`` has ``path`` open: proof that it holds the lease, so a
    recycled pid in a stale record is never signalled."""
    target = os.path.realpath(path)
    with contextlib.suppress(OSError):
        for entry in os.scandir(f"/proc/{pid}/fd"):
            with contextlib.suppress(OSError):
                if os.readlink(entry.path) == target:
                    return True
    return False


def lease_processes(path: Path) -> list[int]:
    """Every live process holding the lease's file open (we ourselves excepted), found by
    looking at every process's open files, so a holder the record does not name (an
    orphan's descendant, a record from an older version) is found too."""
    if not is_held(path):
        return []
    found = []
    for entry in os.scandir("/proc"):
        if entry.name.isdigit() and int(entry.name) != os.getpid():
            pid = int(entry.name)
            if holds_open(pid, path):
                found.append(pid)
    return found
