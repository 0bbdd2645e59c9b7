"""Forward an allowed request upstream (real KuCoin, or a twin), re-signed with the real key.

The bot's own KC-API-* headers (signed with its gateway credential) never leave: the
forwarded request carries only its path, query and body as the bot sent them, a content
type, and KC-API-* headers signed anew with the bot's real key and a fresh timestamp. A
public request goes out unsigned.

Whatever comes back reaches the bot as KuCoin would answer: an upstream answer in KuCoin's
JSON envelope passes through (status, body, rate-limit headers); anything else (an HTML
error page, a cut-off body, a timeout, a refused connection) becomes KuCoin's 500000 with a
line saying what happened, which ccxt raises as ``ExchangeNotAvailable`` and Freqtrade
retries. The outcome says which it was, so the ledger can keep a reservation whose answer
was lost.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

import httpx
import orjson

from bulkhead.gateway.custody import RealKey
from bulkhead.kucoin import envelope
from bulkhead.kucoin.envelope import KucoinError, error_body
from bulkhead.kucoin.http import Request
from bulkhead.kucoin.signing import signed_headers

#: Seconds to connect, and to wait for an answer (KuCoin answers in well under a second).
CONNECT_TIMEOUT_S = 5.0
READ_TIMEOUT_S = 10.0
#: The largest answer read from upstream (all tickers on KuCoin are a few MB).
MAX_ANSWER_BYTES = 32 * 1024 * 1024
#: Upstream response headers passed back to the bot: KuCoin's rate-limit state.
PASSED_HEADERS = (b"gw-ratelimit-limit", b"gw-ratelimit-remaining", b"gw-ratelimit-reset")

#: answered: the upstream's KuCoin JSON, passed through; garbage: it answered, but not
#: KuCoin JSON; lost: no answer (timeout, connection refused or dropped): the request may
#: or may not have been executed
Outcome = Literal["answered", "garbage", "lost"]


@dataclass(frozen=True)
class Answer:
    """What goes back to the bot, and how the upstream behaved."""

    status: int
    body: bytes
    outcome: Outcome
    headers: list[tuple[bytes, bytes]] = field(default_factory=list)

    @classmethod
    def refusal(cls, error: KucoinError, outcome: Outcome) -> Answer:
        return cls(error.http_status, error_body(error), outcome)


def upstream_unavailable(what: str, http_status: int = 502) -> KucoinError:
    """KuCoin's internal-error code (ccxt: ExchangeNotAvailable), saying what went wrong."""
    return KucoinError(envelope.internal_error().code, f"Upstream {what}", http_status)


class Upstream:
    """One HTTP connection pool to the upstream's base URL (``https://api.kucoin.com``, or
    a twin's ``http://127.0.0.1:8899``). Open it inside the serving event loop."""

    def __init__(
        self,
        base_url: str,
        *,
        connect_timeout_s: float = CONNECT_TIMEOUT_S,
        read_timeout_s: float = READ_TIMEOUT_S,
        transport: httpx.AsyncBaseTransport | None = None,
        clock_ms: Callable[[], int] | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self._timeout = httpx.Timeout(read_timeout_s, connect=connect_timeout_s)
        self._transport = transport
        self._clock_ms = clock_ms or (lambda: time.time_ns() // 1_000_000)
        self._client: httpx.AsyncClient | None = None

    async def open(self) -> None:
        if self._client is None:
            self._client = httpx.AsyncClient(
                timeout=self._timeout,
                transport=self._transport,
                limits=httpx.Limits(max_connections=64, max_keepalive_connections=32),
                follow_redirects=False,
                trust_env=False,
            )

    async def close(self) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    async def forward(self, request: Request, real: RealKey | None) -> Answer:
        """Send ``request`` upstream (signed with ``real`` unless None) and read the answer."""
        if self._client is None:
            await self.open()
        assert self._client is not None
        target = request.target
        headers = [(b"accept", b"application/json")]
        if request.body:
            headers.append((b"content-type", b"application/json"))
        if real is not None:
            headers += signed_headers(
                real.api_key.get_secret_value(),
                real.secret.get_secret_value(),
                real.passphrase.get_secret_value(),
                request.method,
                target,
                request.body,
                self._clock_ms(),
            )
        outgoing = self._client.build_request(
            request.method,
            self.base_url + target.decode("latin-1"),
            headers=headers,
            content=request.body or None,
        )
        try:
            response = await self._client.send(outgoing, stream=True)
            try:
                body = await _read_capped(response)
            finally:
                await response.aclose()
        except httpx.TimeoutException:
            return Answer.refusal(upstream_unavailable("timed out", 504), "lost")
        except httpx.HTTPError as error:
            what = f"unreachable ({type(error).__name__})"
            return Answer.refusal(upstream_unavailable(what), "lost")
        except _TooLarge:
            return Answer.refusal(upstream_unavailable("answer too large"), "garbage")
        if not _is_kucoin_json(body):
            what = f"answered HTTP {response.status_code} without KuCoin JSON"
            return Answer.refusal(upstream_unavailable(what), "garbage")
        passed = [
            (name, value) for name, value in response.headers.raw if name.lower() in PASSED_HEADERS
        ]
        return Answer(response.status_code, body, "answered", passed)


class _TooLarge(Exception):
    pass


async def _read_capped(response: httpx.Response) -> bytes:
    chunks = []
    size = 0
    async for chunk in response.aiter_bytes():
        size += len(chunk)
        if size > MAX_ANSWER_BYTES:
            raise _TooLarge
        chunks.append(chunk)
    return b"".join(chunks)


def _is_kucoin_json(body: bytes) -> bool:
    """A JSON object with a string ``code``: KuCoin's success or error envelope."""
    try:
        parsed = orjson.loads(body)
    except orjson.JSONDecodeError:
        return False
    return isinstance(parsed, dict) and isinstance(parsed.get("code"), str)
