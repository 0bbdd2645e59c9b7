"""What a handler is given: the twin, the request, and (for private routes) key and user."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

from bulkhead.sim import errors
from bulkhead.sim.engine import Twin
from bulkhead.sim.http import Request
from bulkhead.sim.matching import parse_amount
from bulkhead.sim.models import ApiKey, User


@dataclass(slots=True)
class Call:
    twin: Twin
    request: Request
    key: ApiKey | None = None
    user: User | None = None

    @property
    def me(self) -> User:
        """The user the signing key belongs to (private routes only)."""
        if self.user is None:  # pragma: no cover - the app never routes so
            raise errors.internal_error()
        return self.user

    @property
    def signing_key(self) -> ApiKey:
        if self.key is None:  # pragma: no cover
            raise errors.internal_error()
        return self.key

    def query_int(self, name: str, default: int, low: int, high: int) -> int:
        raw = self.request.query.get(name)
        if raw in (None, ""):
            return default
        try:
            value = int(raw)
        except ValueError:
            raise errors.bad_parameter(f"{name} must be an integer") from None
        return max(low, min(high, value))


@dataclass(slots=True)
class AdminCall(Call):
    """An admin request: also told where the twin keeps its state (``--state``), the one
    folder a snapshot may be written to. Kept apart from ``Call`` so that the KuCoin
    routes, which never need it, do not carry it on every request."""

    state_path: Path | None = None


def require_master(call: Call) -> User:
    """Master-only management endpoints refuse any sub-account key outright."""
    if not call.me.is_master:
        raise errors.no_permission()
    return call.me


#: Every currency the twin lists has precision 8 (``shapes.currency``).
AMOUNT_INCREMENT = Decimal("1e-8")


def positive_amount(raw: object, field: str = "amount") -> Decimal:
    """A transfer or withdrawal amount: a positive number on the currency's 8-decimal
    grid. Finer dust is KuCoin's "The amount increment is invalid." (ccxt: BadRequest);
    accepted, it would be rounded away on one side and credited on the other."""
    amount = parse_amount(raw, field)
    if amount % AMOUNT_INCREMENT:
        raise errors.bad_parameter("The amount increment is invalid.")
    return amount


def paginate(items: list[object], call: Call) -> dict[str, object]:
    page_size = call.query_int("pageSize", 50, 10, 500)
    current = call.query_int("currentPage", 1, 1, 1_000_000)
    total = len(items)
    start = (current - 1) * page_size
    return {
        "currentPage": current,
        "pageSize": page_size,
        "totalNum": total,
        "totalPage": (total + page_size - 1) // page_size,
        "items": items[start : start + page_size],
    }
