"""Serve the gateway with uvicorn, bounded as the twin is (``kucoin.protocol``).

``GatewayServer`` runs one on a background thread, for tests and benchmarks that need a
real HTTP gateway inside their own process.
"""

from __future__ import annotations

import uvicorn

from bulkhead.gateway.app import GatewayApp
from bulkhead.kucoin.serving import BackgroundServer, uvicorn_config

__all__ = ["GatewayServer", "serve", "uvicorn_config"]


def serve(app: GatewayApp, host: str, port: int) -> None:
    """Serve ``app`` on HOST:PORT in this thread until interrupted."""
    uvicorn.Server(uvicorn_config(app, host, port, quiet=True)).run()


class GatewayServer(BackgroundServer):
    """A real HTTP gateway on a background thread: ``with GatewayServer(app) as gw: ...``."""

    app: GatewayApp

    def __init__(self, app: GatewayApp, port: int | None = None) -> None:
        super().__init__(app, port, name="gateway")

    def __enter__(self) -> GatewayServer:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
