"""``bulkhead backtest``: refusals before Freqtrade runs (its real runs are in tests/e2e)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml
from typer.testing import CliRunner

from bulkhead.cli.main import build_app

EXAMPLE = Path(__file__).resolve().parents[3] / "examples" / "bulkhead.yaml"
runner = CliRunner()


def backtest(tmp_path: Path, *args: str, **changes: Any) -> tuple[int, str]:
    document = yaml.safe_load(EXAMPLE.read_text())
    document["bots"][0].update(changes)
    spec = tmp_path / "bulkhead.yaml"
    spec.write_text(yaml.safe_dump(document))
    result = runner.invoke(build_app(), ["backtest", "bot1", *args, "--spec", str(spec)])
    return result.exit_code, result.output


def test_backtest_is_a_command_with_help():
    result = runner.invoke(build_app(), ["backtest", "--help"])

    assert result.exit_code == 0
    for option in ("--timerange", "--download", "--recordings", "--spec"):
        assert option in result.output


def test_a_timeframe_no_recording_covers_is_refused_before_freqtrade_runs(tmp_path: Path):
    code, output = backtest(tmp_path)  # the example bot: TwinScalper on 1m candles

    assert code == 2, output
    assert "XRP/USDT 1m: missing" in output
    assert "error: no 1m candles for XRP/USDT (recordings in " in output
    assert "add --download to fetch them with freqtrade download-data" in output
    backtest_dir = tmp_path / ".bulkhead" / "bots" / "bot1" / "backtest"
    assert (backtest_dir / "config.json").is_file()
    assert not (backtest_dir / "report.txt").exists(), "Freqtrade must not have run"


def test_an_unknown_strategy_is_refused_as_a_spec_error(tmp_path: Path):
    code, output = backtest(tmp_path, strategy={"name": "SampleStrategy", "params": {"rsi": 3}})

    assert code == 2, output
    assert "bots.0.strategy.params.rsi: SampleStrategy declares no such parameter" in output
    assert not (tmp_path / ".bulkhead" / "bots" / "bot1" / "backtest").exists()


def test_the_backtest_config_is_the_live_one_without_the_rest_api(tmp_path: Path):
    backtest(tmp_path)

    bot_dir = tmp_path / ".bulkhead" / "bots" / "bot1"
    config = json.loads((bot_dir / "backtest" / "config.json").read_text())
    assert "api_server" not in config
    assert config["enable_protections"] is True
    assert config["strategy"] == "TwinScalper"
    assert config["strategy_path"] == str(bot_dir / "backtest" / "user_data" / "strategies")
    assert not (bot_dir / "config.json").exists(), "the live config is left alone"
