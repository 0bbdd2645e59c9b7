"""KuCoin's error envelope and codes, so every refusal reaches ccxt exactly as KuCoin sends it.

ccxt maps errors by exact ``msg``, then exact ``code``, then substrings; whoever answers a
KuCoin client (the twin, the order gateway) therefore answers with a KuCoin code and
message, built here, and never lets a traceback out.
"""

from __future__ import annotations

from typing import Any

import orjson


class KucoinError(Exception):
    """A refusal answered with KuCoin's envelope ``{"code", "msg"}``.

    Raised anywhere below a route handler; the HTTP layer turns it into the response, and
    state is never touched after a raise (handlers validate before they mutate).
    """

    def __init__(self, code: str, msg: str, http_status: int = 200) -> None:
        super().__init__(f"{code}: {msg}")
        self.code = code
        self.msg = msg
        self.http_status = http_status


def missing_header(name: str) -> KucoinError:
    return KucoinError("400001", f"Please check the header of your request for {name}", 401)


def invalid_timestamp() -> KucoinError:
    return KucoinError("400002", "Invalid KC-API-TIMESTAMP", 401)


def unknown_key() -> KucoinError:
    return KucoinError("400003", "KC-API-KEY not exists", 401)


def wrong_passphrase() -> KucoinError:
    return KucoinError("400004", "Invalid KC-API-PASSPHRASE", 401)


def bad_signature() -> KucoinError:
    return KucoinError("400005", "Signature verification failed", 401)


def ip_refused(ip: str) -> KucoinError:
    return KucoinError("400006", f"Invalid request ip, the current clientIp is:{ip}", 401)


def no_permission() -> KucoinError:
    return KucoinError("400007", "Access denied, require more permission.", 403)


def insufficient_balance() -> KucoinError:
    return KucoinError("200004", "Balance insufficient!")


def account_not_found() -> KucoinError:
    return KucoinError("230008", "account not exist")


def too_many_requests() -> KucoinError:
    return KucoinError("429000", "Too Many Requests", 429)


def bad_parameter(msg: str) -> KucoinError:
    return KucoinError("400100", msg, 400)


def order_not_found() -> KucoinError:
    return KucoinError("400100", "order_not_exist_or_not_allow_to_cancel", 400)


def not_found() -> KucoinError:
    return KucoinError("404000", "Not Found", 404)


def user_frozen() -> KucoinError:
    return KucoinError("411100", "User is frozen")


def order_forbidden(msg: str = "Forbidden to place an order") -> KucoinError:
    return KucoinError("400200", msg)


def unknown_symbol() -> KucoinError:
    return KucoinError("400600", "symbol not exists")


def internal_error() -> KucoinError:
    return KucoinError("500000", "Internal Server Error.", 500)


def size_below_minimum() -> KucoinError:
    return KucoinError("400100", "Order size below the minimum requirement.")


def size_increment_invalid() -> KucoinError:
    return KucoinError("400100", "Order size increment invalid.")


def price_increment_invalid() -> KucoinError:
    return KucoinError("400100", "Price increment invalid.")


def funds_below_minimum() -> KucoinError:
    return KucoinError("400100", "Order funds below the minimum requirement.")


def duplicate_client_oid() -> KucoinError:
    return KucoinError("126044", "clientOid duplicate")


# -- requests refused before routing --------------------------------------------------
#
# KuCoin's own front end answers an oversized or malformed request with a bare HTTP error
# page; the twin and the gateway answer in KuCoin's envelope instead, so a client's error
# path sees what it sees for every other refusal. The code is 400100, KuCoin's parameter
# error: ccxt maps it to BadRequest, which callers (Freqtrade included) treat as "do not
# retry", the right reading for a request that will be too large however often it is sent.
# Any other code (an invented "413000", say) would reach ccxt as a bare ExchangeError. The
# HTTP status still says which limit it was (413, 414, 431, 400), for whoever reads the
# wire.


def request_too_large(what: str, limit: int, http_status: int) -> KucoinError:
    return KucoinError("400100", f"{what} too large: at most {limit} bytes", http_status)


def malformed_request() -> KucoinError:
    return KucoinError("400100", "Invalid HTTP request received.", 400)


def unsupported_media_type() -> KucoinError:
    """KuCoin's own code for a body that is not ``application/json``."""
    return KucoinError(
        "415000", "Unsupported Media Type: the Content-Type must be application/json", 415
    )


def success_body(data: Any) -> bytes:
    """KuCoin's success envelope ``{"code": "200000", "data": ...}`` as bytes."""
    return orjson.dumps({"code": "200000", "data": data}, default=str)


def error_body(error: KucoinError) -> bytes:
    """KuCoin's error envelope ``{"code", "msg"}`` as bytes."""
    return orjson.dumps({"code": error.code, "msg": error.msg})
