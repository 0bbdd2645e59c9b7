"""Load a bot's strategy class before any process starts, and refuse what must not run.

A strategy is named in bulkhead.yaml either by ``name`` (a bundled one, see
``strategies``) or by ``file`` (relative to the spec) and ``class``. Either way the file is
imported here, as Freqtrade itself would import it (its folder on ``sys.path`` while it
runs, the module named after the file), and the class is checked: a Freqtrade
``IStrategy`` that trades spot, long only, with a stop-loss, on the bot's timeframe. Each
refusal is one line naming the spec field to change.
"""

from __future__ import annotations

import importlib.util
import inspect
import json
import keyword
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType, TracebackType
from typing import Any

from bulkhead.config.loader import SpecError
from bulkhead.config.models import Bot
from bulkhead.errors import OperatorError
from bulkhead.freqtrade.strategies import registry

#: longest piece of a foreign message (an exception, a name) quoted in a refusal
QUOTED_LIMIT = 160
#: candle types of Freqtrade's futures markets (``CandleType``); spot is "spot" or unset
FUTURES_CANDLES = frozenset({"futures", "mark", "index", "premiumIndex", "funding_rate"})


class StrategyRefused(SpecError):
    """The bot's strategy must not run: stop, start nothing, show the operator the lines."""


class StrategyImportError(OperatorError, ImportError):
    """A strategy file did not import, or lacks the class (raised inside Freqtrade too)."""


@dataclass(frozen=True)
class StrategySource:
    """Where a bot's strategy class is defined, and how the spec names it."""

    file: Path
    class_name: str
    #: the spec's words for it: ``Name (bundled)``, or ``file:Class`` as written
    label: str
    #: the spec field a problem with the file or class is reported at
    where: str


def quoted(text: object, limit: int = QUOTED_LIMIT) -> str:
    """``text`` as one bounded line: control characters escaped, long text cut short."""
    line = "".join(c if c.isprintable() else repr(c)[1:-1] for c in str(text)[: limit + 1])
    return line if len(line) <= limit else line[: limit - 3] + "..."


def source_of(bot: Bot, spec_dir: Path, where: str) -> StrategySource:
    """The file and class the spec names for ``bot``; unknown bundled names are refused."""
    spec = bot.strategy
    file = getattr(spec, "file", None)
    if file is None:
        bundled = registry()
        found = bundled.get(spec.name or "")
        if found is None:
            raise StrategyRefused(
                [
                    f"{where}.name: unknown strategy {quoted(spec.name)!r} "
                    f"(allowed: {', '.join(sorted(bundled))}, or your own file: and class:)"
                ]
            )
        label = f"{found.class_name} (bundled)"
        return StrategySource(found.file, found.class_name, label, f"{where}.name")
    class_name = str(getattr(spec, "class_name", ""))
    return StrategySource(
        (spec_dir / str(file)).resolve(), class_name, f"{file}:{class_name}", f"{where}.file"
    )


@contextmanager
def _importable_beside(folder: Path) -> Iterator[None]:
    """The file's folder first on ``sys.path`` while it imports (Freqtrade's PathModifier),
    so a strategy that imports a helper module beside it works as under Freqtrade."""
    entry = str(folder)
    sys.path.insert(0, entry)
    try:
        yield
    finally:
        if entry in sys.path:
            sys.path.remove(entry)


def _failing_line(error: BaseException, file: Path) -> int | None:
    """The line of ``file`` where the import failed, if the failure was in it."""
    if isinstance(error, SyntaxError) and error.filename == str(file):
        return error.lineno
    line = None
    tb: TracebackType | None = error.__traceback__
    while tb is not None:
        if tb.tb_frame.f_code.co_filename == str(file):
            line = tb.tb_lineno
        tb = tb.tb_next
    return line


def import_module(file: Path) -> ModuleType:
    """Run the strategy file as Freqtrade does (module named after the file); a file that
    does not import raises ``StrategyImportError`` whose message is one line."""
    if not file.is_file():
        raise StrategyImportError(f"{file} not found")
    spec = importlib.util.spec_from_file_location(file.stem, file)
    if spec is None or spec.loader is None:
        raise StrategyImportError(f"{file} is not a Python file")
    module = importlib.util.module_from_spec(spec)
    try:
        with _importable_beside(file.parent):
            spec.loader.exec_module(module)
    except (Exception, SystemExit) as error:  # any failure of foreign code is a refusal
        line = _failing_line(error, file)
        at = f" (line {line})" if line else ""
        text = error.msg if isinstance(error, SyntaxError) else str(error)
        detail = text.splitlines()[0] if text else ""
        raise StrategyImportError(
            f"{file.name} does not import: {type(error).__name__}: {quoted(detail)}{at}"
        ) from error
    return module


def strategy_classes(module: ModuleType) -> list[str]:
    """Names of the Freqtrade strategies a module defines itself (not the ones it imports)."""
    from freqtrade.strategy import IStrategy

    return sorted(
        name
        for name, value in vars(module).items()
        if inspect.isclass(value)
        and issubclass(value, IStrategy)
        and value is not IStrategy
        and value.__module__ == module.__name__
    )


