"""The tools offered to the model: strict schemas from the pydantic models, and parsing
that never trusts what comes back."""

from __future__ import annotations

import json

import pytest

from bulkhead.advisor.tools import (
    MAX_ARGUMENTS_BYTES,
    AdjustStakeScale,
    PausePair,
    ToolRejected,
    parse,
    specs,
)


def test_every_schema_is_strict_and_comes_from_its_model() -> None:
    offered = {s["name"]: s for s in specs()}
    assert set(offered) == {
        "propose_parameter_change",
        "pause_pair",
        "resume_pair",
        "adjust_stake_scale",
        "write_insight",
        "no_change",
    }
    for spec in offered.values():
        schema = spec["schema"]
        assert schema["type"] == "object"
        assert schema["additionalProperties"] is False
        assert set(schema["required"]) == set(schema["properties"])
        assert spec["description"]
    scale = offered["adjust_stake_scale"]["schema"]["properties"]["scale"]
    assert scale["exclusiveMinimum"] == 0
    assert scale["maximum"] == 1


def test_a_valid_call_parses_to_its_model() -> None:
    parsed = parse("pause_pair", json.dumps({"pair": "XRP/USDT", "reason": "losing"}))
    assert parsed == PausePair(pair="XRP/USDT", reason="losing")
    assert parse("adjust_stake_scale", {"scale": 0.5, "reason": "r"}) == AdjustStakeScale(
        scale=0.5, reason="r"
    )


@pytest.mark.parametrize(
    ("name", "arguments", "code"),
    [
        ("raise_budget", "{}", "UNKNOWN_TOOL"),
        ("pause_pair", '{"pair": "XRP/USDT",', "MALFORMED_ARGUMENTS"),
        ("pause_pair", "[1, 2]", "MALFORMED_ARGUMENTS"),
        ("pause_pair", '"XRP/USDT"', "MALFORMED_ARGUMENTS"),
        ("pause_pair", '{"pair": "XRP/USDT"}', "SCHEMA_VIOLATION"),
        ("pause_pair", '{"pair": "xrp-usdt", "reason": "r"}', "SCHEMA_VIOLATION"),
        ("pause_pair", '{"pair": "XRP/USDT", "reason": "r", "budget": 1}', "SCHEMA_VIOLATION"),
        ("adjust_stake_scale", '{"scale": 1.5, "reason": "r"}', "SCHEMA_VIOLATION"),
        ("adjust_stake_scale", '{"scale": NaN, "reason": "r"}', "SCHEMA_VIOLATION"),
        ("adjust_stake_scale", '{"scale": 0, "reason": "r"}', "SCHEMA_VIOLATION"),
        ("write_insight", json.dumps({"text": "x" * 501}), "SCHEMA_VIOLATION"),
        ("write_insight", json.dumps({"text": "x" * MAX_ARGUMENTS_BYTES}), "ARGUMENTS_TOO_BIG"),
    ],
)
def test_bad_calls_are_rejected_with_their_reason(name: str, arguments: str, code: str) -> None:
    with pytest.raises(ToolRejected) as rejected:
        parse(name, arguments)
    assert rejected.value.code == code
