"""uvicorn's httptools protocol with bounded request heads and KuCoin-shaped refusals.

Below the ASGI app, uvicorn parses the request line and headers itself, and it answers a
request it cannot parse with a plain-text 400. It also has no limit of its own: a URL,
a header or a list of headers can grow as long as a client keeps sending, all of it held
in memory. This subclass adds the limits in ``limits`` (a URL over ``MAX_URL_BYTES`` is
414, a head over ``MAX_HEAD_BYTES`` or with more than ``MAX_HEADERS`` headers is 431) and
answers every request refused at this layer, malformed ones included, with KuCoin's
envelope, so no client ever sees anything but ``{"code", "msg"}`` from the twin or the
order gateway (both pass this class as uvicorn's ``http``).

It relies on uvicorn's ``HttpToolsProtocol`` internals (``url``, ``headers``,
``send_400_response``, and a callback error surfacing as ``HttpParserError``), checked
against uvicorn 0.54 by ``tests/integration/sim/test_request_limits.py``.
"""

from __future__ import annotations

from typing import Any

from uvicorn.protocols.http.httptools_impl import STATUS_LINE, HttpToolsProtocol

from bulkhead.kucoin import envelope as errors
from bulkhead.kucoin import limits
from bulkhead.kucoin.envelope import error_body


def _head_too_large() -> errors.KucoinError:
    return errors.request_too_large("Request head", limits.MAX_HEAD_BYTES, 431)


class _Refused(Exception):
    """Raised from a parser callback: httptools stops and uvicorn calls ``send_400_response``."""


class KucoinHttpProtocol(HttpToolsProtocol):
    """An HTTP/1.1 connection to the twin or the gateway (pass the class as uvicorn's ``http``).

    Every request pays a length check on its URL and two on its head, nothing per
    header: bytes are counted as they arrive while a head is under way (which is how an
    endless header, buffered by httptools until its line ends, is cut off), and only a
    head that arrived with more than ``MAX_HEAD_BYTES`` around it is measured exactly.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._refusal: errors.KucoinError | None = None
        #: bytes received since the current head began: at least the head's size
        self._head_bytes = 0

    def data_received(self, data: bytes) -> None:
        cycle = self.cycle
        if cycle is None or not cycle.more_body:  # not inside a body: a head is under way
            self._head_bytes += len(data)
        super().data_received(data)
        if self.cycle is not cycle:  # a head completed: what follows is body or a new head
            self._head_bytes = 0
        elif self._head_bytes > limits.MAX_HEAD_BYTES and not self.transport.is_closing():
            self._refusal = _head_too_large()
            self.send_400_response("")

    def on_url(self, url: bytes) -> None:
        self.url += url
        if len(self.url) > limits.MAX_URL_BYTES:
            self._refuse(errors.request_too_large("Request URL", limits.MAX_URL_BYTES, 414))

    def on_headers_complete(self) -> None:
        if len(self.headers) > limits.MAX_HEADERS or (
            self._head_bytes > limits.MAX_HEAD_BYTES
            and len(self.url) + sum(len(n) + len(v) + 4 for n, v in self.headers)
            > limits.MAX_HEAD_BYTES
        ):
            self._refuse(_head_too_large())
        super().on_headers_complete()

    def _refuse(self, error: errors.KucoinError) -> None:
        self._refusal = error
        raise _Refused(error.msg)

    def send_400_response(self, msg: str) -> None:
        """uvicorn's answer to a request it cannot parse, as KuCoin's envelope."""
        error = self._refusal or errors.malformed_request()
        body = error_body(error)
        content = [STATUS_LINE[error.http_status]]
        for name, value in self.server_state.default_headers:
            content.extend([name, b": ", value, b"\r\n"])
        content.extend(
            [
                b"content-type: application/json\r\n",
                b"content-length: %d\r\n" % len(body),
                b"connection: close\r\n",
                b"\r\n",
                body,
            ]
        )
        self.transport.write(b"".join(content))
        self.transport.close()
