"""The gateway's upstream HTTP client against scripted local servers: what it reuses, what
it refuses, and that it never sends a request twice."""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import ipaddress
import ssl
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from bulkhead.gateway.http_client import AnswerTooLarge, HttpClient, UpstreamError

HOST = "127.0.0.1"


def _answer(body: bytes, *extra: bytes) -> bytes:
    head = [b"HTTP/1.1 200 OK", b"Content-Type: application/json", *extra]
    head.append(b"Content-Length: %d" % len(body))
    return b"\r\n".join(head) + b"\r\n\r\n" + body


#: What the server does with the request it just read: the bytes it answers (None: hang up)
Script = Callable[[int, bytes], Awaitable[bytes | None]]


@dataclass
class Server:
    """Reads whole requests (head and Content-Length body), answers as the script says."""

    script: Script
    requests: list[bytes] = field(default_factory=list)
    connections: int = 0
    port: int = 0

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = 0
                for line in head.split(b"\r\n"):
                    if line.lower().startswith(b"content-length:"):
                        length = int(line.split(b":", 1)[1])
                request = head + await reader.readexactly(length)
                self.requests.append(request)
                answer = await self.script(len(self.requests), request)
                if answer is None:
                    break
                writer.write(answer)
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()


async def _started(server: Server, tls: ssl.SSLContext | None = None) -> asyncio.Server:
    listening = await asyncio.start_server(server._serve, HOST, 0, ssl=tls)
    server.port = listening.sockets[0].getsockname()[1]
    return listening


def _client(server: Server, scheme: str = "http", **options: object) -> HttpClient:
    settings: dict[str, object] = {
        "connect_timeout_s": 2.0,
        "read_timeout_s": 2.0,
        "max_answer_bytes": 1000,
        "kept_headers": [b"gw-ratelimit-remaining"],
    }
    settings.update(options)
    return HttpClient(f"{scheme}://{HOST}:{server.port}", **settings)  # type: ignore[arg-type]


@contextlib.asynccontextmanager
async def serving(script: Script, **options: object) -> AsyncIterator[tuple[Server, HttpClient]]:
    """A scripted server, and a client of it (closed afterwards)."""
    server = Server(script)
    async with await _started(server):
        client = _client(server, **options)
        try:
            yield server, client
        finally:
            await client.close()


def run(test: Callable[[], Awaitable[None]]) -> None:
    asyncio.run(test())


def test_answers_come_back_whole_over_one_kept_alive_connection_with_the_headers_asked_for():
    async def script(n: int, request: bytes) -> bytes:
        if n == 2:  # chunked, as uvicorn answers
            chunks = b'5\r\n{"a":\r\n3\r\n 1}\r\n0\r\n\r\n'
            return b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n" + chunks
        return _answer(b'{"n": %d}' % n, b"gw-ratelimit-remaining: 99", b"Set-Cookie: x=1")

    async def test() -> None:
        async with serving(script) as (server, client):
            first = await client.request("POST", b"/api/v1/orders?x=1", [("A", "b")], b"{}")
            second = await client.request("GET", b"/api/v1/accounts", [])
            third = await client.request("GET", b"/api/v1/accounts", [])
        assert (first.status, first.body) == (200, b'{"n": 1}')
        assert first.headers == [(b"gw-ratelimit-remaining", b"99")]
        assert second.body == b'{"a": 1}'
        assert third.body == b'{"n": 3}'
        assert server.connections == 1
        assert server.requests[0].startswith(b"POST /api/v1/orders?x=1 HTTP/1.1\r\n")
        assert b"\r\nContent-Length: 2\r\n\r\n{}" in server.requests[0]
        assert f"\r\nHost: {HOST}:{server.port}\r\n".encode() in server.requests[0]

    run(test)


def test_a_connection_the_server_closes_or_that_idled_too_long_is_not_reused():
    async def script(n: int, request: bytes) -> bytes:
        return _answer(b"{}", b"Connection: close") if n == 1 else _answer(b"{}")

    async def test() -> None:
        async with serving(script, keepalive_s=0.05) as (server, client):
            for _ in range(2):
                await client.request("GET", b"/a", [])
            assert server.connections == 2  # the first said close
            await client.request("GET", b"/a", [])
            assert server.connections == 2  # kept alive
            await asyncio.sleep(0.1)
            await client.request("GET", b"/a", [])
            assert server.connections == 3  # idled past keepalive_s

    run(test)


