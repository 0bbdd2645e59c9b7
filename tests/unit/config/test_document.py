"""Reading a spec is bounded: size, nesting, alias expansion, odd scalars, bad bytes.

Each case here escaped plain ``yaml.safe_load`` as a traceback, a hang or a memory blow-up;
now each is one line, refused in bounded time and memory.
"""

from __future__ import annotations

import time
import tracemalloc
from pathlib import Path

import pytest

from bulkhead.config import document
from bulkhead.config.document import (
    LOADERS,
    MAX_BYTES,
    MAX_DEPTH,
    MAX_NODES,
    load_document,
    read_spec_bytes,
)
from bulkhead.config.loader import SpecError, load_fleet, parse_spec_bytes

EXAMPLE = Path(__file__).resolve().parents[3] / "examples" / "bulkhead.yaml"
#: a working budget for refusing anything: far below what an expansion would need
MEMORY_BOUND = 32 * 1024 * 1024


@pytest.fixture(autouse=True, params=LOADERS, ids=lambda loader: loader.__name__)
def loader(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> type:
    """Every case runs on each parser this install has: libyaml's and PyYAML's own."""
    monkeypatch.setattr(document, "LOADERS", (request.param,))
    chosen: type = request.param
    return chosen


def laughs(levels: int, width: int = 10) -> str:
    """The billion-laughs shape: each anchor a list of ``width`` aliases of the one before."""
    lines = [f"l0: &l0 [{', '.join(['lol'] * width)}]"]
    for level in range(1, levels):
        lines.append(f"l{level}: &l{level} [{', '.join([f'*l{level - 1}'] * width)}]")
    return "\n".join(lines) + "\n"


def refusal(data: bytes) -> list[str]:
    with pytest.raises(SpecError) as caught:
        parse_spec_bytes(data)
    return caught.value.problems


def refused_cheaply(data: bytes) -> list[str]:
    """The refusal's lines, asserting it took under 5 s and ``MEMORY_BOUND`` of memory."""
    tracemalloc.start()
    started = time.perf_counter()
    try:
        problems = refusal(data)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert time.perf_counter() - started < 5
    assert peak < MEMORY_BOUND, f"peak {peak:,} bytes"
    for line in problems:
        assert "\n" not in line
        assert len(line) <= 400
    return problems


def test_the_example_spec_loads():
    assert load_fleet(EXAMPLE).bots[0].name == "bot1"


def test_a_file_larger_than_the_limit_is_refused_unread(tmp_path: Path):
    spec = tmp_path / "bulkhead.yaml"
    spec.write_bytes(b"# padding\n" * (MAX_BYTES // 10 + 1))
    with pytest.raises(SpecError, match="larger than 256 KiB"):
        read_spec_bytes(spec)


def test_a_device_that_never_ends_is_read_only_up_to_the_limit():
    with pytest.raises(SpecError, match="larger than"):
        read_spec_bytes(Path("/dev/zero"))


def test_a_missing_file_is_one_line_naming_the_reason(tmp_path: Path):
    with pytest.raises(SpecError, match=r"cannot read \(No such file or directory\)"):
        load_fleet(tmp_path / "absent.yaml")


def test_aliases_in_strategy_params_that_expand_past_the_budget_are_refused():
    # Each anchor stays within the budget (l3 is 11,111 values); ten of them do not.
    text = laughs(4) + EXAMPLE.read_text().replace(
        "strategy: {name: TwinScalper, params: {}}",
        f"strategy: {{name: TwinScalper, params: {{bomb: [{', '.join(['*l3'] * 10)}]}}}}",
    )
    line = text.splitlines().index(next(row for row in text.splitlines() if "bomb:" in row))
    problems = refused_cheaply(text.encode())
    assert len(problems) == 1
    assert problems[0].startswith(f"aliases expand the value at line {line + 1}, column ")
    assert f"to more than {MAX_NODES:,} values, the most a spec may hold" in problems[0]


def test_an_alias_bomb_at_top_level_is_refused_before_any_message_expands_it():
    problems = refused_cheaply(laughs(9).encode())
    assert len(problems) == 1
    assert f"more than {MAX_NODES:,} values" in problems[0]


def test_a_few_aliases_within_the_budget_still_load():
    document = load_document(b"shared: &p {enabled: false}\nuse: [*p, *p]\n")
    assert document == {"shared": {"enabled": False}, "use": [{"enabled": False}] * 2}


def test_aliases_of_a_long_string_are_counted_by_their_text():
    text = "s: &s " + "x" * 100_000 + "\nmany: [" + ", ".join(["*s"] * 20) + "]\n"
    problems = refused_cheaply(text.encode())
    assert "KiB of text" in problems[0]


def test_merge_keys_that_double_at_each_level_are_refused():
    lines = ["m0: &m0 {a: 1, b: 2}"]
    lines += [f"m{i}: &m{i} {{<<: [*m{i - 1}, *m{i - 1}], k{i}: 1}}" for i in range(1, 40)]
    problems = refused_cheaply("\n".join(lines).encode())
    assert "aliases expand" in problems[0]


def test_an_alias_that_contains_itself_is_refused():
    assert refusal(b"a: &a [1, *a]\n") == [
        "the value at line 1, column 4 contains an alias of itself: refused"
    ]


@pytest.mark.parametrize("depth", [MAX_DEPTH + 1, 5_000])
def test_nesting_deeper_than_the_limit_is_refused_without_a_recursion_error(depth: int):
    problems = refused_cheaply(b"[" * depth + b"]" * depth)
    assert len(problems) == 1
    # libyaml may stop first, at its own limit of 1,000 levels it scans ahead to
    assert problems[0] in (
        f"nested deeper than {MAX_DEPTH} levels at line 1, column 33: refused",
        "not valid YAML: exceeded maximum nesting depth at line 1, column 1001 "
        "(while increasing flow level at line 1, column 1001)",
    )


def test_nesting_built_from_aliases_counts_towards_the_depth():
    lines = ["a0: &a0 [[[[[[[[1]]]]]]]]"]
    lines += [f"a{i}: &a{i} [[[[[[[[*a{i - 1}]]]]]]]]" for i in range(1, 6)]
    problems = refused_cheaply("\n".join(lines).encode())
    assert f"deeper than {MAX_DEPTH} levels" in problems[0]


def test_a_key_written_twice_in_one_mapping_is_refused_with_both_lines():
    assert refusal(b"version: 1\nbots: []\nversion: 1\n") == [
        "the key 'version' is written twice in one mapping, at line 1, column 1 and "
        "line 3, column 1: YAML would keep only the last; keep one"
    ]


def test_a_key_written_twice_under_credentials_is_refused_without_quoting_it():
    text = b"bots:\n- credentials:\n    my-real-secret: 1\n    my-real-secret: 2\n"
    (line,) = refusal(text)
    assert line.startswith("<hidden key> is written twice in one mapping, at line 3")
    assert "my-real-secret" not in line


def test_a_merge_key_may_still_be_overridden_by_a_key_of_the_mapping():
    document = load_document(b"base: &b {x: 1, y: 2}\nmine: {<<: *b, x: 3}\n")
    assert document["mine"] == {"x": 3, "y": 2}


def test_a_number_of_thousands_of_digits_is_one_line_not_a_traceback():
    assert refusal(b"version: " + b"1" * 5_000 + b"\n") == [
        "a number of 5,000 characters at line 1, column 10: at most 100 are allowed"
    ]


def test_a_date_that_does_not_exist_is_one_line_not_a_traceback():
    assert refusal(b"version: 2024-13-45\n") == [
        "'2024-13-45' at line 1, column 10 looks like a date but is not a real one"
    ]


def test_a_latin_1_character_in_a_comment_names_its_line_and_column():
    data = EXAMPLE.read_bytes().replace(b"# the KuCoin", b"# caf\xe9: the KuCoin")
    problems = refusal(data)
    assert len(problems) == 1
    assert problems[0].startswith("not UTF-8 text: the byte at line 9, column ")
    assert "save the file as UTF-8" in problems[0]


def test_a_utf8_byte_order_mark_is_accepted():
    assert load_document(b"\xef\xbb\xbfversion: 1\n") == {"version": 1}


def test_a_control_character_is_one_line_naming_its_position():
    assert refusal(b"version: 1\nbots: [\x07]\n") == [
        "not valid YAML: character #x0007 at line 2, column 8 is not allowed in YAML"
    ]


def test_a_syntax_error_is_one_line_without_the_snippet_that_may_hold_a_secret():
    data = b"bots:\n  - credentials: {secret: {env: my-real-secret}\n"
    problems = refusal(data)
    assert len(problems) == 1
    assert problems[0].startswith("not valid YAML: ")
    assert "line 3" in problems[0]
    assert "my-real-secret" not in problems[0]


@pytest.mark.parametrize(
    "data",
    [b"a: !!python/object/apply:os.system [echo]\n", b"a: !!binary zz\n", b"? [1]\n: 2\n"],
    ids=["python tag", "bad base64", "unhashable key"],
)
def test_what_the_safe_loader_refuses_is_one_line(data: bytes):
    problems = refusal(data)
    assert len(problems) == 1
    assert problems[0].startswith("not valid YAML: ")
