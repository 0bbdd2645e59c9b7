"""Order placement and matching against the price path.

There are no other traders in the twin: the "book" is the symbol's price path plus a
spread. Marketable orders take at the bid/ask of the moment; resting limit orders fill as
makers at their own price once the path crosses it; stop orders trigger when the path
touches their stop price. Matching is lazy (run before each private request and on a
short timer) and exact, because the price source reports the true extremes of its path
between two instants.
"""

from __future__ import annotations

import uuid
from decimal import Decimal, InvalidOperation
from typing import Any

import orjson

from bulkhead.sim import errors, limits, shapes
from bulkhead.sim.engine import Twin
from bulkhead.sim.models import Fill, Order, SymbolSpec, User

#: A market stop-buy by size holds this much above its stop price, since it fills later.
STOP_BUY_HOLD_BUFFER = Decimal("1.05")
_ZERO = Decimal(0)


def parse_amount(value: Any, field: str, *, zero_ok: bool = False) -> Decimal:
    """A client's amount, price or size as a Decimal, or KuCoin's 400100 saying why not.

    Beyond "a positive number", the text is capped (``MAX_NUMBER_CHARS``) and the value
    kept within [``MIN_AMOUNT``, ``MAX_AMOUNT``): a size like ``1e308`` or a thousand
    digits is no order anyone means, and Decimal arithmetic on it would fail (the
    increment check) or silently round (dust below Decimal's smallest exponent).
    """
    text = value if type(value) is str else str(value)
    if len(text) > limits.MAX_NUMBER_CHARS:
        raise errors.bad_parameter(f"{field} has too many digits")
    try:
        parsed = Decimal(text)
    except (InvalidOperation, ValueError):
        raise errors.bad_parameter(f"{field} is not a number") from None
    if not parsed.is_finite() or (parsed <= 0 and (parsed < 0 or not zero_ok)):
        raise errors.bad_parameter(f"{field} must be positive")
    if parsed >= limits.MAX_AMOUNT:
        raise errors.bad_parameter(f"{field} is too large")
    if parsed < limits.MIN_AMOUNT and parsed:
        raise errors.bad_parameter(f"{field} is too small")
    return parsed


def _on_grid(value: Decimal, step: Decimal) -> bool:
    """Whether ``value`` is a whole multiple of ``step``. A value so many steps long that
    the remainder overflows Decimal's precision is, for a client, simply off the grid."""
    try:
        return (value % step) == 0
    except InvalidOperation:
        return False


def _check_size(spec: SymbolSpec, size: Decimal) -> None:
    if size < spec.base_min_size:
        raise errors.size_below_minimum()
    if not _on_grid(size, spec.base_increment):
        raise errors.size_increment_invalid()
    if size > spec.base_max_size:
        raise errors.bad_parameter("Order size above the maximum requirement.")


def _check_price(spec: SymbolSpec, price: Decimal) -> None:
    if not _on_grid(price, spec.price_increment):
        raise errors.price_increment_invalid()


def _insufficient(hf: bool) -> errors.KucoinError:
    return (
        errors.KucoinError("126013", "Balance insufficient!")
        if hf
        else (errors.insufficient_balance())
    )


