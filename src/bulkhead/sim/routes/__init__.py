"""KuCoin's REST surface, one module per area; ``build_router`` wires them together."""

from __future__ import annotations

from bulkhead.sim.http import Router
from bulkhead.sim.routes import accounts, admin, market, trading


def build_router() -> Router:
    router = Router()
    for module in (market, accounts, trading, admin):
        for route in module.ROUTES:
            router.add(route)
    return router
