"""The risk guard asks the gateway for trading states over real HTTP, signed with the bot's
gateway credential (``guard.wiring.GatewayStateSink``), on a real Redis: it may tighten,
and lift only what it set itself; the operator's states and a HALTED stay."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from bulkhead.config.models import Bot
from bulkhead.gateway.app import GatewayApp
from bulkhead.gateway.custody import GatewayCredential, custody_for
from bulkhead.gateway.guard_route import GuardRoute
from bulkhead.gateway.server import GatewayServer
from bulkhead.gateway.states import TradingState, TradingStates
from bulkhead.gateway.upstream import Upstream
from bulkhead.guard.wiring import GatewayStateSink
from bulkhead.memory.server import ManagedRedis, bundled_redis_server

BOT = "bot1"


def bot1() -> Bot:
    return Bot.model_validate(
        {
            "name": BOT,
            "subaccount": BOT,
            "credentials": {
                "api_key": {"env": "BOT1_KEY"},
                "secret": {"env": "BOT1_SECRET"},
                "passphrase": {"env": "BOT1_PASS"},
            },
            "budget": {"amount": 100, "currency": "USDT"},
            "pairs": ["XRP/USDT"],
            "strategy": {"name": "TwinScalper"},
        }
    )


@dataclass
class Rig:
    states: TradingStates
    url: str
    credential: GatewayCredential
    redis: ManagedRedis

    def sink(self, **changes: str) -> GatewayStateSink:
        c = self.credential
        fields = {"key": c.api_key, "secret": c.secret, "passphrase": c.passphrase, **changes}
        return GatewayStateSink(self.url, **fields)


@pytest.fixture
def rig(tmp_path: Path) -> Iterator[Rig]:
    server = ManagedRedis(tmp_path / "redis", bundled_redis_server())
    server.ensure_running()
    client = server.admin().client(socket_timeout=5)
    states = TradingStates(client)
    environ = {"BOT1_KEY": "real-key", "BOT1_SECRET": "real-secret", "BOT1_PASS": "real-pass"}
    custody = custody_for([bot1()], tmp_path / "gateway", environ=environ)
    (credential,) = custody.credentials.values()
    # the upstream is never asked: the guard's route is served by the gateway itself
    app = GatewayApp(custody, Upstream("http://127.0.0.1:9"), guard_route=GuardRoute(states))
    try:
        with GatewayServer(app) as gateway:
            yield Rig(states, gateway.url, credential, server)
    finally:
        client.close()
        server.stop()


def test_the_guard_reduces_its_bot_and_lifts_only_what_it_set(rig: Rig) -> None:
    sink = rig.sink()

    assert (sink.current().state, sink.current().by) == ("ACTIVE", "")
    assert sink.request("REDUCING", "DRAWDOWN_LIMIT peak=104.20 equity=88.10") == (
        "REDUCING",
        "guard",
    )
    record = rig.states.get(BOT)
    assert (record.state, record.by) == (TradingState.REDUCING, "guard")
    assert record.reason.startswith("DRAWDOWN_LIMIT")
    assert sink.request("ACTIVE", "DAILY period reset") == ("ACTIVE", "guard")
    decisions = [d.fields for d in rig.states.last_decisions(BOT)]
    assert [(d["decision"], d["by"]) for d in decisions] == [
        ("REDUCING", "guard"),
        ("ACTIVE", "guard"),
    ]


def test_the_operators_reducing_and_any_halt_stay_whatever_the_guard_asks(rig: Rig) -> None:
    sink = rig.sink()
    rig.states.set(BOT, TradingState.REDUCING, "operator says exits only", by="operator")

    assert sink.request("ACTIVE", "rules within limits") == ("REDUCING", "operator")
    assert sink.request("HALTED", "EXCHANGE_ERRORS errors=6") == ("HALTED", "guard")
    assert sink.request("ACTIVE", "rules within limits") == ("HALTED", "guard")
    assert sink.request("REDUCING", "DRAWDOWN_LIMIT") == ("HALTED", "guard")
    assert rig.states.get(BOT).state is TradingState.HALTED


def test_a_kill_by_the_operator_is_never_lifted_by_the_guard(rig: Rig) -> None:
    rig.states.halt(BOT, "bulkhead kill", by="operator")

    assert rig.sink().request("ACTIVE", "rules within limits") == ("HALTED", "operator")


def test_a_wrong_secret_or_a_bad_state_changes_nothing(rig: Rig) -> None:
    with pytest.raises(RuntimeError, match="400005"):
        rig.sink(secret="not-the-secret").request("HALTED", "forged")
    with pytest.raises(RuntimeError, match="400100"):
        rig.sink().request("SHORT_EVERYTHING", "nonsense")
    assert rig.states.get(BOT).state is TradingState.ACTIVE
    assert rig.states.last_decisions(BOT) == []


def test_redis_down_answers_an_error_not_a_state(rig: Rig) -> None:
    rig.redis.stop()

    with pytest.raises(RuntimeError, match="trading state unavailable"):
        rig.sink().request("REDUCING", "DRAWDOWN_LIMIT")


def test_the_guard_reads_the_upstream_errors_its_bot_met(rig: Rig) -> None:
    """The upstream here answers nothing: a balance read through the gateway is lost, and
    the guard's next reading lists it (what its critical-error rule counts)."""
    import time

    import httpx

    from bulkhead.kucoin.signing import signed_headers

    c = rig.credential
    target = b"/api/v1/accounts"
    headers = signed_headers(
        c.api_key, c.secret, c.passphrase, "GET", target, b"", time.time_ns() // 1_000_000
    )
    answer = httpx.get(
        rig.url + target.decode(), headers={k.decode(): v.decode() for k, v in headers}
    )
    assert answer.status_code >= 500

    reading = rig.sink().current()

    assert reading.state == "ACTIVE"
    assert [code for _, code in reading.errors] == ["lost"]
    assert reading.exchange_status == ""  # no status reader in this rig
