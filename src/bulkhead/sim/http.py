"""The twin's ASGI request layer: KuCoin's (``bulkhead.kucoin.http``, shared with the order
gateway), with the envelope's bodies."""

from __future__ import annotations

from bulkhead.kucoin.envelope import error_body, success_body
from bulkhead.kucoin.http import Handler, Request, Route, RouteKind, Router, parse_query

__all__ = [
    "Handler",
    "Request",
    "Route",
    "RouteKind",
    "Router",
    "error_body",
    "parse_query",
    "success_body",
]
