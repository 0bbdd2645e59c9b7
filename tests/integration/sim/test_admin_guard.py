"""The admin API refuses anything a web page could send, and snapshots stay private.

The admin API mints keys and money. A browser page on any site can post to loopback
("simple" requests need no CORS preflight), so a request marked by a browser (``Origin``,
``Sec-Fetch-Site``, a rebound ``Host``) or carrying a non-JSON body is refused and
changes nothing. A snapshot holds every key's secret: it is written 0600, only into the
twin's state folder, and a failed one leaves no file behind (the private write itself is
tested in tests/unit/plumbing).
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest
from simkit import STATE_FILE, Sim

from bulkhead.sim.engine import Twin
from bulkhead.sim.server import TwinServer

BALANCE = {"user": "bot1", "currency": "USDT", "amount": "1000000", "account": "trade"}


def bot1_usdt(sim: Sim) -> object:
    return sim.balance("bot1", "trade", "USDT")[0]


@pytest.mark.parametrize(
    "headers",
    [
        {"Origin": "https://evil.example"},
        {"Origin": "null"},
        {"Sec-Fetch-Site": "cross-site"},
        {"Sec-Fetch-Site": "same-site"},
        {"Host": "evil.example:8899"},
        {"Host": "127.0.0.1.evil.example"},
    ],
    ids=["origin", "null-origin", "cross-site", "same-site", "rebound-host", "lookalike-host"],
)
def test_an_admin_request_marked_by_a_browser_is_refused_and_changes_nothing(
    sim: Sim, headers: dict[str, str]
) -> None:
    before = sim.state()
    response = sim.http.post("/sim/v1/balances", json=BALANCE, headers=headers)
    assert response.status_code == 403
    assert response.json()["code"] == "403000"
    assert sim.http.get("/sim/v1/state", headers=headers).status_code == 403
    assert sim.state() == before


@pytest.mark.parametrize(
    ("content_type", "body"),
    [
        ("text/plain", b'{"user":"bot1","currency":"USDT","amount":"1000000"}'),
        ("application/x-www-form-urlencoded", b"user=bot1&currency=USDT&amount=1000000"),
        ("multipart/form-data; boundary=x", b"--x--"),
        (None, b'{"user":"bot1","currency":"USDT","amount":"1000000"}'),
    ],
    ids=["text-plain", "form", "multipart", "no-content-type"],
)
def test_an_admin_post_whose_body_is_not_declared_json_is_refused_and_changes_nothing(
    sim: Sim, content_type: str | None, body: bytes
) -> None:
    before = sim.state()
    headers = {"Content-Type": content_type} if content_type else {}
    response = sim.http.post("/sim/v1/balances", content=body, headers=headers)
    assert response.status_code == 415
    assert response.json()["code"] == "415000"
    assert sim.state() == before


@pytest.mark.parametrize(
    "headers",
    [
        {"Sec-Fetch-Site": "none"},
        {"Sec-Fetch-Site": "same-origin"},
        {"Host": "localhost:1234"},
        {"Host": "[::1]:1234"},
        {"Content-Type": "application/json; charset=utf-8"},
    ],
    ids=["typed-url", "same-origin", "localhost", "ipv6-loopback", "json-with-charset"],
)
def test_an_admin_request_from_a_local_tool_is_accepted(sim: Sim, headers: dict[str, str]) -> None:
    response = sim.http.post("/sim/v1/balances", json=BALANCE, headers=headers)
    assert response.json()["code"] == "200000", response.json()
    assert bot1_usdt(sim) == 1_000_000


def test_an_admin_request_with_the_wrong_token_is_refused() -> None:
    with TwinServer(Twin.empty(), admin_token="s3cret") as server:
        sim = Sim(server, {})
        try:
            assert sim.http.get("/sim/v1/state").status_code == 401
            wrong = {"Authorization": "Bearer s3cre"}
            assert sim.http.get("/sim/v1/state", headers=wrong).json()["code"] == "401000"
            right = {"Authorization": "Bearer s3cret"}
            assert sim.http.get("/sim/v1/state", headers=right).json()["code"] == "200000"
        finally:
            sim.http.close()


# -- snapshots --------------------------------------------------------------------------


def snapshot(sim: Sim, path: object) -> dict[str, object]:
    response = sim.http.post("/sim/v1/snapshot", json={"path": path})
    return dict(response.json())


def test_a_snapshot_is_owner_only_even_under_a_permissive_umask(sim: Sim, tmp_path: Path) -> None:
    previous = os.umask(0)
    try:
        assert snapshot(sim, "snap.json")["code"] == "200000"
    finally:
        os.umask(previous)
    mode = stat.S_IMODE((tmp_path / "snap.json").stat().st_mode)
    assert mode == 0o600


def test_a_snapshot_without_a_path_writes_the_state_file(sim: Sim, tmp_path: Path) -> None:
    response = sim.http.post("/sim/v1/snapshot", json={})
    assert response.json()["code"] == "200000"
    assert (tmp_path / STATE_FILE).exists()


@pytest.mark.parametrize(
    "where",
    ["outside", "parent", "new-folder", "symlink-out", "state-folder-itself"],
)
def test_a_snapshot_outside_the_state_folder_is_refused_and_writes_nothing(
    sim: Sim, tmp_path: Path, tmp_path_factory: pytest.TempPathFactory, where: str
) -> None:
    elsewhere = tmp_path_factory.mktemp("elsewhere")
    (tmp_path / "link").symlink_to(elsewhere)
    target = {
        "outside": str(elsewhere / "snap.json"),
        "parent": "../snap.json",
        "new-folder": "made/up/snap.json",
        "symlink-out": "link/snap.json",
        "state-folder-itself": str(tmp_path),
    }[where]
    before = sorted(p.name for p in tmp_path.iterdir())
    payload = snapshot(sim, target)
    assert payload["code"] == "400100", payload
    assert list(elsewhere.iterdir()) == []
    assert not (tmp_path.parent / "snap.json").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == before


def test_a_twin_without_a_state_folder_takes_no_snapshot(tmp_path: Path) -> None:
    with TwinServer(Twin.empty()) as server:
        sim = Sim(server, {})
        try:
            payload = snapshot(sim, str(tmp_path / "snap.json"))
        finally:
            sim.http.close()
    assert payload["code"] == "400100"
    assert list(tmp_path.iterdir()) == []


def test_a_failed_snapshot_leaves_no_temporary_file(sim: Sim, tmp_path: Path) -> None:
    (tmp_path / "taken").mkdir()  # a folder where the snapshot file should go
    before = sorted(p.name for p in tmp_path.iterdir())
    payload = snapshot(sim, "taken")
    assert payload["code"] == "400100"
    assert sorted(p.name for p in tmp_path.iterdir()) == before
