"""Each proposal judged before anything happens: against the strategy's declared bounds,
the bot's pairs, and the risk guard's state and limits.

The rule the guard applies to the advisor is the one it applies to itself: restraining is
always allowed (pause a pair, shrink stakes, note something), loosening only while the bot
is ACTIVE (resume a pair, grow the stake scale back, change a parameter), and never past a
declared bound or the operator's own settings. A pause the guard set from the bot's own
losses is the guard's: the advisor cannot lift it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from bulkhead.advisor.context import BotContext, Parameter
from bulkhead.advisor.tools import (
    AdjustStakeScale,
    NoChange,
    PausePair,
    ProposeParameterChange,
    ResumePair,
    WriteInsight,
)

ACTIVE = "ACTIVE"


@dataclass(frozen=True)
class Review:
    allowed: bool
    code: str  # WITHIN_BOUNDS when allowed, else why not
    detail: str = ""

    def __str__(self) -> str:
        return f"{self.code} {self.detail}".strip()


def _ok(detail: str = "") -> Review:
    return Review(True, "WITHIN_BOUNDS", detail)


def _no(code: str, detail: str) -> Review:
    return Review(False, code, detail[:300])


def value_problem(parameter: Parameter, value: Any) -> str | None:
    """Why ``value`` is not one ``parameter`` may take, or None."""
    if parameter.kind == "boolean":
        return None if isinstance(value, bool) else f"{value!r} is not true or false"
    if parameter.kind == "categorical":
        if any(type(o) is type(value) and o == value for o in parameter.options):
            return None
        return f"{value!r} is not one of {list(parameter.options)}"
    number = isinstance(value, int | float) and not isinstance(value, bool)
    if not number or not math.isfinite(value):
        return f"{value!r} is not a number"
    if parameter.kind == "int" and not float(value).is_integer():
        return f"{value!r} is not a whole number"
    low, high = parameter.low, parameter.high
    if low is None or high is None or not low <= value <= high:
        return f"{value!r} is outside its declared bounds {low}..{high}"
    return None


def review(proposal: Any, context: BotContext, now_ms: int) -> Review:
    """Whether ``proposal`` (a parsed tool call) may take effect for this bot."""
    active = context.guard_state == ACTIVE
    state = f"guard state {context.guard_state}"
    directives = context.directives.active(now_ms)
    if isinstance(proposal, NoChange | WriteInsight):
        return _ok()
    if isinstance(proposal, PausePair):
        if proposal.pair not in context.bot.pairs:
            return _no("UNKNOWN_PAIR", f"{proposal.pair} is not one of {context.bot.pairs}")
        return _ok("a pause only restrains")
    if isinstance(proposal, ResumePair):
        if proposal.pair not in directives.pauses:
            return _no(
                "NOT_ADVISED_PAUSE",
                f"{proposal.pair} has no pause the advisor or operator set (the guard's own "
                "pauses end by themselves)",
            )
        return _ok() if active else _no("GUARD_NOT_ACTIVE", f"{state}: no loosening")
    if isinstance(proposal, AdjustStakeScale):
        low = context.bot.advisor.min_stake_scale
        if not low <= proposal.scale <= 1.0:
            return _no("OUT_OF_BOUNDS", f"scale {proposal.scale:g} is outside {low:g}..1")
        if proposal.scale > directives.stake_scale and not active:
            return _no("GUARD_NOT_ACTIVE", f"{state}: the stake scale may only go down")
        return _ok()
    if isinstance(proposal, ProposeParameterChange):
        parameter = context.parameters.get(proposal.name)
        if parameter is None:
            known = ", ".join(sorted(context.parameters)) or "none"
            return _no("UNKNOWN_PARAMETER", f"{proposal.name!r} is not declared ({known})")
        problem = value_problem(parameter, proposal.value)
        if problem:
            return _no("OUT_OF_BOUNDS", f"{proposal.name}: {problem}")
        if not active:
            return _no("GUARD_NOT_ACTIVE", f"{state}: parameters wait for ACTIVE")
        return _ok(f"{proposal.name}: {parameter.value!r} -> {proposal.value!r}")
    return _no("UNKNOWN_TOOL", type(proposal).__name__)  # pragma: no cover
