"""A bad bulkhead.yaml gets one clear line per problem, exit code 2, and starts nothing."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from bulkhead.cli.main import build_app

EXAMPLE = Path(__file__).resolve().parents[3] / "examples" / "bulkhead.yaml"
runner = CliRunner()


def example_bot() -> dict[str, Any]:
    document = yaml.safe_load(EXAMPLE.read_text())
    bot: dict[str, Any] = document["bots"][0]
    return bot


def run_with(tmp_path: Path, bot: dict[str, Any], *command: str) -> tuple[int, str]:
    spec = tmp_path / "bulkhead.yaml"
    spec.write_text(yaml.safe_dump({"version": 1, "bots": [bot]}))
    result = runner.invoke(build_app(), [*command, "--spec", str(spec)])
    return result.exit_code, result.output


def without(mapping: dict[str, Any], key: str) -> dict[str, Any]:
    return {k: v for k, v in mapping.items() if k != key}


CASES = {
    "missing budget": (lambda b: without(b, "budget"), "bots.0.budget: Field required"),
    "negative budget": (
        lambda b: {**b, "budget": {"amount": -5, "currency": "USDT"}},
        "bots.0.budget.amount: Input should be greater than 0 (got -5)",
    ),
    "literal secret": (
        lambda b: {**b, "credentials": {**b["credentials"], "secret": "hunter2-literal"}},
        "a literal secret is refused in bulkhead.yaml",
    ),
    "unknown field": (
        lambda b: {**b, "leverage": 10},
        "bots.0.leverage: Extra inputs are not permitted (got 10)",
    ),
    "unknown strategy": (
        lambda b: {**b, "strategy": {"name": "MoonShot"}},
        "bots.0.strategy.name: unknown strategy 'MoonShot' (allowed: TwinScalper)",
    ),
    "pair in another currency": (
        lambda b: {**b, "pairs": ["ETH/BTC"]},
        "pair ETH/BTC is not quoted in the budget currency USDT",
    ),
}


@pytest.mark.parametrize("case", CASES, ids=list(CASES))
@pytest.mark.parametrize("command", [("render", "bot1"), ("up", "bot1")], ids=["render", "up"])
def test_a_bad_spec_gets_one_clear_line_and_starts_nothing(
    tmp_path: Path, case: str, command: tuple[str, ...]
):
    mutate, expected = CASES[case]
    code, output = run_with(tmp_path, mutate(example_bot()), *command)
    assert code == 2
    lines = output.strip().splitlines()
    assert len(lines) == 1, output
    assert expected in lines[0]
    assert "Traceback" not in output
    assert not (tmp_path / ".bulkhead").exists()


def test_a_literal_secret_is_never_echoed_back(tmp_path: Path):
    bot = example_bot()
    bot["credentials"]["secret"] = "hunter2-literal"
    _, output = run_with(tmp_path, bot, "render", "bot1")
    assert "hunter2-literal" not in output


def test_a_missing_secret_names_its_reference_and_not_a_value(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    for name in ("BOT1_KUCOIN_API_KEY", "BOT1_KUCOIN_API_SECRET", "BOT1_KUCOIN_API_PASSPHRASE"):
        monkeypatch.delenv(name, raising=False)
    code, output = run_with(tmp_path, example_bot(), "render", "bot1")
    assert code == 2
    assert "env BOT1_KUCOIN_API_KEY is missing or empty" in output


def test_an_unknown_bot_name_lists_the_bots_of_the_spec(tmp_path: Path):
    code, output = run_with(tmp_path, example_bot(), "render", "bot9")
    assert code == 2
    assert "no bot named 'bot9' in the spec (bots: bot1)" in output


def test_init_writes_a_spec_and_env_template_and_refuses_to_overwrite(tmp_path: Path):
    first = runner.invoke(build_app(), ["init", str(tmp_path)])
    assert first.exit_code == 0, first.output
    assert (tmp_path / "bulkhead.yaml").read_text() == EXAMPLE.read_text()
    env = (tmp_path / ".env").read_text()
    assert "BOT1_KUCOIN_API_SECRET=" in env
    assert (tmp_path / ".env").stat().st_mode & 0o077 == 0
    second = runner.invoke(build_app(), ["init", str(tmp_path)])
    assert second.exit_code == 2
    assert "--force" in second.output


@pytest.mark.parametrize(
    "command", ["init", "render", "preflight", "up", "down", "status", "logs", "compose", "demo"]
)
def test_every_command_explains_itself(command: str):
    result = runner.invoke(build_app(), [command, "--help"])
    assert result.exit_code == 0
    assert "Usage" in result.output
