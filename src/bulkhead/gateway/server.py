"""Serve the gateway with uvicorn, bounded as the twin is (``kucoin.protocol``).

``GatewayServer`` runs one on a background thread, for tests and benchmarks that need a
real HTTP gateway inside their own process.
"""

from __future__ import annotations

import threading

import uvicorn

from bulkhead.gateway.app import GatewayApp
from bulkhead.kucoin.protocol import KucoinHttpProtocol
from bulkhead.plumbing import WaitTimeout, free_port, wait_until


def uvicorn_config(app: GatewayApp, host: str, port: int) -> uvicorn.Config:
    return uvicorn.Config(
        app,
        host=host,
        port=port,
        lifespan="on",
        log_level="warning",
        access_log=False,  # an access log line would carry the query; events say enough
        http=KucoinHttpProtocol,
        ws="none",
        loop="uvloop",
        timeout_keep_alive=30,
        proxy_headers=False,
        server_header=False,
    )


def serve(app: GatewayApp, host: str, port: int) -> None:
    """Serve ``app`` on HOST:PORT in this thread until interrupted."""
    uvicorn.Server(uvicorn_config(app, host, port)).run()


class GatewayServer:
    """A real HTTP gateway on a background thread: ``with GatewayServer(app) as gw: ...``."""

    def __init__(self, app: GatewayApp, port: int | None = None) -> None:
        self.app = app
        self.port = port or free_port()
        self._server = uvicorn.Server(uvicorn_config(app, "127.0.0.1", self.port))
        self._thread = threading.Thread(target=self._server.run, name="gateway", daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> GatewayServer:
        self._thread.start()
        try:
            wait_until(self._started, 10, 0.02, what="the gateway to start")
        except WaitTimeout:
            raise RuntimeError("the gateway did not start") from None
        return self

    def _started(self) -> bool:
        if not self._server.started and not self._thread.is_alive():
            raise RuntimeError("the gateway did not start")
        return bool(self._server.started)

    def __exit__(self, *exc: object) -> None:
        self._server.should_exit = True
        self._thread.join(timeout=10)
