"""Orders, stop orders and fills, in KuCoin's classic and HF endpoint families.

A key only ever sees its own user's orders: an id belonging to anyone else answers
exactly like an id that does not exist.
"""

from __future__ import annotations

from typing import Any

from bulkhead.sim import errors, matching, shapes
from bulkhead.sim.http import Route
from bulkhead.sim.models import Fill, Order
from bulkhead.sim.routes.context import Call, paginate

HF_PAGE_LIMIT = 100


def _own_order(call: Call, order_id: str) -> Order:
    order = call.twin.state.orders.get(order_id)
    if order is None or order.uid != call.me.uid:
        raise errors.order_not_found()
    return order


def _own_by_client_oid(call: Call, client_oid: str) -> Order:
    order_id = call.twin.order_id_for_client_oid(call.me.uid, client_oid)
    if order_id is None:
        raise errors.order_not_found()
    return _own_order(call, order_id)


def _my_orders(call: Call) -> list[Order]:
    """The caller's orders, filtered by the query's symbol/side/type/time, newest first."""
    query = call.request.query
    symbol, side, kind = query.get("symbol"), query.get("side"), query.get("type")
    start = call.query_int("startAt", 0, 0, 2**60)
    end = call.query_int("endAt", 2**60, 0, 2**60)
    found = [
        order
        for order in call.twin.state.orders.values()
        if order.uid == call.me.uid
        and (not symbol or order.symbol == symbol)
        and (not side or order.side == side)
        and (not kind or order.type == kind)
        and start <= order.created_at <= end
    ]
    found.reverse()
    return found


def _my_fills(call: Call) -> list[Fill]:
    query = call.request.query
    symbol, order_id, side = query.get("symbol"), query.get("orderId"), query.get("side")
    start = call.query_int("startAt", 0, 0, 2**60)
    end = call.query_int("endAt", 2**60, 0, 2**60)
    found = [
        record
        for record in call.twin.state.fills
        if record.uid == call.me.uid
        and (not symbol or record.symbol in symbol.split(","))
        and (not order_id or record.order_id == order_id)
        and (not side or record.side == side)
        and start <= record.created_at <= end
    ]
    found.reverse()
    return found


# -- classic ----------------------------------------------------------------------------


def place_classic(call: Call) -> dict[str, str]:
    order = matching.place_order(call.twin, call.me, call.request.json(), hf=False)
    return {"orderId": order.id}


def get_classic(call: Call) -> dict[str, Any]:
    return shapes.order_classic(_own_order(call, call.request.params["orderId"]))


def get_classic_by_client_oid(call: Call) -> dict[str, Any]:
    return shapes.order_classic(_own_by_client_oid(call, call.request.params["clientOid"]))


def cancel_classic(call: Call) -> dict[str, list[str]]:
    order = _own_order(call, call.request.params["orderId"])
    matching.cancel_order(call.twin, call.me, order)
    return {"cancelledOrderIds": [order.id]}


def cancel_classic_by_client_oid(call: Call) -> dict[str, str]:
    order = _own_by_client_oid(call, call.request.params["clientOid"])
    matching.cancel_order(call.twin, call.me, order)
    return {"cancelledOrderId": order.id, "clientOid": order.client_oid}


def cancel_all_classic(call: Call) -> dict[str, list[str]]:
    cancelled = []
    for order in _my_orders(call):
        if order.is_active and not order.stop:
            matching.cancel_order(call.twin, call.me, order)
            cancelled.append(order.id)
    return {"cancelledOrderIds": cancelled}


def list_classic(call: Call) -> dict[str, object]:
    status = call.request.query.get("status")
    if status not in (None, "", "active", "done"):
        raise errors.bad_parameter("status must be active or done")
    orders = [
        shapes.order_classic(order)
        for order in _my_orders(call)
        if not status or order.is_active == (status == "active")
    ]
    return paginate(list(orders), call)


def fills_classic(call: Call) -> dict[str, object]:
    return paginate([shapes.fill(record) for record in _my_fills(call)], call)


# -- HF ---------------------------------------------------------------------------------


def _require_symbol(call: Call) -> str:
    symbol = call.request.query.get("symbol", "")
    if not symbol:
        raise errors.bad_parameter("symbol is required")
    return symbol


def place_hf(call: Call) -> dict[str, str]:
    order = matching.place_order(call.twin, call.me, call.request.json(), hf=True)
    return {"orderId": order.id, "clientOid": order.client_oid}