def place_order(twin: Twin, user: User, body: dict[str, Any], *, hf: bool) -> Order:
    """Validate a new order completely, then (and only then) hold funds and match it."""
    if twin.state.status != "open":
        raise errors.order_forbidden(f"Exchange is in {twin.state.status} mode")
    symbol = str(body.get("symbol", ""))
    if not symbol:
        raise errors.bad_parameter("symbol is required")
    spec = twin.symbol(symbol)
    if not spec.enable_trading:
        raise errors.order_forbidden("Trading is disabled for this symbol")
    side = body.get("side")
    if side not in ("buy", "sell"):
        raise errors.bad_parameter("side must be buy or sell")
    order_type = body.get("type", "limit")
    if order_type not in ("limit", "market"):
        raise errors.bad_parameter("type must be limit or market")
    client_oid = str(body.get("clientOid") or uuid.uuid4())
    if len(client_oid) > limits.MAX_CLIENT_OID_CHARS:
        raise errors.bad_parameter(f"clientOid is longer than {limits.MAX_CLIENT_OID_CHARS}")
    if twin.order_id_for_client_oid(user.uid, client_oid) is not None:
        raise errors.duplicate_client_oid()
    tif = str(body.get("timeInForce") or "GTC")
    if tif not in ("GTC", "GTT", "IOC", "FOK"):
        raise errors.bad_parameter("timeInForce must be GTC, GTT, IOC or FOK")
    stop = str(body.get("stop") or "")
    stop_price = _ZERO
    if body.get("stopPrice") not in (None, ""):
        stop_price = parse_amount(body["stopPrice"], "stopPrice")
        _check_price(spec, stop_price)
        if not stop:
            # KuCoin infers the direction from where the stop sits against the market.
            last = twin.quote(symbol)[2]
            stop = "loss" if stop_price <= last else "entry"
    if stop not in ("", "loss", "entry"):
        raise errors.bad_parameter("stop must be loss or entry")
    if stop and stop_price == 0:
        raise errors.bad_parameter("stopPrice is required for a stop order")

    remark = str(body.get("remark") or "")
    tags = str(body.get("tags") or "")
    if len(remark) > limits.MAX_ORDER_REMARK_CHARS or len(tags) > limits.MAX_ORDER_TAGS_CHARS:
        raise errors.bad_parameter(
            f"remark and tags take at most {limits.MAX_ORDER_REMARK_CHARS} characters"
        )

    price = size = funds = _ZERO
    if order_type == "limit":
        price = parse_amount(body.get("price"), "price")
        size = parse_amount(body.get("size"), "size")
        _check_price(spec, price)
        _check_size(spec, size)
        if price * size < spec.min_funds:
            raise errors.funds_below_minimum()
    elif body.get("size") not in (None, ""):
        size = parse_amount(body["size"], "size")
        _check_size(spec, size)
    elif body.get("funds") not in (None, ""):
        if side == "sell":
            raise errors.bad_parameter("a market sell takes size, not funds")
        funds = parse_amount(body["funds"], "funds")
        if funds < spec.quote_min_size or funds < spec.min_funds:
            raise errors.funds_below_minimum()
        if not _on_grid(funds, spec.quote_increment):
            raise errors.bad_parameter("Order funds increment invalid.")
    else:
        raise errors.bad_parameter("a market order needs size or funds")

    now = twin.now_ms()
    order = Order(
        id="pending",
        uid=user.uid,
        symbol=symbol,
        side=side,
        type=order_type,
        price=price,
        size=size,
        funds=funds,
        fee_currency=spec.quote,
        time_in_force=tif,  # type: ignore[arg-type]
        post_only=bool(body.get("postOnly", False)),
        stop=stop,  # type: ignore[arg-type]
        stop_price=stop_price,
        client_oid=client_oid,
        remark=remark,
        tags=tags,
        hf=hf,
        created_at=now,
        updated_at=now,
        checked_until=now,
    )
    if not stop:
        # As on KuCoin, a stop order freezes nothing until it triggers. A market order
        # fills (or is cancelled) before this call returns, so its funds need only be
        # there; an order that may rest freezes what it may spend.
        _hold_funds(twin, user, spec, order, now, freeze=order_type == "limit")
    order.id = twin.next_id(now)
    twin.state.orders[order.id] = order
    twin.remember_client_oid(user.uid, client_oid, order.id)
    if stop:
        twin.activate(order.id, user.uid)
    else:
        _execute_new(twin, user, spec, order, now)
    return order


