"""The advisor's settings: a model without a price is refused, caps have safe defaults, and
a bot cannot switch the advisor on without a provider."""

from __future__ import annotations

import copy
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic import ValidationError

from bulkhead.config.advisor import DEFAULT_PRICES, AdvisorDeployment
from bulkhead.config.models import Fleet

EXAMPLE = Path(__file__).resolve().parents[3] / "examples" / "bulkhead.yaml"


def provider(**values: Any) -> dict[str, Any]:
    return {"kind": "openai", "model": "gpt-4o-mini", "api_key": {"env": "LLM_KEY"}} | values


def test_a_model_without_a_price_is_refused_not_free() -> None:
    with pytest.raises(ValidationError, match="has no price"):
        AdvisorDeployment.model_validate({"provider": provider(model="gpt-unknown")})
    priced = AdvisorDeployment.model_validate(
        {
            "provider": provider(model="my-local-model"),
            "prices": {"my-local-model": {"input_eur_per_mtok": 0.01, "output_eur_per_mtok": 0.02}},
        }
    )
    assert priced.price.output_eur_per_mtok == Decimal("0.02")
    with pytest.raises(ValidationError):
        AdvisorDeployment.model_validate(
            {
                "provider": provider(model="free"),
                "prices": {"free": {"input_eur_per_mtok": 0, "output_eur_per_mtok": 0}},
            }
        )


def test_defaults_are_small_and_every_shipped_model_is_priced() -> None:
    settings = AdvisorDeployment.model_validate({"provider": provider()})
    assert settings.caps.bot_daily_eur <= settings.caps.fleet_daily_eur
    assert settings.caps.max_output_tokens < settings.caps.max_tokens_per_call
    assert all(p.input_eur_per_mtok > 0 for p in DEFAULT_PRICES.values())


@pytest.mark.parametrize(
    ("section", "message"),
    [
        ({"provider": provider(api_key="sk-literal")}, "api_key"),
        ({"provider": provider(kind="cohere")}, "kind"),
        ({"provider": provider(), "caps": {"timezone": "Mars/Olympus"}}, "unknown time zone"),
        ({"provider": provider(), "caps": {"bot_daily_eur": -1}}, "bot_daily_eur"),
        ({"provider": provider(), "caps": {"max_output_tokens": 99_000}}, "max_output_tokens"),
        ({"provider": provider(base_url="file:///etc/passwd")}, "base_url"),
    ],
)
def test_bad_settings_are_refused(section: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        AdvisorDeployment.model_validate(section)


def test_a_bot_needs_the_advisor_section_to_enable_it() -> None:
    document = copy.deepcopy(yaml.safe_load(EXAMPLE.read_text()))
    document["bots"][0]["advisor"] = {"enabled": True}
    with pytest.raises(ValidationError, match="needs an advisor: section"):
        Fleet.model_validate(document)
    document["advisor"] = {"provider": provider()}
    fleet = Fleet.model_validate(document)
    assert fleet.bots[0].advisor.auto_apply == ["write_insight", "pause_pair", "adjust_stake_scale"]
