"""The ``bulkhead`` command as a user meets it: help, clear errors, the demo tour."""

from __future__ import annotations

import json
import stat
from decimal import Decimal
from pathlib import Path

from typer.testing import CliRunner

from bulkhead.cli.main import build_app
from bulkhead.sim.server import prepare

runner = CliRunner()
EXAMPLE = Path(__file__).resolve().parents[3] / "examples" / "sim.yaml"


def test_top_level_help_names_the_sim_command_group():
    result = runner.invoke(build_app(), ["--help"])
    assert result.exit_code == 0
    assert "sim" in result.output


def test_sim_serve_help_explains_scenario_port_and_state():
    result = runner.invoke(build_app(), ["sim", "serve", "--help"])
    assert result.exit_code == 0
    for option in ("--scenario", "--port", "--state", "--credentials-out"):
        assert option in result.output


def test_sim_serve_with_an_invalid_scenario_exits_with_one_clear_error(tmp_path: Path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("master: {name: m}\nsubaccounts: [{name: s, balances: {trade: {USDT: -1x}}}]\n")
    result = runner.invoke(build_app(), ["sim", "serve", "--scenario", str(bad), "--port", "0"])
    assert result.exit_code == 2
    assert "subaccounts.0.balances.trade.USDT" in result.output
    assert "Traceback" not in result.output


def test_sim_serve_with_an_unknown_scenario_field_names_it(tmp_path: Path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("master: {name: m}\nbudget: 5\n")
    result = runner.invoke(build_app(), ["sim", "serve", "--scenario", str(bad)])
    assert result.exit_code == 2
    assert "budget" in result.output


def test_demo_tour_trades_and_shows_the_transfer_refused():
    result = runner.invoke(build_app(), ["sim", "demo", "--scenario", str(EXAMPLE), "--no-wait"])
    assert result.exit_code == 0, result.output
    assert "market buy 10 XRP filled" in result.output
    assert "was refused" in result.output
    assert "master balance unchanged (10,000.00 -> 10,000.00 USDT)" in result.output


def test_credentials_file_is_private_and_lists_every_key(tmp_path: Path):
    target = tmp_path / "creds.json"
    prepared = prepare(EXAMPLE, credentials_out=target)
    entries = json.loads(target.read_text())
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    assert [e["name"] for e in entries] == ["bot1-trade", "master-admin"]
    assert set(entries[0]) == {"name", "apiKey", "secret", "passphrase", "permissions", "subName"}
    assert entries[0]["subName"] == "bot1"
    assert entries[1]["subName"] is None
    assert len(prepared.twin.state.keys) == 2


def test_a_twin_restarted_on_its_state_file_alone_keeps_keys_balances_and_markets(
    tmp_path: Path,
):
    state = tmp_path / "twin.json"
    first = prepare(EXAMPLE, state_path=state, credentials_out=tmp_path / "creds.json")
    first.twin.set_balance(first.twin.user_by_name("bot1"), "USDT", Decimal(77), "trade")
    first.twin.save(state)
    restarted = prepare(None, state_path=state)
    assert restarted.twin.user_by_name("bot1").balance("trade", "USDT").balance == 77
    assert restarted.twin.state.keys == first.twin.state.keys
    assert restarted.twin.quote("XRP-USDT")[0] > 0


def test_demo_with_a_scenario_lacking_its_key_says_so_in_one_line(tmp_path: Path):
    scenario = tmp_path / "sim.yaml"
    text = EXAMPLE.read_text().replace("bot1-trade", "other-key")
    scenario.write_text(text.replace("../data/", f"{EXAMPLE.parent.parent}/data/"))
    result = runner.invoke(
        build_app(), ["demo", "--scenario", str(scenario), "--dir", str(tmp_path)]
    )
    assert result.exit_code == 2, result.output
    assert "the demo trades with a key named bot1-trade" in result.output
    assert "Traceback" not in result.output
