"""Balances, keys, sub-accounts, transfers and withdrawals.

Every fund movement, accepted or refused, lands in the twin's movement log: the
isolation tests read it to prove that a trade-only key never moved a cent.
"""

from __future__ import annotations

import functools
from decimal import Decimal
from typing import Any

from bulkhead.sim import errors, limits, shapes
from bulkhead.sim.engine import TwinConfigError
from bulkhead.sim.http import Route
from bulkhead.sim.models import ACCOUNT_TYPES, User
from bulkhead.sim.routes.context import Call, paginate, positive_amount, require_master
from bulkhead.sim.shapes import num


@functools.lru_cache(maxsize=65536)
def _account_id(uid: str, account_type: str, currency: str) -> str:
    """Stable per (user, account, currency), and every balance poll renders it: cached."""
    kind = ACCOUNT_TYPES.index(account_type)
    return f"{int(uid):08x}{kind:04x}{currency.encode().hex()[:12]:0>12}"


def _balance_rows(
    user: User, account_type: str | None, currency: str | None
) -> list[dict[str, Any]]:
    rows = []
    for kind, per_currency in user.accounts.items():
        if account_type and kind != account_type:
            continue
        for code, balance in sorted(per_currency.items()):
            if currency and code != currency:
                continue
            total, holds = num(balance.balance), balance.holds
            rows.append(
                {
                    "id": _account_id(user.uid, kind, code),
                    "currency": code,
                    "type": kind,
                    "balance": total,
                    # Most balances hold nothing: then available is the balance.
                    "available": num(balance.available) if holds else total,
                    "holds": num(holds),
                }
            )
    return rows


def accounts(call: Call) -> list[dict[str, Any]]:
    query = call.request.query
    account_type = query.get("type") or None
    if account_type and account_type not in (*ACCOUNT_TYPES, "margin", "isolated"):
        raise errors.bad_parameter("type must be main, trade or trade_hf")
    return _balance_rows(call.me, account_type, query.get("currency") or None)


def account_detail(call: Call) -> dict[str, str]:
    """One balance row by the ``id`` that ``/api/v1/accounts`` lists, in KuCoin's shape.

    Only the caller's own accounts are found: any other id, another user's included, is
    KuCoin's ``230008 account not exist``.
    """
    wanted = call.request.params["accountId"]
    user = call.me
    for kind, per_currency in user.accounts.items():
        for code, balance in per_currency.items():
            if _account_id(user.uid, kind, code) == wanted:
                return {
                    "currency": code,
                    "balance": num(balance.balance),
                    "available": num(balance.available),
                    "holds": num(balance.holds),
                }
    raise errors.account_not_found()


#: ``/api/v1/hf/accounts/ledgers``: rows per call by default and at most, currencies per call
HF_LEDGER_LIMIT = 100
HF_LEDGER_MAX_LIMIT = 200
HF_LEDGER_MAX_CURRENCIES = 10


def hf_ledger(call: Call) -> list[dict[str, str]]:
    """The caller's HF trading account ledger, newest first, in KuCoin's shape and with
    its filters: ``currency`` (up to 10, comma-separated), ``direction`` (in, out),
    ``bizType`` (TRADE_EXCHANGE, TRANSFER), ``startAt``/``endAt`` (ms, inclusive),
    ``lastId`` (rows older than that id: the next page) and ``limit`` (100, at most 200).

    Trades and transfers are on it; a balance set through the admin API is not (on
    KuCoin it would have arrived by a deposit or a transfer).
    """
    query = call.request.query
    currencies = {code for code in (query.get("currency") or "").split(",") if code}
    if len(currencies) > HF_LEDGER_MAX_CURRENCIES:
        raise errors.bad_parameter(f"currency takes at most {HF_LEDGER_MAX_CURRENCIES} currencies")
    direction = query.get("direction") or None
    if direction not in (None, "in", "out"):
        raise errors.bad_parameter("direction must be in or out")
    biz_type = query.get("bizType") or None
    limit = call.query_int("limit", HF_LEDGER_LIMIT, 1, HF_LEDGER_MAX_LIMIT)
    before = call.query_int("lastId", 2**63, 0, 2**63)
    start = call.query_int("startAt", 0, 0, 2**60)
    end = call.query_int("endAt", 2**60, 0, 2**60)
    uid = call.me.uid
    rows: list[dict[str, str]] = []
    for entry in reversed(call.twin.state.hf_ledger):  # ids and times grow as entries append
        if (
            entry.uid != uid
            or entry.id >= before
            or not start <= entry.created_at <= end
            or (currencies and entry.currency not in currencies)
            or (direction and entry.direction != direction)
            or (biz_type and entry.biz_type != biz_type)
        ):
            continue
        rows.append(shapes.ledger_entry_hf(entry))
        if len(rows) == limit:
            break
    return rows