def place_hf_sync(call: Call) -> dict[str, Any]:
    order = matching.place_order(call.twin, call.me, call.request.json(), hf=True)
    return {
        "orderId": order.id,
        "clientOid": order.client_oid,
        "orderTime": order.created_at,
        **shapes.hf_sync_sizes(order),
        "matchTime": order.updated_at,
    }


def get_hf(call: Call) -> dict[str, Any]:
    _require_symbol(call)
    return shapes.order_hf(_own_order(call, call.request.params["orderId"]))


def get_hf_by_client_oid(call: Call) -> dict[str, Any]:
    _require_symbol(call)
    return shapes.order_hf(_own_by_client_oid(call, call.request.params["clientOid"]))


def cancel_hf(call: Call) -> dict[str, str]:
    _require_symbol(call)
    order = _own_order(call, call.request.params["orderId"])
    matching.cancel_order(call.twin, call.me, order)
    return {"orderId": order.id}


def cancel_hf_by_client_oid(call: Call) -> dict[str, str]:
    _require_symbol(call)
    order = _own_by_client_oid(call, call.request.params["clientOid"])
    matching.cancel_order(call.twin, call.me, order)
    return {"clientOid": order.client_oid}


def cancel_hf_sync(call: Call) -> dict[str, str]:
    """Cancel and answer with the order's sizes once cancelled (KuCoin's
    ``CancelOrderByOrderIdSyncResp``: originSize, dealSize, remainSize, canceledSize,
    status)."""
    _require_symbol(call)
    order = _own_order(call, call.request.params["orderId"])
    matching.cancel_order(call.twin, call.me, order)
    return {"orderId": order.id, **shapes.hf_sync_sizes(order)}


def cancel_hf_sync_by_client_oid(call: Call) -> dict[str, str]:
    _require_symbol(call)
    order = _own_by_client_oid(call, call.request.params["clientOid"])
    matching.cancel_order(call.twin, call.me, order)
    return {"clientOid": order.client_oid, **shapes.hf_sync_sizes(order)}


def cancel_all_hf(call: Call) -> str:
    _require_symbol(call)
    for order in _my_orders(call):
        if order.is_active and not order.stop:
            matching.cancel_order(call.twin, call.me, order)
    return "success"


def active_hf(call: Call) -> list[dict[str, Any]]:
    _require_symbol(call)
    return [shapes.order_hf(o) for o in _my_orders(call) if o.is_active and not o.stop]


def _before_last_id(call: Call) -> int:
    """``lastId``: page to records numbered below it (KuCoin pages HF lists backwards)."""
    return call.query_int("lastId", 2**63, 0, 2**63)


def done_hf(call: Call) -> dict[str, object]:
    _require_symbol(call)
    limit = call.query_int("limit", 20, 1, HF_PAGE_LIMIT)
    before = _before_last_id(call)
    items = [
        shapes.order_hf(o)
        for o in _my_orders(call)
        if not o.is_active and shapes.record_number(o.id) < before
    ][:limit]
    return {"lastId": shapes.record_number(items[-1]["id"]) if items else 0, "items": items}


def fills_hf(call: Call) -> dict[str, object]:
    _require_symbol(call)
    limit = call.query_int("limit", 20, 1, HF_PAGE_LIMIT)
    before = _before_last_id(call)
    items = [
        shapes.fill_hf(record)
        for record in _my_fills(call)
        if shapes.record_number(record.trade_id) < before
    ][:limit]
    return {"items": items, "lastId": items[-1]["id"] if items else 0}


# -- stop orders ------------------------------------------------------------------------


def place_stop(call: Call) -> dict[str, str]:
    body = call.request.json()
    if body.get("stopPrice") in (None, ""):
        raise errors.bad_parameter("stopPrice is required for a stop order")
    order = matching.place_order(call.twin, call.me, body, hf=call.me.mode == "hf")
    return {"orderId": order.id}


def _own_stop(call: Call, order_id: str) -> Order:
    order = _own_order(call, order_id)
    if not order.stop:
        raise errors.order_not_found()
    return order


def get_stop(call: Call) -> dict[str, Any]:
    order = _own_stop(call, call.request.params["orderId"])
    return shapes.stop_order(order, call.twin.symbol(order.symbol))


def cancel_stop(call: Call) -> dict[str, list[str]]:
    order = _own_stop(call, call.request.params["orderId"])
    if order.stop_triggered:
        raise errors.order_not_found()
    matching.cancel_order(call.twin, call.me, order)
    return {"cancelledOrderIds": [order.id]}


