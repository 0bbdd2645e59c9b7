"""Serving a KuCoin-speaking ASGI app (the twin, the gateway) with uvicorn.

One configuration for both: httptools with KuCoin's request limits and refusals
(``protocol``), no WebSocket upgrade (an upgrade request is answered as plain HTTP), no
proxy headers, no server header. ``BackgroundServer`` runs one on a thread of this
process, for tests, benchmarks and demos that need a real HTTP server beside them.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

import uvicorn

from bulkhead.kucoin.protocol import KucoinHttpProtocol
from bulkhead.plumbing import WaitTimeout, free_port, wait_until

#: how long a background server may take to start, and to stop
START_S = 10.0
STOP_S = 10.0


def uvicorn_config(app: Any, host: str, port: int, *, quiet: bool = True) -> uvicorn.Config:
    """The uvicorn settings of a KuCoin-speaking app; ``quiet=False`` logs every request
    (never for the gateway: a request line carries the query)."""
    return uvicorn.Config(
        app,
        host=host,
        port=port,
        lifespan="on",
        log_level="warning" if quiet else "info",
        access_log=not quiet,
        http=KucoinHttpProtocol,
        ws="none",
        loop="uvloop",
        timeout_keep_alive=30,
        proxy_headers=False,
        server_header=False,
    )


class BackgroundServer:
    """``app`` served on 127.0.0.1 on a daemon thread: ``with BackgroundServer(app, name=
    "twin") as server: server.url``. Start-up failures raise instead of hanging."""

    def __init__(self, app: Any, port: int | None = None, *, name: str) -> None:
        self.app = app
        self.name = name
        self.port = port or free_port()
        self._server = uvicorn.Server(uvicorn_config(app, "127.0.0.1", self.port))
        self._thread = threading.Thread(target=self._server.run, name=name, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        logging.getLogger("uvicorn.error").setLevel(logging.WARNING)
        self._thread.start()
        try:
            wait_until(self._started, START_S, 0.02, what=f"the {self.name} to start")
        except WaitTimeout:
            raise RuntimeError(f"the {self.name} did not start") from None

    def stop(self) -> None:
        self._server.should_exit = True
        self._thread.join(timeout=STOP_S)

    def _started(self) -> bool:
        if not self._server.started and not self._thread.is_alive():
            raise RuntimeError(f"the {self.name} did not start")
        return bool(self._server.started)
