"""A bad bulkhead.yaml gets one clear line per problem, exit code 2, and starts nothing."""

from __future__ import annotations

import time
import tracemalloc
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
        "bots.0.strategy.name: unknown strategy 'MoonShot' (allowed: ",
    ),
    "pair in another currency": (
        lambda b: {**b, "pairs": ["ETH/BTC"]},
        "pair ETH/BTC is not quoted in the budget currency USDT",
    ),
    "pair against itself": (
        lambda b: {**b, "pairs": ["USDT/USDT"]},
        "bots.0.pairs.0: pair USDT/USDT trades USDT against itself",
    ),
    "secret as an env name": (
        lambda b: {**b, "credentials": {**b["credentials"], "secret": {"env": "hunter2-real"}}},
        "bots.0.credentials.secret: env must be an UPPER_CASE variable name",
    ),
    "twin off this machine": (
        lambda b: {**b, "exchange": {"target": "http://203.0.113.7:8899"}},
        "bots.0.exchange.target: a twin must be on this machine",
    ),
    "stake under the exchange minimum": (
        lambda b: {**b, "budget": {"amount": 0.5, "currency": "USDT"}, "max_open_trades": 10},
        "bots.0.budget.amount: 0.5 USDT leaves a stake of 0.04 USDT per trade",
    ),
    "stake rounding to zero": (
        lambda b: {**b, "budget": {"amount": 0.005, "currency": "USDT"}},
        "leaves a stake of 0.00 USDT per trade",
    ),
    "sub-account with a trailing space": (
        lambda b: {**b, "subaccount": "bot1 "},
        "bots.0.subaccount: has spaces around it",
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


def test_a_secret_typed_as_an_env_name_is_never_echoed_back(tmp_path: Path):
    bot = example_bot()
    bot["credentials"]["secret"] = {"env": "hunter2-real"}
    code, output = run_with(tmp_path, bot, "render", "bot1")
    assert code == 2
    assert "hunter2-real" not in output


def test_a_secret_typed_as_a_file_path_is_never_echoed_back(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.setenv("BOT1_KUCOIN_API_KEY", "key-0123")
    monkeypatch.setenv("BOT1_KUCOIN_API_PASSPHRASE", "pass-0123")
    bot = example_bot()
    bot["credentials"]["secret"] = {"file": "hunter2-real"}
    code, output = run_with(tmp_path, bot, "render", "bot1")
    assert code == 2
    assert "credentials.secret: secret from file cannot be read" in output
    assert "hunter2-real" not in output


def run_text(tmp_path: Path, data: bytes, *command: str) -> tuple[int, str]:
    spec = tmp_path / "bulkhead.yaml"
    spec.write_bytes(data)
    result = runner.invoke(build_app(), [*command, "--spec", str(spec)])
    return result.exit_code, result.output


def assert_one_line_refusal(tmp_path: Path, code: int, output: str, expected: str) -> None:
    assert code == 2, output
    lines = output.strip().splitlines()
    assert len(lines) == 1, output
    assert expected in lines[0]
    assert "Traceback" not in output
    assert not (tmp_path / ".bulkhead").exists()


def test_a_latin_1_character_in_a_comment_is_one_line_and_exit_2(tmp_path: Path):
    data = EXAMPLE.read_bytes().replace(b"# lower-case letters", b"# caf\xe9: lower-case letters")
    code, output = run_text(tmp_path, data, "render", "bot1")
    assert_one_line_refusal(tmp_path, code, output, "not UTF-8 text: the byte at line 6")


def test_a_latin_1_dotenv_is_one_line_and_exit_2_without_its_content(tmp_path: Path):
    (tmp_path / ".env").write_bytes(b"BOT1_KUCOIN_API_SECRET=s\xe9cret-value\n")
    code, output = run_text(tmp_path, EXAMPLE.read_bytes(), "render", "bot1")
    assert code == 2, output
    assert "line 1 is not UTF-8 text" in output
    assert "cret-value" not in output
    assert "Traceback" not in output


def test_an_alias_bomb_in_strategy_params_writes_nothing(tmp_path: Path):
    anchors = "\n".join(
        [f"x0: &x0 [{', '.join(['lol'] * 10)}]"]
        + [f"x{i}: &x{i} [{', '.join([f'*x{i - 1}'] * 10)}]" for i in range(1, 4)]
    )
    bomb = ", ".join(["*x3"] * 100)  # 100 x 11,111 values once expanded
    text = EXAMPLE.read_text().replace(
        "strategy: {name: TwinScalper, params: {}}",
        f"strategy: {{name: TwinScalper, params: {{bomb: [{bomb}]}}}}",
    )
    spec_text = f"{anchors}\n{text}"
    line = 1 + next(i for i, row in enumerate(spec_text.splitlines()) if "bomb:" in row)
    started = time.perf_counter()
    code, output = run_text(tmp_path, spec_text.encode(), "render", "bot1")
    assert_one_line_refusal(tmp_path, code, output, f"aliases expand the value at line {line}")
    assert time.perf_counter() - started < 5


def test_an_alias_bomb_at_top_level_is_refused_in_one_short_line(tmp_path: Path):
    anchors = [f"x0: &x0 [{', '.join(['lol'] * 10)}]"]
    anchors += [f"x{i}: &x{i} [{', '.join([f'*x{i - 1}'] * 10)}]" for i in range(1, 7)]
    tracemalloc.start()
    try:
        code, output = run_text(tmp_path, "\n".join(anchors).encode(), "render", "bot1")
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert_one_line_refusal(tmp_path, code, output, "aliases expand the value at line 5")
    assert peak < 32 * 1024 * 1024


def test_nesting_thousands_deep_is_one_line_not_a_recursion_error(tmp_path: Path):
    code, output = run_text(tmp_path, b"[" * 5_000 + b"]" * 5_000, "render", "bot1")
    # "nested deeper than 32 levels", or libyaml's own "exceeded maximum nesting depth"
    assert_one_line_refusal(tmp_path, code, output, "nest")


def test_two_live_bots_on_one_subaccount_in_another_case_are_refused(tmp_path: Path):
    document = yaml.safe_load(EXAMPLE.read_text())
    second = {**document["bots"][0], "name": "bot2", "subaccount": "BOT1"}
    document["bots"].append(second)
    code, output = run_text(tmp_path, yaml.safe_dump(document).encode(), "render", "bot1")
    assert_one_line_refusal(
        tmp_path, code, output, "bots.1.subaccount: 'BOT1' is the sub-account of live bot bots.0"
    )


def test_a_duplicate_bot_name_is_refused_naming_it_and_both_indices(tmp_path: Path):
    document = yaml.safe_load(EXAMPLE.read_text())
    document["bots"].append({**document["bots"][0], "subaccount": "other", "mode": "dry_run"})
    code, output = run_text(tmp_path, yaml.safe_dump(document).encode(), "render", "bot1")
    assert_one_line_refusal(
        tmp_path, code, output, "bots.1.name: 'bot1' is also the name of bots.0"
    )


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