def not_served(call: Call) -> None:
    """A KuCoin path the twin does not serve, answered as one it does not know."""
    raise errors.not_found()


def api_key_info(call: Call) -> dict[str, Any]:
    return shapes.api_key(call.signing_key, call.me)


def user_info(call: Call) -> dict[str, Any]:
    user = call.me
    return {
        "level": 0,
        "subQuantity": len(call.twin.sub_users()) if user.is_master else 0,
        "maxSubQuantity": 100,
        "uid": int(user.uid),
        "name": user.name,
    }


# -- sub-account management (master key, General) -----------------------------------------


def _sub_summary(user: User) -> dict[str, Any]:
    return {
        "userId": user.uid,
        "uid": int(user.uid),
        "subName": user.name,
        "status": 2,
        "type": 0,
        "access": "Spot",
        "createdAt": user.created_at,
        "remarks": None,
    }


def list_subs(call: Call) -> dict[str, object]:
    require_master(call)
    return paginate([_sub_summary(u) for u in call.twin.sub_users()], call)


def create_sub(call: Call) -> dict[str, Any]:
    require_master(call)
    body = call.request.json()
    name = str(body.get("subName", ""))
    if len(name) > limits.MAX_SUB_NAME_CHARS:
        raise errors.bad_parameter(f"subName takes at most {limits.MAX_SUB_NAME_CHARS} characters")
    if len(str(body.get("remarks") or "")) > limits.MAX_REMARK_CHARS:
        raise errors.bad_parameter(f"remarks take at most {limits.MAX_REMARK_CHARS} characters")
    try:
        user = call.twin.create_user(name)
    except TwinConfigError as error:
        raise errors.bad_parameter(str(error)) from None
    return {
        "uid": int(user.uid),
        "subName": user.name,
        "remarks": body.get("remarks"),
        "access": body.get("access", "Spot"),
    }


def _sub_named(call: Call, name: str) -> User:
    for user in call.twin.sub_users():
        if user.name == name:
            return user
    raise errors.bad_parameter("sub-account does not exist")


def _sub_by_uid(call: Call, uid: str) -> User:
    user = call.twin.state.users.get(uid)
    if user is None or user.is_master:
        raise errors.bad_parameter("sub-account does not exist")
    return user


def create_sub_key(call: Call) -> dict[str, Any]:
    require_master(call)
    body = call.request.json()
    sub = _sub_named(call, str(body.get("subName", "")))
    permissions = [
        p.strip() for p in str(body.get("permission", "General")).split(",") if p.strip()
    ]
    whitelist = [ip.strip() for ip in str(body.get("ipWhitelist", "")).split(",") if ip.strip()]
    passphrase = str(body.get("passphrase", ""))
    if not 7 <= len(passphrase) <= limits.MAX_PASSPHRASE_CHARS:
        raise errors.bad_parameter("passphrase must be 7 to 32 characters")
    remark = str(body.get("remark", ""))
    if len(remark) > limits.MAX_REMARK_CHARS:
        raise errors.bad_parameter(f"remark takes at most {limits.MAX_REMARK_CHARS} characters")
    try:
        key = call.twin.create_key(
            sub,
            permissions,
            ip_whitelist=whitelist,
            passphrase=passphrase,
            remark=remark,
        )
    except TwinConfigError as error:
        raise errors.bad_parameter(str(error)) from None
    shape = shapes.api_key(key, sub)
    shape.update({"apiSecret": key.secret, "passphrase": key.passphrase})
    return shape


def list_sub_keys(call: Call) -> list[dict[str, Any]]:
    require_master(call)
    sub = _sub_named(call, call.request.query.get("subName", ""))
    return [shapes.api_key(k, sub) for k in call.twin.state.keys.values() if k.uid == sub.uid]


