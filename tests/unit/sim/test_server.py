"""Building a twin from a scenario: what the operator got wrong is a TwinConfigError."""

from __future__ import annotations

from pathlib import Path

import pytest

from bulkhead.errors import OperatorError
from bulkhead.sim.engine import TwinConfigError
from bulkhead.sim.server import prepare

SCENARIO = """\
master: {{name: master, balances: {{main: {{USDT: 100}}}}}}
symbols:
  - symbol: XRP-USDT
    source: {{kind: replay, path: {path}}}
"""


def test_a_scenario_naming_a_missing_price_file_is_an_operator_error(tmp_path: Path):
    scenario = tmp_path / "sim.yaml"
    scenario.write_text(SCENARIO.format(path="missing.feather"))
    with pytest.raises(TwinConfigError, match="price data file does not exist") as caught:
        prepare(scenario)
    assert isinstance(caught.value, OperatorError)
    assert str(scenario) in str(caught.value)


def test_a_refusal_of_the_twin_itself_keeps_its_own_message(tmp_path: Path):
    scenario = tmp_path / "sim.yaml"
    scenario.write_text("master: {name: m}\nsubaccounts: [{name: m}]\n")
    with pytest.raises(TwinConfigError) as caught:
        prepare(scenario)
    assert str(caught.value) == "user name 'm' is empty or taken"
