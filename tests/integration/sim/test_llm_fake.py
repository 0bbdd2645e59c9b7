"""The fake LLM provider against the real ``openai`` and ``anthropic`` SDKs.

Each behaviour is checked through both SDKs, as the advisor will meet it: what the SDK
parses out of the fake's answer (tool calls, text, usage) and which of its errors it
raises (rate limits, server errors, timeouts, a non-JSON body, a refused key).
"""

from __future__ import annotations

import http.client
import json
import os
import signal
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import anthropic
import openai
import pytest

from bulkhead.sim.llm import FakeProvider, Received, Step, post_script, serve_fake_provider

KEY = "sk-test-key"
SECRET = "kucoin-secret-do-not-leak"
OPENAI_TOOLS = [
    {
        "type": "function",
        "function": {
            "name": name,
            "description": f"the {name} tool",
            "parameters": {"type": "object", "properties": {}},
        },
    }
    for name in ("set_param", "no_change")
]
ANTHROPIC_TOOLS = [
    {
        "name": name,
        "description": f"the {name} tool",
        "input_schema": {"type": "object", "properties": {}},
    }
    for name in ("set_param", "no_change")
]


@pytest.fixture(scope="module")
def served() -> Iterator[tuple[str, FakeProvider]]:
    with serve_fake_provider() as running:
        yield running


@pytest.fixture
def fake(served: tuple[str, FakeProvider]) -> FakeProvider:
    provider = served[1]
    provider.reset()
    return provider


@pytest.fixture
def base(served: tuple[str, FakeProvider], fake: FakeProvider) -> str:
    return served[0]


@pytest.fixture
def oai(base: str) -> Iterator[openai.OpenAI]:
    client = openai.OpenAI(api_key=KEY, base_url=f"{base}/v1", max_retries=0, timeout=5)
    yield client
    client.close()


@pytest.fixture
def claude(base: str) -> Iterator[anthropic.Anthropic]:
    client = anthropic.Anthropic(api_key=KEY, base_url=base, max_retries=0, timeout=5)
    yield client
    client.close()


def ask_openai(client: openai.OpenAI, *, tools: bool = True, **options: Any) -> Any:
    return client.chat.completions.create(
        model="gpt-fake",
        **{"messages": [{"role": "user", "content": "advise"}], **options},
        **({"tools": OPENAI_TOOLS} if tools else {}),
    )


def ask_anthropic(client: anthropic.Anthropic, *, tools: bool = True, **options: Any) -> Any:
    return client.messages.create(
        model="claude-fake",
        max_tokens=1024,
        **{"messages": [{"role": "user", "content": "advise"}], **options},
        **({"tools": ANTHROPIC_TOOLS} if tools else {}),
    )


@dataclass(frozen=True)
class Ask:
    """One request through either SDK: ``ask()``, ``ask(tools=False, timeout=0.3)``;
    ``ask.sdk`` is the SDK module, for its error classes."""

    sdk: Any
    send: Callable[..., Any]

    def __call__(self, **options: Any) -> Any:
        return self.send(**options)

    def text(self, answer: Any) -> str:
        if self.sdk is openai:
            return str(answer.choices[0].message.content)
        return str(answer.content[0].text)


@pytest.fixture(params=["openai", "anthropic"])
def ask(request: pytest.FixtureRequest, oai: openai.OpenAI, claude: anthropic.Anthropic) -> Ask:
    if request.param == "openai":
        return Ask(openai, lambda **options: ask_openai(oai, **options))
    return Ask(anthropic, lambda **options: ask_anthropic(claude, **options))


def raw_post(base: str, path: str, body: object, headers: dict[str, str]) -> tuple[int, Any]:
    """POST ``body`` as JSON (bytes as they are); the status and the parsed answer."""
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    url = urlsplit(base)
    connection = http.client.HTTPConnection(url.hostname or "", url.port, timeout=5)
    try:
        connection.request("POST", path, data, {"content-type": "application/json", **headers})
        response = connection.getresponse()
        return response.status, json.loads(response.read())
    finally:
        connection.close()


