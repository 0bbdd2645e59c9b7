"""bench/twin.py loads the twin with the very headers ccxt sends.

The benchmark's own minimal client stands in for ccxt so that, on two cores, the twin and
not the load generator sets the rate. Its numbers only mean something if each request
carries what ccxt's ``kucoin.sign`` would put on it: the same header names, values and
order (the twin parses every header, so a lighter request would flatter it).
"""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path
from types import ModuleType

import ccxt
import pytest

BENCH = Path(__file__).resolve().parents[2] / "bench" / "twin.py"
TIMESTAMP_MS = 1_700_000_000_123


@pytest.fixture(scope="module")
def bench() -> ModuleType:
    spec = importlib.util.spec_from_file_location("bench_twin", BENCH)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses resolve annotations through it
    spec.loader.exec_module(module)
    return module


def _ccxt_headers(method: str, path: str, params: dict[str, str]) -> tuple[str, dict[str, str]]:
    exchange = ccxt.kucoin({"apiKey": "key-1", "secret": "secret-1", "password": "pass-1"})
    exchange.nonce = lambda: TIMESTAMP_MS
    signed = exchange.sign(path, ["private"], method, dict(params))
    return signed["body"] or "", dict(signed["headers"])


@pytest.mark.parametrize(
    ("method", "path", "params", "target"),
    [
        ("GET", "accounts", {"type": "trade"}, "/api/v1/accounts?type=trade"),
        ("GET", "orders/{orderId}", {"orderId": "65f0a1"}, "/api/v1/orders/65f0a1"),
        (
            "POST",
            "orders",
            {
                "clientOid": "c-1",
                "side": "buy",
                "symbol": "XRP-USDT",
                "type": "market",
                "size": "2",
            },
            "/api/v1/orders",
        ),
    ],
)
def test_bench_headers_are_ccxts(
    bench: ModuleType, method: str, path: str, params: dict[str, str], target: str
) -> None:
    body, expected = _ccxt_headers(method, path, params)
    if body:
        # The bench serialises the body itself; it must be the same bytes ccxt signs.
        assert json.dumps(params, separators=(",", ":")) == body
    credentials = bench.Credentials(api_key="key-1", secret=b"secret-1", passphrase="pass-1")
    headers = credentials.headers(method, target, body, timestamp_ms=TIMESTAMP_MS)
    assert list(headers.items()) == list(expected.items())