def list_stop(call: Call) -> dict[str, object]:
    items = [
        shapes.stop_order(o, call.twin.symbol(o.symbol))
        for o in _my_orders(call)
        if o.stop and o.is_active and not o.stop_triggered
    ]
    return paginate(list(items), call)


def stop_by_client_oid(call: Call) -> list[dict[str, Any]]:
    client_oid = call.request.query.get("clientOid", "")
    order_id = call.twin.order_id_for_client_oid(call.me.uid, client_oid)
    order = call.twin.state.orders.get(order_id or "")
    if order is None or not order.stop:
        return []
    return [shapes.stop_order(order, call.twin.symbol(order.symbol))]


def cancel_stop_by_client_oid(call: Call) -> dict[str, str]:
    order = _own_by_client_oid(call, call.request.query.get("clientOid", ""))
    if not order.stop or order.stop_triggered:
        raise errors.order_not_found()
    matching.cancel_order(call.twin, call.me, order)
    return {"cancelledOrderId": order.id, "clientOid": order.client_oid}


SPOT = "Spot"
ROUTES = [
    Route("POST", "/api/v1/orders", place_classic, "private", SPOT, 2),
    Route("GET", "/api/v1/orders", list_classic, "private", SPOT, 2),
    Route("DELETE", "/api/v1/orders", cancel_all_classic, "private", SPOT, 20),
    Route("GET", "/api/v1/orders/{orderId}", get_classic, "private", SPOT, 2),
    Route("DELETE", "/api/v1/orders/{orderId}", cancel_classic, "private", SPOT, 3),
    Route(
        "GET",
        "/api/v1/order/client-order/{clientOid}",
        get_classic_by_client_oid,
        "private",
        SPOT,
        3,
    ),
    Route(
        "DELETE",
        "/api/v1/order/client-order/{clientOid}",
        cancel_classic_by_client_oid,
        "private",
        SPOT,
        5,
    ),
    Route("GET", "/api/v1/fills", fills_classic, "private", SPOT, 10),
    Route("POST", "/api/v1/hf/orders", place_hf, "private", SPOT, 1),
    Route("POST", "/api/v1/hf/orders/sync", place_hf_sync, "private", SPOT, 1),
    Route("DELETE", "/api/v1/hf/orders", cancel_all_hf, "private", SPOT, 2),
    Route("GET", "/api/v1/hf/orders/active", active_hf, "private", SPOT, 2),
    Route("GET", "/api/v1/hf/orders/done", done_hf, "private", SPOT, 2),
    Route("GET", "/api/v1/hf/fills", fills_hf, "private", SPOT, 2),
    Route(
        "GET",
        "/api/v1/hf/orders/client-order/{clientOid}",
        get_hf_by_client_oid,
        "private",
        SPOT,
        2,
    ),
    Route(
        "DELETE",
        "/api/v1/hf/orders/client-order/{clientOid}",
        cancel_hf_by_client_oid,
        "private",
        SPOT,
        1,
    ),
    Route("DELETE", "/api/v1/hf/orders/sync/{orderId}", cancel_hf_sync, "private", SPOT, 1),
    Route(
        "DELETE",
        "/api/v1/hf/orders/sync/client-order/{clientOid}",
        cancel_hf_sync_by_client_oid,
        "private",
        SPOT,
        1,
    ),
    Route("GET", "/api/v1/hf/orders/{orderId}", get_hf, "private", SPOT, 2),
    Route("DELETE", "/api/v1/hf/orders/{orderId}", cancel_hf, "private", SPOT, 1),
    Route("POST", "/api/v1/stop-order", place_stop, "private", SPOT, 2),
    Route("GET", "/api/v1/stop-order", list_stop, "private", SPOT, 8),
    Route(
        "GET", "/api/v1/stop-order/queryOrderByClientOid", stop_by_client_oid, "private", SPOT, 3
    ),
    Route(
        "DELETE",
        "/api/v1/stop-order/cancelOrderByClientOid",
        cancel_stop_by_client_oid,
        "private",
        SPOT,
        5,
    ),
    Route("GET", "/api/v1/stop-order/{orderId}", get_stop, "private", SPOT, 3),
    Route("DELETE", "/api/v1/stop-order/{orderId}", cancel_stop, "private", SPOT, 3),
]
