"""A fake LLM provider that speaks OpenAI's and Anthropic's real wire protocols, offline.

Why: the advisor talks to a model through the official ``openai`` and ``anthropic`` SDKs.
Mocking the SDKs would test our idea of them; this server lets the real SDKs send real
HTTP and parse real answers, so the advisor's tests cover the SDKs' own parsing, error
classes, timeouts and headers, without a network, a key or a bill.

One ``FakeProvider`` serves both protocols from one FIFO script of ``Step``s (what the
"model" answers next: tool calls, text, an HTTP error, a slow, huge or garbled answer) and
records every request it receives as a ``Received``, raw, so tests can check what the
advisor sent (that no secret reached a prompt, that tools were offered).

Routes:

- ``POST /v1/chat/completions``: OpenAI chat completions (non-streaming).
- ``POST /v1/messages``: Anthropic messages (non-streaming).
- ``POST /_fake/script``, ``POST /_fake/reset``, ``GET /_fake/requests``: control routes,
  for tests that drive a server running in another process (``python -m
  bulkhead.sim.llm``).

Pointing the SDKs at it, with ``base`` the server's ``http://127.0.0.1:PORT``:

- ``openai.OpenAI(api_key=..., base_url=f"{base}/v1")``: OpenAI's base URL includes the
  ``/v1`` (the SDK posts to ``chat/completions`` under it);
- ``anthropic.Anthropic(api_key=..., base_url=base)``: the SDK adds ``/v1/messages`` itself.

SDK behaviour this fake was checked against (openai 3.57, anthropic 2.14):

- The anthropic SDK sends its ``api_key`` as ``Authorization: Bearer <key>``, not as the
  ``x-api-key`` header the API documents; the Anthropic route accepts either.
- Anthropic's ``tool_use.input`` is a JSON object on the wire. To let a test deliver a
  malformed tool call there too, the scripted argument string is parsed and sent as
  whatever JSON value it holds (an array, a number...), and when it does not parse at all
  it is sent as the raw string. The SDK does not validate responses by default
  (``_strict_response_validation=False``), so ``block.input`` is then that list or str
  as-is; with strict validation on, the SDK raises ``APIResponseValidationError``.
- A 200 whose body is not JSON: with ``content-type: application/json`` (the default of
  ``Step.garbage``) both SDKs let ``json.JSONDecodeError`` escape ``create()``, not one of
  their own error classes; with a non-JSON content type (``Step.garbage(content_type=
  "text/html")``) both return the body as a plain ``str`` from ``create()``, no error.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import http.client
import itertools
import json
import signal
import socket
import sys
import threading
import time
import urllib.parse
from collections import deque
from collections.abc import Iterator, Mapping, Sequence
from types import FrameType
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from bulkhead.plumbing import WaitTimeout, wait_until
from bulkhead.sim.llm_steps import Received, Step, StepKind, Wire
from bulkhead.sim.llm_wire import _ANTHROPIC_ERRORS as _ANTHROPIC_ERRORS
from bulkhead.sim.llm_wire import _OPENAI_ERRORS as _OPENAI_ERRORS
from bulkhead.sim.llm_wire import NO_CHANGE_ARGUMENTS as NO_CHANGE_ARGUMENTS
from bulkhead.sim.llm_wire import NO_CHANGE_TOOL as NO_CHANGE_TOOL
from bulkhead.sim.llm_wire import _anthropic_message as _anthropic_message
from bulkhead.sim.llm_wire import (
    _default_step,
    _error,
    _filler,
    _json,
    _request_id_header,
    _request_problem,
)
from bulkhead.sim.llm_wire import _offered_tools as _offered_tools
from bulkhead.sim.llm_wire import _openai_completion as _openai_completion
from bulkhead.sim.llm_wire import _tool_input as _tool_input

__all__ = [
    "FakeProvider",
    "Received",
    "Step",
    "StepKind",
    "Wire",
    "main",
    "post_script",
    "serve_fake_provider",
]

#: output tokens reported when a step does not say (the input default is the request's
#: JSON length / 4, a rough token count)
DEFAULT_OUTPUT_TOKENS = 50
#: how long the background server may take to start, and to stop
START_S = 10.0
STOP_S = 10.0
#: how long uvicorn waits for in-flight requests (a scripted delay) when stopping
GRACEFUL_S = 2
#: how often a scripted delay looks whether the server is stopping
_DELAY_TICK_S = 0.05


class FakeProvider:
    """The script, the request log, and the ASGI app (``provider.app``) serving both.

    ``api_key`` set: requests must carry exactly that key, else 401. Unset: any non-empty
    key passes, but a request without one is still refused (401), as a real provider would.
    Thread-safe: tests script and read the log from their thread while uvicorn answers on
    its own.
    """

    def __init__(self, api_key: str | None = None) -> None:
        self.api_key = api_key
        self._lock = threading.Lock()
        self._script: deque[Step] = deque()
        self._received: list[Received] = []
        self._ids = itertools.count(1)
        self._stopping = threading.Event()
        self.app = Starlette(
            routes=[
                Route("/v1/chat/completions", self._openai, methods=["POST"]),
                Route("/v1/messages", self._anthropic, methods=["POST"]),
                Route("/_fake/script", self._post_script, methods=["POST"]),
                Route("/_fake/reset", self._post_reset, methods=["POST"]),
                Route("/_fake/requests", self._get_requests, methods=["GET"]),
            ]
        )

    # -- the test's side ---------------------------------------------------------------

    def add(self, *steps: Step) -> None:
        """Append answers to the script; each request takes the oldest one."""
        with self._lock:
            self._script.extend(steps)

    def reset(self) -> None:
        """Forget the script and the request log."""
        with self._lock:
            self._script.clear()
            self._received.clear()

    @property
    def received(self) -> list[Received]:
        """Every request so far, oldest first (a copy), refused ones (401, 400) included."""
        with self._lock:
            return list(self._received)

    @property
    def remaining(self) -> int:
        """Scripted answers not yet given."""
        with self._lock:
            return len(self._script)

    def release_delays(self) -> None:
        """Cut scripted delays short: the server is going away, so nobody waits for them."""
        self._stopping.set()

    # -- the protocols -----------------------------------------------------------------

    async def _openai(self, request: Request) -> Response:
        return await self._answer("openai", request)

    async def _anthropic(self, request: Request) -> Response:
        return await self._answer("anthropic", request)

    async def _answer(self, protocol: Wire, request: Request) -> Response:
        raw = await request.body()
        headers = dict(request.headers)
        try:
            parsed = json.loads(raw)
        except (ValueError, UnicodeDecodeError):
            parsed = None
        body = (
            parsed
            if isinstance(parsed, dict)
            else {"_invalid_json": raw.decode("utf-8", "replace")}
        )
        with self._lock:
            self._received.append(Received(protocol, body, headers))
        refusal = self._auth_refusal(protocol, headers)
        if refusal is not None:
            return _error(protocol, 401, refusal)
        problem = _request_problem(protocol, parsed)
        if problem is not None:
            return _error(protocol, 400, problem)
        with self._lock:
            step = self._script.popleft() if self._script else None
        if step is None:
            step = _default_step(protocol, body)
        return await self._respond(protocol, body, step)

    def _auth_refusal(self, protocol: Wire, headers: Mapping[str, str]) -> str | None:
        """Why the request's key is refused, or None when it passes."""
        authorization = headers.get("authorization", "")
        bearer = authorization[7:].strip() if authorization[:7].lower() == "bearer " else ""
        # anthropic 2.14 sends its api_key as a Bearer token; the API documents x-api-key
        key = bearer if protocol == "openai" else headers.get("x-api-key", "") or bearer
        if not key:
            if protocol == "openai":
                return "You didn't provide an API key. Use an Authorization: Bearer header."
            return "x-api-key header is required"
        if self.api_key is not None and key != self.api_key:
            return "Incorrect API key provided." if protocol == "openai" else "invalid x-api-key"
        return None

    async def _respond(self, protocol: Wire, request: dict[str, Any], step: Step) -> Response:
        while step.kind == "delay":
            await self._sleep(step.seconds)
            if step.then is None:  # from_json and delay() never build one
                raise AssertionError("a delay step without 'then'")
            step = step.then
        if step.kind == "error":
            return _error(protocol, step.status, None, body=step.body, retry_after=step.retry_after)
        if step.kind == "garbage":
            return Response(step.content.encode(), 200, media_type=step.content_type)
        input_tokens = step.input_tokens
        if input_tokens is None:
            input_tokens = max(1, len(json.dumps(request)) // 4)
        output_tokens = DEFAULT_OUTPUT_TOKENS if step.output_tokens is None else step.output_tokens
        text = _filler(step.n_bytes) if step.kind == "huge" else step.content
        serial = next(self._ids)
        model = str(request.get("model", "fake-model"))
        if protocol == "openai":
            payload = _openai_completion(
                serial, model, text, step.calls, input_tokens, output_tokens
            )
        else:
            payload = _anthropic_message(
                serial, model, text, step.calls, input_tokens, output_tokens
            )
        return _json(payload, 200, _request_id_header(protocol, serial))

    async def _sleep(self, seconds: float) -> None:
        """Sleep, but wake when the server stops, so a scripted delay never holds it up."""
        deadline = time.monotonic() + seconds
        while not self._stopping.is_set():
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return
            await asyncio.sleep(min(_DELAY_TICK_S, remaining))

    # -- control routes ----------------------------------------------------------------

    async def _post_script(self, request: Request) -> Response:
        try:
            data = json.loads(await request.body())
            if not isinstance(data, list):
                raise ValueError("the script is a JSON list of steps")
            steps = [Step.from_json(item) for item in data]
        except (ValueError, TypeError) as error:
            return JSONResponse({"error": str(error)}, 400)
        self.add(*steps)
        return JSONResponse({"added": len(steps), "remaining": self.remaining})

    async def _post_reset(self, request: Request) -> Response:
        self.reset()
        return JSONResponse({"reset": True})

    async def _get_requests(self, request: Request) -> Response:
        return _json([item.to_json() for item in self.received], 200)


def _bound_socket(host: str, port: int) -> socket.socket:
    """A socket bound and listening here (port 0: the kernel's pick, with no race).

    Listening before uvicorn serves means a client that connects as soon as it reads
    the URL waits in the backlog instead of being refused.
    """
    # IPPROTO_TCP named, not left 0: asyncio sets TCP_NODELAY on accepted connections only
    # when the protocol says TCP, and without it every keep-alive answer waits 40 ms for
    # the client's delayed ACK (Nagle's algorithm between the headers and the body).
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
        sock.listen(128)
    except OSError:
        sock.close()
        raise
    return sock


class _Server(uvicorn.Server):
    """uvicorn's server that also cuts the provider's scripted delays short on SIGTERM or
    SIGINT, so stopping never waits out a delay meant for a client timeout."""

    def __init__(self, config: uvicorn.Config, provider: FakeProvider) -> None:
        super().__init__(config)
        self.provider = provider

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        self.provider.release_delays()
        super().handle_exit(sig, frame)


def _uvicorn_server(provider: FakeProvider, host: str, port: int) -> uvicorn.Server:
    """Plain HTTP/1.1 on asyncio, quiet, and a short grace for in-flight scripted delays."""
    config = uvicorn.Config(
        provider.app,
        host=host,
        port=port,
        lifespan="off",
        log_level="warning",
        access_log=False,
        ws="none",
        loop="asyncio",
        server_header=False,
        timeout_graceful_shutdown=GRACEFUL_S,
    )
    return _Server(config, provider)


@contextlib.contextmanager
def serve_fake_provider(api_key: str | None = None) -> Iterator[tuple[str, FakeProvider]]:
    """A FakeProvider on a background thread at ``http://127.0.0.1:PORT`` (a free port).

    Yields ``(base_url, provider)``; give the OpenAI SDK ``base_url=f"{base_url}/v1"``
    and the Anthropic SDK ``base_url=base_url``. Stops the server on exit, cutting short
    any scripted delay still running.

    Not ``bulkhead.kucoin.serving.BackgroundServer``: that one speaks KuCoin's HTTP
    refusals, and the twin's import rules keep ``sim.llm`` off ``bulkhead.kucoin``.
    """
    provider = FakeProvider(api_key)
    sock = _bound_socket("127.0.0.1", 0)
    port = int(sock.getsockname()[1])
    server = _uvicorn_server(provider, "127.0.0.1", port)
    thread = threading.Thread(
        target=server.run, kwargs={"sockets": [sock]}, name="fake-llm", daemon=True
    )

    def started() -> bool:
        if not server.started and not thread.is_alive():
            raise RuntimeError("the fake LLM provider did not start")
        return bool(server.started)

    thread.start()
    try:
        try:
            wait_until(started, START_S, 0.02, what="the fake LLM provider to start")
        except WaitTimeout:
            raise RuntimeError("the fake LLM provider did not start") from None
        yield f"http://127.0.0.1:{port}", provider
    finally:
        provider.release_delays()
        server.should_exit = True
        thread.join(timeout=STOP_S)
        sock.close()


def post_script(base_url: str, steps: Sequence[Step], timeout: float = 5.0) -> None:
    """Append ``steps`` to the script of a fake served elsewhere (``POST /_fake/script``).

    http.client rather than urllib: only plain HTTP to the given host, no other schemes.
    """
    url = urllib.parse.urlsplit(base_url)
    if url.scheme != "http" or not url.hostname:
        raise ValueError(f"not an http:// URL: {base_url!r}")
    connection = http.client.HTTPConnection(url.hostname, url.port or 80, timeout=timeout)
    try:
        connection.request(
            "POST",
            f"{url.path.rstrip('/')}/_fake/script",
            body=json.dumps([step.to_json() for step in steps]),
            headers={"content-type": "application/json"},
        )
        response = connection.getresponse()
        answer = response.read().decode("utf-8", "replace")
    finally:
        connection.close()
    if response.status != 200:
        raise RuntimeError(f"the fake refused the script ({response.status}): {answer}")


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m bulkhead.sim.llm --port N [--api-key K]``: serve until SIGTERM or SIGINT.

    ``--port 0`` takes a free port; the first stdout line names the URL either way, so
    a test in another process can read it back.
    """
    parser = argparse.ArgumentParser(
        prog="python -m bulkhead.sim.llm",
        description="A fake OpenAI + Anthropic provider for offline tests.",
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--api-key", default=None, help="refuse any other key (401)")
    args = parser.parse_args(argv)
    provider = FakeProvider(args.api_key)
    sock = _bound_socket(args.host, args.port)
    port = int(sock.getsockname()[1])
    server = _uvicorn_server(provider, args.host, port)
    host = f"[{args.host}]" if ":" in args.host else args.host

    def stop(signum: int, frame: FrameType | None) -> None:
        provider.release_delays()
        server.should_exit = True

    # uvicorn swaps in its own handlers while it serves and, once stopped, raises the
    # signal again under these: they make that a clean exit 0 (not a death by SIGTERM or
    # a KeyboardInterrupt traceback), and cover a signal that comes before it serves.
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, stop)
    print(f"fake LLM provider on http://{host}:{port}", flush=True)
    try:
        server.run(sockets=[sock])
    finally:
        sock.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
