"""The gateway in the generated Compose file: it alone holds the bots' keys, and the bots'
networks lead nowhere but to it and Redis.

Checked statically, as test_compose.py checks the rest of the file; what Docker makes of it
(internal networks, secrets in the containers) is checked in tests/containers.
"""

from __future__ import annotations

import json
import os
import socket
import stat
from pathlib import Path
from typing import Any

import pytest
from test_compose import (
    PARTS,
    assert_valid_compose,
    bot_services,
    example_fleet,
    mount_targets,
    twin_fleet,
    two_bot_fleet,
)

from bulkhead.config.models import Fleet
from bulkhead.config.workspace import Workspace
from bulkhead.fleet import gateway_access
from bulkhead.fleet.compose import compose_document
from bulkhead.fleet.gateway_service import (
    CREDENTIALS_IN_CONTAINER,
    write_gateway_credentials,
)
from bulkhead.fleet.redis_service import gateway_rule, write_memory_secrets
from bulkhead.fleet.twin_service import TwinService
from bulkhead.gateway.custody import credential_path, load_credential
from bulkhead.memory.keys import BotKeys, GatewayKeys


@pytest.fixture(params=["example", "two-bots", "twin"])
def document(request: pytest.FixtureRequest) -> dict[str, Any]:
    if request.param == "twin":
        return compose_document(twin_fleet(), twin=TwinService())
    return compose_document(example_fleet() if request.param == "example" else two_bot_fleet())


@pytest.fixture
def with_twin() -> dict[str, Any]:
    return compose_document(twin_fleet(), twin=TwinService())


def fleet_of(document: dict[str, Any]) -> list[str]:
    return [name.removeprefix("bot-") for name in bot_services(document)]


def networks_of(document: dict[str, Any], service: str) -> set[str]:
    return set(document["services"][service]["networks"])


# -- who holds which secret ------------------------------------------------------------------


def test_no_bot_service_mounts_or_points_at_any_exchange_key(document):
    for name, service in bot_services(document).items():
        mounted = [m["source"] for m in service["secrets"]]
        assert not [m for m in mounted if m.endswith(tuple(f"_{part}" for part in PARTS))]
        # no NAME_FILE pointing a credential reference anywhere, no key in any form
        for variable, value in service["environment"].items():
            assert not variable.endswith(("_API_KEY_FILE", "_SECRET_FILE", "_PASSPHRASE_FILE"))
            assert "api_key" not in value
            assert not value.endswith(("_secret", "_passphrase"))
        assert "twin" not in service["depends_on"], name


def test_the_gateway_holds_every_bots_key_and_every_gateway_credential(document):
    gateway = document["services"]["gateway"]
    mounted = {m["source"] for m in gateway["secrets"]}
    for bot in fleet_of(document):
        for part in (*PARTS, "gateway_credential"):
            assert f"{bot}_{part}" in mounted
    assert "gateway-redis-password" in mounted
    assert not [m for m in mounted if m.endswith("_redis_password")]  # no bot's memory
    assert len(mounted) == len(gateway["secrets"])  # each once


def test_each_bot_holds_its_own_gateway_credential_and_no_other_bots(document):
    for bot in fleet_of(document):
        service = document["services"][f"bot-{bot}"]
        credentials = [m for m in service["secrets"] if m["source"].endswith("_gateway_credential")]
        assert credentials == [
            {
                "source": f"{bot}_gateway_credential",
                "target": f"/run/secrets/{bot}_gateway_credential",
            }
        ]


def test_every_secret_but_the_memory_passwords_is_mounted_by_the_gateway_alone(document):
    holders: dict[str, list[str]] = {}
    for name, service in document["services"].items():
        for mount in service.get("secrets", []):
            holders.setdefault(mount["source"], []).append(name)
    for secret, services in holders.items():
        if secret.endswith("_gateway_credential"):
            bot = secret.removesuffix("_gateway_credential")
            assert sorted(services) == sorted(["gateway", f"bot-{bot}"])
        elif secret.endswith("_redis_password"):
            assert services == [f"bot-{secret.removesuffix('_redis_password')}"]
        else:
            assert services == ["gateway"], secret
    assert set(holders) == set(document["secrets"])


def test_the_bots_supervisor_is_told_where_the_gateway_and_its_credential_are(document):
    for bot in fleet_of(document):
        environment = document["services"][f"bot-{bot}"]["environment"]
        assert environment[gateway_access.URL_ENV] == "http://gateway:8090"
        assert environment[gateway_access.CREDENTIAL_FILE_ENV] == (
            f"/run/secrets/{bot}_gateway_credential"
        )
        command = document["services"]["gateway"]["command"]
        assert command[command.index("--port") + 1] == "8090"


