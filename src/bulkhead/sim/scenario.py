"""Scenario files: the YAML a trader writes to set up a twin (users, keys, money, markets).

The same operations back the admin API, so a scenario is just a batch of admin calls
that is validated completely before the first one runs.
"""

from __future__ import annotations

import json
import math
from decimal import Decimal
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from bulkhead.plumbing import write_private
from bulkhead.sim.engine import Twin, TwinConfigError
from bulkhead.sim.models import (
    AccountType,
    ApiKey,
    ExchangeStatus,
    FaultSpec,
    SymbolSpec,
    UserMode,
)
from bulkhead.sim.prices import PriceSourceSpec, build_price_source


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ScenarioUser(_Strict):
    name: str = Field(min_length=1, max_length=64)
    mode: UserMode = "classic"
    frozen: bool = False
    #: account type -> currency -> amount
    balances: dict[AccountType, dict[str, Decimal]] = Field(default_factory=dict)


class ScenarioKey(_Strict):
    name: str = Field(min_length=1)
    user: str
    permissions: list[str] = Field(default_factory=lambda: ["General", "Spot"])
    ip_whitelist: list[str] = Field(default_factory=list)
    passphrase: str | None = None
    version: int = 2
    remark: str = ""


class ScenarioSymbol(_Strict):
    """A market; increments and minimums are derived from its price level when omitted."""

    symbol: str = Field(pattern=r"^[A-Z0-9]+-[A-Z0-9]+$")
    source: PriceSourceSpec
    base_min_size: Decimal | None = None
    quote_min_size: Decimal | None = None
    base_increment: Decimal | None = None
    quote_increment: Decimal | None = None
    price_increment: Decimal | None = None
    min_funds: Decimal | None = None
    taker_fee_rate: Decimal = Decimal("0.001")
    maker_fee_rate: Decimal = Decimal("0.001")
    spread: Decimal = Decimal("0.0004")


class Scenario(_Strict):
    credentials_out: str | None = None
    status: ExchangeStatus = "open"
    rate_limit_quota: int | None = Field(default=None, gt=0)
    master: ScenarioUser
    subaccounts: list[ScenarioUser] = Field(default_factory=list)
    keys: list[ScenarioKey] = Field(default_factory=list)
    symbols: list[ScenarioSymbol] = Field(default_factory=list)
    faults: list[FaultSpec] = Field(default_factory=list)


def _power_of_ten(exponent: int) -> Decimal:
    return Decimal(1).scaleb(exponent)


def symbol_spec(twin: Twin, entry: ScenarioSymbol) -> SymbolSpec:
    """Fill in KuCoin-like increments from the price level (XRP ~1 → 0.00001 price tick)."""
    source = build_price_source(entry.source, twin.state.anchor_ms, twin.base_dir)
    price = source.price_at(twin.state.anchor_ms)
    magnitude = math.floor(math.log10(price))
    base, quote = entry.symbol.split("-")
    derived = {
        "price_increment": _power_of_ten(magnitude - 5),
        "base_increment": _power_of_ten(-min(8, max(0, magnitude + 4))),
        "base_min_size": _power_of_ten(math.floor(math.log10(1 / price))),
        "quote_increment": _power_of_ten(-6),
        "quote_min_size": Decimal("0.1"),
        "min_funds": Decimal("0.1"),
    }
    given = entry.model_dump(exclude_none=True, exclude={"symbol", "source"})
    return SymbolSpec.model_validate(
        {
            **derived,
            **given,
            "symbol": entry.symbol,
            "base": base,
            "quote": quote,
            "source": entry.source,
        }
    )


def load_scenario(path: Path) -> Scenario:
    """Parse and validate a scenario file; one clear error line per problem."""
    try:
        document = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError) as error:
        raise TwinConfigError(f"cannot read scenario {path}: {error}") from None
    try:
        return Scenario.model_validate(document)
    except ValidationError as error:
        lines = [
            f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']} (got {e.get('input')!r})"
            for e in error.errors()
        ]
        raise TwinConfigError(f"invalid scenario {path}:\n  " + "\n  ".join(lines)) from None


def apply_scenario(twin: Twin, scenario: Scenario) -> list[ApiKey]:
    """Create everything the scenario names; returns the keys it created, in order."""
    twin.state.status = scenario.status
    twin.state.rate_limit_quota = scenario.rate_limit_quota
    for entry in scenario.symbols:
        twin.add_symbol(symbol_spec(twin, entry))
    for index, spec in enumerate((scenario.master, *scenario.subaccounts)):
        user = twin.create_user(spec.name, master=index == 0, mode=spec.mode)
        user.frozen = spec.frozen
        for account, per_currency in spec.balances.items():
            for currency, amount in per_currency.items():
                twin.set_balance(user, currency, amount, account)
    created = []
    for key in scenario.keys:
        created.append(
            twin.create_key(
                twin.user_by_name(key.user),
                key.permissions,
                ip_whitelist=key.ip_whitelist,
                passphrase=key.passphrase,
                name=key.name,
                remark=key.remark,
                version=key.version,
            )
        )
    twin.state.faults.extend(scenario.faults)
    return created


def credentials(twin: Twin, keys: list[ApiKey]) -> list[dict[str, Any]]:
    result = []
    for key in keys:
        user = twin.user_of(key)
        result.append(
            {
                "name": key.name,
                "apiKey": key.api_key,
                "secret": key.secret,
                "passphrase": key.passphrase,
                "permissions": key.permissions,
                "subName": None if user.is_master else user.name,
            }
        )
    return result


def write_credentials(path: Path, entries: list[dict[str, Any]]) -> None:
    """Secrets go to a 0600 file only (its folder created 0700 when missing), never to
    stdout or logs."""
    write_private(path, json.dumps(entries, indent=2).encode())