def raw_get(base: str, path: str) -> Any:
    url = urlsplit(base)
    connection = http.client.HTTPConnection(url.hostname or "", url.port, timeout=5)
    try:
        connection.request("GET", path)
        return json.loads(connection.getresponse().read())
    finally:
        connection.close()


# -- answers the SDKs parse ------------------------------------------------------------


def test_openai_tool_call_is_parsed(fake: FakeProvider, oai: openai.OpenAI) -> None:
    fake.add(Step.tool_calls([("set_param", '{"name": "rsi", "value": 30}')], 120, 17))
    answer = ask_openai(oai)
    choice = answer.choices[0]
    assert choice.finish_reason == "tool_calls"
    (call,) = choice.message.tool_calls
    assert call.type == "function"
    assert call.function.name == "set_param"
    assert json.loads(call.function.arguments) == {"name": "rsi", "value": 30}
    assert call.id
    assert answer.usage.prompt_tokens == 120
    assert answer.usage.completion_tokens == 17
    assert answer.usage.total_tokens == 137
    assert answer.model == "gpt-fake"


def test_anthropic_tool_call_is_parsed(fake: FakeProvider, claude: anthropic.Anthropic) -> None:
    fake.add(Step.tool_calls([("set_param", '{"name": "rsi", "value": 30}')], 120, 17))
    answer = ask_anthropic(claude)
    assert answer.stop_reason == "tool_use"
    (block,) = answer.content
    assert block.type == "tool_use"
    assert block.name == "set_param"
    assert block.input == {"name": "rsi", "value": 30}
    assert block.id
    assert answer.usage.input_tokens == 120
    assert answer.usage.output_tokens == 17


def test_several_tool_calls_at_once(fake: FakeProvider, ask: Ask) -> None:
    fake.add(Step.tool_calls([("set_param", '{"value": 1}'), ("no_change", '{"reason": "x"}')]))
    answer = ask()
    if ask.sdk is openai:
        calls = answer.choices[0].message.tool_calls
        got = [(c.function.name, json.loads(c.function.arguments)) for c in calls]
    else:
        got = [(b.name, b.input) for b in answer.content if b.type == "tool_use"]
    assert got == [("set_param", {"value": 1}), ("no_change", {"reason": "x"})]
    ids = (
        [c.id for c in answer.choices[0].message.tool_calls]
        if ask.sdk is openai
        else [b.id for b in answer.content]
    )
    assert len(set(ids)) == 2


def test_text_answer(fake: FakeProvider, ask: Ask) -> None:
    fake.add(Step.text("hold steady", input_tokens=10, output_tokens=3))
    answer = ask()
    if ask.sdk is openai:
        assert answer.choices[0].message.content == "hold steady"
        assert answer.choices[0].message.tool_calls is None
        assert answer.choices[0].finish_reason == "stop"
        assert (answer.usage.prompt_tokens, answer.usage.completion_tokens) == (10, 3)
    else:
        assert [(b.type, b.text) for b in answer.content] == [("text", "hold steady")]
        assert answer.stop_reason == "end_turn"
        assert (answer.usage.input_tokens, answer.usage.output_tokens) == (10, 3)


