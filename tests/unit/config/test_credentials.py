"""A bot's credentials, resolved from the references in its spec."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from bulkhead.config.credentials import resolve_credentials
from bulkhead.config.loader import parse_fleet
from bulkhead.config.models import Bot
from bulkhead.config.secrets import SecretRef, SecretResolutionError

EXAMPLE = Path(__file__).resolve().parents[3] / "examples" / "bulkhead.yaml"


def bot_with(**changes: Any) -> Bot:
    document = yaml.safe_load(EXAMPLE.read_text())
    document["bots"][0].update(changes)
    return parse_fleet(document).bots[0]


def test_secrets_resolve_from_env_from_name_file_and_from_files(tmp_path: Path):
    (tmp_path / "key.txt").write_text("from-file\n")
    (tmp_path / "docker-secret").write_text("from-docker\n")
    bot = bot_with(
        credentials={
            "api_key": {"file": "key.txt"},
            "secret": {"env": "S"},
            "passphrase": {"env": "P"},
        }
    )
    values = resolve_credentials(
        bot, {"S": "from-env", "P_FILE": str(tmp_path / "docker-secret")}, tmp_path
    )
    assert {k: v.get_secret_value() for k, v in values.items()} == {
        "api_key": "from-file",
        "secret": "from-env",
        "passphrase": "from-docker",
    }


def test_a_missing_secret_is_an_error_naming_the_reference_only():
    with pytest.raises(SecretResolutionError, match="env NOPE is missing or empty"):
        SecretRef(env="NOPE").resolve({})
