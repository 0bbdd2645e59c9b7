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

import orjson

from bulkhead.gateway.custody import RealKey
from bulkhead.gateway.http_client import AnswerTooLarge, HttpClient, UpstreamError
from bulkhead.kucoin import envelope
from bulkhead.kucoin.envelope import KucoinError, error_body
from bulkhead.kucoin.http import Request
from bulkhead.kucoin.signing import signed_headers

#: Seconds to connect, and to wait for an answer (KuCoin answers in well under a second).
CONNECT_TIMEOUT_S = 5.0
READ_TIMEOUT_S = 10.0
#: The largest answer read from upstream (all tickers on KuCoin are a few MB).
MAX_ANSWER_BYTES = 32 * 1024 * 1024
#: Connections to the upstream at most (requests beyond wait for one).
MAX_CONNECTIONS = 64
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
    """The upstream's base URL (``https://api.kucoin.com``, or a twin's
    ``http://127.0.0.1:8899``) behind a pool of kept-alive connections
    (``http_client.HttpClient``). Open it inside the serving event loop."""

    def __init__(
        self,
        base_url: str,
        *,
        connect_timeout_s: float = CONNECT_TIMEOUT_S,
        read_timeout_s: float = READ_TIMEOUT_S,
        clock_ms: Callable[[], int] | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self._connect_timeout_s = connect_timeout_s
        self._read_timeout_s = read_timeout_s
        self._clock_ms = clock_ms or (lambda: time.time_ns() // 1_000_000)
        self._client: HttpClient | None = None

    async def open(self) -> None:
        if self._client is None:
            self._client = HttpClient(
                self.base_url,
                connect_timeout_s=self._connect_timeout_s,
                read_timeout_s=self._read_timeout_s,
                max_answer_bytes=MAX_ANSWER_BYTES,
                kept_headers=PASSED_HEADERS,
                max_connections=MAX_CONNECTIONS,
            )

    async def close(self) -> None:
        if self._client is not None:
            await self._client.close()
            self._client = None

    async def forward(self, request: Request, real: RealKey | None) -> Answer:
        """Send ``request`` upstream (signed with ``real`` unless None) and read the answer."""
        if self._client is None:
            await self.open()
        assert self._client is not None
        target = request.target
        headers = [("Accept", "application/json")]
        if request.body:
            headers.append(("Content-Type", "application/json"))
        if real is not None:
            signed = signed_headers(
                real.api_key.get_secret_value(),
                real.secret.get_secret_value(),
                real.passphrase.get_secret_value(),
                request.method,
                target,
                request.body,
                self._clock_ms(),
            )
            headers += [(name.decode(), value.decode()) for name, value in signed]
        # the target goes out exactly as the bot sent it (already encoded): what was signed
        try:
            answer = await self._client.request(request.method, target, headers, request.body)
        except TimeoutError:
            return Answer.refusal(upstream_unavailable("timed out", 504), "lost")
        except (UpstreamError, OSError) as error:
            what = f"unreachable ({type(error).__name__})"
            return Answer.refusal(upstream_unavailable(what), "lost")
        except ValueError:  # a header the client refuses to send (a line break in a key)
            return Answer.refusal(upstream_unavailable("request not sendable"), "lost")
        except AnswerTooLarge:
            return Answer.refusal(upstream_unavailable("answer too large"), "garbage")
        if not _is_kucoin_json(answer.body):
            what = f"answered HTTP {answer.status} without KuCoin JSON"
            return Answer.refusal(upstream_unavailable(what), "garbage")
        return Answer(answer.status, answer.body, "answered", answer.headers)


def _is_kucoin_json(body: bytes) -> bool:
    """A JSON object with a string ``code``: KuCoin's success or error envelope."""
    try:
        parsed = orjson.loads(body)
    except orjson.JSONDecodeError:
        return False
    return isinstance(parsed, dict) and isinstance(parsed.get("code"), str)
