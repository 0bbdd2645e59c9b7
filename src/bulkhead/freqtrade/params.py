"""``strategy.params``: set a strategy's declared parameters, as Freqtrade's own files do.

Freqtrade reads a strategy's parameters from ``<strategy file>.json`` beside the file
(``{"strategy_name": <class>, "params": {<space>: {<name>: value}}}``, the file hyperopt
writes; see ``freqtrade/strategy/hyper.py``). Bulkhead writes that file for the bot's
generated strategy module, from two sources, the later winning:

1. the user's own ``<file>.json`` beside their strategy (their hyperopt results), if any;
2. ``strategy.params`` in bulkhead.yaml, by name: a declared ``IntParameter``,
   ``DecimalParameter``, ``RealParameter``, ``CategoricalParameter`` or
   ``BooleanParameter``, or one of Freqtrade's special spaces: ``minimal_roi`` (the ``roi``
   space) and ``trailing_stop``, ``trailing_stop_positive``,
   ``trailing_stop_positive_offset``, ``trailing_only_offset_is_reached`` (``trailing``).

``stoploss``, ``max_open_trades`` and ``timeframe`` are the bot's own spec fields (its
rendered config sets them, and Freqtrade's config outranks a parameter file), so a param of
that name is refused with the field to use. So is an unknown name (with the declared ones),
a value outside its parameter's range, and a parameter declared with ``load=False``.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from bulkhead.freqtrade.loading import StrategyRefused, StrategySource, quoted
from bulkhead.plumbing import write_private

#: special names -> the space of Freqtrade's parameter file they belong to
SPECIAL: dict[str, str] = {
    "minimal_roi": "roi",
    "trailing_stop": "trailing",
    "trailing_stop_positive": "trailing",
    "trailing_stop_positive_offset": "trailing",
    "trailing_only_offset_is_reached": "trailing",
}
#: names the spec sets as bot fields instead -> the field
SPEC_FIELDS: dict[str, str] = {
    "stoploss": "stoploss",
    "max_open_trades": "max_open_trades",
    "timeframe": "timeframe",
}
#: version of Freqtrade's parameter file format written here
FILE_VERSION = 1


def declared(cls: type[Any]) -> dict[str, Any]:
    """The strategy's declared parameters by name (Freqtrade's own detection, spaces set)."""
    from freqtrade.strategy.hyper import detect_all_parameters

    found: dict[str, Any] = {}
    for space in detect_all_parameters(cls).values():
        found.update(space)
    return found


def user_parameter_file(cls: type[Any], source: StrategySource) -> dict[str, Any]:
    """The ``params`` of the user's own ``<file>.json`` beside their strategy; {} if none.

    Freqtrade refuses a file naming another strategy, and so does Bulkhead.
    """
    path = source.file.with_suffix(".json")
    if not path.is_file():
        return {}
    try:
        document = json.loads(path.read_text())
    except (OSError, ValueError) as error:
        raise StrategyRefused(
            [f"{source.where}: {path.name} beside the strategy is not JSON ({quoted(error)})"]
        ) from None
    if not isinstance(document, dict) or document.get("strategy_name") != cls.__name__:
        named = document.get("strategy_name") if isinstance(document, dict) else None
        raise StrategyRefused(
            [
                f"{source.where}: {path.name} beside the strategy is a parameter file for "
                f"{_shown(named)}, not {cls.__name__!r}: Freqtrade would refuse it"
            ]
        )
    params = document.get("params", {})
    return dict(params) if isinstance(params, dict) else {}


def _shown(value: Any) -> str:
    """A value as the operator wrote it (strings quoted), bounded to one short line."""
    return quoted(repr(value), 40)


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _parameter_problem(parameter: Any, value: Any) -> str | None:
    """Why ``value`` is not a value of ``parameter``, or None when it is."""
    from freqtrade.strategy import (
        CategoricalParameter,
        DecimalParameter,
        IntParameter,
        RealParameter,
    )

    if not parameter.load:
        return "declared with load=False: Freqtrade would ignore it"
    if isinstance(parameter, IntParameter):
        if not isinstance(value, int) or isinstance(value, bool):
            return f"{_shown(value)} is not a whole number"
        if not parameter.low <= value <= parameter.high:
            return f"{value} is outside its range {parameter.low}..{parameter.high}"
        return None
    if isinstance(parameter, RealParameter | DecimalParameter):
        if not _number(value):
            return f"{_shown(value)} is not a number"
        if not parameter.low <= value <= parameter.high:
            return f"{value} is outside its range {parameter.low}..{parameter.high}"
        return None
    if isinstance(parameter, CategoricalParameter):
        options = list(parameter.opt_range)
        if not any(type(o) is type(value) and o == value for o in options):
            allowed = ", ".join(quoted(repr(o), 30) for o in options)
            return f"{_shown(value)} is not one of {allowed}"
        return None
    return f"a {type(parameter).__name__}, which Bulkhead cannot set"  # pragma: no cover


def _special_problem(name: str, value: Any) -> str | None:
    if name == "minimal_roi":
        if not isinstance(value, dict) or not value:
            return "a map of minutes to profit ratios, e.g. {0: 0.04, 30: 0.02}"
        for minutes, ratio in value.items():
            if not str(minutes).isdigit():
                return f"{_shown(minutes)} is not a number of minutes (0 or more)"
            if not _number(ratio):
                return f"{_shown(ratio)} at minute {minutes} is not a profit ratio"
        return None
    if name in ("trailing_stop", "trailing_only_offset_is_reached"):
        return None if isinstance(value, bool) else f"{_shown(value)} is not true or false"
    if name == "trailing_stop_positive":
        if value is None or (_number(value) and 0 < value < 1):
            return None
        return f"{_shown(value)} is not a ratio above 0 and below 1 (or null)"
    if _number(value) and 0 <= value < 1:  # trailing_stop_positive_offset
        return None
    return f"{_shown(value)} is not a ratio from 0 to below 1"


def _special_value(name: str, value: Any) -> Any:
    if name == "minimal_roi":
        return {str(int(str(minutes))): ratio for minutes, ratio in value.items()}
    return value


def parameter_values(
    cls: type[Any],
    values: Mapping[str, Any],
    base: Mapping[str, Any],
    where: str,
    index: int,
) -> dict[str, Any]:
    """The ``params`` of the bot's parameter file: ``base`` (the user's own file) with the
    spec's ``values`` set over it, each checked against its declaration."""
    parameters = declared(cls)
    params: dict[str, Any] = {
        space: dict(entries) if isinstance(entries, dict) else entries
        for space, entries in base.items()
    }
    problems = []
    for name, value in values.items():
        at = f"{where}.params.{quoted(name, 60)}"
        if name in SPEC_FIELDS:
            problems.append(
                f"{at}: set bots.{index}.{SPEC_FIELDS[name]} instead (the bot's own field, "
                "which Freqtrade's config applies over any parameter)"
            )
        elif name in SPECIAL:
            problem = _special_problem(name, value)
            if problem:
                problems.append(f"{at}: {problem}")
            elif SPECIAL[name] == "roi":
                params["roi"] = _special_value(name, value)
            else:
                params.setdefault(SPECIAL[name], {})[name] = value
        elif name in parameters:
            parameter = parameters[name]
            problem = _parameter_problem(parameter, value)
            if problem:
                problems.append(f"{at}: {problem}")
            else:
                params.setdefault(parameter.space, {})[name] = value
        else:
            known = ", ".join(sorted(parameters)) or "none"
            problems.append(
                f"{at}: {cls.__name__} declares no such parameter (declared: {known}; "
                f"also {', '.join(SPECIAL)})"
            )
    if problems:
        raise StrategyRefused(problems)
    return params


def parameter_file(class_name: str, params: Mapping[str, Any]) -> dict[str, Any]:
    """Freqtrade's parameter file document for the generated class ``class_name``."""
    return {"strategy_name": class_name, "params": dict(params), "ft_stratparam_v": FILE_VERSION}


def write_parameter_file(path: Path, document: Mapping[str, Any]) -> None:
    """Replaced atomically: Freqtrade never reads half a file. No secret: 0644."""
    write_private(path, json.dumps(document, indent=2, sort_keys=True) + "\n", 0o644)
