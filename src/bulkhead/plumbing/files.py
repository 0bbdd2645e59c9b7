"""The one way to write a file that must not be read by others, or seen half written.

Secrets, keys, snapshots and state files are created with their final mode from the
first byte (never written wide and narrowed afterwards, which leaves a window where
others can read them), under a temporary name nobody else can have claimed, beside the
target (same file system, so the rename is atomic), fsynced, then renamed over the
target, and the folder fsynced: a crash leaves either the old file or the new one, never
half of one, and a failed write leaves nothing behind.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

PRIVATE_FILE = 0o600
PRIVATE_FOLDER = 0o700


def write_private(
    path: Path | str,
    data: bytes | str,
    mode: int = PRIVATE_FILE,
    *,
    owner: tuple[int, int] | None = None,
) -> Path:
    """Write ``data`` (str as UTF-8) to ``path`` atomically, readable by the owner only.

    ``mode`` is the file's mode from its first byte (0o644 for a file others must read);
    an existing file's mode is never widened (a 0400 file stays 0400, a 0644 one written
    with 0o600 becomes 0600). ``owner`` (uid, gid) is given to the file before it
    appears under its name. Missing folders are created 0700. Returns ``path``.
    """
    with open_private(path, mode, owner=owner) as handle:
        handle.write(data.encode() if isinstance(data, str) else data)
    return Path(path)


@contextlib.contextmanager
def open_private(
    path: Path | str,
    mode: int = PRIVATE_FILE,
    *,
    owner: tuple[int, int] | None = None,
) -> Iterator[BinaryIO]:
    """``write_private`` for data written piece by piece: a binary handle whose file
    replaces ``path`` when the block ends, or is removed if it raises."""
    target = Path(path)
    _make_folder(target.parent)
    final = mode & _existing_mode(target)
    temporary = target.with_name(f".{target.name}.{secrets.token_hex(6)}.tmp")
    # O_EXCL: a name somebody else created (a planted symlink included) is refused, never
    # followed or reused; the mode applies from creation, before any byte is written.
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, final)
    try:
        handle = os.fdopen(descriptor, "wb")
    except BaseException:
        os.close(descriptor)
        temporary.unlink(missing_ok=True)
        raise
    try:
        with handle:
            if stat.S_IMODE(os.fstat(descriptor).st_mode) != final:
                # the umask took bits a reader needs (0o644 under umask 077); still empty
                os.fchmod(descriptor, final)
            if owner is not None:
                os.fchown(descriptor, *owner)
            yield handle
            handle.flush()
            os.fsync(descriptor)
        os.replace(temporary, target)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    _fsync_folder(target.parent)


def _existing_mode(path: Path) -> int:
    """The permission bits of the file at ``path``, all of them when there is none."""
    try:
        return stat.S_IMODE(path.stat().st_mode)
    except FileNotFoundError:
        return 0o7777


def _make_folder(folder: Path) -> None:
    """Create ``folder`` and any missing parent 0700 (an existing one is left alone)."""
    missing: list[Path] = []
    while not folder.exists():
        missing.append(folder)
        folder = folder.parent
    for each in reversed(missing):
        with contextlib.suppress(FileExistsError):
            each.mkdir(mode=PRIVATE_FOLDER)


def _fsync_folder(folder: Path) -> None:
    """Make the rename itself durable (a no-op where folders cannot be opened)."""
    try:
        descriptor = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(descriptor)
    except OSError:
        pass
    finally:
        os.close(descriptor)
