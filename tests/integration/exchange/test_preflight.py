"""Preflight against a real twin through real ccxt: every refusal reason, with real keys.

Every test gets a fresh twin from ``examples/sim.yaml`` (master "master", sub-account
"bot1" with 100 USDT in its trading account, keys "bot1-trade" = General+Spot on bot1 and
"master-admin" = General+Spot+Transfer+FlexTransfers on the master). Further keys are
minted exactly as KuCoin would allow them (a sub-account key cannot carry Transfer or
Withdrawal, so those are tried on master keys). Bots are built from a plain spec dict,
their credentials resolved from an explicit ``environ`` dict (os.environ is never
touched), and each test looks at the one check its setup should trip.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr

from bulkhead.config.credentials import resolve_credentials
from bulkhead.config.models import Bot
from bulkhead.exchange.preflight import Check, PreflightReport, make_client, run_preflight
from bulkhead.plumbing import free_port
from bulkhead.sim.engine import Twin
from bulkhead.sim.server import TwinServer, prepare

EXAMPLE = Path(__file__).resolve().parents[3] / "examples" / "sim.yaml"
ORDER = [
    "key_valid",
    "key_is_sub_account",
    "subaccount_matches",
    "permissions_trade_only",
    "ip_whitelist",
    "exchange_status",
    "clock_skew",
    "balance_covers_budget",
    "budget_above_exchange_minimum",
]
WRONG_SECRET = "0badc0de-5ec7-4e7a-9000-feedfacecafe"
ENV_NAMES = {"api_key": "BOT_API_KEY", "secret": "BOT_API_SECRET", "passphrase": "BOT_PASSPHRASE"}


@dataclass
class Rig:
    """One running twin, the credentials of its keys by name, and bots pointed at it."""

    server: TwinServer
    credentials: dict[str, dict[str, str]]

    @property
    def twin(self) -> Twin:
        return self.server.twin

    def add_key(
        self, name: str, user: str, permissions: tuple[str, ...], **options: Any
    ) -> dict[str, str]:
        """Mint a real key on the twin (it refuses what KuCoin would refuse)."""
        key = self.twin.create_key(self.twin.user_by_name(user), permissions, name=name, **options)
        self.credentials[name] = {
            "apiKey": key.api_key,
            "secret": key.secret,
            "passphrase": key.passphrase,
        }
        return self.credentials[name]

    def bot(self, **overrides: Any) -> Bot:
        """The bot "bot1" on this twin: 100 USDT budget, XRP/USDT, fields overridable."""
        spec: dict[str, Any] = {
            "name": "bot1",
            "exchange": {"target": self.server.url},
            "subaccount": "bot1",
            "credentials": {part: {"env": env} for part, env in ENV_NAMES.items()},
            "budget": {"amount": 100, "currency": "USDT"},
            "pairs": ["XRP/USDT"],
            "strategy": {"name": "TwinScalper"},
            "mode": "live",
        }
        spec.update(overrides)
        return Bot.model_validate(spec)

    def environ(self, key: str, **swap: str) -> dict[str, str]:
        """The environment a bot using ``key`` would run with; ``swap`` replaces parts."""
        cred = {**self.credentials[key], **swap}
        return {
            ENV_NAMES["api_key"]: cred["apiKey"],
            ENV_NAMES["secret"]: cred["secret"],
            ENV_NAMES["passphrase"]: cred["passphrase"],
        }

    def preflight(
        self,
        key: str,
        bot: Bot | None = None,
        *,
        swap: dict[str, str] | None = None,
        **options: Any,
    ) -> PreflightReport:
        """Resolve the bot's credentials, build its real client and run the preflight."""
        bot = bot or self.bot()
        credentials = resolve_credentials(bot, self.environ(key, **(swap or {})))
        return run_preflight(bot, make_client(bot, credentials), **options)


@pytest.fixture
def rig(tmp_path: Path) -> Iterator[Rig]:
    """A fresh twin for this test only, served over real HTTP on loopback."""
    prepared = prepare(EXAMPLE, credentials_out=tmp_path / "credentials.json")
    credentials = {
        str(c["name"]): {
            "apiKey": str(c["apiKey"]),
            "secret": str(c["secret"]),
            "passphrase": str(c["passphrase"]),
        }
        for c in prepared.credentials
    }
    with TwinServer(prepared.twin) as server:
        yield Rig(server, credentials)


def check(report: PreflightReport, name: str) -> Check:
    """The one check of that name in the report."""
    found = [c for c in report.checks if c.name == name]
    assert len(found) == 1, [c.name for c in report.checks]
    return found[0]


def statuses(report: PreflightReport) -> dict[str, str]:
    return {c.name: c.status for c in report.checks}


# -- the passing case ---------------------------------------------------------------------


