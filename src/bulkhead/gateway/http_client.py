"""A lean HTTP/1.1 client for the gateway's one upstream: kept-alive connections, httptools.

Why not aiohttp (used before): paced as a fleet's load against a local twin, a forwarded
request took ~200 us longer through aiohttp than through a bare connection (session,
cookie jar, timers, URL and header objects, a few loop turns more), about half of what
the whole gateway added to a bot's balance read. The gateway speaks to one host (KuCoin,
or a twin) in one way: a request line, a dozen headers, a small JSON body; a JSON answer.
So: asyncio transports (TLS by the standard ``ssl`` module, certificates verified), the
answer parsed by httptools (the C parser uvicorn uses: Content-Length, chunked,
keep-alive), and a small pool.

What the gateway needs from it:

* no retries, ever: a placement must never be sent twice. An answer that does not come
  whole (connection lost, timeout, unparsable) raises, and the caller counts it lost;
* a connection that failed or timed out is closed, never reused: a late answer must not
  be taken for the next request's;
* an idle connection is reused for ``keepalive_s`` at most (servers drop idle ones, and a
  request written into a connection being dropped would be lost);
* an answer over ``max_answer_bytes`` (head and body) raises ``AnswerTooLarge``, unread
  past the limit; an interim answer (1xx) or anything after the answer closes the
  connection;
* a header with CR or LF raises ``ValueError`` before anything is sent.
"""

from __future__ import annotations

import asyncio
import ssl
import time
from collections.abc import Iterable
from dataclasses import dataclass
from urllib.parse import urlsplit

import httptools

from bulkhead.plumbing import sending_at_once

#: how long an idle connection may wait for its next request (aiohttp's default too)
KEEPALIVE_S = 15.0


class UpstreamError(Exception):
    """The answer did not come whole: the connection failed or the answer is not HTTP."""


class AnswerTooLarge(Exception):
    """The answer is longer than the client reads."""


@dataclass(frozen=True, slots=True)
class RawAnswer:
    status: int
    #: the answer's headers the client was asked to keep, as sent
    headers: list[tuple[bytes, bytes]]
    body: bytes


class _Connection(asyncio.Protocol):
    """One connection; one request at a time (the pool sees to that)."""

    def __init__(self, keep: frozenset[bytes], max_bytes: int) -> None:
        self._keep = keep
        self._max_bytes = max_bytes
        self._transport: asyncio.Transport | None = None
        self._waiter: asyncio.Future[RawAnswer] | None = None
        self._headers: list[tuple[bytes, bytes]] = []
        self._chunks: list[bytes] = []
        self._size = 0
        #: a message began after the answer was handed over
        self._stray = False
        self._parser: httptools.HttpResponseParser | None = None
        self.reusable = False
        self.idle_since = time.monotonic()

    # -- asyncio.Protocol -----------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = sending_at_once(transport)

    def connection_lost(self, exc: Exception | None) -> None:
        self._transport = None
        self.reusable = False
        self._fail(UpstreamError(f"connection lost ({exc or 'closed by the upstream'})"))

    def data_received(self, data: bytes) -> None:
        if self._parser is None:  # nothing was asked: a stray answer; drop the connection
            self.close()
            return
        self._size += len(data)  # head and body: a header can be as long as a body
        try:
            self._parser.feed_data(data)
        except (httptools.HttpParserError, httptools.HttpParserUpgrade) as error:
            self._fail(UpstreamError(f"unparsable answer ({type(error).__name__}: {error})"))
            self.close()
            return
        if self._size > self._max_bytes:
            self._fail(AnswerTooLarge(f"answer over {self._max_bytes} bytes"))
            self.close()
        elif self._stray:  # more after the answer: nothing on this connection lines up
            self.close()

    # -- httptools callbacks --------------------------------------------------------------

    def on_message_begin(self) -> None:
        if self._waiter is None or self._waiter.done():
            self._stray = True

    def on_header(self, name: bytes, value: bytes) -> None:
        if not self._stray and name.lower() in self._keep:
            self._headers.append((name, value))

    def on_body(self, body: bytes) -> None:
        if not self._stray and self._size <= self._max_bytes:
            self._chunks.append(body)

    def on_message_complete(self) -> None:
        parser, waiter = self._parser, self._waiter
        if self._stray or parser is None or waiter is None or waiter.done():
            return
        if self._size > self._max_bytes:  # it came whole in one read: not a whole answer
            self._fail(AnswerTooLarge(f"answer over {self._max_bytes} bytes"))
            self.close()
            return
        if parser.get_status_code() < 200:
            # an interim answer (100, 103): never asked for (no Expect is sent); the final
            # one would follow and could be taken for the next request's
            self._fail(UpstreamError(f"interim answer {parser.get_status_code()}"))
            self.close()
            return
        self.reusable = parser.should_keep_alive()
        self._parser = None
        answer = RawAnswer(parser.get_status_code(), self._headers, b"".join(self._chunks))
        waiter.set_result(answer)

    # -- use ------------------------------------------------------------------------------

    @property
    def open(self) -> bool:
        return self._transport is not None and not self._transport.is_closing()

    async def exchange(self, message: bytes, timeout_s: float) -> RawAnswer:
        if self._transport is None:
            raise UpstreamError("connection lost (closed by the upstream)")
        self.reusable = False
        self._headers, self._chunks, self._size, self._stray = [], [], 0, False
        self._parser = httptools.HttpResponseParser(self)
        self._waiter = asyncio.get_running_loop().create_future()
        self._transport.write(message)
        async with asyncio.timeout(timeout_s):
            return await self._waiter

    def _fail(self, error: Exception) -> None:
        self._parser = None
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_exception(error)

    def close(self) -> None:
        self.reusable = False
        if self._transport is not None:
            self._transport.close()


