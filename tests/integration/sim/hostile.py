"""Requests for the hostile-input suite (``test_hostile_input.py``), as hypothesis strategies.

An ``Attempt`` is one request, sent as raw bytes so that a malformed one reaches the
twin exactly as generated. The strategies reach three depths: anything at all on the real
route table (``attempts``), correctly signed bodies shaped like each route's real
requests with plausible or hostile fields (``signed_bodies``, since random JSON almost
never gets past a handler's first check), and admin calls as a local tool sends them
(``admin_calls``).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, unquote_to_bytes

from hypothesis import strategies as st

from bulkhead.sim import limits
from bulkhead.sim.auth import sign
from bulkhead.sim.routes import build_router

ROUTES = build_router().routes()
KUCOIN_PATTERNS = sorted({(r.method, r.pattern) for r in ROUTES if r.kind != "admin"})
ADMIN_PATTERNS = sorted({(r.method, r.pattern) for r in ROUTES if r.kind == "admin"})
METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "HEAD"]
#: a master key with every permission, so that transfers and withdrawals get past 400007
MASTER_ALL = "master-all"
KEYS = ["bot1-trade", "master-admin", MASTER_ALL]


URL_SAFE = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-._~"
HOSTILE_NUMBERS = [
    "1e308",
    "-1e308",
    "1e999999999",
    "1e-999999999",
    "Infinity",
    "-Infinity",
    "NaN",
    "sNaN",
    "-0",
    "0",
    "0x10",
    "1_000",
    " 1 ",
    "",
    "1" * 100,
    "0." + "0" * 70 + "1",
    "10.5",
    "0.5",
    "1",
    "100",
]
FIELDS = [
    # orders
    "symbol", "side", "type", "price", "size", "funds", "stop", "stopPrice", "clientOid",
    "timeInForce", "postOnly", "remark", "tags",
    # transfers, withdrawals, sub-accounts
    "currency", "amount", "from", "to", "fromAccountType", "toAccountType", "fromUserId",
    "toUserId", "direction", "accountType", "subAccountType", "subUserId", "address",
    "subName", "passphrase", "permission", "ipWhitelist", "remarks", "access",
]  # fmt: skip
ADMIN_FIELDS = [
    "user", "name", "master", "mode", "permissions", "ip_whitelist", "passphrase",
    "version", "currency", "amount", "account", "symbol", "source", "kind", "path_prefix",
    "count", "probability", "latency_ms", "hold_s", "status", "quota", "seconds", "taker",
    "maker", "frozen", "path", "start_price", "history_days", "interval_s",
]  # fmt: skip
WORDS = [
    "XRP-USDT", "BTC-USDT", "NOPE-USDT", "USDT", "XRP", "buy", "sell", "limit", "market",
    "loss", "entry", "GTC", "IOC", "FOK", "INTERNAL", "PARENT_TO_SUB", "SUB_TO_PARENT",
    "MAIN", "TRADE", "TRADE_HF", "main", "trade", "trade_hf", "OUT", "IN", "10000001",
    "10000002", "bot1", "master", "General,Spot", "open", "close", "cancelonly", "classic",
    "hf", "synthetic", "replay", "latency", "error500", "ratelimit", "drop", "active",
    "done", "5c35c02703aa673ceec2a168", "snap.json", "../escape.json", "/etc/passwd",
]  # fmt: skip
QUERY_NAMES = [
    "symbol", "type", "status", "pageSize", "currentPage", "startAt", "endAt", "side",
    "limit", "symbols", "currency", "orderId", "clientOid", "subName", "apiKey",
    "tradeType", "market", "direction", "bizType", "lastId",
]  # fmt: skip

texts = st.text(max_size=40)
words = st.sampled_from(WORDS)
scalars = st.one_of(
    st.sampled_from(HOSTILE_NUMBERS),
    words,
    texts,
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=False, allow_infinity=False),
    st.booleans(),
    st.none(),
)
json_values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(texts, inner, max_size=4),
    max_leaves=8,
)


def json_objects(fields: list[str]) -> st.SearchStrategy[dict[str, Any]]:
    return st.dictionaries(st.sampled_from(fields) | texts, json_values, max_size=10)


def bodies(fields: list[str]) -> st.SearchStrategy[bytes]:
    return st.one_of(
        json_objects(fields).map(lambda obj: json.dumps(obj).encode()),
        json_values.map(lambda value: json.dumps(value).encode()),
        json_objects(fields).map(lambda obj: json.dumps(obj).encode()[:-3]),  # cut short
        st.binary(max_size=200),
        st.just(b""),
        st.integers(min_value=1, max_value=limits.MAX_BODY_BYTES // 512).map(
            lambda k: json.dumps({"amount": "1", "memo": "m" * 512 * k}).encode()
        ),
    )


path_values = st.one_of(
    words,
    st.text(alphabet=URL_SAFE, max_size=30),
    st.sampled_from(["%ff", "%2F", "..", "%00", "a%20b", "%", "x" * 300, ""]),
)


@st.composite
def paths(draw: st.DrawFn, patterns: list[tuple[str, str]]) -> tuple[str, str, bytes]:
    """(method, route pattern, path): a route with its parameters filled, or junk
    (pattern "")."""
    choice = draw(st.integers(min_value=0, max_value=9))
    if choice == 0:
        junk = draw(st.text(alphabet=URL_SAFE + "/%", max_size=60))
        return draw(st.sampled_from(METHODS)), "", ("/" + junk).encode()
    if choice == 1:
        return draw(st.sampled_from(METHODS)), "", b"/api/v1/" + draw(st.binary(max_size=20))
    # Half the time a route that takes a body: that is where the numbers are parsed.
    with_body = [(m, p) for m, p in patterns if p in TEMPLATES and m != "GET"]
    method, pattern = draw(st.sampled_from(with_body) | st.sampled_from(patterns))
    if draw(st.integers(min_value=0, max_value=4)) == 0:
        method = draw(st.sampled_from(METHODS))
    path = re.sub(r"\{\w+\}", lambda _: draw(path_values), pattern)
    return method, pattern, path.encode()


@st.composite
def queries(draw: st.DrawFn) -> bytes:
    pairs = draw(
        st.lists(
            st.tuples(
                st.sampled_from(QUERY_NAMES) | texts,
                st.sampled_from(HOSTILE_NUMBERS) | words | texts,
            ),
            max_size=5,
        )
    )
    if draw(st.integers(min_value=0, max_value=3)):
        return "&".join(f"{quote(n, safe='')}={quote(v, safe='')}" for n, v in pairs).encode()
    # as a careless client writes it: unencoded where that still makes a valid target
    raw = "&".join(f"{n}={v}" for n, v in pairs)
    return raw.encode("utf-8").replace(b" ", b"+").replace(b"#", b"%23")


# Bodies shaped like each route's real requests, every field plausible or hostile: random
# JSON alone almost never gets past the first check of a handler.
amounts = st.one_of(
    st.sampled_from(HOSTILE_NUMBERS),
    st.sampled_from(["0.5", "0.50001", "1.0713", "10", "0.001", "60000", "100", "5"]),
    st.decimals(allow_nan=True, allow_infinity=True, places=None).map(str),
    st.floats(),
    st.integers(min_value=-(2**70), max_value=2**70),
)


def plausible(*values: object) -> st.SearchStrategy[Any]:
    """Mostly one of the real values, now and then anything at all."""
    real = st.sampled_from(values)
    return st.one_of(real, real, real, json_values)


symbols = plausible("XRP-USDT", "BTC-USDT", "ETH-USDT", "NOPE-USDT")
accounts = plausible("MAIN", "TRADE", "TRADE_HF", "main", "trade")
user_ids = plausible("10000001", "10000002", "99999999")
ORDER = st.fixed_dictionaries(
    {"symbol": symbols, "side": plausible("buy", "sell")},
    optional={
        "type": plausible("limit", "market"),
        "price": amounts,
        "size": amounts,
        "funds": amounts,
        "stopPrice": amounts,
        "stop": plausible("", "loss", "entry"),
        "clientOid": plausible("c-1", "c-2", "x" * 41),
        "timeInForce": plausible("GTC", "IOC", "FOK", "GTT"),
        "postOnly": json_values,
        "remark": plausible("", "r" * 21),
    },
)
TRANSFER = st.fixed_dictionaries(
    {"currency": plausible("USDT", "XRP", "NOPE"), "amount": amounts},
    optional={
        "clientOid": texts,
        "type": plausible("INTERNAL", "PARENT_TO_SUB", "SUB_TO_PARENT"),
        "fromAccountType": accounts,
        "toAccountType": accounts,
        "fromUserId": user_ids,
        "toUserId": user_ids,
        "from": accounts,
        "to": accounts,
        "direction": plausible("OUT", "IN"),
        "accountType": accounts,
        "subAccountType": accounts,
        "subUserId": user_ids,
        "address": plausible("0xabc", ""),
    },
)
SUB_ACCOUNT = st.fixed_dictionaries(
    {"subName": plausible("bot2", "bot1", "s" * 40)},
    optional={"password": texts, "access": json_values, "remarks": plausible("r", "r" * 30)},
)
SUB_KEY = st.fixed_dictionaries(
    {"subName": plausible("bot1", "nobody"), "passphrase": plausible("p" * 7, "p" * 40, "")},
    optional={
        "permission": plausible("General,Spot", "General,Withdrawal", "Spot,,"),
        "ipWhitelist": plausible("127.0.0.1", "10.0.0.0/8,nonsense"),
        "remark": plausible("k", "k" * 30),
    },
)
SOURCE = st.fixed_dictionaries(
    {"kind": plausible("synthetic", "replay")},
    optional={
        "start_price": amounts,
        "seed": amounts,
        "interval_s": amounts,
        "history_days": amounts,
        "volatility": amounts,
        "drift": amounts,
        "path": plausible("../data/ohlcv/XRP_USDT-5m.feather", "/etc/passwd", "nope.json"),
        "scale": amounts,
    },
)
TEMPLATES: dict[str, st.SearchStrategy[dict[str, Any]]] = {
    "/api/v1/orders": ORDER,
    "/api/v1/hf/orders": ORDER,
    "/api/v1/hf/orders/sync": ORDER,
    "/api/v1/stop-order": ORDER,
    "/api/v3/accounts/universal-transfer": TRANSFER,
    "/api/v2/accounts/inner-transfer": TRANSFER,
    "/api/v2/accounts/sub-transfer": TRANSFER,
    "/api/v1/withdrawals": TRANSFER,
    "/api/v3/withdrawals": TRANSFER,
    "/api/v2/sub/user/created": SUB_ACCOUNT,
    "/api/v1/sub/api-key": SUB_KEY,
    "/sim/v1/users": st.fixed_dictionaries(
        {"name": plausible("master", "") | st.text(alphabet=URL_SAFE, min_size=1, max_size=12)},
        optional={"master": json_values, "mode": plausible("classic", "hf")},
    ),
    "/sim/v1/users/{name}": st.fixed_dictionaries(
        {}, optional={"frozen": json_values, "mode": plausible("classic", "hf")}
    ),
    "/sim/v1/keys": st.fixed_dictionaries(
        {"user": plausible("bot1", "master", "nobody")},
        optional={
            "permissions": plausible(["General", "Spot"], ["Withdrawal"], "General"),
            "ip_whitelist": plausible([], ["127.0.0.1"], ["nonsense"]),
            "passphrase": plausible("pass-phrase", None),
            "name": texts,
            "version": plausible(1, 2, 3, "2", 9) | amounts,
        },
    ),
    "/sim/v1/balances": st.fixed_dictionaries(
        {"user": plausible("bot1", "master"), "currency": plausible("USDT", "XRP")},
        optional={"amount": amounts, "account": plausible("main", "trade", "trade_hf")},
    ),
    "/sim/v1/symbols": st.fixed_dictionaries(
        {"symbol": plausible("DOGE-USDT", "XRP-USDT", "bad symbol"), "source": SOURCE},
        optional={"price_increment": amounts, "base_increment": amounts, "spread": amounts},
    ),
    "/sim/v1/symbols/{symbol}/source": SOURCE,
    "/sim/v1/symbols/{symbol}/fees": st.fixed_dictionaries(
        {}, optional={"taker": amounts, "maker": amounts}
    ),
    "/sim/v1/faults": st.fixed_dictionaries(
        {"kind": plausible("latency", "error500", "ratelimit", "drop")},
        optional={
            "path_prefix": plausible("/nowhere/", "/api/"),
            "count": amounts,
            "probability": amounts,
            "latency_ms": amounts,
            "hold_s": amounts,
        },
    ),
    "/sim/v1/status": st.fixed_dictionaries({"status": plausible("open", "cancelonly")}),
    "/sim/v1/rate-limit": st.fixed_dictionaries({"quota": plausible(None, 100000) | amounts}),
    "/sim/v1/clock/advance": st.fixed_dictionaries({"seconds": amounts}),
    "/sim/v1/snapshot": st.fixed_dictionaries(
        {}, optional={"path": plausible("snap.json", "../out.json", "/tmp/x.json", "a/b.json")}
    ),
}

header_values = st.one_of(
    st.sampled_from(
        [
            "application/json",
            "text/plain",
            "application/x-www-form-urlencoded",
            "https://evil.example",
            "cross-site",
            "same-origin",
            "none",
            "2",
            "1",
            "",
            "x" * 1000,
        ]
    ),
    st.text(
        alphabet=st.characters(min_codepoint=0x20, max_codepoint=0xFF, exclude_characters="\x7f"),
        max_size=40,
    ),
)
HEADER_NAMES = [
    "Content-Type", "Origin", "Sec-Fetch-Site", "Authorization", "KC-API-KEY", "KC-API-SIGN",
    "KC-API-TIMESTAMP", "KC-API-PASSPHRASE", "KC-API-KEY-VERSION", "Accept", "User-Agent",
    "Cookie", "Referer", "X-Forwarded-For", "Host",
]  # fmt: skip
headers = st.lists(
    st.tuples(
        st.sampled_from(HEADER_NAMES) | st.text(alphabet=URL_SAFE, min_size=1, max_size=20),
        header_values,
    ),
    max_size=6,
)


@dataclass(frozen=True)
class Attempt:
    method: str
    target: bytes
    body: bytes
    headers: list[tuple[str, str]]
    #: sign with this key's credentials; ``signature`` says how
    key: str | None
    signature: str

    def encode(self, credentials: dict[str, dict[str, Any]], now_ms: int) -> bytes:
        """The request as bytes: Content-Length always right (nothing waits for more)."""
        lines = [b"%s %s HTTP/1.1" % (self.method.encode(), self.target), b"Host: 127.0.0.1"]
        for name, value in self.headers:
            if name.lower() in ("content-length", "transfer-encoding", "expect", "connection"):
                continue
            lines.append(name.encode() + b": " + value.encode("latin-1"))
        if self.key is not None:
            lines.extend(self._signed(credentials[self.key], now_ms))
        lines.append(b"Content-Length: %d" % len(self.body))
        return b"\r\n".join(lines) + b"\r\n\r\n" + self.body

    def _signed(self, cred: dict[str, Any], now_ms: int) -> list[bytes]:
        timestamp = str(now_ms + (10_000 if self.signature == "stale" else 0))
        # As KuCoin verifies it: over the target percent-decoded, byte for byte.
        target = unquote_to_bytes(self.target)
        prehash = timestamp.encode() + self.method.encode() + target + self.body
        digest = hmac.digest(cred["secret"].encode(), prehash, hashlib.sha256)
        signature = base64.b64encode(digest).decode()
        if self.signature == "wrong":
            signature = sign("another-secret", "anything")
        return [
            b"KC-API-KEY: " + cred["apiKey"].encode(),
            b"KC-API-TIMESTAMP: " + timestamp.encode(),
            b"KC-API-KEY-VERSION: 2",
            b"KC-API-PASSPHRASE: " + sign(cred["secret"], cred["passphrase"]).encode(),
            b"KC-API-SIGN: " + signature.encode(),
        ]


@st.composite
def attempts(draw: st.DrawFn, patterns: list[tuple[str, str]], fields: list[str]) -> Attempt:
    method, pattern, path = draw(paths(patterns))
    query = draw(queries())
    signed = draw(st.integers(min_value=0, max_value=3)) > 0
    template = TEMPLATES.get(pattern)
    body = b""
    if template is not None and draw(st.integers(min_value=0, max_value=3)) > 0:
        body = json.dumps(draw(template)).encode()
    elif method not in ("GET", "HEAD") or draw(st.booleans()):
        body = draw(bodies(fields))
    return Attempt(
        method=method,
        target=path + b"?" + query if query else path,
        body=body,
        headers=draw(headers),
        key=draw(st.sampled_from(KEYS)) if signed else None,
        signature=draw(st.sampled_from(["right"] * 8 + ["wrong", "stale"])),
    )


@st.composite
def signed_bodies(draw: st.DrawFn) -> Attempt:
    """A correctly signed request to a route that takes a body, shaped like its real
    requests: what gets through authentication to the handlers' number parsing."""
    pattern = draw(st.sampled_from(sorted(p for p in TEMPLATES if p.startswith("/api/"))))
    trading = TEMPLATES[pattern] is ORDER
    return Attempt(
        method="POST",
        target=pattern.encode(),
        body=json.dumps(draw(TEMPLATES[pattern])).encode(),
        headers=[("Content-Type", "application/json")],
        # the sub-account holds the money to trade; the master's key may move money
        key="bot1-trade" if trading else MASTER_ALL,
        signature="right",
    )


ADMIN_PARAMS = {
    "name": plausible("bot1", "master", "nobody"),
    "symbol": plausible("XRP-USDT", "BTC-USDT", "NOPE-USDT"),
}


@st.composite
def admin_calls(draw: st.DrawFn) -> Attempt:
    """An admin request as a local tool sends it (JSON, no browser headers), with a body
    shaped like the route's: what gets past the guard to the handlers."""
    method, pattern = draw(st.sampled_from(ADMIN_PATTERNS))
    path = re.sub(r"\{(\w+)\}", lambda m: quote(str(draw(ADMIN_PARAMS[m[1]])), safe=""), pattern)
    template = TEMPLATES.get(pattern)
    body = json.dumps(draw(template)).encode() if template is not None else b""
    content_type = [("Content-Type", "application/json")] if body else []
    return Attempt(method, path.encode(), body, content_type, key=None, signature="right")