def import_class(file: Path | str, class_name: str) -> type[Any]:
    """The class ``class_name`` of the strategy file; ``StrategyImportError`` otherwise.

    Generated strategy modules call this inside Freqtrade, so the file is read afresh at
    every start and the user never edits it.
    """
    from freqtrade.strategy import IStrategy

    file = Path(file)
    module = import_module(file)
    found = vars(module).get(class_name)
    if found is None:
        there = strategy_classes(module)
        listed = f"strategies there: {', '.join(there)}" if there else "it defines no IStrategy"
        raise StrategyImportError(f"no class {quoted(class_name)!r} in {file.name} ({listed})")
    if not (inspect.isclass(found) and issubclass(found, IStrategy)):
        kind = type(found).__name__ if not inspect.isclass(found) else "class"
        raise StrategyImportError(
            f"{quoted(class_name)} in {file.name} is not a Freqtrade IStrategy (it is a {kind})"
        )
    return found


def load_class(source: StrategySource) -> type[Any]:
    """The strategy class, or ``StrategyRefused`` naming the spec field of the problem."""
    try:
        return import_class(source.file, source.class_name)
    except StrategyImportError as error:
        field = source.where
        if str(error).startswith("no class") or "is not a Freqtrade" in str(error):
            field = source.where.removesuffix(".file") + ".class"
        raise StrategyRefused([f"{field}: {error}"]) from None


def _overrides(cls: type[Any], method: str) -> bool:
    from freqtrade.strategy import IStrategy

    return getattr(cls, method, None) is not getattr(IStrategy, method, None)


def _futures_sign(cls: type[Any]) -> str | None:
    """Why ``cls`` is a futures strategy, or None when nothing says so."""
    if _overrides(cls, "leverage"):
        return "it sets leverage"
    for attribute in ("trading_mode", "margin_mode"):
        value = getattr(cls, attribute, None)
        if value not in (None, "", "spot"):
            return f"{attribute} = {quoted(value, 20)!r}"
    for name in dir(cls):
        for data in getattr(getattr(cls, name, None), "_ft_informative", None) or []:
            candle = str(getattr(data, "candle_type", "") or "")
            if candle in FUTURES_CANDLES:
                return f"its informative {name} reads {candle} candles"
    return None


def own_stoploss(cls: type[Any], user_params: dict[str, Any]) -> Any:
    """The stop-loss the strategy would run with under Freqtrade: its parameter file's,
    else its class attribute's (None when it declares none)."""
    from_file = user_params.get("stoploss", {})
    if isinstance(from_file, dict) and "stoploss" in from_file:
        return from_file["stoploss"]
    return getattr(cls, "stoploss", None)


def class_problems(
    cls: type[Any], timeframe: str, where: str, timeframe_field: str, params: dict[str, Any]
) -> list[str]:
    """Everything about the class that Bulkhead will not run, one line each: ``where`` is
    the spec's strategy field, ``timeframe`` the bot's (at ``timeframe_field``), ``params``
    the strategy's parameter file (its own stoploss may be there)."""
    name = quoted(cls.__name__, 60)
    problems = []
    if not cls.__name__.isidentifier() or keyword.iskeyword(cls.__name__):
        problems.append(f"{where}: the class calls itself {name!r}, not a Python class name")
    if inspect.isabstract(cls):
        missing = ", ".join(sorted(getattr(cls, "__abstractmethods__", ())))
        problems.append(f"{where}: {name} does not implement {missing}")
    if not (_overrides(cls, "populate_entry_trend") or _overrides(cls, "populate_buy_trend")):
        problems.append(f"{where}: {name} gives no entry signal (no populate_entry_trend)")
    if getattr(cls, "can_short", False):
        problems.append(
            f"{where}: {name} can short (can_short = True): Bulkhead bots trade spot, long only"
        )
    futures = _futures_sign(cls)
    if futures:
        problems.append(
            f"{where}: {name} is a futures strategy ({futures}): Bulkhead bots trade spot only"
        )
    stoploss = own_stoploss(cls, params)
    if not isinstance(stoploss, int | float) or isinstance(stoploss, bool):
        problems.append(
            f"{where}: {name} has no stop-loss (no stoploss attribute): "
            "Bulkhead runs only strategies written with one"
        )
    elif stoploss <= -1:
        problems.append(
            f"{where}: {name} has no stop-loss (stoploss = {stoploss}, a 100 % loss): "
            "Bulkhead runs only strategies written with one"
        )
    own = getattr(cls, "timeframe", None)
    if isinstance(own, str) and own != timeframe:
        problems.append(
            f"{timeframe_field}: {timeframe}, but {name} trades {quoted(own, 8)} "
            f"candles: set timeframe: {quoted(own, 8)} for this bot"
        )
    return problems


def checked_class(
    file: Path | str, class_name: str, timeframe: str, params_file: Path | str
) -> type[Any]:
    """``import_class`` and the checks Bulkhead made before the start, made again: the
    generated module calls this inside Freqtrade, so a strategy file edited since (and
    imported afresh at a restart) is refused by Freqtrade's loader, never run unchecked."""
    cls = import_class(file, class_name)
    try:
        params = json.loads(Path(params_file).read_text()).get("params", {})
    except (OSError, ValueError, AttributeError):
        params = {}
    problems = class_problems(cls, timeframe, "strategy", "timeframe", params)
    if problems:
        raise StrategyImportError(
            f"{Path(file).name} changed since Bulkhead checked it: {'; '.join(problems)}"
        )
    return cls
