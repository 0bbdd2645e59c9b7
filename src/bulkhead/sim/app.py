"""The twin as an ASGI application: faults, authentication, permissions, rate limits, dispatch.

Order of a private request, as on KuCoin: body size → route → injected faults → signature
checks → frozen user → permission → rate limit → matching catches up → handler. Every
failure leaves as KuCoin's envelope; an unexpected exception becomes 500000 without a
traceback (and is logged on the server side for the developer). Below the app,
``protocol.KucoinHttpProtocol`` bounds URLs and headers the same way (``limits``).
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import ipaddress
import logging
import random
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bulkhead.kucoin.http import read_request
from bulkhead.sim import errors, limits, matching
from bulkhead.sim.auth import authenticate
from bulkhead.sim.engine import Twin
from bulkhead.sim.http import Request, Route, Router, error_body, success_body
from bulkhead.sim.models import FaultSpec
from bulkhead.sim.routes import build_router
from bulkhead.sim.routes.accounts import MOVEMENT_PATHS
from bulkhead.sim.routes.context import AdminCall, Call

logger = logging.getLogger("bulkhead.sim")

RATE_WINDOW_MS = 30_000
DEFAULT_QUOTA = 4000
MATCH_INTERVAL_S = 0.25
AUTOSAVE_INTERVAL_S = 2.0
Scope = dict[str, Any]


@dataclass
class _Window:
    started_ms: int
    used: int = 0


@dataclass(slots=True)
class Response:
    status: int
    body: bytes
    headers: list[tuple[bytes, bytes]] = field(default_factory=list)
    drop_for_s: float | None = None


def _is_loopback(ip: str) -> bool:
    try:
        return ipaddress.ip_address(ip).is_loopback
    except ValueError:
        return False


class TwinApp:
    """One twin behind HTTP. Build with ``TwinApp(twin)``; hand it to uvicorn."""

    def __init__(
        self,
        twin: Twin,
        *,
        admin_token: str | None = None,
        state_path: Path | None = None,
        router: Router | None = None,
        rng: random.Random | None = None,
    ) -> None:
        self.twin = twin
        self.admin_token = admin_token
        self.state_path = state_path
        self.router = router or build_router()
        self._rng = rng or random.Random()
        self._windows: dict[str, _Window] = {}
        self._background: asyncio.Task[None] | None = None
        self._saved_sequence = -1

    # -- ASGI -------------------------------------------------------------------------

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
            return
        if scope["type"] != "http":
            return
        try:
            request = await self._read(scope, receive)
            response = await self.handle(request) if isinstance(request, Request) else request
        except Exception:  # the last net: even a bug answers in KuCoin's envelope
            logger.exception("unexpected error in %s %s", scope["method"], scope["path"])
            response = self._error(errors.internal_error())
        if response.drop_for_s is not None:
            await self._hang_up(receive, response.drop_for_s)
            return
        headers = [
            (b"content-type", b"application/json"),
            (b"content-length", b"%d" % len(response.body)),
            *response.headers,
        ]
        await send({"type": "http.response.start", "status": response.status, "headers": headers})
        await send({"type": "http.response.body", "body": response.body})

    async def _read(self, scope: Scope, receive: Any) -> Request | Response:
        """The request, or the refusal of one whose body is over ``MAX_BODY_BYTES``
        (``kucoin.http.read_request``, shared with the order gateway)."""
        try:
            return await read_request(scope, receive)
        except errors.KucoinError as error:
            return self._error(error)

    @staticmethod
    async def _hang_up(receive: Any, hold_s: float) -> None:
        """A dropped response: the work is done, but the client never hears back."""
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(hold_s):
                while (await receive())["type"] != "http.disconnect":
                    pass

    async def _lifespan(self, receive: Any, send: Any) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                self._background = asyncio.create_task(self._keep_matching())
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                if self._background is not None:
                    self._background.cancel()
                self.save_if_changed()
                await send({"type": "lifespan.shutdown.complete"})
                return

    async def _keep_matching(self) -> None:
        """Orders fill while nobody asks, and state reaches disk within seconds."""
        last_save = 0.0
        loop = asyncio.get_running_loop()
        while True:
            await asyncio.sleep(MATCH_INTERVAL_S)
            try:
                matching.advance(self.twin)
                if loop.time() - last_save >= AUTOSAVE_INTERVAL_S:
                    self.save_if_changed()
                    last_save = loop.time()
            except Exception:  # the loop must outlive any one bad order
                logger.exception("background matching failed")

    def save_if_changed(self) -> None:
        if self.state_path is None or self.twin.sequence == self._saved_sequence:
            return
        self.twin.save(self.state_path)
        self._saved_sequence = self.twin.sequence

    # -- the pipeline -----------------------------------------------------------------

    async def handle(self, request: Request) -> Response:
        matched = self.router.match(request.method, request.path)
        if matched is None:
            return self._error(errors.not_found())
        route, request.params = matched
        if route.kind == "admin":
            return self._admin(route, request)
        drop_for_s = None
        for fault in self._faults_for(request.path) if self.twin.state.faults else ():
            if fault.kind == "latency":
                await asyncio.sleep(fault.latency_ms / 1000)
            elif fault.kind == "error500":
                return self._error(errors.internal_error())
            elif fault.kind == "ratelimit":
                return self._error(errors.too_many_requests(), self._limit_headers(0, 0))
            elif fault.kind == "drop":
                drop_for_s = fault.hold_s
        try:
            call = Call(self.twin, request)
            headers: list[tuple[bytes, bytes]] = []
            if route.kind == "private":
                headers = self._authorize(route, request, call)
                if self.twin.active_orders.get(call.me.uid):
                    matching.advance(self.twin, call.me.uid)
            body = success_body(route.handler(call))
        except errors.KucoinError as error:
            return self._error(error)
        except Exception:
            logger.exception("unexpected error in %s %s", request.method, request.path)
            return self._error(errors.internal_error())
        return Response(200, body, headers, drop_for_s)

    def _faults_for(self, path: str) -> list[FaultSpec]:
        if not self.twin.state.faults:
            return []
        hits = []
        for fault in list(self.twin.state.faults):
            if not path.startswith(fault.path_prefix):
                continue
            if fault.probability < 1.0 and self._rng.random() >= fault.probability:
                continue
            hits.append(fault)
            if fault.count is not None:
                fault.count -= 1
                if fault.count <= 0:
                    self.twin.state.faults.remove(fault)
        return hits

    def _authorize(self, route: Route, request: Request, call: Call) -> list[tuple[bytes, bytes]]:
        twin = self.twin
        now_ms = twin.wall_ms()
        try:
            key = authenticate(
                request.headers,
                twin.state.keys,
                request.method,
                request.target,
                request.body,
                now_ms,
                request.client_ip,
            )
            user = twin.user_of(key)
            call.key, call.user = key, user
            if user.frozen:
                raise errors.user_frozen()
            if route.permission and route.permission not in key.permissions:
                raise errors.no_permission()
        except errors.KucoinError as error:
            given_key = request.header(b"kc-api-key")
            movement_kind = MOVEMENT_PATHS.get(route.pattern)
            twin.record_auth_refusal(
                request.method, request.path, given_key, error.code, request.client_ip
            )
            if movement_kind:
                twin.record_movement(
                    movement_kind,
                    call.key,
                    False,
                    error.code,
                    _parsed_or_text(request),
                    reason=error.msg,
                    api_key=given_key,
                )
            raise
        return self._spend_quota(key.api_key, route.weight, now_ms)

    def _spend_quota(self, api_key: str, weight: int, now: int) -> list[tuple[bytes, bytes]]:
        quota = self.twin.state.rate_limit_quota
        window = self._windows.get(api_key)
        if window is None or now - window.started_ms >= RATE_WINDOW_MS:
            window = self._windows[api_key] = _Window(now)
        limit = quota or DEFAULT_QUOTA
        reset = RATE_WINDOW_MS - (now - window.started_ms)
        if quota is not None and window.used + weight > quota:
            raise _RateLimited(self._limit_headers(limit, reset, max(0, limit - window.used)))
        window.used += weight
        return self._limit_headers(limit, reset, max(0, limit - window.used))

    @staticmethod
    def _limit_headers(limit: int, reset_ms: int, remaining: int = 0) -> list[tuple[bytes, bytes]]:
        return [
            (b"gw-ratelimit-limit", b"%d" % limit),
            (b"gw-ratelimit-remaining", b"%d" % remaining),
            (b"gw-ratelimit-reset", b"%d" % reset_ms),
        ]

    def _admin(self, route: Route, request: Request) -> Response:
        refusal = self._admin_refusal(request)
        if refusal is not None:
            return self._error(refusal)
        try:
            data = route.handler(AdminCall(self.twin, request, state_path=self.state_path))
            return Response(200, success_body(data))
        except errors.KucoinError as error:
            return self._error(error)
        except Exception:
            logger.exception("unexpected error in admin %s %s", request.method, request.path)
            return self._error(errors.internal_error())

    def _admin_refusal(self, request: Request) -> errors.KucoinError | None:
        """Why this admin request is refused, if it is.

        The admin API mints keys and money, so beyond loopback and the optional token it
        refuses anything a web page could send: a browser marks its requests with
        ``Origin`` (every cross-site and every non-GET request) or ``Sec-Fetch-Site``,
        a DNS-rebinding page reaches loopback under its own ``Host`` name, and the only
        bodies a page can post without a CORS preflight are forms and plain text, so a
        body must be declared ``application/json``.
        """
        if not _is_loopback(request.client_ip):
            return errors.admin_refused("admin API is loopback only")
        headers = request.headers
        if b"origin" in headers:
            return errors.admin_refused("admin API refuses requests from web pages (Origin)")
        if headers.get(b"sec-fetch-site", b"none") not in _SAME_SITE:
            return errors.admin_refused("admin API refuses cross-site requests (Sec-Fetch-Site)")
        host = headers.get(b"host")
        if host is not None and not _is_loopback_host(host):
            return errors.admin_refused("admin API answers only to a loopback Host")
        if self.admin_token and not hmac.compare_digest(
            headers.get(b"authorization", b""), f"Bearer {self.admin_token}".encode()
        ):
            return errors.admin_refused("admin token required", 401)
        content_type = headers.get(b"content-type")
        if (request.body or content_type is not None) and not _is_json(content_type):
            return errors.unsupported_media_type()
        return None

    @staticmethod
    def _error(
        error: errors.KucoinError, headers: list[tuple[bytes, bytes]] | None = None
    ) -> Response:
        if isinstance(error, _RateLimited):
            headers = error.headers
        return Response(error.http_status, error_body(error), headers or [])


class _RateLimited(errors.KucoinError):
    def __init__(self, headers: list[tuple[bytes, bytes]]) -> None:
        super().__init__("429000", "Too Many Requests", 429)
        self.headers = headers


def _parsed_or_text(request: Request) -> object:
    """The body as parsed JSON, else a short piece of its text (for the movement log)."""
    try:
        return request.json()
    except errors.KucoinError:
        return request.body[: limits.MAX_RECORDED_VALUE_CHARS].decode("utf-8", "replace")


_SAME_SITE = (b"none", b"same-origin")


def _is_loopback_host(host: bytes) -> bool:
    """``localhost`` or a loopback address, with or without a port (``[::1]:8899``)."""
    name = host.decode("latin-1").strip().lower()
    if name.startswith("["):
        name = name[1:].partition("]")[0]
    elif name.count(":") == 1:
        name = name.partition(":")[0]
    return name == "localhost" or _is_loopback(name)


def _is_json(content_type: bytes | None) -> bool:
    if content_type is None:
        return False
    media_type = content_type.partition(b";")[0].strip().lower()
    return media_type == b"application/json"