def test_a_trade_only_key_of_the_bots_sub_account_passes_with_a_whitelist_warning(
    rig: Rig,
) -> None:
    report = rig.preflight("bot1-trade")

    assert report.passed, report.table()
    assert [c.name for c in report.checks] == ORDER
    assert statuses(report) == {name: "pass" for name in ORDER} | {"ip_whitelist": "warn"}
    assert "no IP whitelist" in check(report, "ip_whitelist").detail
    assert "100 USDT" in check(report, "balance_covers_budget").detail


def test_a_key_with_an_ip_whitelist_passes_a_bot_that_requires_one(rig: Rig) -> None:
    rig.add_key("bot1-fenced", "bot1", ("General", "Spot"), ip_whitelist=["127.0.0.1"])

    report = rig.preflight("bot1-fenced", rig.bot(require_ip_whitelist=True))

    assert report.passed, report.table()
    assert check(report, "ip_whitelist").status == "pass"


def test_the_report_reads_as_a_table_and_serialises_to_json(rig: Rig) -> None:
    report = rig.preflight("bot1-trade")

    table = report.table()
    lines = table.splitlines()
    assert [part.strip() for part in lines[0].split("|")] == ["check", "result", "detail"]
    assert all(name in table for name in ORDER)
    assert "WARN" in table
    document = json.loads(json.dumps(report.as_dict()))
    assert document["bot"] == "bot1"
    assert document["passed"] is True
    assert [c["name"] for c in document["checks"]] == ORDER


# -- the key ------------------------------------------------------------------------------


def test_a_master_key_fails_as_not_a_sub_account_key(rig: Rig) -> None:
    rig.add_key("master-spot", "master", ("General", "Spot"))

    report = rig.preflight("master-spot")

    assert not report.passed
    refused = check(report, "key_is_sub_account")
    assert refused.status == "fail"
    assert "MASTER key" in refused.detail
    assert check(report, "subaccount_matches").status == "fail"
    assert check(report, "permissions_trade_only").status == "pass"


def test_a_key_of_another_sub_account_fails_the_sub_account_match(rig: Rig) -> None:
    rig.twin.create_user("bot2")
    rig.add_key("bot2-trade", "bot2", ("General", "Spot"))

    report = rig.preflight("bot2-trade")

    assert not report.passed
    assert check(report, "key_is_sub_account").status == "pass"
    mismatch = check(report, "subaccount_matches")
    assert mismatch.status == "fail"
    assert "'bot2'" in mismatch.detail
    assert "'bot1'" in mismatch.detail


def test_a_master_key_with_transfer_fails_the_permissions_listing_transfer(rig: Rig) -> None:
    rig.add_key("master-transfer", "master", ("General", "Spot", "Transfer"))

    report = rig.preflight("master-transfer")

    permissions = check(report, "permissions_trade_only")
    assert permissions.status == "fail"
    assert "carries Transfer:" in permissions.detail


def test_the_scenarios_master_admin_key_fails_listing_every_extra_permission(rig: Rig) -> None:
    report = rig.preflight("master-admin")

    permissions = check(report, "permissions_trade_only")
    assert permissions.status == "fail"
    assert "Transfer, FlexTransfers" in permissions.detail


def test_a_master_key_with_withdrawal_fails_the_permissions(rig: Rig) -> None:
    rig.add_key("master-withdraw", "master", ("General", "Spot", "Withdrawal"))

    report = rig.preflight("master-withdraw")

    permissions = check(report, "permissions_trade_only")
    assert permissions.status == "fail"
    assert "Withdrawal" in permissions.detail


def test_a_sub_account_key_with_inner_transfer_fails_the_permissions(rig: Rig) -> None:
    rig.add_key("bot1-inner", "bot1", ("General", "Spot", "InnerTransfer"))

    report = rig.preflight("bot1-inner")

    assert not report.passed
    assert check(report, "key_is_sub_account").status == "pass"
    assert check(report, "subaccount_matches").status == "pass"
    permissions = check(report, "permissions_trade_only")
    assert permissions.status == "fail"
    assert "InnerTransfer" in permissions.detail


def test_a_key_without_spot_fails_because_the_bot_could_not_trade(rig: Rig) -> None:
    rig.add_key("bot1-readonly", "bot1", ("General",))

    report = rig.preflight("bot1-readonly")

    permissions = check(report, "permissions_trade_only")
    assert permissions.status == "fail"
    assert "lacks Spot" in permissions.detail


def test_a_bot_that_requires_an_ip_whitelist_fails_a_key_without_one(rig: Rig) -> None:
    report = rig.preflight("bot1-trade", rig.bot(require_ip_whitelist=True))

    assert not report.passed
    assert check(report, "ip_whitelist").status == "fail"