def _hold_funds(
    twin: Twin, user: User, spec: SymbolSpec, order: Order, now: int, *, freeze: bool = True
) -> None:
    """Freeze what the order may spend (with ``freeze=False`` only make sure it is there);
    refuse (changing nothing) when it is not there."""
    fee_rate = max(spec.taker_fee_rate, spec.maker_fee_rate)
    if order.side == "sell":
        currency, amount = spec.base, order.size
    elif order.type == "limit":
        currency, amount = spec.quote, order.price * order.size * (1 + fee_rate)
    elif order.funds:
        currency, amount = spec.quote, order.funds * (1 + fee_rate)
    else:
        if order.stop:
            reference = order.stop_price * STOP_BUY_HOLD_BUFFER
        else:
            reference = twin.quote(order.symbol, now)[1]
        currency, amount = spec.quote, reference * order.size * (1 + fee_rate)
    balance = user.find_balance(user.trade_account, currency)
    if balance is None or balance.available < amount:
        raise _insufficient(order.hf)
    if freeze:
        balance.holds += amount
        order.hold_currency = currency
        order.hold_amount = amount


def _release_hold(user: User, order: Order) -> None:
    held = order.hold_amount
    if held:
        balance = user.balance(user.trade_account, order.hold_currency)
        holds = balance.holds
        balance.holds = holds - held if held < holds else _ZERO
        order.hold_amount = _ZERO


def _close(
    twin: Twin, user: User, order: Order, *, cancelled: bool, now: int | None = None
) -> None:
    _release_hold(user, order)
    order.is_active = False
    order.cancel_exist = cancelled
    order.updated_at = twin.now_ms() if now is None else now
    twin.deactivate(order.id, user.uid)


def _execute_new(twin: Twin, user: User, spec: SymbolSpec, order: Order, now: int) -> None:
    """Run a fresh (or just triggered) order against the market of this instant."""
    bid, ask, _ = twin.quote(order.symbol, now)
    if order.type == "market":
        _take(twin, user, spec, order, ask if order.side == "buy" else bid, now)
        return
    marketable = order.price >= ask if order.side == "buy" else order.price <= bid
    if marketable:
        if order.post_only:
            _close(twin, user, order, cancelled=True, now=now)
            return
        _take(twin, user, spec, order, ask if order.side == "buy" else bid, now)
        return
    if order.time_in_force in ("IOC", "FOK"):
        _close(twin, user, order, cancelled=True, now=now)
        return
    twin.activate(order.id, user.uid)