def test_the_gateway_finds_each_credential_where_custody_looks_for_it(document):
    gateway = document["services"]["gateway"]
    command = gateway["command"]
    assert command[:3] == ["gateway", "--spec", "/config/bulkhead.yaml"]
    options = dict(zip(command[1::2], command[2::2], strict=True))
    assert options["--host"] == "0.0.0.0"  # noqa: S104 - inside its container
    folder = options["--credentials-dir"]
    assert folder == CREDENTIALS_IN_CONTAINER
    targets = {m["source"]: m["target"] for m in gateway["secrets"]}
    for bot in fleet_of(document):
        expected = credential_path(Path(folder), bot).as_posix()
        assert targets[f"{bot}_gateway_credential"] == expected


def test_two_bots_reading_one_variable_or_one_file_are_refused():
    for credentials in (
        {part: {"env": f"SHARED_{part.upper()}"} for part in PARTS},
        {part: {"file": f"keys/{part}"} for part in PARTS},
    ):
        data = two_bot_fleet().model_dump(mode="json")
        for bot in data["bots"]:
            bot["credentials"] = credentials
        with pytest.raises(ValueError, match=r"both read .* needs its own secret"):
            compose_document(Fleet.model_validate(data))


# -- its walls --------------------------------------------------------------------------------


def test_the_gateway_has_the_walls_of_a_bot(document):
    gateway = document["services"]["gateway"]
    assert gateway["read_only"] is True
    assert gateway["cap_drop"] == ["ALL"]
    assert "no-new-privileges:true" in gateway["security_opt"]
    assert gateway["user"] == "1000:1000"
    assert gateway["init"] is True
    assert gateway["restart"] == "unless-stopped"
    assert gateway["tmpfs"] == ["/tmp:size=64m"]
    assert set(gateway["deploy"]["resources"]["limits"]) == {"cpus", "memory"}
    assert "ports" not in gateway


def test_the_gateway_writes_only_to_its_own_volume_at_its_workspace(document):
    gateway = document["services"]["gateway"]
    workspace = Workspace.for_spec(Path("/config/bulkhead.yaml"))
    assert mount_targets(gateway, "volume") == {
        workspace.root.as_posix(): {
            "type": "volume",
            "source": "gateway-data",
            "target": workspace.root.as_posix(),
        }
    }
    spec = mount_targets(gateway, "bind")["/config/bulkhead.yaml"]
    assert spec["read_only"] is True
    assert spec["bind"] == {"create_host_path": False}


def test_the_gateway_health_check_reads_its_state_file_and_its_port(document):
    check = document["services"]["gateway"]["healthcheck"]
    assert check["test"][:3] == ["CMD", "python", "-c"]
    compile(check["test"][3], "<healthcheck>", "exec")
    state = Workspace.for_spec(Path("/config/bulkhead.yaml")).gateway.state.as_posix()
    assert repr(state) in check["test"][3]
    assert "8090" in check["test"][3]
    assert {"interval", "timeout", "retries", "start_period"} <= set(check)


def test_the_gateway_health_check_passes_only_when_the_gateway_serves(tmp_path):
    check = compose_document(two_bot_fleet())["services"]["gateway"]["healthcheck"]["test"][3]
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    port = listener.getsockname()[1]
    state = tmp_path / "gateway.json"
    local = check.replace("8090", str(port)).replace(
        "/config/.bulkhead/gateway/gateway.json", str(state)
    )
    try:
        for written, passes in (
            (None, False),
            ({"state": "stopped"}, False),
            ({"state": "serving"}, True),
        ):
            if written is not None:
                state.write_text(json.dumps(written))
            if passes:
                exec(local, {})  # noqa: S102 - the generated check, run as Docker would
            else:
                with pytest.raises((AssertionError, OSError)):
                    exec(local, {})  # noqa: S102
    finally:
        listener.close()
    with pytest.raises(ConnectionRefusedError):  # a state file left by a killed gateway
        exec(local, {})  # noqa: S102


def test_the_gateway_starts_after_redis_and_the_twin_and_the_bots_after_it(with_twin):
    assert with_twin["services"]["gateway"]["depends_on"] == {
        "redis": {"condition": "service_healthy"},
        "twin": {"condition": "service_healthy"},
    }
    for service in bot_services(with_twin).values():
        assert service["depends_on"]["gateway"] == {"condition": "service_healthy"}


def test_the_gateway_uses_redis_as_its_own_user_never_as_admin(document):
    environment = document["services"]["gateway"]["environment"]
    assert environment["BULKHEAD_MEMORY_URL"] == "redis://redis:6379/0"
    assert environment["BULKHEAD_MEMORY_USER"] == "gateway"
    assert environment["BULKHEAD_MEMORY_PASSWORD_FILE"] == "/run/secrets/gateway-redis-password"
    assert not any("admin" in str(value) for value in environment.values())


