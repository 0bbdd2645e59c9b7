"""KuCoin's request signature, both ways: verify one as KuCoin does, and sign one as a client.

One implementation for the twin (which verifies what ccxt sends), the order gateway (which
verifies what a bot sends with its gateway credential, then signs the forwarded request
with the bot's real key) and tests. KuCoin's scheme:

| header | value |
|---|---|
| KC-API-KEY | the key id |
| KC-API-TIMESTAMP | epoch ms; further than 5 s from server time is ``400002`` |
| KC-API-SIGN | base64(HMAC-SHA256(secret, timestamp + METHOD + path[?query] + body)) |
| KC-API-PASSPHRASE | v1: plain; v2/v3: base64(HMAC-SHA256(secret, passphrase)) |
| KC-API-KEY-VERSION | "2" (ccxt) or "3" (KuCoin's SDK); absent means 1 |

The order of the checks matters to a client debugging its setup: a missing header is
reported before an unknown key, the key before the timestamp, the signature before the
passphrase, so each mistake (wrong secret, wrong passphrase, skewed clock) gets its own code.
"""

from __future__ import annotations

import binascii
import functools
import hashlib
import hmac
from collections.abc import Mapping
from typing import NoReturn, Protocol, TypeVar
from urllib.parse import unquote_to_bytes

from bulkhead.kucoin import envelope

#: KuCoin refuses a request whose timestamp is further than this from server time.
TIMESTAMP_WINDOW_MS = 5000
REQUIRED_HEADERS = ("kc-api-key", "kc-api-sign", "kc-api-timestamp", "kc-api-passphrase")
#: The key version a client announces; ccxt says "2".
DEFAULT_KEY_VERSION = "2"


class Credential(Protocol):
    """What verifying a signature needs of a key: its secret and passphrase."""

    @property
    def secret(self) -> str: ...

    @property
    def passphrase(self) -> str: ...


K = TypeVar("K", bound=Credential)


def sign(secret: str, prehash: str) -> str:
    """base64(HMAC-SHA256(secret, prehash)): KuCoin's signature and v2/v3 passphrase."""
    digest = hmac.digest(secret.encode(), prehash.encode(), hashlib.sha256)
    return binascii.b2a_base64(digest, newline=False).decode()


#: SHA-256's block size: HMAC pads (or first hashes) the key to this length
_SHA256_BLOCK = 64


@functools.lru_cache(maxsize=4096)
def _keyed_sha256(secret: str) -> tuple[hashlib._Hash, hashlib._Hash]:
    """HMAC-SHA256's inner and outer states once the key block is absorbed (RFC 2104).

    They are fixed per secret; finishing a signature from copies of them costs less than
    half of a one-shot ``hmac.digest``, which sets the key up again on every request.
    """
    key = secret.encode()
    if len(key) > _SHA256_BLOCK:
        key = hashlib.sha256(key).digest()
    key = key.ljust(_SHA256_BLOCK, b"\0")
    inner = hashlib.sha256(bytes(byte ^ 0x36 for byte in key))
    outer = hashlib.sha256(bytes(byte ^ 0x5C for byte in key))
    return inner, outer


def _signature(secret: str, message: bytes) -> bytes:
    """The same bytes as ``sign(secret, message).encode()``, from the cached key states."""
    inner_start, outer_start = _keyed_sha256(secret)
    inner = inner_start.copy()
    inner.update(message)
    outer = outer_start.copy()
    outer.update(inner.digest())
    return binascii.b2a_base64(outer.digest(), newline=False)


@functools.lru_cache(maxsize=4096)
def _hashed_passphrase(secret: str, passphrase: str) -> bytes:
    """v2/v3 passphrases are fixed per key: hash once, not on every request."""
    return sign(secret, passphrase).encode()


def prehash(timestamp: str, method: str, path_and_query: str, body: str) -> str:
    return f"{timestamp}{method.upper()}{path_and_query}{body}"


