"""``bulkhead memory`` as a user meets it: help for every command, ACL rules without secrets.

Nothing here starts Redis: the commands that need it are exercised in
tests/integration/memory/test_export_import.py against real servers.
"""

from __future__ import annotations

import copy
import re
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from bulkhead.cli.main import build_app
from bulkhead.memory.keys import BotKeys

runner = CliRunner()
EXAMPLE = Path(__file__).resolve().parents[3] / "examples" / "bulkhead.yaml"
SUBCOMMANDS = {
    "show": ["bot", "--events"],
    "export": ["bot", "--format", "--output"],
    "import": ["file", "--as"],
    "prune": ["--trades-older-than", "--yes"],
    "acl": ["--apply"],
}


def _spec(tmp_path: Path, bots: dict[str, bool]) -> Path:
    """examples/bulkhead.yaml with the given bots (name: memory enabled)."""
    document = yaml.safe_load(EXAMPLE.read_text())
    template = document["bots"][0]
    document["bots"] = [
        copy.deepcopy(template) | {"name": name, "subaccount": name, "memory": {"enabled": enabled}}
        for name, enabled in bots.items()
    ]
    spec = tmp_path / "bulkhead.yaml"
    spec.write_text(yaml.safe_dump(document))
    return spec


def test_memory_help_lists_every_memory_command():
    result = runner.invoke(build_app(), ["memory", "--help"])
    assert result.exit_code == 0
    for command in SUBCOMMANDS:
        assert command in result.output


def test_top_level_help_names_the_memory_command_group():
    result = runner.invoke(build_app(), ["--help"])
    assert result.exit_code == 0
    assert "memory" in result.output


@pytest.mark.parametrize(("command", "options"), SUBCOMMANDS.items())
def test_each_memory_command_explains_itself(command: str, options: list[str]):
    result = runner.invoke(build_app(), ["memory", command, "--help"])
    assert result.exit_code == 0, result.output
    for option in [*options, "--spec"]:
        assert option in result.output


def test_memory_acl_prints_one_rule_per_bot_with_its_key_pattern_and_no_password(
    tmp_path: Path,
):
    spec = _spec(tmp_path, {"alpha": True, "beta": True, "gamma": False})
    result = runner.invoke(build_app(), ["memory", "acl", "--spec", str(spec)])
    assert result.exit_code == 0, result.output
    rules = result.output.strip().splitlines()
    bot_rules = [rule for rule in rules if rule.startswith("user bot-")]
    assert [rule.split()[1] for rule in bot_rules] == ["bot-alpha", "bot-beta"]
    for bot, rule in zip(("alpha", "beta"), bot_rules, strict=True):
        assert f"~{BotKeys(bot).pattern}" in rule.split()
        assert "#<sha256>" in rule.split()
    assert any(rule.startswith("user bulkhead-reader ") for rule in rules)
    assert not re.search(r"[0-9a-f]{64}", result.output)
    assert "<password>" not in result.output
    assert not (tmp_path / ".bulkhead").exists()  # printing starts nothing, writes nothing


def test_pruning_trades_without_yes_is_refused_before_anything_is_touched(tmp_path: Path):
    spec = _spec(tmp_path, {"alpha": True})
    result = runner.invoke(
        build_app(), ["memory", "prune", "--spec", str(spec), "--trades-older-than", "30"]
    )
    assert result.exit_code == 2
    assert "--yes" in result.output
    assert not (tmp_path / ".bulkhead").exists()


def test_export_with_an_unknown_format_is_refused(tmp_path: Path):
    spec = _spec(tmp_path, {"alpha": True})
    result = runner.invoke(
        build_app(), ["memory", "export", "alpha", "--spec", str(spec), "--format", "csv"]
    )
    assert result.exit_code == 2
    assert "jsonl or parquet" in result.output


def test_import_of_a_file_that_is_not_an_export_names_the_problem(tmp_path: Path):
    spec = _spec(tmp_path, {"alpha": True})
    bogus = tmp_path / "notes.jsonl"
    bogus.write_text("hello\n")
    result = runner.invoke(build_app(), ["memory", "import", str(bogus), "--spec", str(spec)])
    assert result.exit_code == 2
    assert "not a bulkhead memory export" in result.output
    assert "Traceback" not in result.output


def test_show_of_a_bot_with_memory_off_says_so(tmp_path: Path):
    spec = _spec(tmp_path, {"alpha": False})
    result = runner.invoke(build_app(), ["memory", "show", "alpha", "--spec", str(spec)])
    assert result.exit_code == 2
    assert "memory switched off" in result.output


def test_show_with_redis_unreachable_says_so_and_exits_temporary(tmp_path: Path):
    from bulkhead.plumbing import free_port

    spec = _spec(tmp_path, {"alpha": True})
    document = yaml.safe_load(spec.read_text())
    document["memory"] = {"redis_url": f"redis://127.0.0.1:{free_port()}/0"}
    spec.write_text(yaml.safe_dump(document))
    result = runner.invoke(build_app(), ["memory", "show", "alpha", "--spec", str(spec)])
    assert result.exit_code == 75, result.output  # TemporaryError: try again later
    assert "memory: cannot reach Redis (ConnectionError" in result.output
    assert "Traceback" not in result.output
