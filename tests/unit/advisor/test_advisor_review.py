"""The review every proposal passes: restraints always, loosening only while the guard is
ACTIVE, and never past a declared bound or the operator's settings."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from bulkhead.advisor.context import BotContext, Parameter
from bulkhead.advisor.review import review
from bulkhead.advisor.tools import (
    AdjustStakeScale,
    NoChange,
    PausePair,
    ProposeParameterChange,
    ResumePair,
    WriteInsight,
)
from bulkhead.config.models import Fleet
from bulkhead.guard.directives import Directives, Pause

EXAMPLE = Path(__file__).resolve().parents[3] / "examples" / "bulkhead.yaml"
NOW = 1_800_000_000_000
PARAMETERS = {
    "hold": Parameter("hold", "sell", "int", 10, 3, 120),
    "ratio": Parameter("ratio", "buy", "decimal", 0.5, 0.1, 0.9),
    "mode": Parameter("mode", "buy", "categorical", "fast", options=("fast", "slow")),
    "on": Parameter("on", "buy", "boolean", True, options=(True, False)),
}


def context(state: str = "ACTIVE", directives: Directives | None = None) -> BotContext:
    bot = Fleet.model_validate(yaml.safe_load(EXAMPLE.read_text())).bots[0]
    return BotContext(bot, [], dict(PARAMETERS), state, directives=directives or Directives())


ADVISED = Directives({"XRP/USDT": Pause("p1", NOW + 3_600_000)}, 0.5, "s1", NOW + 3_600_000)


@pytest.mark.parametrize("state", ["ACTIVE", "REDUCING", "HALTED", "UNKNOWN"])
def test_restraints_pass_in_every_state(state: str) -> None:
    for proposal in (
        PausePair(pair="XRP/USDT", reason="r"),
        AdjustStakeScale(scale=0.25, reason="r"),
        WriteInsight(text="t"),
        NoChange(reason="r"),
    ):
        assert review(proposal, context(state, ADVISED), NOW).allowed, (state, proposal)


@pytest.mark.parametrize("state", ["REDUCING", "HALTED", "UNKNOWN"])
def test_loosening_waits_for_an_active_guard(state: str) -> None:
    ctx = context(state, ADVISED)
    for proposal in (
        ResumePair(pair="XRP/USDT", reason="r"),
        AdjustStakeScale(scale=0.9, reason="r"),  # above the 0.5 in force
        ProposeParameterChange(name="hold", value=20, reason="r"),
    ):
        verdict = review(proposal, ctx, NOW)
        assert not verdict.allowed
        assert verdict.code == "GUARD_NOT_ACTIVE"
    assert review(ResumePair(pair="XRP/USDT", reason="r"), context("ACTIVE", ADVISED), NOW).allowed


def test_the_guards_own_pause_cannot_be_lifted_and_pairs_must_be_the_bots() -> None:
    assert review(ResumePair(pair="XRP/USDT", reason="r"), context(), NOW).code == (
        "NOT_ADVISED_PAUSE"
    )
    assert review(PausePair(pair="DOGE/USDT", reason="r"), context(), NOW).code == "UNKNOWN_PAIR"
    expired = Directives({"XRP/USDT": Pause("p1", NOW - 1)})
    assert review(
        ResumePair(pair="XRP/USDT", reason="r"), context(directives=expired), NOW
    ).code == ("NOT_ADVISED_PAUSE")


@pytest.mark.parametrize(
    ("name", "value", "allowed"),
    [
        ("hold", 3, True),
        ("hold", 120, True),
        ("hold", 121, False),
        ("hold", 2.5, False),
        ("hold", True, False),
        ("ratio", 0.9, True),
        ("ratio", 0.95, False),
        ("ratio", "0.5", False),
        ("mode", "slow", True),
        ("mode", "turbo", False),
        ("on", False, True),
        ("on", 0, False),
        ("stoploss", -0.5, False),
    ],
)
def test_parameters_stay_within_their_declarations(name: str, value: object, allowed: bool) -> None:
    verdict = review(ProposeParameterChange(name=name, value=value, reason="r"), context(), NOW)
    assert verdict.allowed is allowed, verdict


def test_the_stake_scale_respects_the_operators_floor() -> None:
    verdict = review(AdjustStakeScale(scale=0.1, reason="r"), context(), NOW)
    assert verdict.code == "OUT_OF_BOUNDS"
