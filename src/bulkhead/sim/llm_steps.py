"""The fake LLM provider's script and log: ``Step`` (one scripted answer) and ``Received``
(one request as it arrived), with the JSON forms the control routes speak.

Part of ``bulkhead.sim.llm``, which re-exports every name here; import them from there.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, get_args

__all__ = ["Received", "Step", "StepKind", "Wire"]

Wire = Literal["openai", "anthropic"]
StepKind = Literal["tool_calls", "text", "error", "delay", "huge", "garbage"]


@dataclass(frozen=True)
class Step:
    """One scripted answer; build with the class methods (``Step.text("hi")``).

    The fields are also the JSON form the control route takes (``to_json``/``from_json``),
    so a test in another process scripts the same answers. Token counts left ``None``
    default per request: input = len(request JSON) / 4, output = 50.
    """

    kind: StepKind
    #: tool_calls: (tool name, raw JSON argument string) pairs, sent verbatim
    calls: tuple[tuple[str, str], ...] = ()
    #: text: the answer; tool_calls: optional text beside the calls; garbage: the body
    content: str = ""
    input_tokens: int | None = None
    output_tokens: int | None = None
    #: error: the HTTP status
    status: int = 200
    #: error: a body to send instead of the protocol's envelope (a dict as JSON, a str raw)
    body: dict[str, Any] | str | None = None
    #: error: the ``retry-after`` header, seconds
    retry_after: float | None = None
    #: delay: how long to wait before answering ``then``
    seconds: float = 0.0
    then: Step | None = None
    #: huge: the length of the answer's text
    n_bytes: int = 0
    #: garbage: the content type the non-JSON body claims
    content_type: str = "application/json"

    @classmethod
    def tool_calls(
        cls,
        calls: Sequence[tuple[str, str]],
        input_tokens: int | None = None,
        output_tokens: int | None = None,
        *,
        content: str = "",
    ) -> Step:
        """One assistant answer calling each named tool with its raw JSON argument string.

        The strings are not checked, so a test can send malformed arguments.
        """
        if not calls:
            raise ValueError("tool_calls needs at least one call")
        pairs = tuple((str(name), str(arguments)) for name, arguments in calls)
        return cls(
            "tool_calls",
            calls=pairs,
            content=content,
            input_tokens=input_tokens,
            output_tokens=output_tokens,
        )

    @classmethod
    def text(
        cls, content: str, input_tokens: int | None = None, output_tokens: int | None = None
    ) -> Step:
        """A plain text answer, no tool call."""
        return cls("text", content=content, input_tokens=input_tokens, output_tokens=output_tokens)

    @classmethod
    def error(
        cls,
        status: int,
        body: dict[str, Any] | str | None = None,
        retry_after: float | None = None,
    ) -> Step:
        """An HTTP error in the protocol's own envelope (or ``body`` instead of it)."""
        if not 400 <= status <= 599:
            raise ValueError(f"an error status is 4xx or 5xx, not {status}")
        return cls("error", status=status, body=body, retry_after=retry_after)

    @classmethod
    def delay(cls, seconds: float, then: Step) -> Step:
        """Wait ``seconds``, then answer ``then`` (for client timeouts)."""
        if seconds < 0:
            raise ValueError("a delay is not negative")
        return cls("delay", seconds=seconds, then=then)

    @classmethod
    def huge(
        cls, n_bytes: int, input_tokens: int | None = None, output_tokens: int | None = None
    ) -> Step:
        """A valid text answer whose text is ``n_bytes`` long (ASCII, so bytes = chars)."""
        if n_bytes < 0:
            raise ValueError("n_bytes is not negative")
        return cls("huge", n_bytes=n_bytes, input_tokens=input_tokens, output_tokens=output_tokens)

    @classmethod
    def garbage(
        cls, body: str = "this is not JSON {", content_type: str = "application/json"
    ) -> Step:
        """HTTP 200 with a body that is not JSON, claiming ``content_type``."""
        return cls("garbage", content=body, content_type=content_type)

    def to_json(self) -> dict[str, Any]:
        """The JSON form the control route ``POST /_fake/script`` takes (defaults left out)."""
        out: dict[str, Any] = {"kind": self.kind}
        defaults = Step(self.kind)
        for name in (
            "content",
            "input_tokens",
            "output_tokens",
            "status",
            "body",
            "retry_after",
            "seconds",
            "n_bytes",
            "content_type",
        ):
            value = getattr(self, name)
            if value != getattr(defaults, name):
                out[name] = value
        if self.calls:
            out["calls"] = [list(pair) for pair in self.calls]
        if self.then is not None:
            out["then"] = self.then.to_json()
        return out

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Step:
        """A step from its JSON form; ValueError names what is wrong."""
        if not isinstance(data, Mapping):
            raise ValueError(f"a step is a JSON object, not {type(data).__name__}")
        unknown = set(data) - set(cls.__dataclass_fields__)
        if unknown:
            raise ValueError(f"unknown step fields: {sorted(unknown)}")
        kind = data.get("kind")
        if kind not in get_args(StepKind):
            raise ValueError(f"kind must be one of {list(get_args(StepKind))}, not {kind!r}")

        def number(name: str, default: float | None, *, integer: bool = False) -> Any:
            value = data.get(name, default)
            wanted = int if integer else int | float
            if value is not None and (isinstance(value, bool) or not isinstance(value, wanted)):
                raise ValueError(f"{name} must be {'an integer' if integer else 'a number'}")
            return value

        def text(name: str, default: str) -> str:
            value = data.get(name, default)
            if not isinstance(value, str):
                raise ValueError(f"{name} must be a string, not {value!r}")
            return value

        tokens = {
            "input_tokens": number("input_tokens", None, integer=True),
            "output_tokens": number("output_tokens", None, integer=True),
        }
        if kind == "tool_calls":
            calls = data.get("calls")
            if not isinstance(calls, list) or not all(
                isinstance(c, list | tuple) and len(c) == 2 and all(isinstance(x, str) for x in c)
                for c in calls
            ):
                raise ValueError("calls must be a list of [name, arguments] string pairs")
            return cls.tool_calls(
                [(c[0], c[1]) for c in calls], **tokens, content=text("content", "")
            )
        if kind == "text":
            return cls.text(text("content", ""), **tokens)
        if kind == "error":
            body = data.get("body")
            if body is not None and not isinstance(body, dict | str):
                raise ValueError("body must be an object or a string")
            return cls.error(number("status", 500, integer=True), body, number("retry_after", None))
        if kind == "delay":
            then = data.get("then")
            if not isinstance(then, Mapping):
                raise ValueError("a delay needs a 'then' step")
            return cls.delay(float(number("seconds", 0.0)), cls.from_json(then))
        if kind == "huge":
            return cls.huge(number("n_bytes", 0, integer=True), **tokens)
        return cls.garbage(
            text("content", "this is not JSON {"), text("content_type", "application/json")
        )


@dataclass(frozen=True)
class Received:
    """One request as the fake received it: its JSON body and headers, both raw.

    Nothing is redacted: tests read these to prove no secret went into a prompt. A body
    that was not a JSON object is kept as ``{"_invalid_json": <the text>}``.
    """

    protocol: Wire
    body: dict[str, Any]
    headers: dict[str, str] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {"protocol": self.protocol, "body": self.body, "headers": self.headers}
