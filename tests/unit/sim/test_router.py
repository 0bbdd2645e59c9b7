"""The twin's router: every KuCoin path reaches its handler with its parameters, and
nothing else does (an empty or slash-containing parameter is not an id)."""

from __future__ import annotations

import re

import pytest

from bulkhead.sim.http import Route, Router
from bulkhead.sim.routes import build_router


def _handler() -> None:  # pragma: no cover - never called
    return None


def _route(method: str, pattern: str) -> Route:
    return Route(method, pattern, _handler, "public")


def _instance(pattern: str) -> tuple[str, dict[str, str]]:
    """A concrete path for a pattern, and the parameters it should yield."""
    params: dict[str, str] = {}

    def fill(found: re.Match[str]) -> str:
        params[found.group(1)] = f"value-of-{found.group(1)}"
        return params[found.group(1)]

    return re.sub(r"\{(\w+)\}", fill, pattern), params


@pytest.mark.parametrize(
    "route", build_router().routes(), ids=lambda route: f"{route.method} {route.pattern}"
)
def test_every_twin_route_matches_its_own_paths(route: Route) -> None:
    path, params = _instance(route.pattern)
    assert build_router().match(route.method, path) == (route, params)


def test_a_parameter_in_the_last_segment_and_one_in_the_middle_both_match() -> None:
    router = Router()
    last, middle = _route("GET", "/orders/{orderId}"), _route("PUT", "/symbols/{symbol}/fees")
    router.add(last)
    router.add(middle)
    assert router.match("GET", "/orders/abc") == (last, {"orderId": "abc"})
    assert router.match("PUT", "/symbols/XRP-USDT/fees") == (middle, {"symbol": "XRP-USDT"})


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/orders/"),  # an empty id
        ("GET", "/orders/abc/def"),  # an id does not contain a slash
        ("DELETE", "/orders/abc"),  # another method
        ("GET", "/orders"),  # the prefix alone
        ("PUT", "/symbols//fees"),
    ],
)
def test_paths_that_only_look_alike_do_not_match(method: str, path: str) -> None:
    router = Router()
    router.add(_route("GET", "/orders/{orderId}"))
    router.add(_route("PUT", "/symbols/{symbol}/fees"))
    assert router.match(method, path) is None


def test_an_exact_path_wins_over_a_parameter_in_its_place() -> None:
    router = Router()
    by_id, sync = _route("DELETE", "/hf/orders/{orderId}"), _route("DELETE", "/hf/orders/sync")
    router.add(by_id)
    router.add(sync)
    assert router.match("DELETE", "/hf/orders/sync") == (sync, {})
    assert router.match("DELETE", "/hf/orders/x1") == (by_id, {"orderId": "x1"})
