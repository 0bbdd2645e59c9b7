"""The twin's own control surface under ``/sim/v1/``: set up, inject faults, read state.

Loopback only (and behind a bearer token when one is configured), because it can mint
keys and money; for the same reason it refuses whatever a web page could send (see
``TwinApp._admin_refusal``). Secrets are shown once, in the answer that creates a key, and
never in the state dump; snapshots, which do hold them, are written 0600 and only into the
twin's state folder.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from pydantic import TypeAdapter, ValidationError

from bulkhead.sim import errors
from bulkhead.sim.engine import TwinConfigError
from bulkhead.sim.http import Route
from bulkhead.sim.matching import parse_amount
from bulkhead.sim.models import ACCOUNT_TYPES, FaultSpec
from bulkhead.sim.prices import PriceSourceSpec, build_price_source
from bulkhead.sim.routes.context import AdminCall, Call
from bulkhead.sim.scenario import ScenarioSymbol, credentials, symbol_spec

REDACTED = "<redacted>"
_source_adapter: TypeAdapter[Any] = TypeAdapter(PriceSourceSpec)


def _invalid(error: Exception) -> errors.KucoinError:
    if isinstance(error, ValidationError):
        detail = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or 'body'}: {e['msg']}" for e in error.errors()
        )
        return errors.bad_parameter(detail)
    return errors.bad_parameter(str(error))


def state(call: Call) -> dict[str, Any]:
    dump = call.twin.synced_state().model_dump(mode="json")
    for key in dump["keys"].values():
        key["secret"] = key["passphrase"] = REDACTED
    for user in dump["users"].values():
        for per_currency in user["accounts"].values():
            for balance in per_currency.values():
                balance["available"] = str(Decimal(balance["balance"]) - Decimal(balance["holds"]))
    dump["market_time_ms"] = call.twin.now_ms()
    return dump


def create_user(call: Call) -> dict[str, Any]:
    body = call.request.json()
    mode = body.get("mode", "classic")
    if mode not in ("classic", "hf"):
        raise errors.bad_parameter("mode must be classic or hf")
    try:
        user = call.twin.create_user(
            str(body.get("name", "")),
            master=bool(body.get("master", False)),
            mode=mode,
        )
    except TwinConfigError as error:
        raise _invalid(error) from None
    return {"uid": user.uid, "name": user.name, "is_master": user.is_master, "mode": user.mode}


def create_key(call: Call) -> dict[str, Any]:
    body = call.request.json()
    try:
        user = call.twin.user_by_name(str(body.get("user", "")))
        key = call.twin.create_key(
            user,
            body.get("permissions", ["General", "Spot"]),
            ip_whitelist=body.get("ip_whitelist", []),
            passphrase=body.get("passphrase"),
            name=str(body.get("name", "")),
            version=int(body.get("version", 2)),
        )
    except (TwinConfigError, TypeError, ValueError, ArithmeticError) as error:
        raise _invalid(error) from None
    return credentials(call.twin, [key])[0]


def set_balance(call: Call) -> dict[str, str]:
    body = call.request.json()
    account = str(body.get("account", "trade"))
    if account not in ACCOUNT_TYPES:
        raise errors.bad_parameter(f"account must be one of {ACCOUNT_TYPES}")
    try:
        user = call.twin.user_by_name(str(body.get("user", "")))
        amount = parse_amount(body.get("amount"), "amount", zero_ok=True)
        call.twin.set_balance(user, str(body.get("currency", "")), amount, account)
    except (TwinConfigError, ArithmeticError) as error:
        raise _invalid(error) from None
    return {"user": user.name, "account": account, "balance": str(amount)}


def add_symbol(call: Call) -> dict[str, str]:
    try:
        entry = ScenarioSymbol.model_validate(call.request.json())
        call.twin.add_symbol(symbol_spec(call.twin, entry))
    except (ValidationError, ValueError) as error:
        raise _invalid(error) from None
    return {"symbol": entry.symbol}


def set_source(call: Call) -> dict[str, str]:
    spec = call.twin.symbol(call.request.params["symbol"])
    try:
        source = _source_adapter.validate_python(call.request.json())
        build_price_source(source, call.twin.state.anchor_ms, call.twin.base_dir)
    except (ValidationError, ValueError) as error:
        raise _invalid(error) from None
    updated = spec.model_copy(update={"source": source})
    call.twin.add_symbol(updated)
    return {"symbol": spec.symbol}


def set_fees(call: Call) -> dict[str, str]:
    spec = call.twin.symbol(call.request.params["symbol"])
    body = call.request.json()
    taker = parse_amount(body.get("taker", spec.taker_fee_rate), "taker", zero_ok=True)
    maker = parse_amount(body.get("maker", spec.maker_fee_rate), "maker", zero_ok=True)
    if not (taker < 1 and maker < 1):
        raise errors.bad_parameter("fee rates must lie in [0, 1)")
    spec.taker_fee_rate, spec.maker_fee_rate = taker, maker
    return {"symbol": spec.symbol, "taker": str(taker), "maker": str(maker)}


def add_fault(call: Call) -> dict[str, int]:
    try:
        fault = FaultSpec.model_validate(call.request.json())
    except ValidationError as error:
        raise _invalid(error) from None
    call.twin.state.faults.append(fault)
    return {"faults": len(call.twin.state.faults)}


def clear_faults(call: Call) -> dict[str, int]:
    cleared = len(call.twin.state.faults)
    call.twin.state.faults.clear()
    return {"cleared": cleared}


def set_status(call: Call) -> dict[str, str]:
    status = call.request.json().get("status")
    if status not in ("open", "close", "cancelonly"):
        raise errors.bad_parameter("status must be open, close or cancelonly")
    call.twin.state.status = status
    return {"status": status}


def set_user_flags(call: Call) -> dict[str, Any]:
    body = call.request.json()
    try:
        user = call.twin.user_by_name(call.request.params["name"])
    except TwinConfigError as error:
        raise _invalid(error) from None
    # Everything is checked before anything changes: a refused request changes nothing.
    if "mode" in body and body["mode"] not in ("classic", "hf"):
        raise errors.bad_parameter("mode must be classic or hf")
    if "frozen" in body:
        user.frozen = bool(body["frozen"])
    if "mode" in body:
        user.mode = body["mode"]
    return {"name": user.name, "frozen": user.frozen, "mode": user.mode}


def set_rate_limit(call: Call) -> dict[str, int | None]:
    quota = call.request.json().get("quota")
    if quota is not None and (type(quota) is not int or quota <= 0):
        raise errors.bad_parameter("quota must be a positive integer or null")
    call.twin.state.rate_limit_quota = quota
    return {"quota": quota}


def advance_clock(call: Call) -> dict[str, int]:
    try:
        call.twin.advance_clock(float(call.request.json().get("seconds", 0)))
    except (TwinConfigError, TypeError, ValueError, ArithmeticError) as error:
        raise _invalid(error) from None
    return {"market_time_ms": call.twin.now_ms()}


def snapshot(call: AdminCall) -> dict[str, str]:
    """Write the state now, to the state file or another file beside it.

    A snapshot holds every key's secret, so it goes nowhere but the folder the operator
    chose for the twin's state (``--state``): a name elsewhere, a symlink out of it or a
    folder that would have to be created is refused, and without ``--state`` there is
    no snapshot at all. The file is written 0600 and atomically
    (``bulkhead.plumbing.write_private``).
    """
    if call.state_path is None:
        raise errors.bad_parameter("no state folder: start the twin with --state to snapshot")
    raw = call.request.json().get("path")
    folder = call.state_path.parent.resolve()
    try:
        target = call.state_path if raw in (None, "") else folder / str(raw)
        if target.resolve().parent != folder:
            raise errors.bad_parameter(f"a snapshot is written only in the state folder {folder}")
        call.twin.save(target)
    except (OSError, ValueError, RuntimeError) as error:
        # a name the file system refuses (too long, NUL byte), a symlink loop, a full disk
        raise _invalid(error) from None
    return {"path": str(target)}


ROUTES = [
    Route("GET", "/sim/v1/state", state, "admin"),
    Route("POST", "/sim/v1/users", create_user, "admin"),
    Route("PATCH", "/sim/v1/users/{name}", set_user_flags, "admin"),
    Route("POST", "/sim/v1/keys", create_key, "admin"),
    Route("POST", "/sim/v1/balances", set_balance, "admin"),
    Route("POST", "/sim/v1/symbols", add_symbol, "admin"),
    Route("PUT", "/sim/v1/symbols/{symbol}/source", set_source, "admin"),
    Route("PUT", "/sim/v1/symbols/{symbol}/fees", set_fees, "admin"),
    Route("POST", "/sim/v1/faults", add_fault, "admin"),
    Route("DELETE", "/sim/v1/faults", clear_faults, "admin"),
    Route("PUT", "/sim/v1/status", set_status, "admin"),
    Route("PUT", "/sim/v1/rate-limit", set_rate_limit, "admin"),
    Route("POST", "/sim/v1/clock/advance", advance_clock, "admin"),
    Route("POST", "/sim/v1/snapshot", snapshot, "admin"),
]