def _take(twin: Twin, user: User, spec: SymbolSpec, order: Order, price: Decimal, now: int) -> None:
    size = order.size
    if order.type == "market" and order.funds:
        size = (order.funds / price // spec.base_increment) * spec.base_increment
        if size < spec.base_min_size:
            _close(twin, user, order, cancelled=True, now=now)
            return
    _fill(twin, user, spec, order, price, size, "taker", now)


def _fill(
    twin: Twin,
    user: User,
    spec: SymbolSpec,
    order: Order,
    price: Decimal,
    size: Decimal,
    liquidity: str,
    now: int,
) -> None:
    """Book one fill in full, at market time ``now``: balances, fee, fill record, and the
    order's totals."""
    rate = spec.taker_fee_rate if liquidity == "taker" else spec.maker_fee_rate
    funds = price * size
    fee = funds * rate
    _release_hold(user, order)
    account = user.trade_account
    base = user.balance(account, spec.base)
    quote = user.balance(account, spec.quote)
    if order.side == "buy":
        if quote.available < funds + fee:
            _close(twin, user, order, cancelled=True, now=now)
            return
        quote.balance -= funds + fee
        base.balance += size
    else:
        if base.available < size:
            _close(twin, user, order, cancelled=True, now=now)
            return
        base.balance -= size
        quote.balance += funds - fee
    trade_id = twin.next_id(now)
    twin.state.fills.append(
        Fill(
            trade_id=trade_id,
            order_id=order.id,
            counter_order_id=twin.next_id(now),
            uid=user.uid,
            symbol=order.symbol,
            side=order.side,
            liquidity=liquidity,  # type: ignore[arg-type]
            price=price,
            size=size,
            funds=funds,
            fee=fee,
            fee_rate=rate,
            fee_currency=spec.quote,
            stop=order.stop,
            type=order.type,
            hf=order.hf,
            created_at=now,
        )
    )
    if account == "trade_hf":
        _record_hf_trade(twin, user, spec, order, trade_id, size, funds, fee, now)
    order.deal_size += size
    order.deal_funds += funds
    order.fee += fee
    _close(twin, user, order, cancelled=False, now=now)


def _record_hf_trade(
    twin: Twin,
    user: User,
    spec: SymbolSpec,
    order: Order,
    trade_id: str,
    size: Decimal,
    funds: Decimal,
    fee: Decimal,
    now: int,
) -> None:
    """A trade's two legs on the HF ledger: the base in or out, the quote (net of the fee,
    which KuCoin shows beside it) out or in."""
    number = shapes.record_number(trade_id)
    context = orjson.dumps(
        {"symbol": order.symbol, "orderId": order.id, "tradeId": str(number)}
    ).decode()
    sign = 1 if order.side == "buy" else -1
    quote_change = -(funds + fee) if sign > 0 else funds - fee
    for currency, change, leg_fee in (
        (spec.base, size * sign, _ZERO),
        (spec.quote, quote_change, fee),
    ):
        twin.record_hf_change(
            user, currency, change, "TRADE_EXCHANGE", now, fee=leg_fee, context=context
        )


def cancel_order(twin: Twin, user: User, order: Order) -> None:
    if twin.state.status == "close":
        raise errors.order_forbidden("Exchange is closed")
    if not order.is_active:
        raise errors.order_not_found()
    _close(twin, user, order, cancelled=True)


def advance(twin: Twin, uid: str | None = None) -> None:
    """Bring working orders up to the present: trigger stops, fill crossed limits.

    With ``uid``, only that user's orders: a private request needs its caller's book
    current, while everyone else's is kept current by the twin's background timer.
    """
    if uid is not None and not twin.active_orders.get(uid):
        return  # the common case on every private request: nothing working
    order_ids = twin.active_order_ids(uid)
    if not order_ids:
        return
    now = twin.now_ms()
    # Orders checked in the same pass share their window: one path lookup per symbol.
    windows: dict[tuple[str, int], tuple[Decimal, Decimal]] = {}
    for order_id in order_ids:
        order = twin.state.orders[order_id]
        if order.checked_until >= now:
            continue
        window = (order.symbol, order.checked_until)
        if window not in windows:
            low, high = twin.source(order.symbol).extremes(order.checked_until, now)
            windows[window] = (Decimal(repr(low)), Decimal(repr(high)))
        _advance_order(twin, order, now, *windows[window])


def _advance_order(twin: Twin, order: Order, now: int, low: Decimal, high: Decimal) -> None:
    spec = twin.state.symbols[order.symbol]
    user = twin.state.users[order.uid]
    source = twin.source(order.symbol)
    if order.stop and not order.stop_triggered:
        touched = low <= order.stop_price if order.stop == "loss" else high >= order.stop_price
        if not touched:
            order.checked_until = now
            return
        order.stop_triggered = True
        order.updated_at = now
        try:
            _hold_funds(twin, user, spec, order, now)
        except errors.KucoinError:
            # KuCoin cancels a triggered stop whose funds are no longer there.
            order.checked_until = now
            _close(twin, user, order, cancelled=True, now=now)
            return
        if order.type == "market":
            start = Decimal(repr(source.price_at(order.checked_until)))
            # A gap through the stop fills at the first price past it, not at the stop.
            crossed_at = (
                min(start, order.stop_price)
                if order.stop == "loss"
                else max(start, order.stop_price)
            )
            bid, ask, _ = twin.quote_around(spec, crossed_at)
            _take(twin, user, spec, order, ask if order.side == "buy" else bid, now)
            return
    half_spread = spec.spread / 2
    if order.side == "buy":
        crossed = low * (1 + half_spread) <= order.price
    else:
        crossed = high * (1 - half_spread) >= order.price
    order.checked_until = now
    if crossed:
        _fill(twin, user, spec, order, order.price, order.size, "maker", now)
