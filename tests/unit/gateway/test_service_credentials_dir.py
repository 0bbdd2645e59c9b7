"""The gateway given its bots' credentials in a folder (Compose: secrets generated on the
host, each also given to its bot): it reads them there, never generates one, and does not
serve a bot whose credential is missing or could be known to others."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import redis
from typer.testing import CliRunner

from bulkhead.config.models import Fleet
from bulkhead.config.workspace import GatewayPaths
from bulkhead.gateway import service
from bulkhead.gateway.custody import GatewayCredential, credential_path
from bulkhead.plumbing import write_private


def fleet() -> Fleet:
    def bot(name: str) -> dict[str, Any]:
        return {
            "name": name,
            "subaccount": name,
            "exchange": {"target": "http://twin:8899", "remote_twin": True},
            "credentials": {
                part: {"env": f"{name.upper()}_{part.upper()}"}
                for part in ("api_key", "secret", "passphrase")
            },
            "budget": {"amount": 50},
            "pairs": ["XRP/USDT"],
            "strategy": {"name": "TwinScalper"},
        }

    return Fleet.model_validate({"version": 1, "bots": [bot("alpha"), bot("beta")]})


ENVIRON = {
    f"{bot.upper()}_{part.upper()}": f"{bot}-{part}"
    for bot in ("alpha", "beta")
    for part in ("api_key", "secret", "passphrase")
}


def build(paths: GatewayPaths, folder: Path | None) -> service.Gateway:
    client = redis.Redis(port=1)  # never connected: build touches no Redis
    return service.build(fleet(), paths, client, environ=ENVIRON, port=8090, credentials_dir=folder)


def test_the_credentials_are_read_from_the_folder_and_none_is_generated(tmp_path):
    folder = tmp_path / "given"
    made = {bot: GatewayCredential.generate(bot) for bot in ("alpha", "beta")}
    for bot, credential in made.items():
        write_private(credential_path(folder, bot), credential.as_json())
    paths = GatewayPaths(tmp_path / "gateway")
    gateway = build(paths, folder)
    assert {bot: credential for bot, (credential, _) in gateway.keys.items()} == made
    assert all(verdict.served for verdict in gateway.verdicts.values())
    assert not list(paths.root.glob("*.gateway-credential.json"))


@pytest.mark.parametrize("problem", ["missing", "others may read it", "another bot's"])
def test_a_bot_whose_given_credential_is_unusable_is_not_served(tmp_path, problem):
    folder = tmp_path / "given"
    write_private(credential_path(folder, "alpha"), GatewayCredential.generate("alpha").as_json())
    beta = credential_path(folder, "beta")
    if problem == "others may read it":
        write_private(beta, GatewayCredential.generate("beta").as_json())
        beta.chmod(0o644)
    elif problem == "another bot's":
        write_private(beta, GatewayCredential.generate("alpha").as_json())
    paths = GatewayPaths(tmp_path / "gateway")
    gateway = build(paths, folder)
    assert gateway.verdicts["alpha"].served
    assert not gateway.verdicts["beta"].served
    assert gateway.verdicts["beta"].reason.startswith("gateway credential unusable: ")
    assert set(gateway.keys) == {"alpha"}
    assert not beta.exists() or problem != "missing"  # never generated


def test_without_a_folder_the_credentials_are_generated_in_the_gateways_own(tmp_path):
    paths = GatewayPaths(tmp_path / "gateway")
    gateway = build(paths, None)
    for bot in ("alpha", "beta"):
        stored = json.loads(credential_path(paths.root, bot).read_text())
        assert stored["api_key"] == gateway.keys[bot][0].api_key


def test_the_command_takes_the_folder():
    from bulkhead.cli.main import build_app

    shown = CliRunner().invoke(build_app(), ["gateway", "--help"], env={"COLUMNS": "200"})
    assert shown.exit_code == 0, shown.output
    assert "--credentials-dir" in shown.output
