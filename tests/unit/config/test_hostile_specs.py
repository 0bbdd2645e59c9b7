"""Hostile specs, generated: whatever the file holds, it loads or is refused in lines.

Property: for mutations of the example spec (keys dropped, replaced, duplicated; values
swapped for random scalars, lists, maps, huge numbers, unicode; anchors, aliases and
alias bombs; deep nesting; text cut and spliced), random YAML documents and random
bytes, the loader either returns a ``Fleet`` or raises ``SpecError`` whose lines are each
one bounded line holding no planted secret, within a time and memory bound.

Runs derandomized (the same examples every run) so CI is stable; the examples still
cover each mutation many times over.
"""

from __future__ import annotations

import copy
import tempfile
import time
import tracemalloc
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from bulkhead.cli.main import build_app
from bulkhead.config.loader import SpecError, parse_spec_bytes
from bulkhead.config.models import Fleet

EXAMPLE = Path(__file__).resolve().parents[3] / "examples" / "bulkhead.yaml"
EXAMPLE_DOCUMENT: dict[str, Any] = yaml.safe_load(EXAMPLE.read_text())
#: planted in credential fields only; lower case and dashes, so never a valid env name
SECRET = "planted-secret-4c1d"
#: generous: a refusal takes milliseconds; a bomb that got through would take minutes
TIME_BOUND_S = 5.0
#: generous too: a bomb that got through would take gigabytes
MEMORY_BOUND = 64 * 1024 * 1024
LINE_BOUND = 400
#: the example bot's credentials, so that a spec that loads renders all the way
CREDENTIAL_ENV = {
    "BOT1_KUCOIN_API_KEY": "key-0123abcd",
    "BOT1_KUCOIN_API_SECRET": "secret-0123abcd",
    "BOT1_KUCOIN_API_PASSPHRASE": "passphrase-0123",
}

HOSTILE = settings(
    max_examples=150,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

# -- values -------------------------------------------------------------------------------

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.integers(min_value=-(10**80), max_value=10**80),
    st.floats(allow_nan=True, allow_infinity=True),
    st.decimals(allow_nan=False, allow_infinity=False).map(str),
    st.text(max_size=30),
    st.text(alphabet=st.characters(codec="utf-8"), max_size=200),
    st.sampled_from(
        [
            "kucoin",
            "http://127.0.0.1:8899",
            "http://10.0.0.1:8899",
            "live",
            "dry_run",
            "XRP/USDT",
            "USDT/USDT",
            "TwinScalper",
            "BOT1_KUCOIN_API_KEY",
            "0.0001",
            "1e999",
            "-0",
            "\u202eevil",
            "a\nb",
            "\x1b[31m",
            "",
        ]
    ),
)
values = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)


def alias_bomb(levels: int, width: int) -> list[Any]:
    """Lists of the same list, which YAML dumps as anchors and aliases (billion laughs)."""
    bomb: list[Any] = ["lol"] * width
    for _ in range(levels):
        bomb = [bomb] * width
    return bomb


def nested(value: Any, depth: int, as_map: bool) -> Any:
    for _ in range(depth):
        value = {"n": value} if as_map else [value]
    return value


# -- structural mutations -----------------------------------------------------------------


def paths(document: Any, limit: int = 400) -> list[tuple[Any, ...]]:
    """Paths to the document's values, each shared or cyclic container walked once."""
    found: list[tuple[Any, ...]] = []
    seen: set[int] = set()
    stack: list[tuple[Any, tuple[Any, ...]]] = [(document, ())]
    while stack and len(found) < limit:
        node, prefix = stack.pop()
        found.append(prefix)
        if not isinstance(node, dict | list) or id(node) in seen:
            continue
        seen.add(id(node))
        items = node.items() if isinstance(node, dict) else enumerate(node)
        stack.extend((child, (*prefix, key)) for key, child in items)
    return found


def parent_of(document: Any, path: tuple[Any, ...]) -> Any:
    node = document
    for part in path[:-1]:
        node = node[part]
    return node