def delete_sub_key(call: Call) -> dict[str, str]:
    require_master(call)
    query = call.request.query
    sub = _sub_named(call, query.get("subName", ""))
    key = call.twin.state.keys.get(query.get("apiKey", ""))
    if key is None or key.uid != sub.uid:
        raise errors.bad_parameter("API key does not exist")
    del call.twin.state.keys[key.api_key]
    return {"subName": sub.name, "apiKey": key.api_key}


def _sub_balances(user: User) -> dict[str, Any]:
    def rows(kind: str) -> list[dict[str, Any]]:
        return [
            {
                "currency": r["currency"],
                "balance": r["balance"],
                "available": r["available"],
                "holds": r["holds"],
                "baseCurrency": "BTC",
                "baseCurrencyPrice": "0",
                "baseAmount": "0",
                "tag": "DEFAULT",
            }
            for r in _balance_rows(user, kind, None)
        ]

    return {
        "subUserId": user.uid,
        "subName": user.name,
        "mainAccounts": rows("main"),
        "tradeAccounts": rows("trade"),
        "marginAccounts": [],
        "tradeHFAccounts": rows("trade_hf"),
    }


def sub_balance(call: Call) -> dict[str, Any]:
    require_master(call)
    return _sub_balances(_sub_by_uid(call, call.request.params["subUserId"]))


def sub_balances(call: Call) -> dict[str, object]:
    require_master(call)
    return paginate([_sub_balances(u) for u in call.twin.sub_users()], call)


# -- fund movements ---------------------------------------------------------------------


def _accepted(call: Call, kind: str, body: dict[str, Any]) -> str:
    movement = call.twin.record_movement(kind, call.key, True, "200000", body)
    return movement.id


def _refuse(
    call: Call, kind: str, body: dict[str, Any], error: errors.KucoinError
) -> errors.KucoinError:
    call.twin.record_movement(kind, call.key, False, error.code, body, reason=error.msg)
    return error


def _account_type(raw: object) -> str:
    mapping = {"MAIN": "main", "TRADE": "trade", "TRADE_HF": "trade_hf"}
    value = mapping.get(str(raw).upper())
    if value is None:
        raise errors.bad_parameter("account type must be MAIN, TRADE or TRADE_HF")
    return value


def _move(
    call: Call,
    kind: str,
    body: dict[str, Any],
    source: tuple[User, str],
    target: tuple[User, str],
    currency: str,
    amount: Decimal,
) -> None:
    """Move ``amount`` from one (user, account type) to another, or refuse and record.

    The source is only looked up and the target row made once the move is sure, so a
    refused transfer leaves no empty balance row behind.
    """
    source_balance = source[0].find_balance(source[1], currency)
    if source_balance is None or source_balance.available < amount:
        raise _refuse(call, kind, body, errors.insufficient_balance())
    twin = call.twin
    twin.move(source_balance, target[0].balance(target[1], currency), amount)
    # An HF trading account's ledger shows every transfer in or out of it.
    now = twin.now_ms()
    if source[1] == "trade_hf":
        twin.record_hf_change(source[0], currency, -amount, "TRANSFER", now)
    if target[1] == "trade_hf":
        twin.record_hf_change(target[0], currency, amount, "TRANSFER", now)


def universal_transfer(call: Call) -> dict[str, str]:
    kind = "universal-transfer"
    body = call.request.json()
    try:
        master = require_master(call)
        amount = positive_amount(body.get("amount"))
        currency = str(body.get("currency", ""))
        direction = str(body.get("type", ""))
        source_type = _account_type(body.get("fromAccountType"))
        target_type = _account_type(body.get("toAccountType"))
        source_user: User = master
        target_user: User = master
        if direction == "PARENT_TO_SUB":
            target_user = _sub_by_uid(call, str(body.get("toUserId", "")))
        elif direction == "SUB_TO_PARENT":
            source_user = _sub_by_uid(call, str(body.get("fromUserId", "")))
        elif direction != "INTERNAL":
            raise errors.bad_parameter("type must be INTERNAL, PARENT_TO_SUB or SUB_TO_PARENT")
    except errors.KucoinError as error:
        raise _refuse(call, kind, body, error) from None
    _move(
        call, kind, body, (source_user, source_type), (target_user, target_type), currency, amount
    )
    return {"orderId": _accepted(call, kind, body)}


