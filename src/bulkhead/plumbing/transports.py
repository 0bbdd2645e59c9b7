"""The one way to take a new TCP connection's transport: sending at once (TCP_NODELAY)."""

from __future__ import annotations

import asyncio
import contextlib
import socket
from typing import cast


def sending_at_once(transport: asyncio.BaseTransport) -> asyncio.Transport:
    """``transport`` as a stream transport, with Nagle's algorithm off on a TCP socket:
    a small request must not wait up to 40 ms for the peer's delayed ACK (asyncio sets
    TCP_NODELAY on accepted connections only, not on those a client opens)."""
    sock = transport.get_extra_info("socket")
    if sock is not None and sock.family in (socket.AF_INET, socket.AF_INET6):
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    # uvloop's transports implement asyncio.Transport without subclassing it
    return cast(asyncio.Transport, transport)