# -- the networks ------------------------------------------------------------------------------


def test_every_bot_network_is_internal_and_holds_the_bot_the_gateway_and_redis_alone(document):
    for bot in fleet_of(document):
        network = f"bot-{bot}"
        assert document["networks"][network] == {"internal": True}
        members = {name for name in document["services"] if network in networks_of(document, name)}
        assert members == {f"bot-{bot}", "gateway", "redis"}


def test_no_bot_shares_a_network_with_the_twin_or_the_exchange(with_twin):
    twin_networks = networks_of(with_twin, "twin")
    assert twin_networks == {"exchange"}
    for name in bot_services(with_twin):
        assert not networks_of(with_twin, name) & twin_networks
        assert networks_of(with_twin, name) == {name}
    # the only ones on the exchange network: the gateway and the twin
    on_exchange = {n for n in with_twin["services"] if "exchange" in networks_of(with_twin, n)}
    assert on_exchange == {"gateway", "twin"}
    assert "exchange" not in networks_of(with_twin, "redis")


def test_the_exchange_network_is_internal_when_every_bot_trades_on_the_twin_service(with_twin):
    assert with_twin["networks"]["exchange"] == {"internal": True}
    assert_valid_compose(with_twin)


def test_the_exchange_network_leads_off_the_machine_when_the_bots_trade_on_kucoin():
    document = compose_document(example_fleet())
    assert document["networks"]["exchange"] == {"internal": False}
    assert "exchange" in networks_of(document, "gateway")
    for name in bot_services(document):
        assert "exchange" not in networks_of(document, name)


def test_bots_on_different_exchanges_are_refused_since_one_gateway_serves_one():
    with pytest.raises(ValueError, match="different exchanges"):
        compose_document(twin_fleet(0), twin=TwinService())


@pytest.mark.parametrize("target", ["http://gateway:8090", "http://redis:6379", "http://twin:9"])
def test_a_bot_targeting_another_service_of_the_project_is_refused(target):
    data = two_bot_fleet().model_dump(mode="json")
    for bot in data["bots"]:
        bot["exchange"] = {"target": target, "remote_twin": True}
    with pytest.raises(ValueError, match="not the twin"):
        compose_document(Fleet.model_validate(data), twin=TwinService())


# -- what `bulkhead compose` writes on the host ------------------------------------------------


def test_each_bots_gateway_credential_is_generated_once_private_and_loadable(tmp_path, monkeypatch):
    from bulkhead.fleet import gateway_service

    monkeypatch.setattr(gateway_service.os, "geteuid", lambda: os.getuid() or 1)
    previous = os.umask(0o000)
    try:
        written = write_gateway_credentials(two_bot_fleet(), tmp_path)
    finally:
        os.umask(previous)
    assert written == [tmp_path / bot / "gateway_credential" for bot in ("alpha", "beta-2")]
    first = {}
    for path in written:
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        bot = path.parent.name
        credential = load_credential(path, bot)  # what the bot and the gateway read
        assert credential.bot == bot
        first[bot] = credential
    assert first["alpha"].secret != first["beta-2"].secret
    assert write_gateway_credentials(two_bot_fleet(), tmp_path) == []  # kept, not rotated
    assert load_credential(written[0], "alpha") == first["alpha"]


def test_a_gateway_credential_is_handed_to_uid_1000_when_written_by_root(tmp_path, monkeypatch):
    from bulkhead.fleet import gateway_service

    owners: list[tuple[int, int] | None] = []
    real_write = gateway_service.write_private

    def write_private(path, data, mode=0o600, *, owner=None):
        owners.append(owner)
        return real_write(path, data, mode)  # giving a file away needs root

    monkeypatch.setattr(gateway_service.os, "geteuid", lambda: 0)
    monkeypatch.setattr(gateway_service, "write_private", write_private)
    write_gateway_credentials(two_bot_fleet(), tmp_path)
    assert owners == [(1000, 1000), (1000, 1000)]


def test_the_gateways_redis_user_is_fenced_to_the_gateways_keys(tmp_path):
    write_memory_secrets(two_bot_fleet(), tmp_path)
    acl = (tmp_path / "redis" / "users.acl").read_text()
    password = (tmp_path / "redis" / "gateway_password").read_text().strip()
    (line,) = [line for line in acl.splitlines() if line.startswith("user gateway ")]
    assert line == gateway_rule(password)
    assert password not in acl
    patterns = [token for token in line.split() if token.startswith("~")]
    assert patterns == ["~bhgw:*"]
    assert GatewayKeys("alpha").ledger.startswith("bhgw:")
    assert not BotKeys("alpha").trade_data.startswith("bhgw:")
    for refused in ("-@dangerous", "-scan", "-keys"):
        assert refused in line.split()
    assert "+@all" not in line
