"""The rendered Freqtrade config: budget-bound, protected, loopback-only, secret-free."""

from __future__ import annotations

import json
import stat
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic import SecretStr

from bulkhead.config.loader import parse_fleet
from bulkhead.config.models import Bot
from bulkhead.config.workspace import Workspace
from bulkhead.freqtrade.config import (
    render_freqtrade_config,
    secret_environment,
    write_private,
)

EXAMPLE = Path(__file__).resolve().parents[3] / "examples" / "bulkhead.yaml"
CREDENTIALS = {
    "api_key": SecretStr("k-0123abcd"),
    "secret": SecretStr("s-very-secret"),
    "passphrase": SecretStr("p-passphrase"),
}


def bot_with(**changes: Any) -> Bot:
    document = yaml.safe_load(EXAMPLE.read_text())
    document["bots"][0].update(changes)
    return parse_fleet(document).bots[0]


def render(bot: Bot, tmp_path: Path) -> dict[str, Any]:
    return render_freqtrade_config(bot, Workspace(tmp_path).bot(bot.name))


@pytest.mark.parametrize(("budget", "slots"), [(100, 1), (100, 3), (50, 2), (73.5, 4)])
def test_stakes_of_all_open_trades_together_stay_within_the_budget(
    tmp_path: Path, budget: float, slots: int
):
    bot = bot_with(budget={"amount": budget}, max_open_trades=slots)
    config = render(bot, tmp_path)
    assert config["available_capital"] == budget
    assert config["max_open_trades"] == slots
    total = Decimal(str(config["stake_amount"])) * slots
    # Room for the entry fees KuCoin charges on top of each stake.
    assert total * Decimal("1.001") <= Decimal(str(budget))


@pytest.mark.parametrize("left", [0.9, 0.6])
def test_a_bot_that_lost_enters_again_with_what_is_left_of_its_budget_never_more(
    tmp_path: Path, left: float
):
    from freqtrade.exceptions import DependencyException
    from freqtrade.wallets import Wallets

    config = render(bot_with(budget={"amount": 100}, max_open_trades=1), tmp_path)
    wallets = Wallets.__new__(Wallets)  # Freqtrade's own stake check, on the rendered config
    wallets._config = config
    available = config["stake_amount"] * left
    assert wallets._check_available_stake_amount(config["stake_amount"], available) == available
    # Under half a stake left: a stake of 0, which Freqtrade does not enter with.
    assert wallets._check_available_stake_amount(config["stake_amount"], available * 0.4) == 0
    # And without the setting it would never have entered again at all.
    wallets._config = {**config, "amend_last_stake_amount": False}
    with pytest.raises(DependencyException):
        wallets._check_available_stake_amount(config["stake_amount"], available)


def test_stoploss_and_all_four_protections_reach_freqtrade(tmp_path: Path):
    bot = bot_with(
        stoploss=-0.08,
        protections={"low_profit_pairs": {"enabled": True, "required_profit": 0.01}},
    )
    config = render(bot, tmp_path)
    assert config["stoploss"] == -0.08
    methods = [p["method"] for p in config["bulkhead"]["protections"]]
    assert methods == ["StoplossGuard", "MaxDrawdown", "CooldownPeriod", "LowProfitPairs"]
    assert config["bulkhead"]["protections"][3]["required_profit"] == 0.01


def test_a_disabled_protection_is_left_out(tmp_path: Path):
    bot = bot_with(protections={"max_drawdown": {"enabled": False}})
    methods = [p["method"] for p in render(bot, tmp_path)["bulkhead"]["protections"]]
    assert "MaxDrawdown" not in methods


def test_the_rest_api_listens_on_loopback_with_generated_credentials_kept_across_renders(
    tmp_path: Path,
):
    bot = bot_with()
    first = render(bot, tmp_path)
    again = render(bot, tmp_path)
    assert first["api_server"]["listen_ip_address"] == "127.0.0.1"
    assert first["api_server"]["listen_port"] == again["api_server"]["listen_port"]
    api = Workspace(tmp_path).bot("bot1").api_credentials
    assert stat.S_IMODE(api.stat().st_mode) == 0o600
    assert len(json.loads(api.read_text())["password"]) >= 24


def test_each_bot_gets_its_own_database_and_user_data(tmp_path: Path):
    one, two = bot_with(name="one"), bot_with(name="two", subaccount="two")
    first, second = render(one, tmp_path), render(two, tmp_path)
    assert first["db_url"] != second["db_url"]
    assert first["user_data_dir"] != second["user_data_dir"]
    assert "one" in first["db_url"]


def test_the_twin_target_bends_ccxt_to_the_twin_and_kucoin_does_not(tmp_path: Path):
    twin = render(bot_with(), tmp_path)["exchange"]
    assert twin["ccxt_config"]["urls"]["api"]["private"] == "http://127.0.0.1:8899"
    real = render(bot_with(exchange={"target": "kucoin"}), tmp_path)["exchange"]
    assert "ccxt_config" not in real
    assert real["name"] == "kucoin"


def test_the_rendered_config_holds_no_secret_and_the_environment_carries_them(tmp_path: Path):
    bot = bot_with()
    paths = Workspace(tmp_path).bot(bot.name)
    config = render_freqtrade_config(bot, paths)
    write_private(paths.config, config)
    text = paths.config.read_text()
    for secret in CREDENTIALS.values():
        assert secret.get_secret_value() not in text
    assert stat.S_IMODE(paths.config.stat().st_mode) == 0o600
    env = secret_environment(paths, CREDENTIALS)
    assert env["FREQTRADE__EXCHANGE__SECRET"] == "s-very-secret"
    assert env["FREQTRADE__EXCHANGE__PASSWORD"] == "p-passphrase"
    assert (
        json.loads(paths.api_credentials.read_text())["password"]
        == env["FREQTRADE__API_SERVER__PASSWORD"]
    )


def test_the_rendered_config_leaves_the_strategy_to_the_stack(tmp_path: Path):
    config = render(bot_with(strategy={"name": "TwinScalper", "params": {"x": 1}}), tmp_path)
    assert "strategy" not in config
    assert "strategy_path" not in config
    assert "strategy_params" not in config["bulkhead"]


def test_a_key_freqtrade_would_read_as_a_number_is_refused(tmp_path: Path):
    paths = Workspace(tmp_path).bot("bot1")
    numeric = {**CREDENTIALS, "api_key": SecretStr("123456789012345678901234")}
    with pytest.raises(ValueError, match="api_key looks like a number"):
        secret_environment(paths, numeric)


def test_a_failed_private_write_leaves_the_old_file_and_no_temporary_file(tmp_path: Path):
    target = tmp_path / "config.json"
    write_private(target, {"kept": True})
    with pytest.raises(TypeError):
        write_private(target, {"kept": False, "unwritable": object()})
    assert json.loads(target.read_text()) == {"kept": True}
    assert [path.name for path in tmp_path.iterdir()] == ["config.json"]


def test_a_private_write_is_owner_only_from_its_first_byte(tmp_path: Path):
    target = tmp_path / "nested" / "api.json"
    write_private(target, {"password": "p"})
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    assert [path.name for path in target.parent.iterdir()] == ["api.json"]
