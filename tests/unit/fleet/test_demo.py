"""The demo's files and the decisions it shows, without a twin or a bot."""

from __future__ import annotations

import json
from pathlib import Path

from bulkhead.config.workspace import BotPaths
from bulkhead.fleet.demo import TEMPLATE_TWIN_URL, recent_decisions, recent_events, write_demo_spec

CREDENTIAL = {"apiKey": "k-1", "secret": "s-2", "passphrase": "p-3"}


def test_the_demo_spec_points_at_the_twin_and_the_env_is_private_from_the_start(tmp_path: Path):
    folder = tmp_path / "demo"
    template = f"exchange: {{url: {TEMPLATE_TWIN_URL}}}\n"
    spec = write_demo_spec(folder, template, "http://127.0.0.1:4242", CREDENTIAL)
    assert spec == folder / "bulkhead.yaml"
    assert spec.read_text() == "exchange: {url: http://127.0.0.1:4242}\n"
    env = folder / ".env"
    assert env.read_text().splitlines() == [
        "BOT1_KUCOIN_API_KEY=k-1",
        "BOT1_KUCOIN_API_SECRET=s-2",
        "BOT1_KUCOIN_API_PASSPHRASE=p-3",
    ]
    assert env.stat().st_mode & 0o777 == 0o600


def _log(path: Path, *entries: object) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(e if isinstance(e, str) else json.dumps(e) for e in entries))


def test_only_decisions_are_shown_with_their_fields_in_order(tmp_path: Path):
    log = tmp_path / "bot.jsonl"
    _log(
        log,
        "not json",
        7,
        {"time": "2024-01-02T03:04:05Z", "event": "heartbeat"},
        {
            "time": "2024-01-02T03:04:06Z",
            "event": "order_filled",
            "price": 0.5,
            "pair": "XRP/USDT",
            "side": "buy",
            "amount": None,
            "other": 1,
        },
    )
    (event,) = recent_events(log)
    assert (event.time, event.event) == ("03:04:06", "order_filled")
    assert list(event.fields.items()) == [("pair", "XRP/USDT"), ("side", "buy"), ("price", 0.5)]


def test_a_missing_log_shows_nothing(tmp_path: Path):
    assert recent_events(tmp_path / "none.jsonl") == []


def test_decisions_take_the_last_six_of_each_log_then_the_last_eight(tmp_path: Path):
    paths = BotPaths(tmp_path)

    def entries(prefix: str) -> list[dict[str, str]]:
        return [
            {"time": f"2024-01-02T03:04:{n:02}Z", "event": "entry_signal", "pair": f"{prefix}{n}"}
            for n in range(10)
        ]

    _log(paths.log, *entries("s"))
    _log(paths.freqtrade_log, *entries("f"))
    pairs = [event.fields["pair"] for event in recent_decisions(paths)]
    assert pairs == ["s8", "s9", "f4", "f5", "f6", "f7", "f8", "f9"]


def test_the_demo_spec_switches_bot1s_advisor_on_against_the_given_provider(tmp_path: Path):
    from bulkhead.cli.bots import _template
    from bulkhead.config.loader import load_fleet

    spec = write_demo_spec(
        tmp_path, _template(), "http://127.0.0.1:4242", CREDENTIAL, ("http://127.0.0.1:9", "k" * 32)
    )
    fleet = load_fleet(spec)
    assert fleet.bots[0].advisor.enabled
    assert fleet.advisor is not None
    assert fleet.advisor.provider.base_url == "http://127.0.0.1:9"
    assert "k" * 32 not in spec.read_text()
    assert (tmp_path / ".env").read_text().splitlines()[-1] == "DEMO_LLM_API_KEY=" + "k" * 32
