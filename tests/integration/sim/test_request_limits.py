"""The twin's bounds on what a client can send it or make it remember.

A request too large for any real KuCoin call is refused in KuCoin's envelope before the
twin reads it whole, and what a refused transfer or withdrawal leaves in the audit log is
a short summary: a flood of them cannot grow the process or its state dump.
"""

from __future__ import annotations

import gc
import json
import tracemalloc

import pytest
from simkit import Sim

from bulkhead.sim import limits

TEN_MB = 10 * 1024 * 1024
MOVEMENT_PATHS = ["/api/v3/accounts/universal-transfer", "/api/v1/withdrawals"]


def huge_transfer_body(size: int) -> bytes:
    """A well-formed transfer request carrying ``size`` bytes of padding in one field."""
    head = b'{"clientOid":"c1","currency":"USDT","amount":"10","type":"INTERNAL","memo":"'
    return head + b"x" * (size - len(head) - 2) + b'"}'


def live_python_mb() -> float:
    """Memory held by live Python objects in this process (the twin runs in it): unlike
    the resident size, it drops when objects are freed."""
    gc.collect()
    return tracemalloc.get_traced_memory()[0] / 2**20


def post_huge_transfers(sim: Sim, count: int) -> None:
    """Post ``count`` 10 MB transfer requests, each refused as too large."""
    for attempt in range(count):
        response = sim.http.post(
            MOVEMENT_PATHS[attempt % 2],
            content=huge_transfer_body(TEN_MB),
            headers={"Content-Type": "application/json"},
        )
        assert response.status_code == 413
        assert response.json() == {
            "code": "400100",
            "msg": f"Request body too large: at most {limits.MAX_BODY_BYTES} bytes",
        }


def test_twenty_refused_10_mb_transfers_leave_the_process_and_the_state_dump_small(
    sim: Sim,
) -> None:
    dump_before = len(sim.state_dump())
    tracemalloc.start()
    try:
        memory_before = live_python_mb()
        post_huge_transfers(sim, 20)
        assert live_python_mb() - memory_before < 5, "the refused bodies were kept"
    finally:
        tracemalloc.stop()
    assert len(sim.state_dump()) < dump_before + 64 * 1024
    assert sim.balance("master", "main", "USDT")[0] == 10_000


def test_a_refused_transfer_just_under_the_body_limit_is_recorded_as_a_short_summary(
    sim: Sim,
) -> None:
    body = huge_transfer_body(limits.MAX_BODY_BYTES)
    response = sim.http.post(
        MOVEMENT_PATHS[0], content=body, headers={"Content-Type": "application/json"}
    )
    assert response.json()["code"] == "400001"  # unsigned: refused by the auth layer
    [movement] = sim.twin.state.movements
    assert movement.accepted is False
    assert movement.request["currency"] == "USDT"
    assert movement.request["amount"] == "10"
    assert len(json.dumps(movement.request)) < 1024


def test_a_signed_refused_transfer_keeps_only_a_summary_of_its_fields(sim: Sim) -> None:
    body = {f"field{i}": "y" * 1000 for i in range(40)}
    body.update(currency="USDT", amount="1e308", type="INTERNAL")
    response = sim.signed_json("master-admin", "POST", MOVEMENT_PATHS[0], body)
    assert response.json()["code"] == "400100"
    [movement] = sim.twin.state.movements
    assert len(movement.request) <= limits.MAX_RECORDED_FIELDS + 1
    assert all(
        len(str(value)) <= limits.MAX_RECORDED_VALUE_CHARS + 1
        for value in movement.request.values()
    )


def test_a_body_declared_over_the_limit_is_refused_before_it_is_sent(sim: Sim) -> None:
    answer = sim.raw(
        b"POST /api/v1/orders HTTP/1.1\r\nHost: twin\r\nContent-Type: application/json\r\n"
        b"Content-Length: %d\r\n\r\n" % (limits.MAX_BODY_BYTES + 1)
    )
    assert answer.status == 413
    assert answer.envelope()["code"] == "400100"