def test_a_wrong_secret_fails_key_valid_with_400005_and_never_shows_a_secret(rig: Rig) -> None:
    real = rig.credentials["bot1-trade"]

    report = rig.preflight("bot1-trade", swap={"secret": WRONG_SECRET})

    assert not report.passed
    refused = check(report, "key_valid")
    assert refused.status == "fail"
    assert "400005" in refused.detail
    # the checks that need the key's description are failed, not skipped
    assert check(report, "permissions_trade_only").status == "fail"
    shown = report.table() + json.dumps(report.as_dict())
    for secret in (WRONG_SECRET, real["secret"], real["passphrase"], real["apiKey"]):
        assert secret not in shown


# -- trading conditions -------------------------------------------------------------------


@pytest.mark.parametrize("status", ["close", "cancelonly"])
def test_an_exchange_that_is_not_open_fails_the_status_check(rig: Rig, status: str) -> None:
    rig.twin.state.status = status  # type: ignore[assignment]

    report = rig.preflight("bot1-trade")

    assert not report.passed
    refused = check(report, "exchange_status")
    assert refused.status == "fail"
    assert status in refused.detail


def test_a_local_clock_ten_seconds_off_fails_the_clock_skew_check(rig: Rig) -> None:
    report = rig.preflight("bot1-trade", clock_ms=lambda: time.time_ns() // 1_000_000 - 10_000)

    skew = check(report, "clock_skew")
    assert skew.status == "fail"
    assert "ahead of" in skew.detail
    assert not report.passed


def test_a_balance_below_the_budget_warns_that_the_bot_would_trade_less(rig: Rig) -> None:
    report = rig.preflight("bot1-trade", rig.bot(budget={"amount": 250}))

    balance = check(report, "balance_covers_budget")
    assert balance.status == "warn"
    assert "100 USDT" in balance.detail
    assert "250 USDT" in balance.detail
    assert report.passed


def test_a_balance_above_the_budget_passes_and_says_the_budget_caps_it(rig: Rig) -> None:
    report = rig.preflight("bot1-trade", rig.bot(budget={"amount": 40}))

    balance = check(report, "balance_covers_budget")
    assert balance.status == "pass"
    assert "caps" in balance.detail
    assert "40 USDT" in balance.detail


def test_a_stake_below_the_pairs_minimum_fails(rig: Rig) -> None:
    # The spec itself refuses stakes under KuCoin's general 0.1, so this pair asks for more.
    spec = rig.twin.state.symbols["XRP-USDT"]
    spec.quote_min_size = spec.min_funds = Decimal(10)
    report = rig.preflight("bot1-trade", rig.bot(budget={"amount": "5"}))

    minimum = check(report, "budget_above_exchange_minimum")
    assert minimum.status == "fail"
    assert "XRP/USDT" in minimum.detail
    assert not report.passed


def test_a_stake_under_freqtrades_padded_minimum_warns(rig: Rig) -> None:
    spec = rig.twin.state.symbols["XRP-USDT"]
    spec.quote_min_size = spec.min_funds = Decimal(10)
    # stake 10.50: above KuCoin's 10, below Freqtrade's 10 x 1.05 / 0.95 = 11.05
    report = rig.preflight("bot1-trade", rig.bot(budget={"amount": "10.61"}))

    minimum = check(report, "budget_above_exchange_minimum")
    assert minimum.status == "warn", minimum.detail
    assert "Freqtrade" in minimum.detail


def test_a_pair_the_exchange_does_not_list_fails(rig: Rig) -> None:
    report = rig.preflight("bot1-trade", rig.bot(pairs=["XRP/USDT", "DOGE/USDT"]))

    minimum = check(report, "budget_above_exchange_minimum")
    assert minimum.status == "fail"
    assert "DOGE/USDT is not listed" in minimum.detail
    assert "XRP/USDT" not in minimum.detail


def test_a_pair_whose_trading_is_disabled_fails(rig: Rig) -> None:
    rig.twin.state.symbols["XRP-USDT"].enable_trading = False

    report = rig.preflight("bot1-trade")

    assert check(report, "budget_above_exchange_minimum").status == "fail"


# -- failing closed -----------------------------------------------------------------------


def test_an_unreachable_exchange_fails_every_check_without_raising(rig: Rig) -> None:
    closed_port = free_port()
    bot = rig.bot(exchange={"target": f"http://127.0.0.1:{closed_port}"})
    cred = rig.credentials["bot1-trade"]
    client = make_client(
        bot,
        {
            "api_key": SecretStr(cred["apiKey"]),
            "secret": SecretStr(cred["secret"]),
            "passphrase": SecretStr(cred["passphrase"]),
        },
    )

    report = run_preflight(bot, client)

    assert [c.name for c in report.checks] == ORDER
    assert set(statuses(report).values()) == {"fail"}
    assert "could not reach the exchange" in check(report, "key_valid").detail
