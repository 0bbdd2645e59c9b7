"""A strategy is loaded before anything starts, and what must not run is refused in a line."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import strategy_files
import yaml

from bulkhead.config.loader import parse_fleet
from bulkhead.config.models import Bot
from bulkhead.freqtrade.loading import (
    StrategyRefused,
    StrategySource,
    class_problems,
    load_class,
    source_of,
)
from bulkhead.freqtrade.stack import prepare
from bulkhead.freqtrade.strategies import registry

EXAMPLE = Path(__file__).resolve().parents[3] / "examples" / "bulkhead.yaml"
WHERE = "bots.0.strategy"


def bot_with(**changes: Any) -> Bot:
    document = yaml.safe_load(EXAMPLE.read_text())
    document["bots"][0].update(changes)
    return parse_fleet(document).bots[0]


def source(path: Path, class_name: str = "Good") -> StrategySource:
    return StrategySource(path, class_name, f"{path.name}:{class_name}", f"{WHERE}.file")


def problems_of(path: Path, class_name: str = "Good", **bot: Any) -> list[str]:
    """Every refusal for the class in ``path`` run by the example bot (changed by ``bot``)."""
    found = source(path, class_name)
    try:
        cls = load_class(found)
    except StrategyRefused as refused:
        return refused.problems
    timeframe = bot_with(**{"timeframe": "5m", **bot}).timeframe
    return class_problems(cls, timeframe, WHERE, "bots.0.timeframe", {})


def only(problems: list[str]) -> str:
    assert len(problems) == 1, problems
    assert "\n" not in problems[0]
    return problems[0]


# -- what loads ---------------------------------------------------------------------------


@pytest.mark.parametrize(("name", "timeframe"), [("TwinScalper", "1m"), ("SampleStrategy", "5m")])
def test_each_bundled_strategy_loads_and_passes_every_check(name: str, timeframe: str):
    bot = bot_with(strategy={"name": name}, timeframe=timeframe)

    stack = prepare(bot, EXAMPLE.parent)

    assert stack.class_name == name
    assert stack.source.file == registry()[name].file
    assert stack.source.file.is_file()


def test_the_sample_strategy_is_freqtrades_own_template():
    file = registry()["SampleStrategy"].file
    assert file.parts[-3:] == ("freqtrade", "templates", "sample_strategy.py")


def test_a_good_strategy_file_has_no_problems(tmp_path: Path):
    assert problems_of(strategy_files.strategy_file(tmp_path)) == []


def test_a_strategy_may_import_a_helper_module_beside_it_as_under_freqtrade(tmp_path: Path):
    (tmp_path / "helpers_for_good.py").write_text("LEVEL = 25\n")
    path = strategy_files.strategy_file(tmp_path, imports="from helpers_for_good import LEVEL")

    assert problems_of(path) == []


# -- what is refused, one line each -------------------------------------------------------


def test_an_unknown_bundled_name_is_refused_with_the_names_allowed():
    bot = bot_with()
    bot = bot.model_copy(update={"strategy": bot.strategy.model_copy(update={"name": "MoonShot"})})

    with pytest.raises(StrategyRefused) as refused:
        source_of(bot, EXAMPLE.parent, WHERE)

    assert only(refused.value.problems) == (
        "bots.0.strategy.name: unknown strategy 'MoonShot' "
        "(allowed: SampleStrategy, TwinScalper, or your own file: and class:)"
    )


def test_a_missing_file_is_refused(tmp_path: Path):
    line = only(problems_of(tmp_path / "nowhere.py"))
    assert line == f"{WHERE}.file: {tmp_path / 'nowhere.py'} not found"


def test_a_file_with_a_syntax_error_is_refused_with_its_line(tmp_path: Path):
    path = strategy_files.strategy_file(tmp_path, body="    def broken(self:\n        pass")

    line = only(problems_of(path))

    assert line == (
        f"{WHERE}.file: good.py does not import: SyntaxError: '(' was never closed (line 18)"
    )


def test_a_file_importing_a_missing_module_is_refused_naming_it(tmp_path: Path):
    path = strategy_files.strategy_file(tmp_path, imports="import talib_from_nowhere")

    line = only(problems_of(path))

    assert line == (
        f"{WHERE}.file: good.py does not import: ModuleNotFoundError: "
        "No module named 'talib_from_nowhere' (line 5)"
    )


def test_a_file_that_fails_while_importing_is_refused_with_the_error(tmp_path: Path):
    path = strategy_files.strategy_file(tmp_path, imports="raise RuntimeError('no\\nsecond line')")

    line = only(problems_of(path))

    assert line == f"{WHERE}.file: good.py does not import: RuntimeError: no (line 5)"


def test_a_file_calling_exit_while_importing_is_refused_not_obeyed(tmp_path: Path):
    path = strategy_files.strategy_file(tmp_path, imports="import sys; sys.exit(3)")

    assert "does not import: SystemExit: 3" in only(problems_of(path))


def test_a_class_missing_from_the_file_is_refused_listing_the_strategies_there(tmp_path: Path):
    path = strategy_files.strategy_file(tmp_path)

    line = only(problems_of(path, "Goood"))

    assert line == f"{WHERE}.class: no class 'Goood' in good.py (strategies there: Good)"


def test_a_class_that_is_not_an_istrategy_is_refused(tmp_path: Path):
    path = strategy_files.strategy_file(tmp_path, imports="class Helper:\n    pass\n")

    line = only(problems_of(path, "Helper"))

    assert line == f"{WHERE}.class: Helper in good.py is not a Freqtrade IStrategy (it is a class)"


def test_a_function_named_as_the_class_is_refused(tmp_path: Path):
    path = strategy_files.strategy_file(tmp_path, imports="def Helper():\n    pass\n")

    assert "is not a Freqtrade IStrategy (it is a function)" in only(problems_of(path, "Helper"))


def test_a_strategy_that_can_short_is_refused(tmp_path: Path):
    path = strategy_files.strategy_file(tmp_path, body="    can_short = True")

    assert only(problems_of(path)) == (
        f"{WHERE}: Good can short (can_short = True): Bulkhead bots trade spot, long only"
    )


def test_a_futures_strategy_setting_leverage_is_refused(tmp_path: Path):
    body = "    def leverage(self, pair, **kwargs):\n        return 3.0"
    path = strategy_files.strategy_file(tmp_path, body=body)

    assert only(problems_of(path)) == (
        f"{WHERE}: Good is a futures strategy (it sets leverage): Bulkhead bots trade spot only"
    )


def test_a_strategy_reading_futures_candles_is_refused(tmp_path: Path):
    body = (
        "    @informative('1h', candle_type='mark')\n"
        "    def populate_indicators_mark(self, dataframe, metadata):\n"
        "        return dataframe"
    )
    path = strategy_files.strategy_file(
        tmp_path, body=body, imports="from freqtrade.strategy import informative"
    )

    assert "reads mark candles): Bulkhead bots trade spot only" in only(problems_of(path))


@pytest.mark.parametrize(
    ("body", "shown"),
    [("    stoploss = -1", "stoploss = -1"), ("    stoploss = -1.5", "stoploss = -1.5")],
)
def test_a_strategy_without_a_stoploss_is_refused(tmp_path: Path, body: str, shown: str):
    path = strategy_files.strategy_file(tmp_path, body=body)

    assert only(problems_of(path)) == (
        f"{WHERE}: Good has no stop-loss ({shown}, a 100 % loss): "
        "Bulkhead runs only strategies written with one"
    )


def test_a_strategy_declaring_no_stoploss_at_all_is_refused(tmp_path: Path):
    path = strategy_files.strategy_file(tmp_path)
    path.write_text(path.read_text().replace("    stoploss = -0.10\n", ""))

    assert "Good has no stop-loss (no stoploss attribute)" in only(problems_of(path))


def test_a_timeframe_that_disagrees_with_the_spec_is_refused_at_the_spec_field(tmp_path: Path):
    path = strategy_files.strategy_file(tmp_path)

    line = only(problems_of(path, timeframe="1h"))

    assert (
        line == "bots.0.timeframe: 1h, but Good trades 5m candles: set timeframe: 5m for this bot"
    )


def test_a_strategy_with_no_entry_signal_is_refused(tmp_path: Path):
    path = strategy_files.strategy_file(tmp_path)
    text = path.read_text().replace("def populate_entry_trend", "def unused_entry_trend")
    path.write_text(text)

    assert "Good gives no entry signal" in only(problems_of(path))


def test_every_problem_of_a_class_is_told_at_once(tmp_path: Path):
    path = strategy_files.strategy_file(tmp_path, body="    can_short = True\n    stoploss = -1")

    problems = problems_of(path, timeframe="15m")

    assert len(problems) == 3, problems
    assert all("\n" not in line for line in problems)
