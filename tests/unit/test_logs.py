"""Structured logs: one JSON object per line with bot and time, secrets never in them."""

from __future__ import annotations

import json
import logging

import pytest

from bulkhead.logs import ConsoleFormatter, JsonFormatter, event


def record(message: str, **fields: object) -> logging.LogRecord:
    made = logging.makeLogRecord({"msg": message, "levelname": "INFO", "name": "test"})
    for key, value in fields.items():
        setattr(made, key, value)
    return made


def test_an_event_is_one_json_line_with_bot_time_and_fields():
    line = JsonFormatter("bot1").format(record("order_filled", pair="XRP/USDT", amount=5))
    entry = json.loads(line)
    assert "\n" not in line
    assert entry["bot"] == "bot1"
    assert entry["event"] == "order_filled"
    assert entry["pair"] == "XRP/USDT"
    assert entry["amount"] == 5
    assert entry["time"].endswith("+00:00")


def test_known_secret_values_are_redacted_wherever_they_appear(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("FREQTRADE__EXCHANGE__SECRET", "s3cr3t-value")
    formatter = JsonFormatter(
        "bot1", secrets=["passphrase-xyz"], secret_env=["FREQTRADE__EXCHANGE__SECRET"]
    )
    line = formatter.format(
        record("calling with s3cr3t-value and passphrase-xyz", detail={"nested": "s3cr3t-value"})
    )
    assert "s3cr3t-value" not in line
    assert "passphrase-xyz" not in line
    assert line.count("***") == 3


def test_fields_named_like_secrets_are_dropped_whatever_they_hold():
    entry = json.loads(JsonFormatter().format(record("x", password="pw", api_key="ak")))
    assert entry["password"] == entry["api_key"] == "***"


def test_kucoin_auth_headers_are_redacted_even_when_unknown():
    line = JsonFormatter().format(record("headers {'KC-API-SIGN': 'abcDEF123=', 'x': 1}"))
    assert "abcDEF123" not in line


def test_the_console_shows_the_same_event_readably(caplog: pytest.LogCaptureFixture):
    text = ConsoleFormatter("bot1", secrets=["topsecret"]).format(
        record("entry_signal", pair="XRP/USDT", note="topsecret")
    )
    assert "bot1" in text
    assert "entry_signal pair=XRP/USDT" in text
    assert "topsecret" not in text
    with caplog.at_level(logging.INFO):
        event(logging.getLogger("t"), "stop_requested", reason="sigterm")
    assert caplog.records[0].reason == "sigterm"  # type: ignore[attr-defined]


def test_a_record_sent_to_two_handlers_is_formatted_once_but_never_past_its_redactor():
    """The gateway logs each record to stderr and to a file: the second formatter with the
    same bot and redactor reuses the first's line; one with another redactor (or bot)
    makes its own, so a secret only one of them knows never leaks through the reuse."""
    first = JsonFormatter("gateway", secrets=["hidden-from-first"])
    same = JsonFormatter("gateway")
    same.redact = first.redact
    other = JsonFormatter("gateway", secrets=["only-other-knows"])
    made = record("order_sent", note="only-other-knows and hidden-from-first")
    line = first.format(made)
    assert "hidden-from-first" not in line
    assert "only-other-knows" in line
    assert same.format(made) is line
    assert "only-other-knows" not in other.format(made)
    assert json.loads(JsonFormatter("bot2").format(made))["bot"] == "bot2"
    assert "_json_line" not in json.loads(line)