class HttpClient:
    """Requests to one base URL (``https://api.kucoin.com``, ``http://127.0.0.1:8899``)
    over at most ``max_connections`` kept-alive connections. Use it on one event loop.
    HTTPS verifies the server's certificate and name (``ssl.create_default_context``,
    unless ``ssl_context`` says otherwise)."""

    def __init__(
        self,
        base_url: str,
        *,
        connect_timeout_s: float,
        read_timeout_s: float,
        max_answer_bytes: int,
        kept_headers: Iterable[bytes] = (),
        max_connections: int = 64,
        keepalive_s: float = KEEPALIVE_S,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        parts = urlsplit(base_url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"not an http(s) base URL: {base_url!r}")
        self.host = parts.hostname
        secure = parts.scheme == "https"
        self.port = parts.port or (443 if secure else 80)
        self._ssl = (ssl_context or ssl.create_default_context()) if secure else None
        default = 443 if secure else 80
        self._host_header = self.host if self.port == default else f"{self.host}:{self.port}"
        self._prefix = parts.path.rstrip("/").encode()
        self._connect_timeout_s = connect_timeout_s
        self._read_timeout_s = read_timeout_s
        self._max_answer_bytes = max_answer_bytes
        self._kept = frozenset(name.lower() for name in kept_headers)
        self._keepalive_s = keepalive_s
        self._slots = asyncio.Semaphore(max_connections)
        self._idle: list[_Connection] = []
        self._closed = False

    async def request(
        self, method: str, target: bytes, headers: Iterable[tuple[str, str]], body: bytes = b""
    ) -> RawAnswer:
        """Send one request (``target``: path and query, already encoded, sent as is)."""
        if self._closed:
            raise UpstreamError("the client is closed")
        message = self._message(method, target, headers, body)
        async with self._slots:
            connection = self._idle_connection() or await self._connect()
            answered = False
            try:
                answer = await connection.exchange(message, self._read_timeout_s)
                answered = True
                return answer
            finally:
                if answered and connection.reusable and connection.open and not self._closed:
                    connection.idle_since = time.monotonic()
                    self._idle.append(connection)
                else:
                    connection.close()

    def _message(
        self, method: str, target: bytes, headers: Iterable[tuple[str, str]], body: bytes
    ) -> bytes:
        lines = [f"{method} ".encode() + self._prefix + target + b" HTTP/1.1"]
        lines.append(b"Host: " + self._host_header.encode())
        for name, value in headers:
            line = f"{name}: {value}".encode("latin-1")
            if b"\r" in line or b"\n" in line:
                raise ValueError(f"header {name!r} holds a line break")
            lines.append(line)
        if body or method in ("POST", "PUT", "PATCH"):
            lines.append(b"Content-Length: %d" % len(body))
        return b"\r\n".join(lines) + b"\r\n\r\n" + body

    def _idle_connection(self) -> _Connection | None:
        oldest_usable = time.monotonic() - self._keepalive_s
        while self._idle:
            connection = self._idle.pop()  # the most recent: the least likely dropped
            if connection.open and connection.idle_since >= oldest_usable:
                return connection
            connection.close()
        return None

    async def _connect(self) -> _Connection:
        connection = _Connection(self._kept, self._max_answer_bytes)
        loop = asyncio.get_running_loop()
        async with asyncio.timeout(self._connect_timeout_s):
            await loop.create_connection(
                lambda: connection,
                self.host,
                self.port,
                ssl=self._ssl,
                server_hostname=self.host if self._ssl is not None else None,
            )
        return connection

    async def close(self) -> None:
        """Close the idle connections (one in use closes when its request is done)."""
        self._closed = True
        idle, self._idle = self._idle, []
        for connection in idle:
            connection.close()
