"""The twin's errors: KuCoin's envelope and codes (``bulkhead.kucoin.envelope``, shared with
the order gateway) plus the admin API's own refusals.

ccxt maps errors by exact ``msg``, then exact ``code``, then substrings; the twin therefore
always answers with a KuCoin code and message and never lets a traceback out.
"""

from __future__ import annotations

from bulkhead.kucoin.envelope import (
    KucoinError,
    account_not_found,
    bad_parameter,
    bad_signature,
    duplicate_client_oid,
    funds_below_minimum,
    insufficient_balance,
    internal_error,
    invalid_timestamp,
    ip_refused,
    malformed_request,
    missing_header,
    no_permission,
    not_found,
    order_forbidden,
    order_not_found,
    price_increment_invalid,
    request_too_large,
    size_below_minimum,
    size_increment_invalid,
    too_many_requests,
    unknown_key,
    unknown_symbol,
    unsupported_media_type,
    user_frozen,
    wrong_passphrase,
)

__all__ = [
    "KucoinError",
    "account_not_found",
    "admin_refused",
    "bad_parameter",
    "bad_signature",
    "duplicate_client_oid",
    "funds_below_minimum",
    "insufficient_balance",
    "internal_error",
    "invalid_timestamp",
    "ip_refused",
    "malformed_request",
    "missing_header",
    "no_permission",
    "not_found",
    "order_forbidden",
    "order_not_found",
    "price_increment_invalid",
    "request_too_large",
    "size_below_minimum",
    "size_increment_invalid",
    "too_many_requests",
    "unknown_key",
    "unknown_symbol",
    "unsupported_media_type",
    "user_frozen",
    "wrong_passphrase",
]


def admin_refused(msg: str, http_status: int = 403) -> KucoinError:
    """The admin API's own refusals (not a KuCoin endpoint, so its own 403000/401000)."""
    return KucoinError(f"{http_status}000", msg, http_status)
