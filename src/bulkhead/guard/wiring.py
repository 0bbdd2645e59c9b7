"""Where a live guard keeps its memory and sends its state: the bot's own Redis key and
the gateway's ``/bulkhead/v1/guard/state``, both reached with what the bot already holds
(its memory connection; its gateway credential and URL from Freqtrade's config)."""

from __future__ import annotations

import http.client
import json
import time
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import urlsplit

import orjson
import redis

from bulkhead.guard.state import SinkReading
from bulkhead.kucoin.signing import signed_headers
from bulkhead.memory.keys import BotKeys

GUARD_STATE_PATH = "/bulkhead/v1/guard/state"
#: a guard request must not hold up Freqtrade's loop for long
SINK_TIMEOUT_S = 3.0
MAX_MEMORY_BYTES = 64 * 1024
#: the most upstream errors taken from one reading (the gateway keeps 200 per bot)
MAX_ERRORS_READ = 200


class RedisGuardMemory:
    """The guard's state as one JSON string at ``bh:{bot}:guard`` (the bot's ACL covers it)."""

    def __init__(self, client: redis.Redis, bot: str) -> None:
        self.client = client
        self.key = BotKeys(bot).guard

    def load(self) -> dict[str, Any]:
        raw = self.client.get(self.key)
        if not raw:
            return {}
        if len(raw) > MAX_MEMORY_BYTES:
            return {}
        try:
            loaded = orjson.loads(raw)
        except orjson.JSONDecodeError:
            return {}
        return loaded if isinstance(loaded, dict) else {}

    def save(self, data: dict[str, Any]) -> None:
        self.client.set(self.key, orjson.dumps(data, option=orjson.OPT_SERIALIZE_NUMPY))


class RecorderGuardMemory:
    """``RedisGuardMemory`` over the recorder's connection (reconnected when it dropped)."""

    def __init__(self, store: Callable[[], Any]) -> None:
        self._store = store

    def _memory(self) -> RedisGuardMemory:
        store = self._store()
        return RedisGuardMemory(store.client, store.keys.bot)

    def load(self) -> dict[str, Any]:
        return self._memory().load()

    def save(self, data: dict[str, Any]) -> None:
        self._memory().save(data)


class GatewayStateSink:
    """The gateway's trading state for this bot, asked for over HTTP, signed with the bot's
    gateway credential exactly as ccxt signs its calls (KuCoin's v2 headers)."""

    def __init__(self, url: str, key: str, secret: str, passphrase: str) -> None:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"not a gateway URL: {url[:80]!r}")
        self.scheme, self.host, self.port = parts.scheme, parts.hostname, parts.port
        self.key, self.secret, self.passphrase = key, secret, passphrase

    def _call(self, method: str, body: dict[str, Any] | None) -> dict[str, Any]:
        payload = json.dumps(body).encode() if body is not None else b""
        headers = signed_headers(
            self.key,
            self.secret,
            self.passphrase,
            method,
            GUARD_STATE_PATH.encode(),
            payload,
            time.time_ns() // 1_000_000,
        )
        connection_class = (
            http.client.HTTPSConnection if self.scheme == "https" else http.client.HTTPConnection
        )
        connection = connection_class(self.host, self.port, timeout=SINK_TIMEOUT_S)
        try:
            sent = {k.decode(): v.decode() for k, v in headers}
            sent["Content-Type"] = "application/json"
            connection.request(method, GUARD_STATE_PATH, body=payload or None, headers=sent)
            response = connection.getresponse()
            raw = response.read(MAX_MEMORY_BYTES + 1)
        finally:
            connection.close()
        try:
            answer = orjson.loads(raw)
        except orjson.JSONDecodeError:
            raise RuntimeError(f"the gateway answered {response.status} without JSON") from None
        if not isinstance(answer, dict) or answer.get("code") != "200000":
            code = answer.get("code") if isinstance(answer, dict) else "?"
            message = answer.get("msg", "") if isinstance(answer, dict) else ""
            raise RuntimeError(f"the gateway refused: {code} {str(message)[:120]}")
        data = answer.get("data")
        if not isinstance(data, dict):
            raise RuntimeError("the gateway answered without data")
        return data

    def request(self, state: str, reason: str) -> tuple[str, str]:
        data = self._call("POST", {"state": state, "reason": reason})
        return str(data.get("state", "")), str(data.get("by", ""))

    def current(self) -> SinkReading:
        data = self._call("GET", None)
        errors = data.get("errors")
        seen: list[tuple[int, str]] = []
        for item in errors if isinstance(errors, list) else []:
            if isinstance(item, list) and len(item) == 2 and isinstance(item[0], int):
                seen.append((item[0], str(item[1])[:20]))
        return SinkReading(
            str(data.get("state", "")),
            str(data.get("by", "")),
            tuple(seen[-MAX_ERRORS_READ:]),
            str(data.get("exchange_status", ""))[:20],
        )


#: where Freqtrade's process holds the exchange credential (Freqtrade removes it from the
#: config before it loads the strategy): for a bot behind the gateway, its gateway credential
CREDENTIAL_ENV = (
    "FREQTRADE__EXCHANGE__KEY",
    "FREQTRADE__EXCHANGE__SECRET",
    "FREQTRADE__EXCHANGE__PASSWORD",
)


def sink_from_config(
    config: dict[str, Any], environ: Mapping[str, str] | None = None
) -> GatewayStateSink | None:
    """The sink for a Freqtrade config pointed at the gateway (``bulkhead.gateway_url``, set
    by ``fleet.gateway_access.point_at_gateway``); None when it is not (a backtest). The
    credential comes from the config's exchange section, else from ``environ``."""
    url = (config.get("bulkhead") or {}).get("gateway_url")
    exchange = config.get("exchange") or {}
    given = [exchange.get(k) for k in ("key", "secret", "password")]
    if not all(given) and environ is not None:
        given = [environ.get(name) for name in CREDENTIAL_ENV]
    key, secret, passphrase = given
    if not url or not key or not secret or not passphrase:
        return None
    return GatewayStateSink(str(url), str(key), str(secret), str(passphrase))
