"""The fake LLM provider's wire formats: each protocol's answers, error envelopes and
request checks, as OpenAI's and Anthropic's APIs send them.

Part of ``bulkhead.sim.llm``, which re-exports every name here.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping, Sequence
from typing import Any

from starlette.responses import Response

from bulkhead.sim.llm_steps import Step, Wire

#: the tool the default answer calls when the request offers it, and its arguments
NO_CHANGE_TOOL = "no_change"
NO_CHANGE_ARGUMENTS = '{"reason": "nothing to change"}'

#: OpenAI's error envelope ``type`` and ``code`` by status (as its API answers them)
_OPENAI_ERRORS: dict[int, tuple[str, str | None]] = {
    400: ("invalid_request_error", None),
    401: ("invalid_request_error", "invalid_api_key"),
    403: ("invalid_request_error", "unsupported_country_region_territory"),
    404: ("invalid_request_error", "model_not_found"),
    429: ("requests", "rate_limit_exceeded"),
}
#: Anthropic's error ``type`` by status (https://docs.anthropic.com/en/api/errors)
_ANTHROPIC_ERRORS: dict[int, str] = {
    400: "invalid_request_error",
    401: "authentication_error",
    402: "billing_error",
    403: "permission_error",
    404: "not_found_error",
    413: "request_too_large",
    429: "rate_limit_error",
    500: "api_error",
    504: "timeout_error",
    529: "overloaded_error",
}


def _request_problem(protocol: Wire, body: object) -> str | None:
    """What makes the request invalid for the protocol, as the real API would refuse it."""
    if not isinstance(body, dict):
        return "We could not parse the JSON body of your request."
    required = (
        ("model", "messages") if protocol == "openai" else ("model", "messages", "max_tokens")
    )
    missing = [name for name in required if name not in body]
    if missing:
        return f"missing required parameter: {missing[0]!r}"
    if not isinstance(body["messages"], list):
        return "'messages' must be an array"
    if body.get("stream"):
        return "the fake provider does not stream: send stream=false"
    return None


def _offered_tools(protocol: Wire, body: Mapping[str, Any]) -> set[str]:
    """Names of the tools the request offers (OpenAI nests them under ``function``)."""
    names: set[str] = set()
    tools = body.get("tools")
    for tool in tools if isinstance(tools, list) else []:
        if not isinstance(tool, dict):
            continue
        spec = tool.get("function") if protocol == "openai" else tool
        if isinstance(spec, dict) and isinstance(spec.get("name"), str):
            names.add(spec["name"])
    return names


def _default_step(protocol: Wire, body: Mapping[str, Any]) -> Step:
    """The answer when the script is empty: "no change" when offered, else "ok"."""
    if NO_CHANGE_TOOL in _offered_tools(protocol, body):
        return Step.tool_calls([(NO_CHANGE_TOOL, NO_CHANGE_ARGUMENTS)])
    return Step.text("ok")


def _openai_completion(
    serial: int,
    model: str,
    text: str,
    calls: Sequence[tuple[str, str]],
    input_tokens: int,
    output_tokens: int,
) -> dict[str, Any]:
    """A ``chat.completion`` object as OpenAI's API returns it."""
    message: dict[str, Any] = {
        "role": "assistant",
        "content": text or None,
        "refusal": None,
        "annotations": [],
    }
    if calls:
        message["tool_calls"] = [
            {
                "id": f"call_fake{serial}x{index}",
                "type": "function",
                "function": {"name": name, "arguments": arguments},
            }
            for index, (name, arguments) in enumerate(calls)
        ]
    return {
        "id": f"chatcmpl-fake{serial}",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "choices": [
            {
                "index": 0,
                "message": message,
                "logprobs": None,
                "finish_reason": "tool_calls" if calls else "stop",
            }
        ],
        "usage": {
            "prompt_tokens": input_tokens,
            "completion_tokens": output_tokens,
            "total_tokens": input_tokens + output_tokens,
        },
        "service_tier": "default",
        "system_fingerprint": None,
    }


def _tool_input(arguments: str) -> Any:
    """Anthropic's ``tool_use.input`` for a scripted argument string.

    Valid JSON is sent as the value it holds (normally an object; a test may script an
    array or a number); anything else as the raw string, so the SDK hands the caller a
    ``str`` where it expects a dict: the closest Anthropic gets to a malformed tool call.
    """
    try:
        return json.loads(arguments)
    except ValueError:
        return arguments


def _anthropic_message(
    serial: int,
    model: str,
    text: str,
    calls: Sequence[tuple[str, str]],
    input_tokens: int,
    output_tokens: int,
) -> dict[str, Any]:
    """A ``message`` object as Anthropic's API returns it."""
    content: list[dict[str, Any]] = []
    if text or not calls:
        content.append({"type": "text", "text": text})
    content.extend(
        {
            "type": "tool_use",
            "id": f"toolu_fake{serial}x{index}",
            "name": name,
            "input": _tool_input(arguments),
        }
        for index, (name, arguments) in enumerate(calls)
    )
    return {
        "id": f"msg_fake{serial}",
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": content,
        "stop_reason": "tool_use" if calls else "end_turn",
        "stop_sequence": None,
        "usage": {
            "input_tokens": input_tokens,
            "output_tokens": output_tokens,
            "cache_creation_input_tokens": 0,
            "cache_read_input_tokens": 0,
        },
    }


def _error(
    protocol: Wire,
    status: int,
    message: str | None,
    *,
    body: dict[str, Any] | str | None = None,
    retry_after: float | None = None,
) -> Response:
    """An HTTP error in the protocol's envelope, or ``body`` verbatim when given."""
    headers = _request_id_header(protocol, 0)
    if retry_after is not None:
        headers["retry-after"] = f"{retry_after:g}"
    if isinstance(body, str):
        return Response(body.encode(), status, headers=headers, media_type="application/json")
    if body is None:
        text = message or f"fake provider error {status}"
        if protocol == "openai":
            kind, code = _OPENAI_ERRORS.get(status, ("server_error", None))
            if status < 500 and status not in _OPENAI_ERRORS:
                kind = "invalid_request_error"
            body = {"error": {"message": text, "type": kind, "param": None, "code": code}}
        else:
            fallback = "api_error" if status >= 500 else "invalid_request_error"
            body = {
                "type": "error",
                "error": {"type": _ANTHROPIC_ERRORS.get(status, fallback), "message": text},
                "request_id": headers["request-id"],
            }
    return _json(body, status, headers)


def _request_id_header(protocol: Wire, serial: int) -> dict[str, str]:
    if protocol == "openai":
        return {"x-request-id": f"req_fake{serial}"}
    return {"request-id": f"req_fake{serial}"}


def _json(payload: object, status: int, headers: Mapping[str, str] | None = None) -> Response:
    return Response(
        json.dumps(payload).encode(),
        status,
        headers=dict(headers or {}),
        media_type="application/json",
    )


def _filler(n_bytes: int) -> str:
    """``n_bytes`` of readable ASCII text."""
    unit = "the model has a lot to say. "
    return (unit * (n_bytes // len(unit) + 1))[:n_bytes]
