"""How a spec problem is told: one bounded line naming the field, never a credential.

Every line the loader shows is built here, so three rules hold in one place:

- a value is shown in at most ``SHOWN_LIMIT`` characters, and the text is built lazily,
  so a hostile document (huge, or a web of aliases that expands to gigabytes when
  printed) costs no more to describe than a small one;
- nothing found under a credential field is shown, and unknown keys beneath one are
  masked: a secret typed where a reference belongs must not reach a terminal or a log;
- a line is one line: newlines and control characters in keys and values are escaped.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from decimal import Decimal

from pydantic_core import ErrorDetails

from bulkhead.errors import OperatorError

#: most characters of a bad value quoted in an error line
SHOWN_LIMIT = 60
#: most characters of one error line (a pydantic message never needs more)
LINE_LIMIT = 400
#: keys whose values are, or may hold, secrets: never shown, wherever they appear
SENSITIVE_KEYS = frozenset(
    {"credentials", "api_key", "secret", "passphrase", "password", "admin_password", "redis_url"}
)
#: the keys a credential subtree may hold; any other key there is masked in a path
CREDENTIAL_NAMES = frozenset({"api_key", "secret", "passphrase", "env", "file"})
HIDDEN = "<hidden>"
HIDDEN_KEY = "<hidden key>"

Location = tuple[str | int, ...]

_PLAIN_KEY = re.compile(r"[A-Za-z0-9_-]{1,40}")
#: deepest a shown value is walked: past it, "..." (a Python caller may pass a cycle)
_SHOWN_DEPTH = 8


class SpecError(OperatorError, ValueError):
    """bulkhead.yaml is unusable: stop, start nothing, and show the operator the lines.

    (Still a ``ValueError`` for callers written before the error tree.)
    """

    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems

    def lines(self) -> list[str]:
        return list(self.problems)


class FieldProblem(ValueError):
    """A refusal from a check across fields, carrying the path of each field to change.

    pydantic locates a model validator's error at the model itself; the paths here are
    relative to that model, so the line names what the operator must edit. Messages are
    built by Bulkhead's own checks, with values already bounded by ``shown``.
    """

    def __init__(self, *problems: tuple[Location, str]) -> None:
        super().__init__("; ".join(message for _, message in problems))
        self.problems = problems


def shown(value: object, limit: int = SHOWN_LIMIT) -> str:
    """``repr(value)`` cut at ``limit`` characters, at a cost bounded by ``limit`` too.

    Values of credential keys inside mappings are replaced by ``<hidden>``.
    """
    pieces: list[str] = []
    length = 0
    for piece in _tokens(value, 0, limit):
        pieces.append(piece)
        length += len(piece)
        if length > limit:
            break
    text = "".join(pieces)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _tokens(value: object, depth: int, limit: int) -> Iterator[str]:
    if depth > _SHOWN_DEPTH:
        yield "..."
    elif isinstance(value, Mapping):
        yield "{"
        for index, (key, item) in enumerate(value.items()):
            if index:
                yield ", "
            yield from _tokens(key, depth + 1, limit)
            yield ": "
            if _is_sensitive_key(key):
                yield HIDDEN
            else:
                yield from _tokens(item, depth + 1, limit)
        yield "}"
    elif isinstance(value, list | tuple | set | frozenset):
        brackets = {list: "[]", tuple: "()"}.get(type(value), "{}")
        yield brackets[0]
        for index, item in enumerate(value):
            if index:
                yield ", "
            yield from _tokens(item, depth + 1, limit)
        yield brackets[1]
    elif isinstance(value, str | bytes):
        yield repr(value[: limit + 1])
    elif value is None or isinstance(value, bool | int | float | Decimal):
        yield _scalar_repr(value)
    else:
        yield f"<{type(value).__name__}>"


def _scalar_repr(value: object) -> str:
    try:
        return repr(value)
    except ValueError:  # an int past Python's digit limit for str()
        return f"<{type(value).__name__}>"


def _is_sensitive_key(key: object) -> bool:
    return isinstance(key, str) and key.strip().casefold() in SENSITIVE_KEYS


def is_sensitive(location: Location) -> bool:
    """True when the location is a credential field or lies beneath one."""
    return any(_is_sensitive_key(part) for part in location)


def format_location(location: Location) -> str:
    """``bots.0.budget.amount``; odd keys are quoted, keys under a credential masked."""
    parts: list[str] = []
    beneath_credential = False
    for part in location:
        if isinstance(part, int):
            parts.append(str(part))
            continue
        if beneath_credential and part not in CREDENTIAL_NAMES:
            parts.append(HIDDEN_KEY)
        elif _PLAIN_KEY.fullmatch(part):
            parts.append(part)
        else:
            parts.append(shown(part, 40))
        beneath_credential = beneath_credential or _is_sensitive_key(part)
    return ".".join(parts) or "(top level)"


def one_line(text: str, limit: int = LINE_LIMIT) -> str:
    """Unprintable characters escaped (newlines, terminal escapes, bidi overrides), so a
    line stays one honest line, and the text cut at ``limit``."""
    flat = "".join(char if char.isprintable() else repr(char)[1:-1] for char in text[: limit + 1])
    return flat if len(flat) <= limit else flat[: limit - 3] + "..."


def describe(error: ErrorDetails) -> list[str]:
    """One line per problem in a pydantic error: path, message, the bad value if safe."""
    location: Location = tuple(error["loc"])
    cause = (error.get("ctx") or {}).get("error")
    if isinstance(cause, FieldProblem):
        return [
            one_line(f"{format_location(location + field)}: {message}")
            for field, message in cause.problems
        ]
    message = error["msg"].removeprefix("Value error, ")
    line = f"{format_location(location)}: {message}"
    if error["type"] != "missing" and not is_sensitive(location):
        line += f" (got {shown(error.get('input'))})"
    return [one_line(line)]


def described(errors: list[ErrorDetails], limit: int = 50) -> list[str]:
    """Every error's lines, at most ``limit`` of them and then a count of the rest."""
    lines = [line for error in errors for line in describe(error)]
    if len(lines) > limit:
        rest = len(lines) - limit
        lines = [*lines[:limit], f"... and {rest} more problem(s) not shown"]
    return lines
