"""``/bulkhead/v1/guard/state``: where a bot's risk guard reads and asks for its trading
state, signed with the bot's gateway credential like any other call.

- ``GET`` answers the state that holds: ``{"state", "reason", "since", "by"}``.
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
from typing import Any

from bulkhead.gateway.states import StateUnavailable, TradingState, TradingStates
from bulkhead.kucoin import envelope
from bulkhead.kucoin.envelope import KucoinError
from bulkhead.kucoin.http import Request
from bulkhead.logs import event

logger = logging.getLogger("bulkhead.gateway")

GUARD_STATE_PATH = "/bulkhead/v1/guard/state"
MAX_REASON = 500


class GuardRoute:
    """Serves ``GUARD_STATE_PATH`` for an authenticated bot over ``TradingStates``."""

    def __init__(self, states: TradingStates) -> None:
        self.states = states

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