def inner_transfer(call: Call) -> dict[str, str]:
    kind = "inner-transfer"
    body = call.request.json()
    try:
        user = require_master(call)
        amount = positive_amount(body.get("amount"))
        source_type = _account_type(body.get("from"))
        target_type = _account_type(body.get("to"))
    except errors.KucoinError as error:
        raise _refuse(call, kind, body, error) from None
    currency = str(body.get("currency", ""))
    _move(call, kind, body, (user, source_type), (user, target_type), currency, amount)
    return {"orderId": _accepted(call, kind, body)}


def sub_transfer(call: Call) -> dict[str, str]:
    kind = "sub-transfer"
    body = call.request.json()
    try:
        master = require_master(call)
        amount = positive_amount(body.get("amount"))
        sub = _sub_by_uid(call, str(body.get("subUserId", "")))
        master_type = _account_type(body.get("accountType", "MAIN"))
        sub_type = _account_type(body.get("subAccountType", "MAIN"))
        direction = str(body.get("direction", ""))
        if direction not in ("OUT", "IN"):
            raise errors.bad_parameter("direction must be OUT or IN")
    except errors.KucoinError as error:
        raise _refuse(call, kind, body, error) from None
    currency = str(body.get("currency", ""))
    master_side, sub_side = (master, master_type), (sub, sub_type)
    if direction == "OUT":
        _move(call, kind, body, master_side, sub_side, currency, amount)
    else:
        _move(call, kind, body, sub_side, master_side, currency, amount)
    return {"orderId": _accepted(call, kind, body)}


def withdraw(call: Call) -> dict[str, str]:
    kind = "withdrawal"
    body = call.request.json()
    try:
        user = call.me
        amount = positive_amount(body.get("amount"))
        if not body.get("address"):
            raise errors.bad_parameter("address is required")
    except errors.KucoinError as error:
        raise _refuse(call, kind, body, error) from None
    currency = str(body.get("currency", ""))
    source = user.find_balance("main", currency)
    if source is None or source.available < amount:
        raise _refuse(call, kind, body, errors.insufficient_balance())
    source.balance -= amount
    return {"withdrawalId": _accepted(call, kind, body)}


#: The paths whose refusals (even by the auth layer) are recorded as fund-movement attempts.
MOVEMENT_PATHS = {
    "/api/v3/accounts/universal-transfer": "universal-transfer",
    "/api/v2/accounts/inner-transfer": "inner-transfer",
    "/api/v2/accounts/sub-transfer": "sub-transfer",
    "/api/v1/withdrawals": "withdrawal",
    "/api/v3/withdrawals": "withdrawal",
}

GENERAL = "General"
ROUTES = [
    Route("GET", "/api/v1/accounts", accounts, "private", GENERAL, 5),
    Route("GET", "/api/v1/accounts/{accountId}", account_detail, "private", GENERAL, 5),
    # KuCoin's classic ledger, which would otherwise read as an account id
    Route("GET", "/api/v1/accounts/ledgers", not_served, "public"),
    Route("GET", "/api/v1/hf/accounts/ledgers", hf_ledger, "private", GENERAL, 2),
    Route("GET", "/api/v1/user/api-key", api_key_info, "private", GENERAL, 20),
    Route("GET", "/api/v2/user-info", user_info, "private", GENERAL, 20),
    Route("GET", "/api/v2/sub/user", list_subs, "private", GENERAL, 20),
    Route("POST", "/api/v2/sub/user/created", create_sub, "private", GENERAL, 20),
    Route("POST", "/api/v1/sub/api-key", create_sub_key, "private", GENERAL, 20),
    Route("GET", "/api/v1/sub/api-key", list_sub_keys, "private", GENERAL, 20),
    Route("DELETE", "/api/v1/sub/api-key", delete_sub_key, "private", GENERAL, 30),
    Route("GET", "/api/v1/sub-accounts/{subUserId}", sub_balance, "private", GENERAL, 15),
    Route("GET", "/api/v2/sub-accounts", sub_balances, "private", GENERAL, 20),
    Route(
        "POST",
        "/api/v3/accounts/universal-transfer",
        universal_transfer,
        "private",
        "FlexTransfers",
        4,
    ),
    Route(
        "POST", "/api/v2/accounts/inner-transfer", inner_transfer, "private", "InnerTransfer", 10
    ),
    Route("POST", "/api/v2/accounts/sub-transfer", sub_transfer, "private", "Transfer", 30),
    Route("POST", "/api/v1/withdrawals", withdraw, "private", "Withdrawal", 5),
    Route("POST", "/api/v3/withdrawals", withdraw, "private", "Withdrawal", 5),
]
