"""How a bot's supervisor finds the gateway: only a running gateway that serves the bot
gives it access, and a credential file others could have read is refused."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from bulkhead.config.workspace import GatewayPaths
from bulkhead.fleet.gateway_access import (
    CREDENTIAL_FILE_ENV,
    URL_ENV,
    GatewayNotRunning,
    GatewayRefusedBot,
    environment_access,
    local_access,
    point_at_gateway,
)
from bulkhead.fleet.lease import Lease
from bulkhead.gateway.custody import credential_path, gateway_credential


def _serving(paths: GatewayPaths, bots: dict[str, dict[str, object]]) -> None:
    paths.root.mkdir(parents=True, exist_ok=True)
    state = {"state": "serving", "url": "http://127.0.0.1:8123", "port": 8123, "bots": bots}
    paths.state.write_text(json.dumps(state))


def test_a_served_bot_gets_the_url_and_its_own_credential(tmp_path: Path) -> None:
    paths = GatewayPaths(tmp_path / "gateway")
    paths.root.mkdir()
    made = gateway_credential(paths.root, "bot1")
    _serving(paths, {"bot1": {"served": True, "reason": ""}})

    with Lease(paths.lock):
        access = local_access(paths, "bot1")

    assert access.url == "http://127.0.0.1:8123"
    assert access.credential == made
    assert access.credentials()["secret"].get_secret_value() == made.secret


def test_no_gateway_holding_the_lease_means_no_access(tmp_path: Path) -> None:
    paths = GatewayPaths(tmp_path / "gateway")
    _serving(paths, {"bot1": {"served": True, "reason": ""}})  # left by a dead gateway

    with pytest.raises(GatewayNotRunning, match="not running"):
        local_access(paths, "bot1")


@pytest.mark.parametrize(
    ("bots", "expected"),
    [
        ({"bot1": {"served": False, "reason": "preflight failed"}}, "preflight failed"),
        ({}, "restart it"),
    ],
)
def test_a_bot_the_gateway_does_not_serve_is_refused_with_the_reason(
    tmp_path: Path, bots: dict[str, dict[str, object]], expected: str
) -> None:
    paths = GatewayPaths(tmp_path / "gateway")
    paths.root.mkdir()
    gateway_credential(paths.root, "bot1")
    _serving(paths, bots)

    with Lease(paths.lock), pytest.raises(GatewayRefusedBot, match=expected):
        local_access(paths, "bot1")


def test_a_credential_file_others_can_read_is_refused(tmp_path: Path) -> None:
    paths = GatewayPaths(tmp_path / "gateway")
    paths.root.mkdir()
    gateway_credential(paths.root, "bot1")
    os.chmod(credential_path(paths.root, "bot1"), 0o644)
    _serving(paths, {"bot1": {"served": True, "reason": ""}})

    with Lease(paths.lock), pytest.raises(GatewayRefusedBot, match="readable or writable"):
        local_access(paths, "bot1")


def test_another_bots_credential_file_is_refused(tmp_path: Path) -> None:
    folder = tmp_path / "secrets"
    folder.mkdir()
    gateway_credential(folder, "bot2")
    environ = {
        URL_ENV: "http://gateway:8090",
        CREDENTIAL_FILE_ENV: str(credential_path(folder, "bot2")),
    }

    with pytest.raises(GatewayRefusedBot, match="bot2's credential, not bot1's"):
        environment_access(environ, "bot1")


def test_a_container_is_given_its_access_whole(tmp_path: Path) -> None:
    made = gateway_credential(tmp_path, "bot1")
    environ = {
        URL_ENV: "http://gateway:8090",
        CREDENTIAL_FILE_ENV: str(credential_path(tmp_path, "bot1")),
    }

    access = environment_access(environ, "bot1")

    assert access is not None
    assert (access.url, access.credential) == ("http://gateway:8090", made)
    assert environment_access({}, "bot1") is None


def test_freqtrade_is_pointed_at_the_gateway_for_spot_and_nowhere_else() -> None:
    config: dict[str, object] = {"exchange": {"name": "kucoin", "enable_ws": True}}

    point_at_gateway(config, "http://127.0.0.1:8123")

    exchange = config["exchange"]
    assert isinstance(exchange, dict)
    assert exchange["enable_ws"] is False
    hosts = exchange["ccxt_config"]["urls"]["api"]
    assert hosts["public"] == hosts["private"] == "http://127.0.0.1:8123"
    assert hosts["futuresPrivate"].startswith("http://127.0.0.1:8123/refused/")
    assert exchange["ccxt_async_config"] == exchange["ccxt_config"]
