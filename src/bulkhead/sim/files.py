"""The twin's one way to write a file that holds secrets: owner-only and atomic.

Snapshots and credential files carry every key's secret. They are created 0600 (never
widened and narrowed afterwards, which leaves a window where others can read them), they
replace the old file in one step (a crash never leaves half a snapshot), and a failed
write leaves nothing behind.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path


def write_private(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` readable by the owner only, replacing it atomically.

    The temporary file is created by ``mkstemp`` beside the target (same file system, so
    the rename is atomic), with mode 0600 from its first moment and a name nobody else
    can have claimed. Any failure removes it and re-raises.
    """
    descriptor, temporary = tempfile.mkstemp(
        dir=path.parent, prefix=f".{path.name}.", suffix=".tmp"
    )
    try:
        with os.fdopen(descriptor, "wb") as handle:
            handle.write(data)
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise
