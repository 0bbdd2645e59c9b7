"""Building a twin from a scenario (what the operator got wrong is a TwinConfigError), and
the books the demo shows of it."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest

from bulkhead.errors import OperatorError
from bulkhead.sim.engine import TwinConfigError
from bulkhead.sim.server import prepare
from bulkhead.sim.tour import books

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


def test_the_books_show_non_zero_balances_orders_and_refused_moves(tmp_path: Path):
    scenario = tmp_path / "sim.yaml"
    scenario.write_text(
        "master: {name: master, balances: {main: {USDT: 100, BTC: 0}}}\n"
        "subaccounts: [{name: bot1, balances: {trade: {USDT: 5}}}]\n"
    )
    seen = books(prepare(scenario).twin)
    assert seen.balances == [
        ("master", [("main", "USDT", Decimal(100))]),
        ("bot1", [("trade", "USDT", Decimal(5))]),
    ]
    assert (seen.orders, seen.master_orders, seen.fills, seen.refused_moves) == (0, 0, 0, 0)
