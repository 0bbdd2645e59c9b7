"""The generated Compose file: valid by the Compose Specification, and every wall in place.

There is no Docker engine here, so the file is checked statically: against the repo's
copy of the Compose JSON schema, and property by property for what keeps one bot's
container apart from the others and from the host. The gateway service, which holds the
keys the bots no longer do, and the networks around it are in test_compose_gateway.py.
"""

from __future__ import annotations

import json
import os
import re
import stat
from pathlib import Path
from typing import Any

import pytest
import yaml
from jsonschema.validators import validator_for

from bulkhead.config.loader import load_fleet, parse_fleet
from bulkhead.config.models import Fleet
from bulkhead.config.workspace import Workspace
from bulkhead.fleet.compose import HEADER, compose_document, write_compose
from bulkhead.fleet.redis_service import write_memory_secrets
from bulkhead.fleet.twin_service import TwinService, targets_twin

ROOT = Path(__file__).resolve().parents[3]
EXAMPLE = ROOT / "examples" / "bulkhead.yaml"
SCHEMA_PATH = ROOT / "deploy" / "schema" / "compose-spec.json"
DOCKERFILE = ROOT / "deploy" / "Dockerfile"
PARTS = ("api_key", "secret", "passphrase")
LEAKED = {
    "api_key": "leak-me-key-0001",
    "secret": "leak-me-secret-02",
    "passphrase": "leak-me-pw-03",
}


def schema_validator() -> Any:
    """A validator for the draft the schema declares.

    The Compose schema spells draft-07's id with https and no '#', which jsonschema
    registers under http; map it back rather than falling through to the latest draft.
    """
    schema = json.loads(SCHEMA_PATH.read_text())
    declared = schema["$schema"]
    canonical = re.sub(
        r"^https?://json-schema\.org/(draft-0[3467])/schema#?$",
        r"http://json-schema.org/\1/schema",
        declared,
    )
    cls = validator_for({"$schema": canonical}, default=None)
    assert cls is not None, f"jsonschema does not know the draft {declared}"
    cls.check_schema(schema)
    return cls(schema, format_checker=cls.FORMAT_CHECKER)


def assert_valid_compose(document: dict[str, Any]) -> None:
    errors = sorted(schema_validator().iter_errors(document), key=lambda e: list(e.path))
    assert not errors, "\n".join(f"{list(e.path)}: {e.message}" for e in errors)


def two_bot_fleet() -> Fleet:
    def bot(name: str, credentials: dict[str, Any], subaccount: str) -> dict[str, Any]:
        return {
            "name": name,
            "subaccount": subaccount,
            "credentials": credentials,
            "budget": {"amount": 50},
            "pairs": ["XRP/USDT"],
            "strategy": {"name": "TwinScalper"},
            "mode": "live",
        }

    return parse_fleet(
        {
            "version": 1,
            "bots": [
                bot(
                    "alpha",
                    {part: {"env": f"ALPHA_{part.upper()}"} for part in PARTS},
                    "alpha-sub",
                ),
                bot(
                    "beta-2",
                    {
                        "api_key": {"file": "keys/beta/api_key"},
                        "secret": {"file": "/run/secrets/beta-2_secret"},
                        "passphrase": {"env": "BETA_PASSPHRASE"},
                    },
                    "beta-sub",
                ),
            ],
        }
    )


def example_fleet() -> Fleet:
    """examples/bulkhead.yaml, trading on KuCoin: its loopback twin is not for containers."""
    data = load_fleet(EXAMPLE).model_dump(mode="json")
    for bot in data["bots"]:
        bot["exchange"] = {"target": "kucoin"}
    return Fleet.model_validate(data)


@pytest.fixture(params=["example", "two-bots"])
def fleet(request: pytest.FixtureRequest) -> Fleet:
    return example_fleet() if request.param == "example" else two_bot_fleet()