def test_empty_script_answers_no_change_when_offered(fake: FakeProvider, ask: Ask) -> None:
    answer = ask()
    request = json.dumps(fake.received[-1].body)
    if ask.sdk is openai:
        (call,) = answer.choices[0].message.tool_calls
        assert (call.function.name, json.loads(call.function.arguments)) == (
            "no_change",
            {"reason": "nothing to change"},
        )
        usage = (answer.usage.prompt_tokens, answer.usage.completion_tokens)
    else:
        (block,) = answer.content
        assert (block.name, block.input) == ("no_change", {"reason": "nothing to change"})
        usage = (answer.usage.input_tokens, answer.usage.output_tokens)
    assert usage == (len(request) // 4, 50)


def test_empty_script_answers_ok_without_the_tool(fake: FakeProvider, ask: Ask) -> None:
    answer = ask(tools=False)
    assert ask.text(answer) == "ok"


def test_huge_answer(fake: FakeProvider, ask: Ask) -> None:
    fake.add(Step.huge(3_000_000, output_tokens=750_000))
    answer = ask()
    if ask.sdk is openai:
        text, output = answer.choices[0].message.content, answer.usage.completion_tokens
    else:
        text, output = answer.content[0].text, answer.usage.output_tokens
    assert len(text.encode()) == 3_000_000
    assert output == 750_000


def test_openai_malformed_arguments_arrive_verbatim(fake: FakeProvider, oai: openai.OpenAI) -> None:
    fake.add(Step.tool_calls([("set_param", '{"value": 1,'), ("no_change", "[1, 2]")]))
    calls = ask_openai(oai).choices[0].message.tool_calls
    assert [c.function.arguments for c in calls] == ['{"value": 1,', "[1, 2]"]


def test_anthropic_malformed_input_is_not_a_dict(
    fake: FakeProvider, claude: anthropic.Anthropic
) -> None:
    """Unparseable arguments arrive as the raw str, other JSON as its value (a list)."""
    fake.add(Step.tool_calls([("set_param", '{"value": 1,'), ("no_change", "[1, 2]")]))
    blocks = ask_anthropic(claude).content
    assert [b.input for b in blocks] == ['{"value": 1,', [1, 2]]


def test_strict_anthropic_client_refuses_malformed_input(fake: FakeProvider, base: str) -> None:
    fake.add(Step.tool_calls([("set_param", "not json")]))
    with (
        anthropic.Anthropic(
            api_key=KEY, base_url=base, max_retries=0, _strict_response_validation=True
        ) as strict,
        pytest.raises(anthropic.APIResponseValidationError),
    ):
        ask_anthropic(strict)


# -- errors the SDKs raise -------------------------------------------------------------


def test_rate_limit_carries_retry_after(fake: FakeProvider, ask: Ask) -> None:
    sdk = ask.sdk
    fake.add(Step.error(429, retry_after=7))
    with pytest.raises(sdk.RateLimitError) as caught:
        ask()
    assert caught.value.status_code == 429
    assert caught.value.response.headers["retry-after"] == "7"
    if sdk is openai:
        assert caught.value.body["code"] == "rate_limit_exceeded"
    else:
        assert caught.value.body["error"]["type"] == "rate_limit_error"


def test_server_error(fake: FakeProvider, ask: Ask) -> None:
    sdk = ask.sdk
    fake.add(Step.error(500))
    with pytest.raises(sdk.InternalServerError) as caught:
        ask()
    assert caught.value.status_code == 500
    assert "retry-after" not in caught.value.response.headers


def test_anthropic_overloaded(fake: FakeProvider, claude: anthropic.Anthropic) -> None:
    fake.add(Step.error(529, retry_after=2.5))
    with pytest.raises(anthropic.OverloadedError) as caught:
        ask_anthropic(claude)
    assert isinstance(caught.value, anthropic.InternalServerError)
    assert caught.value.body["error"]["type"] == "overloaded_error"
    assert caught.value.response.headers["retry-after"] == "2.5"


def test_error_with_own_body(fake: FakeProvider, ask: Ask) -> None:
    fake.add(Step.error(400, body={"error": {"message": "context too long", "type": "x"}}))
    with pytest.raises(ask.sdk.BadRequestError) as caught:
        ask()
    assert "context too long" in str(caught.value)


def test_delay_beyond_timeout(fake: FakeProvider, ask: Ask) -> None:
    fake.add(Step.delay(3, Step.text("too late")))
    with pytest.raises(ask.sdk.APITimeoutError):
        ask(timeout=0.3)


def test_delay_within_timeout(fake: FakeProvider, ask: Ask) -> None:
    fake.add(Step.delay(0.2, Step.text("in time")))
    answer = ask(timeout=3)
    assert ask.text(answer) == "in time"


def test_garbage_json_body_escapes_as_json_decode_error(fake: FakeProvider, ask: Ask) -> None:
    """Neither SDK wraps a 200 whose JSON does not parse: json.JSONDecodeError escapes."""
    fake.add(Step.garbage())
    with pytest.raises(json.JSONDecodeError):
        ask()


def test_garbage_html_body_comes_back_as_str(fake: FakeProvider, ask: Ask) -> None:
    """A non-JSON content type: both SDKs return the body as a str, raising nothing."""
    fake.add(Step.garbage("<html>proxy</html>", content_type="text/html"))
    assert ask() == "<html>proxy</html>"


def test_streaming_is_refused(fake: FakeProvider, ask: Ask) -> None:
    with pytest.raises(ask.sdk.BadRequestError):
        ask(stream=True)


def test_wrong_key_is_refused() -> None:
    with serve_fake_provider(api_key="right") as (base, fake):
        with (
            openai.OpenAI(api_key="wrong", base_url=f"{base}/v1", max_retries=0) as oai,
            pytest.raises(openai.AuthenticationError) as caught,
        ):
            ask_openai(oai)
        assert caught.value.body["code"] == "invalid_api_key"
        with (
            anthropic.Anthropic(api_key="wrong", base_url=base, max_retries=0) as claude,
            pytest.raises(anthropic.AuthenticationError) as refused,
        ):
            ask_anthropic(claude)
        assert refused.value.body["error"]["type"] == "authentication_error"
        with anthropic.Anthropic(api_key="right", base_url=base, max_retries=0) as claude:
            assert ask_anthropic(claude).content[0].name == "no_change"
        assert fake.remaining == 0


def test_bad_request_body_is_refused_and_logged(fake: FakeProvider, base: str) -> None:
    auth = {"authorization": f"Bearer {KEY}"}
    status, answer = raw_post(base, "/v1/chat/completions", b"{not json \xff", auth)
    assert (status, answer["error"]["type"]) == (400, "invalid_request_error")
    status, answer = raw_post(base, "/v1/messages", {"model": "m", "messages": []}, auth)
    assert (status, answer["error"]["type"]) == (400, "invalid_request_error")
    assert "max_tokens" in answer["error"]["message"]
    assert fake.received[0].body == {"_invalid_json": "{not json \ufffd"}
    assert fake.remaining == 0


def test_missing_key_is_refused_in_each_envelope(base: str) -> None:
    body = {"model": "m", "max_tokens": 5, "messages": []}
    status, answer = raw_post(base, "/v1/chat/completions", body, {})
    assert status == 401
    assert set(answer["error"]) >= {"message", "type", "code"}
    status, answer = raw_post(base, "/v1/messages", body, {})
    assert status == 401
    assert answer["type"] == "error"
    assert answer["error"]["type"] == "authentication_error"
    # Anthropic's documented header passes too, besides the SDK's Bearer token
    status, answer = raw_post(base, "/v1/messages", body, {"x-api-key": KEY})
    assert (status, answer["type"]) == (200, "message")


# -- the log and the control routes ----------------------------------------------------


def test_requests_are_logged_raw(
    fake: FakeProvider, oai: openai.OpenAI, claude: anthropic.Anthropic
) -> None:
    ask_openai(oai, messages=[{"role": "user", "content": f"the key is {SECRET}"}])
    ask_anthropic(claude)
    first, second = fake.received
    assert first == Received("openai", first.body, first.headers)
    assert first.protocol == "openai"
    assert first.body["messages"][0]["content"] == f"the key is {SECRET}"
    assert first.body["tools"] == OPENAI_TOOLS
    assert first.headers["authorization"] == f"Bearer {KEY}"
    assert second.protocol == "anthropic"
    assert second.body["model"] == "claude-fake"
    assert second.body["max_tokens"] == 1024
    # anthropic 2.14 sends its key as a Bearer token, not x-api-key
    assert second.headers["authorization"] == f"Bearer {KEY}"
    assert "anthropic-version" in second.headers
    logged = raw_get(base_of(oai), "/_fake/requests")
    assert [item["protocol"] for item in logged] == ["openai", "anthropic"]
    assert SECRET in json.dumps(logged[0]["body"])


def base_of(client: openai.OpenAI) -> str:
    return str(client.base_url).removesuffix("/").removesuffix("/v1")


def test_script_over_http(fake: FakeProvider, base: str, ask: Ask) -> None:
    post_script(base, [Step.error(503, retry_after=1), Step.tool_calls([("set_param", "{}")])])
    status, answer = raw_post(
        base,
        "/_fake/script",
        [{"kind": "delay", "seconds": 0.05, "then": {"kind": "text", "content": "raw"}}],
        {},
    )
    assert (status, answer) == (200, {"added": 1, "remaining": 3})
    with pytest.raises(ask.sdk.InternalServerError) as caught:
        ask()
    assert caught.value.status_code == 503
    answer = ask()
    if ask.sdk is openai:
        assert answer.choices[0].message.tool_calls[0].function.name == "set_param"
        assert ask().choices[0].message.content == "raw"
    else:
        assert answer.content[0].name == "set_param"
        assert ask().content[0].text == "raw"
    status, _ = raw_post(base, "/_fake/reset", {}, {})
    assert status == 200
    assert fake.received == []
    assert raw_get(base, "/_fake/requests") == []


@pytest.mark.parametrize(
    "script",
    [
        {"kind": "text"},
        [{"kind": "nonsense"}],
        [{"kind": "tool_calls", "calls": [["only-a-name"]]}],
        [{"kind": "text", "content": "x", "colour": "red"}],
        [{"kind": "delay", "seconds": 1}],
        [{"kind": "error", "status": 200}],
        [{"kind": "error", "status": 429.5}],
        [{"kind": "text", "content": "x", "input_tokens": 1.5}],
    ],
)
def test_bad_script_is_refused(fake: FakeProvider, base: str, script: object) -> None:
    status, answer = raw_post(base, "/_fake/script", script, {})
    assert status == 400
    assert answer["error"]
    assert fake.remaining == 0


def test_steps_round_trip_through_json() -> None:
    steps = [
        Step.tool_calls([("a", "{"), ("b", "{}")], 1, 2, content="thinking"),
        Step.text("t"),
        Step.error(429, {"error": {"message": "m"}}, retry_after=0.5),
        Step.error(500, "plain body"),
        Step.delay(1.5, Step.huge(10, output_tokens=4)),
        Step.garbage("<x>", content_type="text/html"),
    ]
    assert [Step.from_json(json.loads(json.dumps(s.to_json()))) for s in steps] == steps


def test_standalone_process_serves_until_sigterm() -> None:
    process = subprocess.Popen(
        [sys.executable, "-m", "bulkhead.sim.llm", "--port", "0", "--api-key", KEY],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        base = line.strip().rsplit(" ", 1)[-1]
        assert base.startswith("http://127.0.0.1:"), line
        post_script(base, [Step.tool_calls([("set_param", '{"v": 2}')], 5, 6)])
        with anthropic.Anthropic(api_key=KEY, base_url=base, max_retries=0) as claude:
            answer = ask_anthropic(claude)
        assert (answer.content[0].input, answer.usage.output_tokens) == ({"v": 2}, 6)
        assert [r["protocol"] for r in raw_get(base, "/_fake/requests")] == ["anthropic"]
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=10) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
