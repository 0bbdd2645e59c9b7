"""Error lines are bounded, one line each, and blind to credentials, whatever they describe."""

from __future__ import annotations

import time
from typing import Any

import pytest

from bulkhead.config.loader import SpecError, parse_fleet
from bulkhead.config.problems import SHOWN_LIMIT, format_location, one_line, shown


def test_a_huge_shared_structure_is_shown_in_bounded_time_and_length():
    laughs: list[Any] = ["lol"] * 10
    for _ in range(9):
        laughs = [laughs] * 10  # 10**10 values if it were printed in full
    started = time.perf_counter()
    text = shown({"bots": laughs})
    assert time.perf_counter() - started < 0.1
    assert len(text) == SHOWN_LIMIT
    assert text.endswith("...")


def test_a_cyclic_structure_is_shown_without_recursing_forever():
    cycle: list[Any] = []
    cycle.append(cycle)
    assert shown(cycle).startswith("[[[[")


def test_values_of_credential_keys_are_hidden_inside_a_shown_mapping():
    text = shown({"Credentials": {"secret": "hunter2"}, "name": "bot1"}, limit=200)
    assert text == "{'Credentials': <hidden>, 'name': 'bot1'}"


def test_a_number_past_pythons_digit_limit_is_shown_by_its_type():
    assert shown(10**5000) == "<int>"


def test_keys_under_a_credential_are_masked_unless_they_are_known_names():
    location = ("bots", 0, "credentials", "secret", "hunter2", "env")
    assert format_location(location) == "bots.0.credentials.secret.<hidden key>.env"


def test_odd_keys_in_a_path_are_quoted_and_cut_short():
    assert format_location(("bots", 0, "a\nb")) == "bots.0.'a\\nb'"
    assert len(format_location(("x" * 1_000,))) == 40


def test_a_line_escapes_newlines_terminal_codes_and_bidi_overrides():
    assert one_line("a\nb\x1b[31m\u202ec") == "a\\nb\\x1b[31m\\u202ec"


def test_a_line_is_cut_at_its_limit():
    assert len(one_line("x" * 10_000)) == 400


def test_a_spec_with_hundreds_of_problems_shows_fifty_lines_and_a_count():
    with pytest.raises(SpecError) as caught:
        parse_fleet({"version": 1, "bots": [{"name": "Bad Name"}] * 100})
    problems = caught.value.problems
    assert len(problems) == 51
    assert problems[-1].startswith("... and ")
    assert problems[-1].endswith(" more problem(s) not shown")
