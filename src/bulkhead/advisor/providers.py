"""LLM providers through their official SDKs: OpenAI-compatible chat completions with tools,
and Anthropic messages with tool_use, behind one small conversation interface.

The SDKs' own retries are off (``max_retries=0``): every attempt goes through the spend
ledger first, so retries are reserved and counted like any call. Their errors become one
``ProviderTrouble`` with a reason the fallback and the breaker understand, and whether the
failed attempt may have been billed (a timeout may; a 429 or 5xx is not).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from bulkhead.config.advisor import AdvisorProvider


@dataclass(frozen=True)
class ToolCall:
    id: str
    name: str
    arguments: str | dict[str, Any]


@dataclass(frozen=True)
class Reply:
    text: str
    calls: list[ToolCall]
    input_tokens: int | None
    output_tokens: int | None


@dataclass
class ProviderTrouble(Exception):
    """A call that brought no usable answer."""

    reason: str  # timeout | rate_limited | server | unreachable | auth | refused | malformed
    detail: str
    billed: bool = False  # whether the provider may have charged for it
    retry_after: float | None = None

    def __str__(self) -> str:
        return f"{self.reason}: {self.detail}"


class Conversation(Protocol):
    """One consultation's exchange with a model, in its provider's wire format."""

    def ask(self, tools: Sequence[dict[str, Any]], max_tokens: int) -> Reply: ...

    def tool_results(self, results: Sequence[tuple[str, str]]) -> None: ...

    def wire_text(self, tools: Sequence[dict[str, Any]]) -> str:
        """Everything the next ``ask`` sends, for the worst-case token count."""
        ...

    @property
    def messages(self) -> int: ...


def _retry_after(error: Any) -> float | None:
    response = getattr(error, "response", None)
    value = response.headers.get("retry-after") if response is not None else None
    try:
        return max(0.0, float(value)) if value is not None else None
    except ValueError:
        return None


def _trouble(error: Exception, sdk: Any) -> ProviderTrouble:
    """One SDK's error as a ``ProviderTrouble`` (the class names are the same in both)."""
    detail = f"{type(error).__name__}: {str(error)[:200]}"
    if isinstance(error, AnswerTooLarge) or isinstance(error.__cause__, AnswerTooLarge):
        return ProviderTrouble("too_large", detail, billed=True)
    if isinstance(error, sdk.APITimeoutError):
        return ProviderTrouble("timeout", detail, billed=True)
    if isinstance(error, sdk.APIConnectionError):
        return ProviderTrouble("unreachable", detail)
    if isinstance(error, sdk.RateLimitError):
        return ProviderTrouble("rate_limited", detail, retry_after=_retry_after(error))
    if isinstance(error, sdk.AuthenticationError | sdk.PermissionDeniedError):
        return ProviderTrouble("auth", detail)
    if isinstance(error, sdk.APIStatusError):
        status = error.status_code
        reason = "server" if status >= 500 else "refused"
        return ProviderTrouble(reason, detail, retry_after=_retry_after(error))
    return ProviderTrouble("malformed", detail, billed=True)


def sdk_client(config: AdvisorProvider, api_key: str) -> Any:
    """The official SDK's client for ``config``: built once per advisor and reused (building
    one costs tens of milliseconds, mostly its TLS context)."""
    if config.kind == "openai":
        import openai

        base = config.base_url
        return openai.OpenAI(
            api_key=api_key,
            base_url=f"{base.rstrip('/')}/v1" if base else None,
            timeout=config.timeout_seconds,
            max_retries=0,
            http_client=openai.DefaultHttpxClient(transport=_transport()),
        )
    import anthropic

    return anthropic.Anthropic(
        api_key=api_key,
        base_url=config.base_url,
        timeout=config.timeout_seconds,
        max_retries=0,
        http_client=anthropic.DefaultHttpxClient(transport=_transport()),
    )


#: the most bytes of one answer read: a legitimate one (max_output_tokens of tool calls) is
#: tens of kilobytes; a bigger one is refused before the SDK parses it
MAX_ANSWER_BYTES = 1024 * 1024


class AnswerTooLarge(Exception):
    """An answer past ``MAX_ANSWER_BYTES``: not read further."""


def _transport() -> Any:
    """A transport whose connections send at once (TCP_NODELAY), and that reads at most
    ``MAX_ANSWER_BYTES`` of an answer. The SDKs keep a connection alive between calls and
    write a request's headers and body apart; with Nagle's algorithm on, the body then
    waits for the server's delayed ACK, 40 ms on Linux."""
    import socket

    import httpx2

    class Bounded(httpx2.SyncByteStream):
        def __init__(self, stream: Any) -> None:
            self.stream = stream

        def __iter__(self) -> Any:
            read = 0
            for chunk in self.stream:
                read += len(chunk)
                if read > MAX_ANSWER_BYTES:
                    raise AnswerTooLarge(f"an answer over {MAX_ANSWER_BYTES} bytes")
                yield chunk

        def close(self) -> None:
            self.stream.close()

    class Transport(httpx2.HTTPTransport):
        def handle_request(self, request: Any) -> Any:
            response = super().handle_request(request)
            declared = response.headers.get("content-length", "0")
            if declared.isdigit() and int(declared) > MAX_ANSWER_BYTES:
                response.close()
                raise AnswerTooLarge(f"an answer of {declared} bytes")
            response.stream = Bounded(response.stream)
            return response

    return Transport(socket_options=[(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)])