def test_a_chunked_body_over_the_limit_is_refused(sim: Sim) -> None:
    chunk = b"x" * 16_384
    chunks = b"".join(b"%x\r\n%s\r\n" % (len(chunk), chunk) for _ in range(5))
    answer = sim.raw(
        b"POST /api/v1/withdrawals HTTP/1.1\r\nHost: twin\r\nTransfer-Encoding: chunked\r\n"
        b"Content-Type: application/json\r\n\r\n" + chunks + b"0\r\n\r\n"
    )
    assert answer.status == 413
    assert answer.envelope()["code"] == "400100"
    assert sim.twin.state.movements == []


@pytest.mark.parametrize(
    ("request_bytes", "status"),
    [
        pytest.param(
            b"GET /api/v1/timestamp?q=" + b"x" * (limits.MAX_URL_BYTES + 1) + b" HTTP/1.1\r\n\r\n",
            414,
            id="query-string-over-the-url-limit",
        ),
        pytest.param(
            b"GET /api/v1/" + b"x" * (limits.MAX_URL_BYTES + 1) + b" HTTP/1.1\r\n\r\n",
            414,
            id="path-over-the-url-limit",
        ),
        pytest.param(
            b"GET /api/v1/timestamp HTTP/1.1\r\nX-Big: "
            + b"x" * (limits.MAX_HEAD_BYTES + 1)
            + b"\r\n\r\n",
            431,
            id="one-header-over-the-head-limit",
        ),
        pytest.param(
            b"GET /api/v1/timestamp HTTP/1.1\r\n"
            + b"".join(b"X-%d: 1\r\n" % i for i in range(limits.MAX_HEADERS + 1))
            + b"\r\n",
            431,
            id="more-headers-than-allowed",
        ),
        pytest.param(
            b"GET /api/v1/timestamp HTTP/1.1\r\nX-Endless: " + b"x" * (limits.MAX_HEAD_BYTES + 1),
            431,
            id="a-header-that-never-ends",
        ),
        pytest.param(b"NONSENSE\r\n\r\n", 400, id="not-http-at-all"),
        pytest.param(b"GET /api/v1/\xff\xfe HTTP/1.1\r\n\r\n", 400, id="non-ascii-path-bytes"),
        pytest.param(b"GET / HTTP/1.1\r\nBad Header: x\r\n\r\n", 400, id="space-in-header-name"),
    ],
)
def test_what_the_http_layer_refuses_is_answered_in_kucoins_envelope(
    sim: Sim, request_bytes: bytes, status: int
) -> None:
    answer = sim.raw(request_bytes)
    assert answer.status == status
    assert answer.envelope()["code"] == "400100"


def test_a_websocket_upgrade_is_answered_as_plain_http(sim: Sim) -> None:
    answer = sim.raw(
        b"GET /api/v1/timestamp HTTP/1.1\r\nHost: twin\r\nConnection: Upgrade\r\n"
        b"Upgrade: websocket\r\nSec-WebSocket-Version: 13\r\n"
        b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n"
    )
    assert answer.status == 200
    assert json.loads(answer.body)["code"] == "200000"


def test_a_request_within_every_limit_is_served_after_refused_ones(sim: Sim) -> None:
    sim.raw(b"GET /api/v1/" + b"x" * (limits.MAX_URL_BYTES + 1) + b" HTTP/1.1\r\n\r\n")
    headers = {f"X-Pad-{i}": "p" * 100 for i in range(limits.MAX_HEADERS - 10)}
    response = sim.http.get("/api/v1/timestamp", headers=headers)
    assert response.json()["code"] == "200000"


def test_many_requests_on_one_connection_never_add_up_to_a_head_too_large(sim: Sim) -> None:
    padding = {"X-Pad": "p" * 1000}
    requests = 3 * limits.MAX_HEAD_BYTES // 1000
    for _ in range(requests):
        response = sim.http.get("/api/v1/timestamp", headers=padding)
        assert response.json()["code"] == "200000"
    body = json.dumps({"symbol": "XRP-USDT", "memo": "m" * 40_000})
    for _ in range(3):  # bodies in between: only heads are counted
        assert sim.http.post("/api/v1/no-such-path", content=body).status_code == 404
        assert sim.http.get("/api/v1/timestamp").status_code == 200