def test_a_lost_answer_raises_and_the_request_is_never_sent_again():
    async def script(n: int, request: bytes) -> bytes | None:
        return None if n == 1 else _answer(b"{}")

    async def test() -> None:
        async with serving(script) as (server, client):
            with pytest.raises(UpstreamError, match="connection lost"):
                await client.request("POST", b"/api/v1/orders", [], b'{"clientOid": "a"}')
            assert len(server.requests) == 1
            answer = await client.request("GET", b"/b", [])
            assert answer.status == 200
            assert len(server.requests) == 2

    run(test)


def test_a_late_answer_is_never_taken_for_the_next_requests():
    async def script(n: int, request: bytes) -> bytes:
        if n == 1:
            await asyncio.sleep(0.3)
        return _answer(b'{"n": %d}' % n)

    async def test() -> None:
        async with serving(script, read_timeout_s=0.1) as (server, client):
            with pytest.raises(TimeoutError):
                await client.request("GET", b"/slow", [])
            await asyncio.sleep(0.3)  # the late answer arrives on a closed connection
            answer = await client.request("GET", b"/next", [])
            assert answer.body == b'{"n": 2}'
            assert server.connections == 2

    run(test)


def test_an_answer_over_the_limit_raises_unread_and_garbage_is_not_http():
    async def script(n: int, request: bytes) -> bytes:
        if n == 1:
            return _answer(b"x" * 5000)
        if n == 2:
            chunk = b"x" * 900
            return (
                b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
                + (b"384\r\n" + chunk + b"\r\n") * 3
            )
        return b"not http at all\r\n\r\n"

    async def test() -> None:
        async with serving(script) as (_server, client):
            with pytest.raises(AnswerTooLarge):
                await client.request("GET", b"/big", [])
            with pytest.raises(AnswerTooLarge):  # chunked: counted while read
                await client.request("GET", b"/big-chunked", [])
            with pytest.raises(UpstreamError, match="unparsable"):
                await client.request("GET", b"/garbage", [])

    run(test)


def test_a_header_with_a_line_break_is_refused_before_anything_is_sent():
    async def script(n: int, request: bytes) -> bytes:
        return _answer(b"{}")

    async def test() -> None:
        async with serving(script) as (server, client):
            with pytest.raises(ValueError, match="line break"):
                await client.request("GET", b"/a", [("KC-API-KEY", "key\r\nX-Injected: 1")])
        assert server.connections == 0

    run(test)


def test_https_verifies_the_servers_certificate(tmp_path: Path):
    """KuCoin is HTTPS: an untrusted certificate is refused, a trusted one answers."""
    certificate, key = _self_signed(tmp_path)
    serving = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    serving.load_cert_chain(certificate, key)

    async def script(n: int, request: bytes) -> bytes:
        return _answer(b'{"tls": true}')

    async def test() -> None:
        server = Server(script)
        async with await _started(server, serving):
            untrusting = _client(server, "https")
            with pytest.raises(ssl.SSLCertVerificationError):
                await untrusting.request("GET", b"/a", [])
            trusting = _client(
                server, "https", ssl_context=ssl.create_default_context(cafile=str(certificate))
            )
            answer = await trusting.request("GET", b"/a", [])
            assert answer.body == b'{"tls": true}'
            await trusting.close()
            await untrusting.close()

    run(test)


def _self_signed(directory: Path) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "bulkhead test")])
    now = datetime.datetime.now(datetime.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(hours=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address(HOST))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / "cert.pem", directory / "key.pem"
    cert_path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


def test_an_interim_answer_or_bytes_after_the_answer_never_reach_the_next_request():
    """A 103 before the real answer, or a second answer glued to the first: either way,
    the next request must get its own answer, on a connection of its own."""

    async def script(n: int, request: bytes) -> bytes:
        if n == 1:
            return b"HTTP/1.1 103 Early Hints\r\n\r\n" + _answer(b'{"n": 1}')
        if n == 2:
            return _answer(b'{"n": 2}') + _answer(b'{"n": "stray"}')
        return _answer(b'{"n": %d}' % n)

    async def test() -> None:
        async with serving(script) as (server, client):
            with pytest.raises(UpstreamError, match="interim answer 103"):
                await client.request("GET", b"/a", [])
            second = await client.request("GET", b"/b", [])
            assert second.body == b'{"n": 2}'
            third = await client.request("GET", b"/c", [])
            assert third.body == b'{"n": 3}'
            assert server.connections == 3

    run(test)


def test_a_head_longer_than_the_limit_is_refused_too():
    async def script(n: int, request: bytes) -> bytes:
        return _answer(b"{}", b"gw-ratelimit-remaining: " + b"9" * 5000)

    async def test() -> None:
        async with serving(script) as (_server, client):
            with pytest.raises(AnswerTooLarge):
                await client.request("GET", b"/a", [])

    run(test)
