"""A small ASGI request layer for servers that speak KuCoin: the twin and the order gateway.

Both serve a fleet of bots from one process, so they skip framework machinery (dependency
injection, response models) that would cost more than the handlers themselves, and each
owns its error path so that nothing but KuCoin's envelope ever leaves it. Here: the
request as read from ASGI (``read_request``, bounded by ``limits``), routes and a router
for KuCoin's paths, and query parsing.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal
from urllib.parse import parse_qsl

import orjson

from bulkhead.kucoin import envelope, limits

RouteKind = Literal["public", "private", "admin"]


@dataclass(slots=True)
class Request:
    method: str
    path: str
    #: the path and query exactly as sent: what a KuCoin client signs
    target: bytes
    #: the headers as sent (ASGI servers lower-case the names); kept as bytes, since only
    #: a few are ever read and signatures are checked on the bytes themselves
    headers: dict[bytes, bytes]
    body: bytes
    client_ip: str
    query: dict[str, str] = field(default_factory=dict)
    params: dict[str, str] = field(default_factory=dict)

    def header(self, name: bytes) -> str:
        """One header as text ("" when absent)."""
        return self.headers.get(name, b"").decode("latin-1")

    def json(self) -> dict[str, Any]:
        """The body as a JSON object; a malformed or non-object body is KuCoin's 400100."""
        if not self.body:
            return {}
        try:
            parsed = orjson.loads(self.body)
        except orjson.JSONDecodeError:
            raise envelope.bad_parameter("Invalid JSON body") from None
        if not isinstance(parsed, dict):
            raise envelope.bad_parameter("JSON body must be an object")
        return parsed


Handler = Callable[..., Any]


@dataclass(frozen=True, slots=True)
class Route:
    method: str
    pattern: str
    handler: Handler
    kind: RouteKind
    #: the KuCoin permission a key needs for this route (private routes only)
    permission: str | None = None
    #: request weight against the rate-limit quota
    weight: int = 1


class Router:
    """Exact paths in a dict; paths whose only parameter is the last segment (an order
    id, a symbol) in a dict by their prefix; any other pattern as a compiled regex."""

    def __init__(self) -> None:
        self._exact: dict[tuple[str, str], Route] = {}
        self._by_prefix: dict[tuple[str, str], tuple[Route, str]] = {}
        self._patterns: list[tuple[str, re.Pattern[str], Route]] = []

    def add(self, route: Route) -> None:
        if "{" not in route.pattern:
            self._exact[(route.method, route.pattern)] = route
            return
        prefix, _, last = route.pattern.rpartition("/")
        if "{" not in prefix and re.fullmatch(r"\{\w+\}", last):
            self._by_prefix[(route.method, prefix)] = (route, last[1:-1])
            return
        regex = re.sub(r"\{(\w+)\}", r"(?P<\1>[^/]+)", route.pattern)
        self._patterns.append((route.method, re.compile(f"^{regex}$"), route))

    def match(self, method: str, path: str) -> tuple[Route, dict[str, str]] | None:
        route = self._exact.get((method, path))
        if route is not None:
            return route, {}
        prefix, _, last = path.rpartition("/")
        if last:
            by_prefix = self._by_prefix.get((method, prefix))
            if by_prefix is not None:
                return by_prefix[0], {by_prefix[1]: last}
        for route_method, regex, candidate in self._patterns:
            if route_method != method:
                continue
            found = regex.match(path)
            if found:
                return candidate, found.groupdict()
        return None

    def routes(self) -> list[Route]:
        return [
            *self._exact.values(),
            *(route for route, _ in self._by_prefix.values()),
            *(route for _, _, route in self._patterns),
        ]


def parse_query(raw_query: str) -> dict[str, str]:
    """The query as a dict (the last of repeated names wins, blank values kept).

    Bots send plain queries (``type=trade``, ``symbol=XRP-USDT``) on every poll, so those
    are split directly; anything percent- or plus-encoded goes through ``parse_qsl``.
    """
    if not raw_query:
        return {}
    if "%" in raw_query or "+" in raw_query:
        return dict(parse_qsl(raw_query, keep_blank_values=True))
    query = {}
    for part in raw_query.split("&"):
        if part:
            name, _, value = part.partition("=")
            query[name] = value
    return query


Scope = dict[str, Any]
Receive = Callable[[], Any]
_MAX_BODY = limits.MAX_BODY_BYTES
_MAX_BODY_DIGITS = len(str(_MAX_BODY))


def body_too_large() -> envelope.KucoinError:
    return envelope.request_too_large("Request body", _MAX_BODY, 413)


async def read_request(scope: Scope, receive: Receive) -> Request:
    """The request, or ``KucoinError`` (413) for a body over ``MAX_BODY_BYTES``.

    A body declared too long is refused before any of it is read; a bot's request
    arrives in one message, so the common case costs two length checks. A longer
    body is read only up to the limit: whatever follows is never held, and the
    server discards it once the refusal is sent.
    """
    headers = dict(scope["headers"])
    declared = headers.get(b"content-length")
    # Fewer digits than the limit has cannot exceed it: int() only for long ones.
    if declared is not None and len(declared) >= _MAX_BODY_DIGITS and int(declared) > _MAX_BODY:
        raise body_too_large()
    message = await receive()
    body = message.get("body", b"")
    if message.get("more_body"):
        chunks = [body]
        size = len(body)
        while message.get("more_body") and size <= _MAX_BODY:
            message = await receive()
            chunk = message.get("body", b"")
            chunks.append(chunk)
            size += len(chunk)
        body = b"".join(chunks)
    if len(body) > _MAX_BODY:
        raise body_too_large()
    raw_path = scope.get("raw_path") or scope["path"].encode()
    if b"?" in raw_path:  # pragma: no cover - ASGI servers pass the query apart
        raw_path = raw_path.split(b"?", 1)[0]
    raw_query = scope.get("query_string", b"")
    client = scope.get("client") or ("", 0)
    return Request(
        method=scope["method"],
        path=scope["path"],
        target=raw_path + b"?" + raw_query if raw_query else raw_path,
        # Headers stay bytes: a server reads a handful of the dozen a client sends.
        headers=headers,
        body=body,
        client_ip=client[0],
        query=parse_query(raw_query.decode("latin-1")) if raw_query else {},
    )
