"""The order gateway as an ASGI application: parse, authenticate, allow, (reserve), forward.

Order of a request, each step refusing in KuCoin's envelope:

1. read it, bounded as the twin reads (``kucoin.http.read_request``: a body over 64 KiB is
   413; below the app, ``kucoin.protocol.KucoinHttpProtocol`` bounds URLs and heads);
2. a path that is not in canonical form (``//``, ``.`` or ``..`` segments) is refused:
   the allowlist and the upstream must see the same path; so is every path under
   ``/refused/``, where ``client.ccxt_config`` points KuCoin's non-spot hosts;
3. public market data (an allowlisted unsigned rule) is forwarded unsigned;
4. anything else must be signed with a gateway credential, checked exactly as KuCoin
   checks its keys (``kucoin.signing.verify``: missing header 400001, unknown key 400003,
   timestamp 400002, signature 400005, passphrase 400004), so no other local process can
   use a bot's credential without its secret;
5. a call not in the allowlist is refused with 400007 and recorded, never forwarded;
6. ``/bulkhead/v1/guard/state`` (``guard_route``) is the bot's risk guard reading and
   asking for its trading state, never forwarded;
7. an order placement passes the order hook first (the budget ledger's reserve; it may
   refuse, e.g. 200004), then goes upstream re-signed with the bot's real key, and the
   hook settles from the answer (including a lost one) while the answer goes back.

Every refusal is a structured log event (``gateway_refused``) naming the bot when known,
the call and the code, and so is every state-changing request forwarded
(``gateway_forwarded``: placements and cancels, with the upstream's status and outcome);
nothing a client sent (headers, body, key id) is logged. An
unexpected exception answers 500000 and logs its traceback on the server side only.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from bulkhead.gateway.allowlist import Allowlist, Rule
from bulkhead.gateway.client import REFUSED_PREFIX
from bulkhead.gateway.custody import Custody
from bulkhead.gateway.guard_route import GUARD_STATE_PATH, GuardRoute
from bulkhead.gateway.trouble import UpstreamTrouble
from bulkhead.gateway.upstream import Answer, Upstream
from bulkhead.kucoin import envelope
from bulkhead.kucoin.envelope import KucoinError
from bulkhead.kucoin.http import Request, read_request
from bulkhead.kucoin.signing import verify
from bulkhead.logs import event

logger = logging.getLogger("bulkhead.gateway")

Scope = dict[str, Any]
#: How many refusals the app keeps for inspection (``GatewayApp.refusals``).
MAX_KEPT_REFUSALS = 1000
#: Reason codes of refusals, for the audit trail.
NOT_ALLOWED = "NOT_ALLOWLISTED"
AUTH_FAILED = "AUTH_FAILED"
BAD_REQUEST = "BAD_REQUEST"
HOOK_REFUSED = "ORDER_REFUSED"
_OTHER_HOSTS = f"{REFUSED_PREFIX}/"


class OrderHook(Protocol):
    """Where the budget ledger sits: called around every order placement a rule marks
    ``places_order`` (buys and sells alike; the ledger tells them apart from the body).

    ``reserve`` runs before forwarding; raising ``KucoinError`` refuses the order with that
    envelope (the ledger's 200004) and nothing is forwarded. Whatever it returns is handed
    to ``settle`` with the upstream's answer, whose ``outcome`` says whether the answer was
    lost (keep the reservation until the order is found by its clientOid).
    """

    async def reserve(self, bot: str, request: Request) -> object: ...

    async def settle(self, bot: str, reservation: object, answer: Answer) -> None: ...

    async def close(self) -> None: ...


class PassThrough:
    """The default order hook: reserves nothing, refuses nothing."""

    async def reserve(self, bot: str, request: Request) -> object:
        return None

    async def settle(self, bot: str, reservation: object, answer: Answer) -> None:
        return None

    async def close(self) -> None:
        return None


@dataclass(frozen=True)
class Refusal:
    """One refused request, as recorded."""

    bot: str | None
    method: str
    path: str
    code: str
    reason: str


@dataclass(slots=True)
class Response:
    status: int
    body: bytes
    headers: list[tuple[bytes, bytes]] = field(default_factory=list)


class GatewayApp:
    """One gateway behind HTTP: ``GatewayApp(custody, Upstream(url))``; hand it to uvicorn."""

    def __init__(
        self,
        custody: Custody,
        upstream: Upstream,
        *,
        allowlist: Allowlist | None = None,
        order_hook: OrderHook | None = None,
        guard_route: GuardRoute | None = None,
        clock_ms: Callable[[], int] | None = None,
    ) -> None:
        self.custody = custody
        self.upstream = upstream
        self.allowlist = allowlist or Allowlist()
        self.order_hook: OrderHook = order_hook or PassThrough()
        self.guard_route = guard_route
        #: each bot's critical upstream answers of the last ten minutes, for its guard
        self.trouble = guard_route.trouble if guard_route is not None else UpstreamTrouble()
        self._clock_ms = clock_ms or (lambda: time.time_ns() // 1_000_000)
        #: the latest refusals, oldest first (the log has them all)
        self.refusals: deque[Refusal] = deque(maxlen=MAX_KEPT_REFUSALS)
        #: settlements still running after their answer went back to the bot
        self._settling: set[asyncio.Task[None]] = set()

    # -- ASGI -------------------------------------------------------------------------

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
            return
        if scope["type"] != "http":
            return
        try:
            response = await self.handle(await read_request(scope, receive))
        except KucoinError as error:  # refused while reading (body too large)
            response = self._refuse(None, scope["method"], scope["path"], error, BAD_REQUEST)
        except Exception:  # the last net: even a bug answers in KuCoin's envelope
            logger.exception("unexpected error in %s %s", scope["method"], scope["path"])
            response = _error(envelope.internal_error())
        headers = [
            (b"content-type", b"application/json"),
            (b"content-length", b"%d" % len(response.body)),
            *response.headers,
        ]
        await send({"type": "http.response.start", "status": response.status, "headers": headers})
        await send({"type": "http.response.body", "body": response.body})

    async def _lifespan(self, receive: Any, send: Any) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await self.upstream.open()
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await self.settled()
                await self.order_hook.close()
                await self.upstream.close()
                await send({"type": "lifespan.shutdown.complete"})
                return

    # -- the pipeline -----------------------------------------------------------------

    async def handle(self, request: Request) -> Response:
        method, path = request.method, request.path
        if not _canonical(path):
            return self._refuse(None, method, path, envelope.no_permission(), NOT_ALLOWED)
        target = request.target
        rule = self.allowlist.match(method, path)
        if path.startswith(_OTHER_HOSTS):
            # another KuCoin host (futures, earn, ...; see ``client.ccxt_config``): never
            # served, but the client signed the path without our prefix; check that, so
            # the refusal names the bot
            rule, target = None, b"/" + target.split(b"/", 3)[-1]
        if rule is not None and not rule.signed:
            return _answered(await self.upstream.forward(request, None))
        if rule is None and not request.headers.get(b"kc-api-key"):
            # neither allowed nor signed: refused without asking who sent it
            return self._refuse(None, method, path, envelope.no_permission(), NOT_ALLOWED)
        try:
            credential = verify(
                request.headers,
                self.custody.credentials,
                method,
                target,
                request.body,
                self._clock_ms(),
            )
        except KucoinError as error:
            return self._refuse(None, method, path, error, AUTH_FAILED)
        bot = credential.bot
        if path == GUARD_STATE_PATH and self.guard_route is not None:
            status, body = await self.guard_route.handle(bot, request)
            return Response(status, body)
        if rule is None:
            return self._refuse(bot, method, path, envelope.no_permission(), NOT_ALLOWED)
        return await self._forward(bot, rule, request)

    async def _forward(self, bot: str, rule: Rule, request: Request) -> Response:
        real = self.custody.real_key(bot)
        if request.method == "GET":
            answer = await self.upstream.forward(request, real)
            self.trouble.note(bot, answer)
            return _answered(answer)
        reservation = None
        if rule.places_order:
            try:
                reservation = await self.order_hook.reserve(bot, request)
            except KucoinError as error:
                return self._refuse(bot, request.method, request.path, error, HOOK_REFUSED)
        try:
            answer = await self.upstream.forward(request, real)
        except Exception:  # a bug: the order may have gone, so it settles as lost
            logger.exception("forwarding %s %s failed", request.method, request.path[:128])
            answer = Answer.refusal(envelope.internal_error(), "lost")
        self.trouble.note(bot, answer)
        task = asyncio.get_running_loop().create_task(
            self._after(bot, rule, request, reservation, answer)
        )
        self._settling.add(task)
        task.add_done_callback(self._settling.discard)
        return _answered(answer)

    async def _after(
        self, bot: str, rule: Rule, request: Request, reservation: object, answer: Answer
    ) -> None:
        """Record a state-changing request with what came of it, and settle a placement,
        while its answer goes back to the bot: the reservation was made before the order
        left, and settling only confirms or shrinks it, so the bot need not wait for the
        ledger's bookkeeping (a Redis write and its fsync) nor for the log. A task of its
        own, so it runs to its end even if the bot hangs up meanwhile."""
        event(
            logger,
            "gateway_forwarded",
            bot=bot,
            method=request.method,
            path=request.path[:128],
            family=rule.family,
            status=answer.status,
            outcome=answer.outcome,
        )
        if rule.places_order:
            await self.order_hook.settle(bot, reservation, answer)

    @property
    def settling(self) -> int:
        """How many settlements are under way (answered requests not yet recorded and
        settled)."""
        return len(self._settling)

    async def settled(self) -> None:
        """Wait for every settlement under way (at shutdown, so none is cut off)."""
        while self._settling:
            await asyncio.gather(*self._settling, return_exceptions=True)

    def _refuse(
        self, bot: str | None, method: str, path: str, error: KucoinError, reason: str
    ) -> Response:
        shown = path[:128]
        self.refusals.append(Refusal(bot, method, shown, error.code, reason))
        event(
            logger,
            "gateway_refused",
            logging.WARNING,
            bot=bot or "",
            method=method,
            path=shown,
            code=error.code,
            reason=reason,
        )
        return _error(error)


def _error(error: KucoinError) -> Response:
    return Response(error.http_status, envelope.error_body(error))


def _answered(answer: Answer) -> Response:
    return Response(answer.status, answer.body, answer.headers)


def _canonical(path: str) -> bool:
    """An absolute path without empty, ``.`` or ``..`` segments (nothing to normalize)."""
    if not path.startswith("/"):
        return False
    segments = path[1:].split("/")
    return all(segment not in {"", ".", ".."} for segment in segments)
