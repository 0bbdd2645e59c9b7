"""A bot's own strategy is named in bulkhead.yaml, and one Bulkhead will not run stops
every command before anything starts, in one line naming the spec field (exit 2)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from bulkhead.cli.main import build_app

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "unit" / "freqtrade"))
import strategy_files

EXAMPLE = Path(__file__).resolve().parents[3] / "examples" / "bulkhead.yaml"
runner = CliRunner()


def spec_with(folder: Path, strategy: dict[str, object], **bot: object) -> Path:
    document = yaml.safe_load(EXAMPLE.read_text())
    document["bots"][0].update({"strategy": strategy, "mode": "dry_run", **bot})
    path = folder / "bulkhead.yaml"
    path.write_text(yaml.safe_dump(document))
    return path


def run(*args: str, env: dict[str, str] | None = None) -> tuple[int, str]:
    result = runner.invoke(build_app(), list(args), env=env)
    return result.exit_code, result.output


def test_up_refuses_a_strategy_that_can_short_and_starts_nothing(tmp_path: Path):
    strategy_files.strategy_file(tmp_path / "strategies", body="    can_short = True")
    spec = spec_with(tmp_path, {"file": "strategies/good.py", "class": "Good"}, timeframe="5m")
    code, output = run("up", "bot1", "--spec", str(spec))
    assert code == 2, output
    assert "bots.0.strategy: Good can short" in output
    assert "starting" not in output
    assert not (tmp_path / ".bulkhead" / "bots" / "bot1" / "lease").exists()
    assert "Traceback" not in output


def test_render_names_the_missing_class_and_the_strategies_in_the_file(tmp_path: Path):
    strategy_files.strategy_file(tmp_path, name="mine.py")
    spec = spec_with(tmp_path, {"file": "mine.py", "class": "Mine"}, timeframe="5m")
    code, output = run("render", "bot1", "--spec", str(spec))
    assert code == 2, output
    assert "bots.0.strategy.class: no class 'Mine' in mine.py (strategies there: Good)" in output


def test_a_strategy_file_that_does_not_import_is_refused_with_its_line(tmp_path: Path):
    (tmp_path / "broken.py").write_text("import os\n\nclass Broken(:\n    pass\n")
    spec = spec_with(tmp_path, {"file": "broken.py", "class": "Broken"})
    code, output = run("up", "--spec", str(spec))
    assert code == 2, output
    assert "bots.0.strategy.file: broken.py does not import: SyntaxError" in output
    assert "(line 3)" in output


def test_a_timeframe_that_disagrees_with_the_strategy_is_refused_at_the_bots_timeframe(
    tmp_path: Path,
):
    strategy_files.strategy_file(tmp_path)
    spec = spec_with(tmp_path, {"file": "good.py", "class": "Good"}, timeframe="1m")
    code, output = run("up", "--spec", str(spec))
    assert code == 2, output
    assert "bots.0.timeframe: 1m, but Good trades 5m candles" in output


def test_an_unknown_param_is_refused_with_the_declared_ones(tmp_path: Path):
    strategy_files.strategy_file(tmp_path)
    spec = spec_with(
        tmp_path,
        {"file": "good.py", "class": "Good", "params": {"buy_levle": 20}},
        timeframe="5m",
    )
    code, output = run("render", "bot1", "--spec", str(spec))
    assert code == 2, output
    assert "buy_levle" in output
    assert "buy_level" in output


@pytest.mark.parametrize(
    ("strategy", "shown"),
    [
        (
            {"file": "/etc/passwd.py", "class": "A"},
            "bots.0.strategy.file: should be a path relative",
        ),
        ({"file": "good.txt", "class": "A"}, "bots.0.strategy.file: should be a Python file"),
        ({"file": "good.py", "class": "os.system"}, "bots.0.strategy.class: should be the name"),
        ({"file": "good.py"}, "needs name: (a bundled strategy) or both file: and class:"),
        ({"name": "TwinScalper", "file": "good.py", "class": "Good"}, "not both"),
    ],
)
def test_a_strategy_named_in_the_wrong_shape_is_a_spec_error(
    tmp_path: Path, strategy: dict[str, object], shown: str
):
    spec = spec_with(tmp_path, strategy)
    code, output = run("render", "bot1", "--spec", str(spec))
    assert code == 2, output
    assert shown in output


def test_render_of_an_own_strategy_shows_its_label_and_params(tmp_path: Path):
    strategy_files.strategy_file(tmp_path / "strategies")
    spec = spec_with(
        tmp_path,
        {"file": "strategies/good.py", "class": "Good", "params": {"buy_level": 20}},
        timeframe="5m",
    )
    keys = {f"BOT1_KUCOIN_API_{part}": "x" for part in ("KEY", "SECRET", "PASSPHRASE")}
    code, output = run("render", "bot1", "--spec", str(spec), env=keys)
    assert code == 0, output
    assert "strategy strategies/good.py:Good" in output
    assert "buy_level=20" in output
