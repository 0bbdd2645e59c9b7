"""Key custody: a bot's gateway credential is generated once, kept 0600, and trusted only so."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from pydantic import SecretStr

from bulkhead.gateway.custody import (
    Custody,
    CustodyError,
    GatewayCredential,
    RealKey,
    credential_path,
    gateway_credential,
)


def test_a_credential_is_generated_once_owner_only_and_then_reused(tmp_path: Path):
    first = gateway_credential(tmp_path / "gw", "bot1")
    assert credential_path(tmp_path / "gw", "bot1").stat().st_mode & 0o777 == 0o600
    assert gateway_credential(tmp_path / "gw", "bot1") == first
    other = gateway_credential(tmp_path / "gw", "bot2")
    assert {other.api_key, other.secret} & {first.api_key, first.secret} == set()
    assert len(first.api_key) == 24
    assert len(first.passphrase) <= 32


def test_a_credential_never_shows_its_secret_in_its_repr(tmp_path: Path):
    credential = gateway_credential(tmp_path, "bot1")
    assert credential.secret not in repr(credential)
    assert credential.passphrase not in repr(credential)


def test_a_credential_file_others_can_read_is_refused(tmp_path: Path):
    gateway_credential(tmp_path, "bot1")
    credential_path(tmp_path, "bot1").chmod(0o644)
    with pytest.raises(CustodyError, match="readable or writable by others"):
        gateway_credential(tmp_path, "bot1")


@pytest.mark.parametrize(
    "content",
    [
        "not json",
        "[]",
        '{"bot": "bot1"}',
        json.dumps({"bot": "bot2", "api_key": "k", "secret": "s", "passphrase": "p"}),
    ],
)
def test_a_damaged_or_foreign_credential_file_is_refused(tmp_path: Path, content: str):
    path = credential_path(tmp_path, "bot1")
    path.write_text(content)
    path.chmod(0o600)
    with pytest.raises(CustodyError) as refused:
        gateway_credential(tmp_path, "bot1")
    assert str(path) in str(refused.value)


def test_custody_hands_every_secret_to_the_redactor(tmp_path: Path):
    credential = gateway_credential(tmp_path, "bot1")
    real = RealKey(SecretStr("real-key"), SecretStr("real-secret"), SecretStr("real-pass"))
    custody = Custody.of([(credential, real)])
    assert custody.credentials[credential.api_key] is credential
    assert custody.real_key("bot1") is real
    assert {"real-key", "real-secret", "real-pass", credential.secret} <= set(custody.secrets())


def test_two_credentials_for_one_bot_are_refused(tmp_path: Path):
    real = RealKey(SecretStr("k"), SecretStr("s"), SecretStr("p"))
    with pytest.raises(CustodyError):
        Custody.of([(GatewayCredential.generate("bot1"), real)] * 2)