@st.composite
def mutated_document(draw: st.DrawFn) -> Any:
    document: Any = copy.deepcopy(EXAMPLE_DOCUMENT)
    for _ in range(draw(st.integers(min_value=1, max_value=4))):
        targets = paths(document)
        path = draw(st.sampled_from(targets))
        operation = draw(
            st.sampled_from(["drop", "replace", "duplicate", "rename", "nest", "bomb", "share"])
        )
        if not path:
            if operation == "replace":
                document = draw(values)
            elif operation == "nest":
                document = nested(document, draw(st.integers(1, 60)), draw(st.booleans()))
            continue
        parent, key = parent_of(document, path), path[-1]
        if operation == "drop":
            del parent[key]
        elif operation == "replace":
            parent[key] = draw(values)
        elif operation == "duplicate":
            if isinstance(parent, list):
                parent.insert(key, copy.deepcopy(parent[key]))
            else:
                parent[f"{key}_copy"] = copy.deepcopy(parent[key])
        elif operation == "rename" and isinstance(parent, dict):
            parent[draw(st.text(max_size=12))] = parent.pop(key)
        elif operation == "nest":
            parent[key] = nested(parent[key], draw(st.integers(1, 60)), draw(st.booleans()))
        elif operation == "bomb":
            parent[key] = alias_bomb(draw(st.integers(1, 9)), draw(st.integers(2, 12)))
        elif operation == "share":
            # the same object twice: YAML writes an anchor and an alias
            other = draw(st.sampled_from(targets))
            source = parent_of(document, other)[other[-1]] if other else document
            if source is not parent and isinstance(source, dict | list):
                parent[key] = source
    return document


def plant_secrets(document: Any, shape: int) -> None:
    """Put ``SECRET`` in credential fields, in the shapes a careless user would."""
    try:
        credentials = document["bots"][0]["credentials"]
        memory = document.setdefault("memory", {})
    except (KeyError, IndexError, TypeError, AttributeError):
        return
    if not isinstance(credentials, dict) or not isinstance(memory, dict):
        return
    credentials["secret"] = [
        {"env": SECRET},
        {"file": SECRET},
        SECRET,
        {SECRET: None},
        {"env": "BOT1_KUCOIN_API_SECRET", "extra": SECRET},
        [SECRET],
    ][shape % 6]
    if shape % 2:
        memory["admin_password"] = {"env": SECRET}


SNIPPETS = [
    "&a [*a]",
    "*undefined",
    "!!python/object/apply:os.system [echo]",
    "{<<: *b}",
    "? [1]\n  : 2",
    "2024-13-45",
    "1" * 200,
    "1:0:0:0:0:0:0:0:0:0:0:0:0:0:0:0:0:0:0:0:0:0:0:0",
    "\t",
    "'unterminated",
    "- - - - - - - - - - - - - - - - - - - - - - - - - - - - - - - - - - x",
    "[" * 40,
    "!!binary zz",
    "!!set {a, b}",
    "--- second document",
    "version: 1",
]


@st.composite
def spliced_text(draw: st.DrawFn, text: str) -> str:
    """Text-level damage: a snippet spliced in, a line duplicated, the text cut short."""
    lines = text.splitlines()
    for _ in range(draw(st.integers(min_value=0, max_value=3))):
        if not lines:
            break
        at = draw(st.integers(min_value=0, max_value=len(lines) - 1))
        operation = draw(st.sampled_from(["snippet", "duplicate line", "cut", "insert text"]))
        if operation == "snippet":
            lines[at] = lines[at] + " " + draw(st.sampled_from(SNIPPETS))
        elif operation == "duplicate line":
            lines.insert(at, lines[at])
        elif operation == "cut":
            lines = lines[:at]
        else:
            lines.insert(at, draw(st.text(max_size=40)))
    return "\n".join(lines) + "\n"


@st.composite
def mutated_specs(draw: st.DrawFn) -> bytes:
    document = draw(mutated_document())
    if draw(st.booleans()):
        plant_secrets(document, draw(st.integers(min_value=0, max_value=11)))
    text = yaml.safe_dump(document, allow_unicode=draw(st.booleans()), sort_keys=False, width=10**6)
    return draw(spliced_text(text)).encode("utf-8", "surrogatepass")


# -- the property -------------------------------------------------------------------------


def loads_or_refuses_in_lines(data: bytes) -> Fleet | list[str]:
    """Load ``data``, holding the outcome to the bounds; the Fleet or the refusal's lines."""
    tracemalloc.start()
    started = time.perf_counter()
    try:
        try:
            outcome: Fleet | list[str] = parse_spec_bytes(data)
        except SpecError as error:
            outcome = error.problems
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    elapsed = time.perf_counter() - started
    assert elapsed < TIME_BOUND_S, f"took {elapsed:.1f} s"
    assert peak < MEMORY_BOUND, f"peaked at {peak:,} bytes"
    if isinstance(outcome, list):
        assert outcome, "a refusal says why"
        for line in outcome:
            assert line
            assert "\n" not in line, repr(line)
            assert "\r" not in line, repr(line)
            assert len(line) <= LINE_BOUND, line
            assert SECRET not in line, line
    return outcome


