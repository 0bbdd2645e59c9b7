"""The LLM advisor's settings in bulkhead.yaml: the provider and its price table, the €
caps and rate limits (``advisor:`` at the top), and what each bot lets it do (``bots[].advisor``).

Kept apart from ``models`` so neither file outgrows a reading. Every cap has a safe
default; a model missing from the price table is refused here, not treated as free.
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, field_validator, model_validator

from bulkhead.config.secrets import SecretRef
from bulkhead.config.strict import Strict as _Strict

#: the kinds of change the advisor can propose (its tools, ``no_change`` aside)
CHANGE_KINDS = (
    "propose_parameter_change",
    "pause_pair",
    "resume_pair",
    "adjust_stake_scale",
    "write_insight",
)
ChangeKind = Literal[
    "propose_parameter_change",
    "pause_pair",
    "resume_pair",
    "adjust_stake_scale",
    "write_insight",
]

#: what applies without the operator unless the spec says otherwise: only restraints
RESTRAINTS: tuple[ChangeKind, ...] = ("write_insight", "pause_pair", "adjust_stake_scale")


class Price(_Strict):
    """€ per million tokens, as the provider bills them."""

    input_eur_per_mtok: Decimal = Field(gt=0, le=1000)
    output_eur_per_mtok: Decimal = Field(gt=0, le=1000)


def _price(inp: str, out: str) -> Price:
    return Price(input_eur_per_mtok=Decimal(inp), output_eur_per_mtok=Decimal(out))


#: list prices in € (US dollar prices at 0.95 €/$, rounded up), November 2026. Check your
#: provider's page and set ``advisor.prices`` when they differ: these only make a model
#: usable without one, they are never a reason to spend more than the caps.
DEFAULT_PRICES: dict[str, Price] = {
    "gpt-4o-mini": _price("0.15", "0.60"),
    "gpt-4o": _price("2.40", "9.50"),
    "gpt-4.1-mini": _price("0.40", "1.55"),
    "gpt-4.1": _price("1.90", "7.60"),
    "claude-3-5-haiku-latest": _price("0.80", "3.80"),
    "claude-haiku-4-5": _price("0.95", "4.75"),
    "claude-sonnet-4-5": _price("2.85", "14.25"),
}


class AdvisorProvider(_Strict):
    """Which LLM, through which official SDK; the key is a reference, never a literal."""

    kind: Literal["openai", "anthropic"] = Field(
        description="openai (chat completions, any OpenAI-compatible server) or anthropic"
    )
    model: str = Field(min_length=1, max_length=100)
    api_key: SecretRef
    #: another server speaking the same protocol (a local model, a proxy, the fake)
    base_url: str | None = Field(default=None, pattern=r"^https?://[^\s]+$", max_length=300)
    timeout_seconds: float = Field(default=30, gt=0, le=300)
    #: attempts per round after a 429, 5xx or timeout; each attempt is reserved and counted
    retries: int = Field(default=1, ge=0, le=5)


class AdvisorCaps(_Strict):
    """Hard limits, checked before every call (the worst case reserved against each)."""

    fleet_daily_eur: Decimal = Field(default=Decimal("2"), ge=0, le=10_000)
    fleet_monthly_eur: Decimal = Field(default=Decimal("20"), ge=0, le=100_000)
    bot_daily_eur: Decimal = Field(default=Decimal("0.50"), ge=0, le=10_000)
    bot_monthly_eur: Decimal = Field(default=Decimal("5"), ge=0, le=100_000)
    calls_per_hour: int = Field(default=12, ge=1, le=3600, description="per bot")
    max_tokens_per_call: int = Field(
        default=60_000, ge=1000, le=2_000_000, description="prompt + answer, worst case"
    )
    max_output_tokens: int = Field(default=1024, ge=64, le=100_000)
    max_tool_rounds: int = Field(default=2, ge=1, le=10)
    #: the calendar day and month of the daily and monthly caps
    timezone: str = "UTC"

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, zone: str) -> str:
        try:
            ZoneInfo(zone)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {zone[:60]!r} (e.g. UTC, Europe/Paris)") from None
        return zone

    @model_validator(mode="after")
    def _answer_fits_a_call(self) -> AdvisorCaps:
        if self.max_output_tokens >= self.max_tokens_per_call:
            raise ValueError("max_output_tokens must be below max_tokens_per_call")
        return self


class Breaker(_Strict):
    """After ``failures`` failed consultations in a row, no call for ``cooldown_minutes``."""

    failures: int = Field(default=3, ge=1, le=100)
    cooldown_minutes: float = Field(default=30, gt=0, le=24 * 60)


class AdvisorDeployment(_Strict):
    """``advisor:`` at the top of bulkhead.yaml: one provider and one budget for the fleet."""

    provider: AdvisorProvider
    #: merged over ``DEFAULT_PRICES`` (yours win)
    prices: dict[str, Price] = Field(default_factory=dict)
    caps: AdvisorCaps = AdvisorCaps()
    breaker: Breaker = Breaker()
    every_minutes: float = Field(default=60, ge=0.5, le=7 * 24 * 60)

    @model_validator(mode="after")
    def _model_has_a_price(self) -> AdvisorDeployment:
        if self.provider.model not in self.price_table:
            known = ", ".join(sorted(self.price_table))
            raise ValueError(
                f"model {self.provider.model!r} has no price: add it to advisor.prices "
                f"(input_eur_per_mtok, output_eur_per_mtok); priced: {known}"
            )
        return self

    @property
    def price_table(self) -> dict[str, Price]:
        return DEFAULT_PRICES | self.prices

    @property
    def price(self) -> Price:
        return self.price_table[self.provider.model]


class BotAdvisor(_Strict):
    """``bots[].advisor``: whether the advisor is consulted for this bot, and which of its
    proposals apply at once (the others wait for ``bulkhead advice accept``)."""

    enabled: bool = False
    auto_apply: list[ChangeKind] = Field(default_factory=lambda: list(RESTRAINTS))
    #: the smallest stake scale it may set (1.0 is the most: it can never raise stakes)
    min_stake_scale: float = Field(default=0.25, gt=0, le=1)
    #: how long a pause or a stake scale it sets lasts
    directive_hours: float = Field(default=24, gt=0, le=24 * 30)


def without_provider(
    bots: Sequence[Any], advisor: AdvisorDeployment | None
) -> list[tuple[tuple[str | int, ...], str]]:
    """The bots that switch the advisor on in a spec with no ``advisor:`` section (where
    ``Fleet`` reports them)."""
    if advisor is not None:
        return []
    return [
        (("bots", index, "advisor", "enabled"), "needs an advisor: section (the provider)")
        for index, bot in enumerate(bots)
        if bot.advisor.enabled
    ]
