"""The CLI catches the error tree once: one line on stderr, the group's exit code; a bug
keeps its traceback."""

from __future__ import annotations

import pytest
import typer
from typer.testing import CliRunner

from bulkhead.cli.main import build_app
from bulkhead.config.problems import SpecError
from bulkhead.config.secrets import SecretResolutionError
from bulkhead.errors import BulkheadError, Denied, OperatorError, TemporaryError
from bulkhead.fleet.compose import ComposeRefused
from bulkhead.fleet.lease import LeaseHeld
from bulkhead.freqtrade.loading import StrategyImportError, StrategyRefused
from bulkhead.memory.restore import ImportRefused
from bulkhead.memory.server import MemoryUnavailable
from bulkhead.sim.engine import TwinConfigError


def app_raising(error: BaseException) -> typer.Typer:
    app = build_app()

    @app.command("raise-it")
    def raise_it() -> None:
        raise error

    return app


@pytest.mark.parametrize(
    ("error", "code"),
    [
        (OperatorError("the key may withdraw"), 2),
        (SecretResolutionError("env KEY is missing or empty"), 2),
        (TemporaryError("Redis is not up"), 75),
        (Denied("budget fully committed"), 77),
        (LeaseHeld("bot1 already runs"), 4),
    ],
)
def test_an_error_of_the_tree_prints_one_line_and_exits_with_its_groups_code(
    error: BulkheadError, code: int
):
    result = CliRunner().invoke(app_raising(error), ["raise-it"])
    assert result.exit_code == code
    assert result.stderr == f"error: {error}\n"
    assert "Traceback" not in result.output


def test_a_spec_error_prints_one_line_per_problem():
    result = CliRunner().invoke(
        app_raising(SpecError(["bots.0.name: a", "bots.1.pairs: b"])), ["raise-it"]
    )
    assert result.exit_code == 2
    assert result.stderr.splitlines() == ["error: bots.0.name: a", "error: bots.1.pairs: b"]


def test_a_programming_bug_is_not_caught_and_keeps_its_traceback():
    result = CliRunner().invoke(app_raising(ValueError("a bug")), ["raise-it"])
    assert isinstance(result.exception, ValueError)
    assert "error: a bug" not in result.output


@pytest.mark.parametrize(
    ("cls", "group", "builtin"),
    [
        (SpecError, OperatorError, ValueError),
        (StrategyRefused, OperatorError, ValueError),
        (StrategyImportError, OperatorError, ImportError),
        (SecretResolutionError, OperatorError, ValueError),
        (TwinConfigError, OperatorError, ValueError),
        (ComposeRefused, OperatorError, ValueError),
        (ImportRefused, OperatorError, ValueError),
        (LeaseHeld, OperatorError, RuntimeError),
        (MemoryUnavailable, TemporaryError, RuntimeError),
    ],
)
def test_existing_errors_join_the_tree_and_keep_their_old_base(
    cls: type[Exception], group: type[BulkheadError], builtin: type[Exception]
):
    assert issubclass(cls, group)
    assert issubclass(cls, builtin)
