"""Hostile input: random and malformed requests against a running twin.

Whatever arrives (any method on a path from the real route table or on none, any query,
a JSON body or bytes that are not, any headers, signed with a real key or not), the twin
answers in KuCoin's envelope and never with a 500; a refused request changes nothing
but the (bounded) refusal logs; and however many large refused requests arrive, what the
twin keeps stays small.

The requests come from ``hostile.py`` and go out as raw bytes over real HTTP, so a
malformed one reaches the server exactly as generated. The twin's clock is frozen, so no
order fills between two reads and "a refused request changed nothing" is an exact
comparison of the admin state dump.
Hypothesis runs derandomized and without an example database: every run, CI's included,
sends the same requests.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from hostile import (
    ADMIN_FIELDS,
    ADMIN_PATTERNS,
    FIELDS,
    KUCOIN_PATTERNS,
    MASTER_ALL,
    Attempt,
    admin_calls,
    attempts,
    signed_bodies,
)
from hypothesis import HealthCheck, event, given, settings
from simkit import EXAMPLE, STATE_FILE, RawResponse, Sim

from bulkhead.sim import limits
from bulkhead.sim.engine import Twin, wall_clock_ms
from bulkhead.sim.models import PERMISSIONS, ExchangeState
from bulkhead.sim.scenario import apply_scenario, credentials, load_scenario
from bulkhead.sim.server import TwinServer

pytestmark = pytest.mark.hostile

MOVEMENT_PATHS = ["/api/v3/accounts/universal-transfer", "/api/v1/withdrawals"]

#: Enough examples to reach every route with several bodies, within a few seconds each.
SETTINGS = settings(
    max_examples=500,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


# -- the twin ---------------------------------------------------------------------------


@dataclass
class Frozen:
    """A running twin whose wall clock (and so market time) stands still."""

    sim: Sim
    now_ms: int


def _frozen(state_dir: Path) -> Iterator[Frozen]:
    now_ms = wall_clock_ms()
    twin = Twin(ExchangeState(anchor_ms=now_ms), EXAMPLE.parent.resolve(), lambda: now_ms)
    keys = apply_scenario(twin, load_scenario(EXAMPLE))
    keys.append(twin.create_key(twin.user_by_name("master"), PERMISSIONS, name=MASTER_ALL))
    creds = {str(c["name"]): dict(c) for c in credentials(twin, keys)}
    with TwinServer(twin, state_path=state_dir / STATE_FILE) as server:
        sim = Sim(server, creds)
        try:
            yield Frozen(sim, now_ms)
        finally:
            sim.http.close()


@pytest.fixture(scope="module")
def frozen(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Frozen]:
    yield from _frozen(tmp_path_factory.mktemp("hostile"))


@pytest.fixture(scope="module")
def frozen_admin(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Frozen]:
    """A second twin for the admin API, so its accepted changes stay out of the first."""
    yield from _frozen(tmp_path_factory.mktemp("hostile-admin"))


# -- what must hold ---------------------------------------------------------------------


def envelope_code(method: str, answer: RawResponse) -> str | None:
    """The KuCoin code of an answer, after checking it is the envelope and not a 500."""
    assert answer.status < 500, answer
    assert answer.headers.get("content-type") == "application/json", answer
    if method == "HEAD":  # HTTP sends no body with an answer to HEAD
        return None
    payload = json.loads(answer.body)
    assert isinstance(payload, dict), payload
    code = payload.get("code")
    assert isinstance(code, str), payload
    assert re.fullmatch(r"\d{6}", code), payload
    if code == "200000":
        assert set(payload) == {"code", "data"}, payload
    else:
        assert set(payload) == {"code", "msg"}, payload
        assert isinstance(payload["msg"], str), payload
    return code


def durable(sim: Sim) -> dict[str, Any]:
    """The state a refused request must not touch: everything but the refusal logs (and
    the id counter, which records in them advance)."""
    state = sim.state()
    refusals = state.pop("auth_refusals")
    assert len(refusals) <= limits.MAX_AUTH_REFUSALS
    refused = [m for m in state["movements"] if not m["accepted"]]
    assert len(refused) <= limits.MAX_REFUSED_MOVEMENTS
    state["movements"] = [m for m in state["movements"] if m["accepted"]]
    del state["sequence"]
    return state


def send(frozen: Frozen, attempt: Attempt) -> RawResponse:
    return frozen.sim.raw(attempt.encode(frozen.sim.credentials, frozen.now_ms), timeout=5)


# -- the properties ---------------------------------------------------------------------


@SETTINGS
@given(attempt=attempts(KUCOIN_PATTERNS, FIELDS))
def test_any_kucoin_request_gets_the_envelope_never_a_500_and_changes_nothing_when_refused(
    frozen: Frozen, attempt: Attempt
) -> None:
    before = durable(frozen.sim)
    code = envelope_code(attempt.method, send(frozen, attempt))
    event(f"answered {code}")
    if code != "200000":
        assert durable(frozen.sim) == before


@SETTINGS
@given(attempt=signed_bodies())
def test_any_signed_order_or_transfer_gets_the_envelope_and_changes_nothing_when_refused(
    frozen: Frozen, attempt: Attempt
) -> None:
    before = durable(frozen.sim)
    code = envelope_code(attempt.method, send(frozen, attempt))
    event(f"answered {code}")
    if code != "200000":
        assert durable(frozen.sim) == before


@SETTINGS
@given(attempt=admin_calls())
def test_any_admin_call_from_a_local_tool_gets_the_envelope_and_changes_nothing_when_refused(
    frozen_admin: Frozen, attempt: Attempt
) -> None:
    before = durable(frozen_admin.sim)
    code = envelope_code(attempt.method, send(frozen_admin, attempt))
    event(f"answered {code}")
    if code != "200000":
        assert durable(frozen_admin.sim) == before


@SETTINGS
@given(attempt=attempts(ADMIN_PATTERNS, ADMIN_FIELDS))
def test_any_admin_request_gets_the_envelope_never_a_500_and_changes_nothing_when_refused(
    frozen_admin: Frozen, attempt: Attempt
) -> None:
    before = durable(frozen_admin.sim)
    code = envelope_code(attempt.method, send(frozen_admin, attempt))
    event(f"answered {code}")
    if code != "200000":
        assert durable(frozen_admin.sim) == before


def test_a_flood_of_large_refused_movements_leaves_the_state_bounded(frozen: Frozen) -> None:
    sim = frozen.sim
    padding = "p" * (limits.MAX_BODY_BYTES - 200)
    body = json.dumps({"currency": "USDT", "amount": "10", "memo": padding})
    floods = limits.MAX_REFUSED_MOVEMENTS + 200
    for attempt in range(floods):
        path = MOVEMENT_PATHS[attempt % 2]
        if attempt % 3:
            response = sim.http.post(
                path, content=body, headers={"Content-Type": "application/json"}
            )
        else:  # signed by a key without the permission: refused after authentication
            response = sim.signed("bot1-trade", "POST", path, body=body, timestamp_ms=frozen.now_ms)
        assert response.json()["code"] in ("400001", "400007"), response.json()
    state = sim.state()
    refused = [m for m in state["movements"] if not m["accepted"]]
    assert len(refused) == limits.MAX_REFUSED_MOVEMENTS
    assert len(state["auth_refusals"]) == limits.MAX_AUTH_REFUSALS
    # about 300 bytes a record, against the 64 KB each request carried
    assert len(sim.state_dump()) < 2 * 1024 * 1024