@settings(HOSTILE, max_examples=1_000)
@given(mutated_specs())
def test_a_mutated_example_spec_loads_or_is_refused_in_bounded_lines(data: bytes):
    loads_or_refuses_in_lines(data)


@settings(HOSTILE, max_examples=10)
@given(st.data())
def test_the_unmutated_example_always_loads_even_with_harmless_aliases(data: st.DataObject):
    document = copy.deepcopy(EXAMPLE_DOCUMENT)
    bot = document["bots"][0]
    # The same protection map for two protections: dumped as an anchor and an alias.
    shared = {"enabled": data.draw(st.booleans()), "stop_duration_candles": 2}
    bot["protections"]["cooldown_period"] = shared
    bot["strategy"]["params"] = {"a": shared, "b": shared}
    outcome = loads_or_refuses_in_lines(yaml.safe_dump(document).encode())
    assert isinstance(outcome, Fleet)


@settings(HOSTILE, max_examples=300)
@given(values)
def test_a_random_yaml_document_loads_or_is_refused_in_bounded_lines(document: Any):
    data = yaml.safe_dump(document, allow_unicode=True).encode("utf-8", "surrogatepass")
    loads_or_refuses_in_lines(data)


@settings(HOSTILE, max_examples=300)
@given(st.fixed_dictionaries({"version": scalars, "bots": st.lists(values, max_size=3)}))
def test_a_random_fleet_shaped_document_loads_or_is_refused_in_bounded_lines(
    document: dict[str, Any],
):
    data = yaml.safe_dump(document, allow_unicode=True).encode("utf-8", "surrogatepass")
    loads_or_refuses_in_lines(data)


@settings(HOSTILE, max_examples=1_000)
@given(st.text(alphabet="[]{}:,-&*!|>'\"#%@`?<=\n\t abc019._/\\", max_size=300))
def test_random_yaml_syntax_loads_or_is_refused_in_bounded_lines(text: str):
    loads_or_refuses_in_lines(text.encode())


@settings(HOSTILE, max_examples=1_000)
@given(st.binary(max_size=2_000))
def test_random_bytes_load_or_are_refused_in_bounded_lines(data: bytes):
    loads_or_refuses_in_lines(data)


@settings(HOSTILE, max_examples=300)
@given(st.text(max_size=500))
def test_random_unicode_text_loads_or_is_refused_in_bounded_lines(text: str):
    loads_or_refuses_in_lines(text.encode("utf-8"))


# -- the same, through the command line ---------------------------------------------------


@pytest.fixture(scope="module")
def warm_cli() -> None:
    """Render the example once, so the bounds below measure rendering, not first imports."""
    with tempfile.TemporaryDirectory() as directory:
        spec = Path(directory) / "bulkhead.yaml"
        spec.write_bytes(EXAMPLE.read_bytes())
        result = CliRunner().invoke(
            build_app(), ["render", "bot1", "--spec", str(spec)], env=CREDENTIAL_ENV
        )
        assert result.exit_code == 0, result.output


@pytest.mark.usefixtures("warm_cli")
@settings(HOSTILE, max_examples=150)
@given(st.one_of(mutated_specs(), st.binary(max_size=500)))
def test_bulkhead_render_exits_0_or_2_with_one_line_errors_for_a_hostile_spec(data: bytes):
    with tempfile.TemporaryDirectory() as directory:
        spec = Path(directory) / "bulkhead.yaml"
        spec.write_bytes(data)
        started = time.perf_counter()
        tracemalloc.start()
        try:
            result = CliRunner().invoke(
                build_app(), ["render", "bot1", "--spec", str(spec)], env=CREDENTIAL_ENV
            )
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
        assert time.perf_counter() - started < TIME_BOUND_S
        assert peak < MEMORY_BOUND, f"peaked at {peak:,} bytes"
        assert result.exception is None or isinstance(result.exception, SystemExit), (
            result.exception
        )
        assert result.exit_code in (0, 2), result.output
        assert "Traceback" not in result.output
        assert SECRET not in result.output
        bot_dir = Path(directory) / ".bulkhead" / "bots" / "bot1"
        if result.exit_code == 2:
            for line in result.output.splitlines():
                assert line.startswith("error: "), result.output
                assert len(line) <= LINE_BOUND + len(str(spec)) + 20, line
        else:
            config = bot_dir / "config.json"
            assert config.stat().st_size < 16 * 1024 * 1024
        if bot_dir.exists():
            assert not [path for path in bot_dir.iterdir() if path.suffix == ".tmp"]