@pytest.fixture
def document(fleet: Fleet) -> dict[str, Any]:
    return compose_document(fleet)


def bot_services(document: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {name: s for name, s in document["services"].items() if name.startswith("bot-")}


def mount_targets(service: dict[str, Any], kind: str) -> dict[str, dict[str, Any]]:
    return {v["target"]: v for v in service["volumes"] if v["type"] == kind}


# -- the Compose Specification -------------------------------------------------------------


def test_the_generated_document_is_valid_by_the_compose_specification(document):
    assert_valid_compose(document)


def test_the_schema_check_catches_an_invalid_document(document):
    document["services"]["bot-oops"] = {"image": "x", "not_a_compose_key": True}
    with pytest.raises(AssertionError, match="not_a_compose_key"):
        assert_valid_compose(document)


def test_the_project_is_named_bulkhead(document):
    assert document["name"] == "bulkhead"


# -- one compartment per bot ---------------------------------------------------------------


def test_there_is_one_service_per_bot_plus_the_gateway_and_redis(fleet, document):
    assert set(bot_services(document)) == {f"bot-{bot.name}" for bot in fleet.bots}
    assert set(document["services"]) - set(bot_services(document)) == {"gateway", "redis"}


def test_each_bot_service_runs_run_bot_for_its_own_bot_from_the_mounted_spec(fleet, document):
    for bot in fleet.bots:
        service = document["services"][f"bot-{bot.name}"]
        assert service["image"] == "bulkhead:latest"
        assert service["command"] == ["run-bot", bot.name, "--spec", "/config/bulkhead.yaml"]


def test_the_image_can_be_chosen():
    document = compose_document(two_bot_fleet(), image="registry.example/bulkhead:1.2")
    assert {s["image"] for s in bot_services(document).values()} == {
        "registry.example/bulkhead:1.2"
    }


def test_no_two_bots_share_a_network_and_redis_joins_them_all(fleet, document):
    networks = {name: s["networks"] for name, s in bot_services(document).items()}
    for name, joined in networks.items():
        assert joined == [name]
    assert sorted(document["services"]["redis"]["networks"]) == sorted(networks)
    assert set(document["networks"]) == {f"bot-{bot.name}" for bot in fleet.bots} | {"exchange"}


# -- secrets -------------------------------------------------------------------------------


def test_each_bot_service_mounts_only_its_gateway_credential_and_memory_password(fleet, document):
    for bot in fleet.bots:
        service = document["services"][f"bot-{bot.name}"]
        assert sorted(m["source"] for m in service["secrets"]) == sorted(
            f"{bot.name}_{part}" for part in ("gateway_credential", "redis_password")
        )
    assert "secrets" not in document["services"]["redis"]


def test_every_secret_comes_from_a_file_under_secrets_bot(fleet, document):
    expected = {
        f"{bot.name}_{part}": {"file": f"./secrets/{bot.name}/{part}"}
        for bot in fleet.bots
        for part in (*PARTS, "gateway_credential", "redis_password")
    }
    expected["gateway-redis-password"] = {"file": "./secrets/redis/gateway_password"}
    assert document["secrets"] == expected


def test_env_references_are_pointed_at_the_secret_file_the_gateway_mounts():
    service = compose_document(two_bot_fleet())["services"]["gateway"]
    for part in PARTS:
        target = f"/run/secrets/alpha_{part}"
        assert service["environment"][f"ALPHA_{part.upper()}_FILE"] == target
        assert {"source": f"alpha_{part}", "target": target} in service["secrets"]


def test_file_references_get_the_secret_mounted_where_the_gateway_reads_it():
    service = compose_document(two_bot_fleet())["services"]["gateway"]
    targets = {m["source"]: m["target"] for m in service["secrets"]}
    # relative to the spec's folder in the container, absolute as written
    assert targets["beta-2_api_key"] == "/config/keys/beta/api_key"
    assert targets["beta-2_secret"] == "/run/secrets/beta-2_secret"
    assert targets["beta-2_passphrase"] == "/run/secrets/beta-2_passphrase"
    assert service["environment"]["BETA_PASSPHRASE_FILE"] == "/run/secrets/beta-2_passphrase"
    assert not any(
        k.startswith("BETA_") and k != "BETA_PASSPHRASE_FILE" for k in service["environment"]
    )


def test_two_credential_parts_reading_one_variable_are_refused():
    fleet = two_bot_fleet()
    shared = {part: {"env": "SAME"} for part in PARTS}
    data = fleet.model_dump(mode="json")
    data["bots"][0]["credentials"] = shared
    with pytest.raises(ValueError, match="needs its own secret"):
        compose_document(Fleet.model_validate(data))


def test_the_document_holds_no_secret_values_only_file_references(monkeypatch, tmp_path):
    for part, value in LEAKED.items():
        monkeypatch.setenv(f"ALPHA_{part.upper()}", value)
        monkeypatch.setenv(f"BOT1_KUCOIN_API_{part.upper()}", value)
    monkeypatch.setenv("BETA_PASSPHRASE", LEAKED["passphrase"])
    for fleet in (example_fleet(), two_bot_fleet()):
        path = tmp_path / "docker-compose.yml"
        write_compose(compose_document(fleet), path)
        text = path.read_text()
        for value in LEAKED.values():
            assert value not in text
        for secret in yaml.safe_load(text)["secrets"].values():
            assert set(secret) == {"file"}


# -- resources and walls -------------------------------------------------------------------


def test_each_bot_and_the_gateway_is_limited_in_cpu_and_memory(document):
    for service in [*bot_services(document).values(), document["services"]["gateway"]]:
        assert service["deploy"]["resources"]["limits"] == {"cpus": 0.5, "memory": "512m"}
    assert set(document["services"]["redis"]["deploy"]["resources"]["limits"]) == {
        "cpus",
        "memory",
    }


def test_the_limits_can_be_chosen():
    document = compose_document(two_bot_fleet(), cpus=1.5, memory="1g")
    for service in bot_services(document).values():
        assert service["deploy"]["resources"]["limits"] == {"cpus": 1.5, "memory": "1g"}


@pytest.mark.parametrize(("cpus", "memory"), [(0, "512m"), (-1, "512m"), (0.5, "lots")])
def test_limits_docker_would_reject_are_refused(cpus, memory):
    with pytest.raises(ValueError, match=r"cpus|memory"):
        compose_document(two_bot_fleet(), cpus=cpus, memory=memory)


def test_every_container_has_a_read_only_root_filesystem(document):
    for service in document["services"].values():
        assert service["read_only"] is True


def test_each_bot_writes_only_to_its_own_data_volume_at_its_workspace(fleet, document):
    workspace = Workspace.for_spec(Path("/config/bulkhead.yaml")).root.as_posix()
    for bot in fleet.bots:
        service = document["services"][f"bot-{bot.name}"]
        volumes = mount_targets(service, "volume")
        assert volumes == {
            workspace: {"type": "volume", "source": f"bot-{bot.name}-data", "target": workspace}
        }
        assert f"bot-{bot.name}-data" in document["volumes"]
        assert service["tmpfs"] == ["/tmp:size=64m"]
    redis_volumes = mount_targets(document["services"]["redis"], "volume")
    assert redis_volumes["/data"]["source"] == "redis-data"


def test_no_two_containers_share_a_volume(document):
    sources = [
        v["source"]
        for s in document["services"].values()
        for v in s["volumes"]
        if v["type"] == "volume"
    ]
    assert len(sources) == len(set(sources))
    assert set(sources) == set(document["volumes"])


def test_the_spec_is_mounted_read_only_and_must_exist(document):
    for service in bot_services(document).values():
        spec = mount_targets(service, "bind")["/config/bulkhead.yaml"]
        assert spec["source"] == "./bulkhead.yaml"
        assert spec["read_only"] is True
        assert spec["bind"] == {"create_host_path": False}


def test_the_spec_path_can_be_chosen():
    document = compose_document(two_bot_fleet(), spec_path="./fleets/prod.yaml")
    for service in bot_services(document).values():
        assert mount_targets(service, "bind")["/config/bulkhead.yaml"]["source"] == (
            "./fleets/prod.yaml"
        )


def test_an_own_strategy_file_is_mounted_read_only_where_the_spec_in_the_container_finds_it():
    data = example_fleet().model_dump(mode="json")
    data["bots"][0]["strategy"] = {"file": "strategies/mine.py", "class": "Mine"}
    document = compose_document(Fleet.model_validate(data), spec_path="./fleets/prod.yaml")
    service = document["services"]["bot-bot1"]
    mounted = mount_targets(service, "bind")["/config/strategies/mine.py"]
    assert mounted["source"] == "./fleets/strategies/mine.py"
    assert mounted["read_only"] is True
    assert mounted["bind"] == {"create_host_path": False}
    assert_valid_compose(document)


def test_a_bundled_strategy_mounts_nothing_more(document):
    for service in bot_services(document).values():
        assert [m["target"] for m in service["volumes"] if m["type"] == "bind"] == [
            "/config/bulkhead.yaml"
        ]


def test_every_container_drops_all_capabilities_and_cannot_gain_privileges(document):
    for service in document["services"].values():
        assert service["cap_drop"] == ["ALL"]
        assert "cap_add" not in service
        assert "no-new-privileges:true" in service["security_opt"]
        assert "privileged" not in service


def test_every_container_runs_as_a_non_root_user(document):
    for service in [*bot_services(document).values(), document["services"]["gateway"]]:
        assert service["user"] == "1000:1000"
    assert document["services"]["redis"]["user"] == "redis"


def test_every_container_restarts_unless_stopped(document):
    for service in document["services"].values():
        assert service["restart"] == "unless-stopped"


def test_each_bot_has_an_init_to_forward_sigterm_and_time_to_stop(document):
    for service in bot_services(document).values():
        assert service["init"] is True
        assert service["stop_grace_period"] == "45s"


def test_each_bot_health_check_pings_freqtrade_inside_the_container(document):
    for service in bot_services(document).values():
        check = service["healthcheck"]
        assert check["test"][:3] == ["CMD", "python", "-c"]
        assert "http://127.0.0.1:8080/api/v1/ping" in check["test"][3]
        assert {"interval", "timeout", "retries", "start_period"} <= set(check)
    redis_check = document["services"]["redis"]["healthcheck"]["test"]
    assert redis_check[:3] == ["CMD", "redis-cli", "-e"]  # an error reply fails the check
    assert redis_check[-1] == "ping"
    assert redis_check[redis_check.index("--user") + 1] == "healthcheck"


def test_the_health_check_command_is_valid_python():
    service = bot_services(compose_document(two_bot_fleet()))["bot-alpha"]
    compile(service["healthcheck"]["test"][3], "<healthcheck>", "exec")


def test_every_container_rotates_its_logs(document):
    for service in document["services"].values():
        assert service["logging"] == {
            "driver": "json-file",
            "options": {"max-size": "10m", "max-file": "5"},
        }


def test_no_container_publishes_a_port(document):
    # A bot's networks are internal, on which Docker publishes nothing anyway: a port
    # asked for would silently not be there. The operator reaches a bot in its container.
    for service in document["services"].values():
        assert "ports" not in service
        assert "expose" not in service


def test_freqtrade_is_told_to_serve_its_api_on_the_published_container_port(document):
    for service in bot_services(document).values():
        environment = service["environment"]
        assert environment["FREQTRADE__API_SERVER__LISTEN_IP_ADDRESS"] == "0.0.0.0"  # noqa: S104
        assert environment["FREQTRADE__API_SERVER__LISTEN_PORT"] == "8080"


def test_freqtrade_reads_those_variables_as_its_listen_address_and_port(monkeypatch):
    from freqtrade.configuration.environment_vars import environment_vars_to_dict

    service = compose_document(two_bot_fleet())["services"]["bot-alpha"]
    for name in [name for name in os.environ if name.startswith("FREQTRADE__")]:
        monkeypatch.delenv(name)
    for name, value in service["environment"].items():
        monkeypatch.setenv(name, value)
    assert environment_vars_to_dict() == {
        "api_server": {"listen_ip_address": "0.0.0.0", "listen_port": 8080}  # noqa: S104
    }


def test_the_environment_sets_no_freqtrade_secret(document):
    for service in bot_services(document).values():
        for name in service["environment"]:
            assert not name.endswith(("__KEY", "__SECRET", "__PASSWORD", "__WS_TOKEN"))


# -- redis ---------------------------------------------------------------------------------


def redis_settings(redis: dict[str, Any]) -> dict[str, str]:
    command = redis["command"]
    assert command[0] == "redis-server"
    names, values = command[1::2], command[2::2]
    assert all(name.startswith("--") for name in names)
    return {name.removeprefix("--"): value for name, value in zip(names, values, strict=True)}


def test_redis_is_configured_on_its_command_line_and_persists_to_its_volume(document):
    redis = document["services"]["redis"]
    assert redis["image"] == "redis:7-alpine"
    assert redis_settings(redis)["dir"] == "/data"
    assert "redis-data" in document["volumes"]
    # nothing from a Bulkhead checkout: only the ACL file that `bulkhead compose` writes
    assert [v["source"] for v in redis["volumes"] if v["type"] == "bind"] == [
        "./secrets/redis/users.acl"
    ]


def test_the_redis_settings_persist_every_write_and_load_the_acl_file(document):
    settings = redis_settings(document["services"]["redis"])
    assert settings["appendonly"] == "yes"
    assert settings["protected-mode"] == "yes"
    assert settings["bind"] == "0.0.0.0"  # noqa: S104
    assert settings["appendfsync"] == "always"
    assert settings["maxmemory-policy"] == "noeviction"
    assert settings["aclfile"] == "/usr/local/etc/redis/users.acl"
    acl = mount_targets(document["services"]["redis"], "bind")[settings["aclfile"]]
    assert acl["read_only"] is True


def test_the_redis_image_can_be_chosen():
    document = compose_document(two_bot_fleet(), redis_image="mirror.example/redis:7")
    assert document["services"]["redis"]["image"] == "mirror.example/redis:7"


def test_each_bot_is_pointed_at_redis_as_its_own_user_without_any_admin_secret(fleet, document):
    for bot in fleet.bots:
        environment = document["services"][f"bot-{bot.name}"]["environment"]
        assert environment["BULKHEAD_MEMORY_URL"] == "redis://redis:6379/0"
        assert environment["BULKHEAD_MEMORY_USER"] == f"bot-{bot.name}"
        assert environment["BULKHEAD_MEMORY_PASSWORD_FILE"] == (
            f"/run/secrets/{bot.name}_redis_password"
        )
        assert not any("admin" in str(value) for value in environment.values())


def test_memory_secrets_fence_each_bot_and_hold_no_plain_password(tmp_path):
    fleet = two_bot_fleet()
    written = write_memory_secrets(fleet, tmp_path)
    acl = (tmp_path / "redis" / "users.acl").read_text()
    assert acl.startswith("user default off resetpass ~* &* +@all\n")
    for bot in fleet.bots:
        password = (tmp_path / bot.name / "redis_password").read_text().strip()
        assert password not in acl
        assert f"user bot-{bot.name} on #" in acl
        assert f"~bh:{{{bot.name}}}:*" in acl
        assert (tmp_path / bot.name / "redis_password").stat().st_mode & 0o077 == 0
    assert "user healthcheck on nopass -@all +ping" in acl
    again = write_memory_secrets(fleet, tmp_path)
    assert len(again) == 1  # passwords are kept; only the ACL file is rewritten
    assert len(written) > len(again)


def test_memory_passwords_are_owner_only_and_the_acl_file_readable_whatever_the_umask(
    tmp_path,
):
    previous = os.umask(0o077)
    try:
        write_memory_secrets(two_bot_fleet(), tmp_path)
    finally:
        os.umask(previous)
    assert stat.S_IMODE((tmp_path / "redis" / "users.acl").stat().st_mode) == 0o644
    for password in [*tmp_path.glob("*/redis_password"), *tmp_path.glob("redis/*_password")]:
        assert stat.S_IMODE(password.stat().st_mode) == 0o600
    assert not list(tmp_path.rglob("*.tmp"))


def test_the_bots_and_gateways_passwords_are_handed_to_uid_1000_when_written_by_root(
    tmp_path, monkeypatch
):
    from bulkhead.fleet import redis_service

    owners: dict[str, tuple[int, int] | None] = {}
    real_write = redis_service.write_private

    def write_private(path, data, mode=0o600, *, owner=None):
        owners[Path(path).name] = owner
        return real_write(path, data, mode)  # giving a file away needs root

    monkeypatch.setattr(redis_service.os, "geteuid", lambda: 0)
    monkeypatch.setattr(redis_service, "write_private", write_private)
    write_memory_secrets(two_bot_fleet(), tmp_path)
    owners = {name: owner for name, owner in owners.items() if owner is not None}
    # the bots' and the gateway's only (read in their containers by uid 1000): the admin's
    # and the reader's stay with root
    assert owners == {"redis_password": (1000, 1000), "gateway_password": (1000, 1000)}


def test_a_bot_with_memory_starts_once_its_gateway_and_redis_are_healthy(document):
    for service in bot_services(document).values():
        assert service["depends_on"] == {
            "gateway": {"condition": "service_healthy"},
            "redis": {"condition": "service_healthy"},
        }


def test_a_bot_without_memory_waits_for_its_gateway_only_and_gets_no_redis_password():
    data = two_bot_fleet().model_dump(mode="json")
    data["bots"][0]["memory"] = {"enabled": False}
    document = compose_document(Fleet.model_validate(data))
    alpha = document["services"]["bot-alpha"]
    assert alpha["depends_on"] == {"gateway": {"condition": "service_healthy"}}
    assert [m["source"] for m in alpha["secrets"]] == ["alpha_gateway_credential"]
    assert not any(name.startswith("BULKHEAD_MEMORY") for name in alpha["environment"])
    assert "alpha_redis_password" not in document["secrets"]


def test_the_project_name_can_be_chosen():
    document = compose_document(two_bot_fleet(), project="bulkhead-ci")
    assert document["name"] == "bulkhead-ci"
    assert_valid_compose(document)


@pytest.mark.parametrize("project", ["Bad Name", "-x", "", "UPPER"])
def test_project_names_compose_would_reject_are_refused(project):
    with pytest.raises(ValueError, match="project"):
        compose_document(two_bot_fleet(), project=project)


# -- the twin ------------------------------------------------------------------------------


def twin_fleet(*on_twin: int) -> Fleet:
    """two_bot_fleet with the bots at ``on_twin`` (default: all) trading on the twin."""
    data = two_bot_fleet().model_dump(mode="json", exclude_defaults=False)
    for index in on_twin or range(len(data["bots"])):
        data["bots"][index]["exchange"] = {"target": "http://twin:8899", "remote_twin": True}
    return Fleet.model_validate(data)


@pytest.fixture
def with_twin() -> dict[str, Any]:
    return compose_document(twin_fleet(), twin=TwinService(scenario="./rehearsal/sim.yaml"))


def test_a_project_with_a_twin_is_valid_by_the_compose_specification(with_twin):
    assert_valid_compose(with_twin)


def test_the_twin_runs_sim_serve_from_the_bulkhead_image_with_its_state_in_a_volume(with_twin):
    twin = with_twin["services"]["twin"]
    assert twin["image"] == "bulkhead:latest"
    command = twin["command"]
    assert command[:2] == ["sim", "serve"]
    options = dict(zip(command[2::2], command[3::2], strict=True))
    assert options == {
        "--scenario": "/config/sim.yaml",
        "--host": "0.0.0.0",  # noqa: S104
        "--port": "8899",
        "--state": "/data/twin.json",
        "--credentials-out": "/data/credentials.json",
    }
    scenario = mount_targets(twin, "bind")["/config/sim.yaml"]
    assert scenario["source"] == "./rehearsal/sim.yaml"
    assert scenario["read_only"] is True
    assert mount_targets(twin, "volume") == {
        "/data": {"type": "volume", "source": "twin-data", "target": "/data"}
    }
    assert "twin-data" in with_twin["volumes"]


def test_the_twin_has_the_walls_of_a_bot_and_publishes_nothing(with_twin):
    twin = with_twin["services"]["twin"]
    assert twin["read_only"] is True
    assert twin["cap_drop"] == ["ALL"]
    assert "no-new-privileges:true" in twin["security_opt"]
    assert twin["user"] == "1000:1000"
    assert twin["init"] is True
    assert set(twin["deploy"]["resources"]["limits"]) == {"cpus", "memory"}
    assert "ports" not in twin
    assert "secrets" not in twin
    compile(twin["healthcheck"]["test"][3], "<healthcheck>", "exec")
    assert "/api/v1/timestamp" in twin["healthcheck"]["test"][3]


def test_the_twin_joins_the_exchange_network_only_and_the_gateway_waits_for_it(with_twin):
    assert with_twin["services"]["twin"]["networks"] == ["exchange"]
    assert with_twin["services"]["gateway"]["depends_on"]["twin"] == {
        "condition": "service_healthy"
    }
    for service in bot_services(with_twin).values():
        assert "twin" not in service["depends_on"]  # they trade on it through the gateway


def test_a_bot_targeting_the_twin_service_needs_the_twin_in_the_project():
    assert targets_twin(twin_fleet().bots[0])
    with pytest.raises(ValueError, match="twin"):
        compose_document(twin_fleet())


def test_a_twin_on_loopback_is_refused_since_in_a_container_it_is_the_container_itself():
    with pytest.raises(ValueError, match="target a twin on loopback"):
        compose_document(load_fleet(EXAMPLE))


def test_the_twin_service_url_is_what_a_bot_targets():
    assert TwinService().url == "http://twin:8899"


def test_a_drafted_scenario_funds_and_keys_each_bot_on_the_twin_and_loads_in_the_twin(tmp_path):
    from bulkhead.fleet.twin_service import twin_scenario
    from bulkhead.sim.scenario import load_scenario

    scenario = twin_scenario(twin_fleet(0))  # alpha trades on the twin, beta-2 elsewhere
    assert scenario["subaccounts"] == [{"name": "alpha-sub", "balances": {"trade": {"USDT": 100}}}]
    assert scenario["keys"] == [
        {"name": "alpha-trade", "user": "alpha-sub", "permissions": ["General", "Spot"]}
    ]
    assert [s["symbol"] for s in scenario["symbols"]] == ["XRP-USDT"]
    assert scenario["symbols"][0]["source"]["kind"] == "synthetic"
    path = tmp_path / "sim.yaml"
    path.write_text(yaml.safe_dump(scenario))
    assert load_scenario(path).master.balances == {"main": {"USDT": 10000}}


# -- the written file ----------------------------------------------------------------------


def test_the_written_yaml_round_trips_and_stays_valid(document, tmp_path):
    path = tmp_path / "docker-compose.yml"
    write_compose(document, path)
    text = path.read_text()
    assert text.startswith(HEADER)
    assert "generated by bulkhead compose; edit bulkhead.yaml instead" in text
    # every value spelled out, no YAML anchors or aliases
    assert "&id" not in text
    assert "*id" not in text
    loaded = yaml.safe_load(text)
    assert loaded == document
    assert list(loaded) == list(document)  # keys keep the order they were built in
    assert_valid_compose(loaded)


# -- the image -----------------------------------------------------------------------------


def dockerfile_instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs, with continuation lines joined and comments dropped."""
    joined = re.sub(r"\\\n", " ", DOCKERFILE.read_text())
    found = []
    for line in joined.splitlines():
        stripped = line.strip()
        if stripped and not stripped.startswith("#"):
            instruction, _, arguments = stripped.partition(" ")
            found.append((instruction.upper(), arguments.strip()))
    return found


def test_the_dockerfile_builds_on_the_pinned_freqtrade_image_by_default():
    instructions = dockerfile_instructions()
    bases = [arguments for instruction, arguments in instructions if instruction == "FROM"]
    assert bases == ["${BASE_IMAGE}"]
    # the ARG before FROM: a build argument, defaulting to the exact release pinned
    first = instructions[0]
    assert first[0] == "ARG"
    name, _, default = first[1].partition("=")
    assert name == "BASE_IMAGE"
    assert re.fullmatch(r"freqtradeorg/freqtrade:2026\.9(@sha256:[0-9a-f]{64})?", default)
    pinned = re.search(r'"freqtrade==([^"]+)"', (ROOT / "pyproject.toml").read_text())
    assert pinned is not None
    assert default.split(":")[1].split("@")[0] == pinned.group(1)


def test_the_dockerfile_installs_bulkhead_from_pyproject_with_no_list_of_its_own():
    runs = " ".join(a for i, a in dockerfile_instructions() if i == "RUN")
    install = re.search(r"pip install ([^&]+)", runs.split("--exclude-editable")[1])
    assert install is not None
    words = install.group(1).split()
    assert words[-1] == "/tmp/bulkhead-src"  # the copied project: pyproject's dependencies
    assert [w for w in words if not w.startswith("-") and "/" not in w] == []
    assert "--no-cache-dir" in words
    assert "rm -rf /tmp/bulkhead-src" in runs


def test_the_dockerfile_smoke_tests_both_commands():
    runs = " ".join(a for i, a in dockerfile_instructions() if i == "RUN")
    assert "bulkhead --help" in runs
    assert "freqtrade --version" in runs


def test_the_dockerfile_needs_no_frontend_image():
    # BuildKit fetches a `# syntax=` frontend from a registry; the classic builder ignores it
    assert "# syntax=" not in DOCKERFILE.read_text()


def test_the_dockerfile_runs_as_a_non_root_user():
    users = [
        arguments for instruction, arguments in dockerfile_instructions() if instruction == "USER"
    ]
    assert users, "the Dockerfile must say which user runs"
    assert users[-1] not in {"root", "0", "0:0"}
    assert users[-1] == "ftuser"


def test_the_dockerfile_installs_bulkhead_as_the_entrypoint_without_a_healthcheck():
    instructions = dict(dockerfile_instructions())
    assert json.loads(instructions["ENTRYPOINT"]) == ["bulkhead"]
    assert instructions["WORKDIR"] == "/freqtrade"
    assert "HEALTHCHECK" not in instructions  # set per bot service by the compose file


def test_the_build_context_admits_only_what_the_image_installs():
    patterns = [
        line.strip()
        for line in (ROOT / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    assert patterns[0] == "*"
    allowed = {p.removeprefix("!") for p in patterns if p.startswith("!")}
    assert allowed == {"pyproject.toml", "README.md", "src"}
