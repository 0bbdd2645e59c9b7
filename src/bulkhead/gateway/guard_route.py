"""``/bulkhead/v1/guard/state``: where a bot's risk guard reads and asks for its trading
state, signed with the bot's gateway credential like any other call.

- ``GET`` answers the state that holds: ``{"state", "reason", "since", "by"}``, with
  ``errors`` (the bot's critical upstream answers of the last ten minutes as ``[ms,
  code]``, ``trouble.UpstreamTrouble``) and ``exchange_status`` (KuCoin's ``/api/v1/status``:
  open, close or cancelonly; read at most every 30 s; "" when unknown), which the guard's
  critical-error rule reads.
- ``POST {"state": "REDUCING" | "HALTED" | "ACTIVE", "reason": "..."}`` asks for a state.
  The guard may only tighten (ACTIVE -> REDUCING -> HALTED) or lift a REDUCING it set
  itself; a HALTED, and anything the operator or the gateway set, stay as they are
  (``guard_state.lua``). The answer is the state that holds afterwards, with ``granted``.

So a guard decision holds at the gateway whatever the strategy does later, and a
compromised strategy holding the credential can at most stop its own bot trading.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

from bulkhead.gateway.states import StateUnavailable, TradingState, TradingStates
from bulkhead.gateway.trouble import UpstreamTrouble
from bulkhead.kucoin import envelope
from bulkhead.kucoin.envelope import KucoinError
from bulkhead.kucoin.http import Request
from bulkhead.logs import event

logger = logging.getLogger("bulkhead.gateway")

GUARD_STATE_PATH = "/bulkhead/v1/guard/state"
MAX_REASON = 500


#: how long an exchange status read is reused
STATUS_EVERY_S = 30.0
StatusReader = Callable[[], Awaitable[str]]


class GuardRoute:
    """Serves ``GUARD_STATE_PATH`` for an authenticated bot over ``TradingStates``."""

    def __init__(
        self,
        states: TradingStates,
        *,
        trouble: UpstreamTrouble | None = None,
        exchange_status: StatusReader | None = None,
    ) -> None:
        self.states = states
        self.trouble = trouble or UpstreamTrouble()
        self._read_status = exchange_status
        self._status, self._status_at = "", float("-inf")

    async def exchange_status(self) -> str:
        if self._read_status is None:
            return ""
        if time.monotonic() - self._status_at >= STATUS_EVERY_S:
            self._status_at = time.monotonic()
            try:
                self._status = (await self._read_status())[:20]
            except Exception as error:  # unknown, not fatal: the guard counts errors apart
                event(logger, "exchange_status_failed", logging.WARNING, error=str(error)[:200])
                self._status = ""
        return self._status

    async def handle(self, bot: str, request: Request) -> tuple[int, bytes]:
        try:
            if request.method == "GET":
                data = await asyncio.to_thread(self._current, bot)
            elif request.method == "POST":
                wanted, reason = _parse(request)
                data = await asyncio.to_thread(self._request, bot, wanted, reason)
            else:
                raise envelope.not_found()
        except StateUnavailable as error:
            event(logger, "guard_state_unavailable", logging.ERROR, bot=bot, error=str(error))
            failed = KucoinError(envelope.internal_error().code, "trading state unavailable")
            return failed.http_status, envelope.error_body(failed)
        except KucoinError as error:
            return error.http_status, envelope.error_body(error)
        data["errors"] = self.trouble.recent(bot)
        data["exchange_status"] = await self.exchange_status()
        return 200, envelope.success_body(data)

    def _current(self, bot: str) -> dict[str, Any]:
        return self.states.get(bot).as_dict()

    def _request(self, bot: str, wanted: TradingState, reason: str) -> dict[str, Any]:
        granted, held, by = self.states.request_by_guard(bot, wanted, reason)
        event(
            logger,
            "guard_state_request",
            logging.WARNING if granted and wanted is not TradingState.ACTIVE else logging.INFO,
            bot=bot,
            wanted=wanted.value,
            granted=granted,
            state=held,
            by=by,
            reason=reason,
        )
        return {"granted": granted, "state": held, "by": by}


def _parse(request: Request) -> tuple[TradingState, str]:
    body = request.json()
    raw_state, reason = body.get("state"), body.get("reason", "")
    try:
        wanted = TradingState(str(raw_state))
    except ValueError:
        shown = repr(raw_state)[:40]
        raise envelope.bad_parameter(f"state {shown} is not ACTIVE, REDUCING or HALTED") from None
    if not isinstance(reason, str):
        raise envelope.bad_parameter("reason must be a string")
    printable = "".join(c for c in reason[:MAX_REASON] if c.isprintable())
    return wanted, printable
