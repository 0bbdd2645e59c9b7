"""A free port is one a server can bind right away."""

from __future__ import annotations

import socket

from bulkhead.plumbing import free_port


def test_a_free_port_is_bindable_on_loopback() -> None:
    port = free_port()
    assert 1024 <= port <= 65535
    with socket.socket() as server:
        server.bind(("127.0.0.1", port))
        server.listen()
        assert server.getsockname()[1] == port


def test_a_free_port_is_not_one_somebody_listens_on() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        busy = taken.getsockname()[1]
        assert all(free_port() != busy for _ in range(20))
