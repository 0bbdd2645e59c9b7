"""The tools the model may call: few, typed, and only able to propose.

Each tool is a strict pydantic model (unknown fields refused); its JSON Schema, offered to
the provider, is generated from the model, so what the model is told and what is checked
are one thing. Parsing a call never trusts it: arguments that are not JSON, not an object,
too big, or outside the schema are a ``ToolRejected`` with the reason, and change nothing.
"""

from __future__ import annotations

import json
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

#: a tool call's arguments larger than this are refused unread
MAX_ARGUMENTS_BYTES = 8192
PAIR_PATTERN = r"^[A-Z0-9]{1,20}/[A-Z0-9]{1,20}$"


class _Tool(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


class ProposeParameterChange(_Tool):
    """Set one of the strategy's declared parameters to a value within its declared bounds."""

    name: str = Field(min_length=1, max_length=64, description="a declared parameter's name")
    value: float | int | bool | str = Field(description="its new value, within its bounds")
    reason: str = Field(min_length=1, max_length=500)


class PausePair(_Tool):
    """Stop new entries on one of the bot's pairs for a while (exits go on)."""

    pair: str = Field(pattern=PAIR_PATTERN, description="one of the bot's pairs, e.g. XRP/USDT")
    reason: str = Field(min_length=1, max_length=500)


class ResumePair(_Tool):
    """Lift a pause the advisor or the operator set (never one the risk guard set itself)."""

    pair: str = Field(pattern=PAIR_PATTERN)
    reason: str = Field(min_length=1, max_length=500)


class AdjustStakeScale(_Tool):
    """Multiply every new stake by ``scale`` (at most 1: stakes can only shrink)."""

    scale: float = Field(gt=0, le=1, description="0 < scale <= 1")
    reason: str = Field(min_length=1, max_length=500)


class WriteInsight(_Tool):
    """Remember an observation about the bot's trading, for the operator and later runs."""

    text: str = Field(min_length=1, max_length=500)


class NoChange(_Tool):
    """Say that nothing should change now."""

    reason: str = Field(min_length=1, max_length=500)


TOOLS: dict[str, type[_Tool]] = {
    "propose_parameter_change": ProposeParameterChange,
    "pause_pair": PausePair,
    "resume_pair": ResumePair,
    "adjust_stake_scale": AdjustStakeScale,
    "write_insight": WriteInsight,
    "no_change": NoChange,
}
ToolName = Literal[
    "propose_parameter_change",
    "pause_pair",
    "resume_pair",
    "adjust_stake_scale",
    "write_insight",
    "no_change",
]


class ToolRejected(ValueError):
    """A tool call that is not a valid proposal; ``code`` is its reason code."""

    def __init__(self, code: str, detail: str) -> None:
        super().__init__(f"{code}: {detail}")
        self.code = code
        self.detail = detail


def schema(tool: type[_Tool]) -> dict[str, Any]:
    """The tool's JSON Schema: every property required, nothing else allowed (the shape
    OpenAI's strict mode and Anthropic's input_schema both take)."""
    document = tool.model_json_schema()
    document.pop("title", None)
    document.pop("description", None)
    properties = document.get("properties", {})
    for field in properties.values():
        field.pop("title", None)
    document["required"] = list(properties)
    document["additionalProperties"] = False
    return document


def specs() -> list[dict[str, Any]]:
    """Every tool as name, description and JSON Schema (provider-neutral)."""
    return [
        {"name": name, "description": (tool.__doc__ or name).strip(), "schema": schema(tool)}
        for name, tool in TOOLS.items()
    ]


def parse(name: str, arguments: str | dict[str, Any]) -> _Tool:
    """A tool call as its typed model, or ``ToolRejected`` saying why it is not one."""
    tool = TOOLS.get(name)
    if tool is None:
        raise ToolRejected("UNKNOWN_TOOL", f"no tool {name[:64]!r} was offered")
    if isinstance(arguments, str):
        if len(arguments.encode()) > MAX_ARGUMENTS_BYTES:
            raise ToolRejected("ARGUMENTS_TOO_BIG", f"over {MAX_ARGUMENTS_BYTES} bytes")
        try:
            arguments = json.loads(arguments)
        except ValueError as error:
            raise ToolRejected("MALFORMED_ARGUMENTS", f"not JSON ({error})") from None
    if not isinstance(arguments, dict):
        raise ToolRejected("MALFORMED_ARGUMENTS", "not a JSON object")
    if len(json.dumps(arguments).encode()) > MAX_ARGUMENTS_BYTES:
        raise ToolRejected("ARGUMENTS_TOO_BIG", f"over {MAX_ARGUMENTS_BYTES} bytes")
    try:
        return tool.model_validate(arguments)
    except ValidationError as error:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or 'arguments'}: {e['msg']}"
            for e in error.errors()[:5]
        )
        raise ToolRejected("SCHEMA_VIOLATION", problems[:400]) from None
