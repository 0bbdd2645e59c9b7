"""The gateway's allowlist: what a spot bot needs passes, and nothing that moves funds does."""

from __future__ import annotations

import pytest

from bulkhead.gateway.allowlist import SPOT_BOT, Allowlist

ALLOWLIST = Allowlist()

#: What ccxt and Freqtrade call for a spot bot, classic and HF (reference/kucoin-spot-api.md).
NEEDED = [
    ("GET", "/api/v1/timestamp", "time"),
    ("GET", "/api/v1/status", "time"),
    ("GET", "/api/v3/currencies", "market"),
    ("GET", "/api/v2/symbols", "market"),
    ("GET", "/api/v1/market/allTickers", "market"),
    ("GET", "/api/v1/market/orderbook/level2_20", "market"),
    ("GET", "/api/v1/market/candles", "market"),
    ("GET", "/api/v3/margin/symbols", "market"),
    ("GET", "/api/v1/isolated/symbols", "market"),
    ("GET", "/api/v1/accounts", "account"),
    ("GET", "/api/v1/accounts/5bd6e9286d99522a52e458de", "account"),
    ("GET", "/api/v1/hf/accounts/opened", "account"),
    ("POST", "/api/v1/orders", "order"),
    ("GET", "/api/v1/orders", "order"),
    ("GET", "/api/v1/orders/5bd6e9286d99522a52e458de", "order"),
    ("DELETE", "/api/v1/orders/5bd6e9286d99522a52e458de", "order"),
    ("GET", "/api/v1/order/client-order/my-oid-1", "order"),
    ("POST", "/api/v1/hf/orders", "order"),
    ("POST", "/api/v1/hf/orders/sync", "order"),
    ("GET", "/api/v1/hf/orders/active", "order"),
    ("GET", "/api/v1/hf/orders/done", "order"),
    ("GET", "/api/v1/hf/orders/5bd6e9286d99522a52e458de", "order"),
    ("DELETE", "/api/v1/hf/orders/5bd6e9286d99522a52e458de", "order"),
    ("DELETE", "/api/v1/hf/orders/sync/client-order/my-oid-1", "order"),
    ("POST", "/api/v1/stop-order", "stop"),
    ("GET", "/api/v1/stop-order/5bd6e9286d99522a52e458de", "stop"),
    ("DELETE", "/api/v1/stop-order/cancel", "stop"),
    ("GET", "/api/v1/fills", "fill"),
    ("GET", "/api/v1/hf/fills", "fill"),
    ("GET", "/api/v1/trade-fees", "fee"),
    ("GET", "/api/v1/base-fee", "fee"),
]

#: Everything a compromised bot would try: every kind of transfer, withdrawals, sub-account
#: and key management, margin, futures, earn, deposits, and KuCoin's newer API families.
REFUSED = [
    ("POST", "/api/v3/accounts/universal-transfer"),
    ("POST", "/api/v2/accounts/inner-transfer"),
    ("POST", "/api/v2/accounts/sub-transfer"),
    ("POST", "/api/v1/accounts/sub-transfer"),
    ("POST", "/api/v1/withdrawals"),
    ("POST", "/api/v3/withdrawals"),
    ("DELETE", "/api/v1/withdrawals/5bd6e9286d99522a52e458de"),
    ("GET", "/api/v1/deposit-addresses"),
    ("POST", "/api/v1/deposit-addresses"),
    ("POST", "/api/v2/sub/user/created"),
    ("GET", "/api/v2/sub/user"),
    ("GET", "/api/v2/sub-accounts"),
    ("GET", "/api/v1/sub-accounts/6000000"),
    ("POST", "/api/v1/sub/api-key"),
    ("POST", "/api/v1/sub/api-key/update"),
    ("DELETE", "/api/v1/sub/api-key"),
    ("GET", "/api/v1/user/api-key"),
    ("GET", "/api/v2/user-info"),
    ("POST", "/api/v3/margin/borrow"),
    ("POST", "/api/v3/margin/repay"),
    ("POST", "/api/v1/margin/order"),
    ("POST", "/api/v3/hf/margin/order"),
    ("GET", "/api/v1/margin/account"),
    ("POST", "/api/v1/isolated/borrow"),
    ("POST", "/api/v1/position/margin/deposit-margin"),
    ("GET", "/api/v1/positions"),
    ("POST", "/api/v1/transfer-out"),
    ("POST", "/api/v3/transfer-out"),
    ("POST", "/api/v1/earn/orders"),
    ("DELETE", "/api/v1/earn/orders"),
    ("POST", "/api/v1/hf/orders/multi"),
    ("POST", "/api/v1/hf/orders/alter"),
    ("POST", "/api/v3/oco/order"),
    ("POST", "/api/ua/v1/account/transfer"),
    ("PUT", "/api/v1/orders"),
    ("HEAD", "/api/v1/timestamp"),
]


@pytest.mark.parametrize(("method", "path", "family"), NEEDED)
def test_what_a_spot_bot_needs_passes(method: str, path: str, family: str):
    rule = ALLOWLIST.match(method, path)
    assert rule is not None, f"{method} {path} is refused"
    assert rule.family == family


@pytest.mark.parametrize(("method", "path"), REFUSED)
def test_what_moves_funds_or_leaves_spot_is_refused(method: str, path: str):
    assert ALLOWLIST.match(method, path) is None


def test_public_market_data_goes_unsigned_and_everything_private_is_re_signed():
    unsigned = {rule.pattern for rule in SPOT_BOT if not rule.signed}
    assert all(rule.method == "GET" for rule in SPOT_BOT if not rule.signed)
    assert "/api/v1/market/candles" in unsigned
    assert "/api/v1/accounts" not in unsigned


def test_only_order_placements_reach_the_ledger_hook():
    placing = {(rule.method, rule.pattern) for rule in SPOT_BOT if rule.places_order}
    assert placing == {
        ("POST", "/api/v1/orders"),
        ("POST", "/api/v1/hf/orders"),
        ("POST", "/api/v1/hf/orders/sync"),
        ("POST", "/api/v1/stop-order"),
    }


@pytest.mark.parametrize(
    "path",
    [
        "/api/v1/orders/..",
        "/api/v1/orders/.",
        "/api/v1/orders/",
        "/api/v1/orders/a/withdrawals",
        "/api/v1/hf/orders/sync/",
    ],
)
def test_a_path_parameter_never_reaches_past_its_segment(path: str):
    assert ALLOWLIST.match("DELETE", path) is None


def test_the_table_names_each_call_once():
    keys = [(rule.method, rule.pattern) for rule in SPOT_BOT]
    assert len(keys) == len(set(keys))
