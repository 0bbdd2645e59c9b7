"""The one way to pick a TCP port nobody listens on: ask the kernel for one."""

from __future__ import annotations

import socket


def free_port(host: str = "127.0.0.1") -> int:
    """A port on ``host`` that was free a moment ago (the kernel's pick for port 0).

    It is free, not reserved: another process may take it before the caller binds it,
    so a caller that cannot retry should bind port 0 itself and read the port back.
    """
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as probe:
        probe.bind((host, 0))
        return int(probe.getsockname()[1])
