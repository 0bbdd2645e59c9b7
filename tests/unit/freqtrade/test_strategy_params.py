"""strategy.params set declared parameters, as Freqtrade's parameter files do, or are refused."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import strategy_files

from bulkhead.freqtrade.loading import StrategyRefused, StrategySource, load_class
from bulkhead.freqtrade.params import (
    parameter_file,
    parameter_values,
    user_parameter_file,
)

WHERE = "bots.0.strategy"


@pytest.fixture
def good(tmp_path: Path) -> type[Any]:
    return load_class(source(strategy_files.strategy_file(tmp_path)))


def source(path: Path) -> StrategySource:
    return StrategySource(path, "Good", "good.py:Good", f"{WHERE}.file")


def refusal(cls: type[Any], **values: Any) -> str:
    with pytest.raises(StrategyRefused) as refused:
        parameter_values(cls, values, {}, WHERE, 0)
    (line,) = refused.value.problems
    assert "\n" not in line
    return line


def test_declared_parameters_go_to_their_spaces(good: type[Any]):
    params = parameter_values(
        good,
        {"buy_level": 12, "sell_margin": 0.07, "buy_mode": "open", "buy_enabled": False},
        {},
        WHERE,
        0,
    )

    assert params == {
        "buy": {"buy_level": 12, "buy_mode": "open", "buy_enabled": False},
        "sell": {"sell_margin": 0.07},
    }


def test_roi_and_trailing_go_to_freqtrades_special_spaces(good: type[Any]):
    params = parameter_values(
        good,
        {
            "minimal_roi": {"0": 0.05, "30": 0.01},
            "trailing_stop": True,
            "trailing_stop_positive": 0.02,
            "trailing_stop_positive_offset": 0.03,
            "trailing_only_offset_is_reached": True,
        },
        {},
        WHERE,
        0,
    )

    assert params == {
        "roi": {"0": 0.05, "30": 0.01},
        "trailing": {
            "trailing_stop": True,
            "trailing_stop_positive": 0.02,
            "trailing_stop_positive_offset": 0.03,
            "trailing_only_offset_is_reached": True,
        },
    }


def test_the_document_is_freqtrades_parameter_file_for_the_class(good: type[Any]):
    params = parameter_values(good, {"buy_level": 12}, {}, WHERE, 0)

    assert parameter_file("Good", params) == {
        "strategy_name": "Good",
        "params": {"buy": {"buy_level": 12}},
        "ft_stratparam_v": 1,
    }


def test_an_unknown_name_is_refused_with_the_declared_ones(good: type[Any]):
    assert refusal(good, buy_levle=12) == (
        f"{WHERE}.params.buy_levle: Good declares no such parameter (declared: buy_enabled, "
        "buy_frozen, buy_level, buy_mode, sell_margin; also minimal_roi, trailing_stop, "
        "trailing_stop_positive, trailing_stop_positive_offset, trailing_only_offset_is_reached)"
    )


@pytest.mark.parametrize(
    ("name", "value", "problem"),
    [
        ("buy_level", 41, "41 is outside its range 10..40"),
        ("buy_level", 9, "9 is outside its range 10..40"),
        ("buy_level", 12.5, "12.5 is not a whole number"),
        ("buy_level", True, "True is not a whole number"),
        ("buy_level", "20", "'20' is not a whole number"),
        ("sell_margin", 0.2, "0.2 is outside its range 0.01..0.1"),
        ("sell_margin", "x", "'x' is not a number"),
        ("buy_mode", "high", "'high' is not one of 'close', 'open'"),
        ("buy_enabled", 1, "1 is not one of True, False"),
        ("buy_frozen", 3, "declared with load=False: Freqtrade would ignore it"),
        ("minimal_roi", {"soon": 0.1}, "'soon' is not a number of minutes (0 or more)"),
        ("minimal_roi", {"0": "much"}, "'much' at minute 0 is not a profit ratio"),
        ("minimal_roi", [0.1], "a map of minutes to profit ratios, e.g. {0: 0.04, 30: 0.02}"),
        ("trailing_stop", "yes", "'yes' is not true or false"),
        ("trailing_stop_positive", 0, "0 is not a ratio above 0 and below 1 (or null)"),
        ("trailing_stop_positive_offset", -0.1, "-0.1 is not a ratio from 0 to below 1"),
    ],
)
def test_a_value_outside_its_declaration_is_refused(
    good: type[Any], name: str, value: Any, problem: str
):
    assert refusal(good, **{name: value}) == f"{WHERE}.params.{name}: {problem}"


@pytest.mark.parametrize("name", ["stoploss", "max_open_trades", "timeframe"])
def test_a_param_the_spec_sets_as_a_bot_field_is_refused_naming_the_field(
    good: type[Any], name: str
):
    assert refusal(good, **{name: 1}).startswith(
        f"{WHERE}.params.{name}: set bots.0.{name} instead"
    )


def test_every_bad_param_is_told_at_once(good: type[Any]):
    with pytest.raises(StrategyRefused) as refused:
        parameter_values(good, {"buy_level": 99, "nope": 1, "stoploss": -0.1}, {}, WHERE, 0)

    assert len(refused.value.problems) == 3


def test_the_users_own_parameter_file_is_the_base_the_spec_overrides(tmp_path: Path):
    path = strategy_files.strategy_file(tmp_path)
    path.with_suffix(".json").write_text(
        json.dumps(
            {
                "strategy_name": "Good",
                "params": {"buy": {"buy_level": 15, "buy_mode": "open"}, "roi": {"0": 0.2}},
            }
        )
    )
    cls = load_class(source(path))
    base = user_parameter_file(cls, source(path))

    params = parameter_values(cls, {"buy_level": 20}, base, WHERE, 0)

    assert params == {"buy": {"buy_level": 20, "buy_mode": "open"}, "roi": {"0": 0.2}}


def test_a_users_parameter_file_for_another_strategy_is_refused(tmp_path: Path):
    path = strategy_files.strategy_file(tmp_path)
    path.with_suffix(".json").write_text(json.dumps({"strategy_name": "Other", "params": {}}))
    cls = load_class(source(path))

    with pytest.raises(StrategyRefused) as refused:
        user_parameter_file(cls, source(path))

    assert refused.value.problems == [
        f"{WHERE}.file: good.json beside the strategy is a parameter file for 'Other', "
        "not 'Good': Freqtrade would refuse it"
    ]