def _raise_missing(headers: Mapping[bytes, bytes]) -> NoReturn:
    """KuCoin names the first missing header, in its own order."""
    for name in REQUIRED_HEADERS:
        if not headers.get(name.encode()):
            raise envelope.missing_header(name.upper())
    raise envelope.missing_header(REQUIRED_HEADERS[0].upper())  # pragma: no cover


def verify(
    headers: Mapping[bytes, bytes],
    keys: Mapping[str, K],
    method: str,
    target: bytes,
    body: bytes,
    now_ms: int,
) -> K:
    """Return the key that signed this request, or raise the KuCoin error for what is wrong.

    ``headers`` are the request's as sent (lower-case names, bytes), ``target`` its path
    and query exactly as sent. Every private request of every bot comes through here, so
    the common case (all headers present, signature right) takes the straight path, and
    the signature is checked on bytes: nothing is decoded to text but the key id, and a
    non-ASCII header cannot turn into a server error.

    KuCoin signs the URL "that has not been URL-encoded": a target holding ``%XX``
    escapes is verified in its percent-decoded form (``+`` stays ``+``, as in KuCoin's
    example), so ``?passphrase=abc%21%40%2311`` is signed as ``?passphrase=abc!@#11``.
    That is also what ccxt signs: it writes the query un-encoded and its HTTP library
    then escapes what a URL cannot carry (a space, ``|``, ``"``, non-ASCII). A target
    without ``%`` (every poll a bot makes) is signed exactly as sent.
    """
    get = headers.get
    api_key, signature = get(b"kc-api-key"), get(b"kc-api-sign")
    timestamp, passphrase = get(b"kc-api-timestamp"), get(b"kc-api-passphrase")
    if not api_key or not signature or not timestamp or not passphrase:
        _raise_missing(headers)
    key = keys.get(api_key.decode("latin-1"))
    if key is None:
        raise envelope.unknown_key()
    try:
        skew = abs(int(timestamp) - now_ms)
    except ValueError:
        raise envelope.invalid_timestamp() from None
    if skew > TIMESTAMP_WINDOW_MS:
        raise envelope.invalid_timestamp()
    # The signature first: with v2/v3 the passphrase header is itself HMAC'd with the
    # secret, so a wrong secret would otherwise surface as a wrong passphrase.
    if b"%" in target:
        target = unquote_to_bytes(target)
    signed = b"".join((timestamp, method.upper().encode(), target, body))
    if not hmac.compare_digest(signature, _signature(key.secret, signed)):
        raise envelope.bad_signature()
    # A v1 key may still be sent as v2 by a client: KuCoin judges by what the client says.
    if get(b"kc-api-key-version", b"1") == b"1":
        wanted = key.passphrase.encode()
    else:
        wanted = _hashed_passphrase(key.secret, key.passphrase)
    if not hmac.compare_digest(passphrase, wanted):
        raise envelope.wrong_passphrase()
    return key


def signed_headers(
    api_key: str,
    secret: str,
    passphrase: str,
    method: str,
    target: bytes,
    body: bytes,
    timestamp_ms: int,
    *,
    version: str = DEFAULT_KEY_VERSION,
) -> list[tuple[bytes, bytes]]:
    """The KC-API-* headers a client sends with this request, signed with this key.

    ``target`` is the path and query as they will be sent; like ``verify``, a target with
    ``%XX`` escapes is signed in its decoded form, so whatever ``verify`` accepts from a
    client, this signs the same way for the next hop.
    """
    timestamp = b"%d" % timestamp_ms
    if b"%" in target:
        target = unquote_to_bytes(target)
    message = b"".join((timestamp, method.upper().encode(), target, body))
    sent_passphrase = (
        passphrase.encode() if version == "1" else _hashed_passphrase(secret, passphrase)
    )
    return [
        (b"kc-api-key", api_key.encode()),
        (b"kc-api-sign", _signature(secret, message)),
        (b"kc-api-timestamp", timestamp),
        (b"kc-api-passphrase", sent_passphrase),
        (b"kc-api-key-version", version.encode()),
    ]