@dataclass
class OpenAIConversation:
    """Chat completions with ``tools`` (OpenAI, and servers speaking its protocol)."""

    config: AdvisorProvider
    client: Any  # openai.OpenAI
    system: str
    user: str
    history: list[dict[str, Any]] = field(default_factory=list)

    def __post_init__(self) -> None:
        import openai

        self._sdk = openai
        self._client = self.client
        self.history = [
            {"role": "system", "content": self.system},
            {"role": "user", "content": self.user},
        ]

    @staticmethod
    def _tools(tools: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
        return [
            {
                "type": "function",
                "function": {
                    "name": t["name"],
                    "description": t["description"],
                    "parameters": t["schema"],
                    "strict": True,
                },
            }
            for t in tools
        ]

    def wire_text(self, tools: Sequence[dict[str, Any]]) -> str:
        return json.dumps([self.history, self._tools(tools)])

    @property
    def messages(self) -> int:
        return len(self.history)

    def ask(self, tools: Sequence[dict[str, Any]], max_tokens: int) -> Reply:
        try:
            answer = self._client.chat.completions.create(
                model=self.config.model,
                messages=self.history,
                tools=self._tools(tools),
                max_completion_tokens=max_tokens,
            )
            message = answer.choices[0].message
            calls = [
                ToolCall(c.id, function.name, function.arguments)
                for c in (message.tool_calls or [])
                if (function := getattr(c, "function", None)) is not None
            ]
            usage = answer.usage
            reply = Reply(
                message.content or "",
                calls,
                usage.prompt_tokens if usage else None,
                usage.completion_tokens if usage else None,
            )
        except Exception as error:
            raise _trouble(error, self._sdk) from None
        self.history.append(message.model_dump(exclude_none=True, mode="json", warnings=False))
        return reply

    def tool_results(self, results: Sequence[tuple[str, str]]) -> None:
        self.history += [
            {"role": "tool", "tool_call_id": call_id, "content": content}
            for call_id, content in results
        ]


@dataclass
class AnthropicConversation:
    """Anthropic messages with ``tool_use`` blocks."""

    config: AdvisorProvider
    client: Any  # anthropic.Anthropic
    system: str
    user: str
    history: list[dict[str, Any]] = field(default_factory=list)

    def __post_init__(self) -> None:
        import anthropic

        self._sdk = anthropic
        self._client = self.client
        self.history = [{"role": "user", "content": self.user}]

    @staticmethod
    def _tools(tools: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
        return [
            {"name": t["name"], "description": t["description"], "input_schema": t["schema"]}
            for t in tools
        ]

    def wire_text(self, tools: Sequence[dict[str, Any]]) -> str:
        return json.dumps([self.system, self.history, self._tools(tools)])

    @property
    def messages(self) -> int:
        return len(self.history) + 1

    def ask(self, tools: Sequence[dict[str, Any]], max_tokens: int) -> Reply:
        try:
            answer = self._client.messages.create(
                model=self.config.model,
                system=self.system,
                messages=self.history,
                tools=self._tools(tools),
                max_tokens=max_tokens,
            )
            blocks = list(answer.content)
            text = "".join(getattr(b, "text", "") for b in blocks if b.type == "text")
            calls = [ToolCall(b.id, b.name, b.input) for b in blocks if b.type == "tool_use"]
            usage = answer.usage
            reply = Reply(
                text,
                calls,
                usage.input_tokens if usage else None,
                usage.output_tokens if usage else None,
            )
            content = [b.model_dump(exclude_none=True, mode="json", warnings=False) for b in blocks]
        except Exception as error:
            raise _trouble(error, self._sdk) from None
        self.history.append({"role": "assistant", "content": content})
        return reply

    def tool_results(self, results: Sequence[tuple[str, str]]) -> None:
        self.history.append(
            {
                "role": "user",
                "content": [
                    {"type": "tool_result", "tool_use_id": call_id, "content": content}
                    for call_id, content in results
                ],
            }
        )


def open_conversation(config: AdvisorProvider, client: Any, system: str, user: str) -> Conversation:
    """A conversation over ``client`` (``sdk_client``) in the provider's wire format."""
    if config.kind == "openai":
        return OpenAIConversation(config, client, system, user)
    return AnthropicConversation(config, client, system, user)
