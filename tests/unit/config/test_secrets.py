"""Nothing typed in a credential field is ever echoed, whichever check refuses it."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import yaml

from bulkhead.config.credentials import resolve_credentials
from bulkhead.config.loader import SpecError, parse_fleet, parse_spec_bytes
from bulkhead.config.models import Bot
from bulkhead.config.secrets import SecretRef, SecretResolutionError

EXAMPLE = Path(__file__).resolve().parents[3] / "examples" / "bulkhead.yaml"
SECRET = "my-real-secret-9f8e"


def example() -> dict[str, Any]:
    document: dict[str, Any] = yaml.safe_load(EXAMPLE.read_text())
    return document


def with_credentials(**parts: Any) -> dict[str, Any]:
    document = example()
    document["bots"][0]["credentials"].update(parts)
    return document


def refusal(document: Any) -> list[str]:
    with pytest.raises(SpecError) as caught:
        parse_fleet(copy.deepcopy(document))
    return caught.value.problems


def bot(**changes: Any) -> Bot:
    document = example()
    document["bots"][0].update(changes)
    return parse_fleet(document).bots[0]


@pytest.mark.parametrize(
    "value",
    [
        {"env": SECRET},
        {"env": SECRET.upper().replace("-", "_") + "-"},
        {"file": 12345, "env": SECRET},
        {"env": [SECRET]},
        {"env": "BOT1_SECRET", "extra": SECRET},
        {SECRET: "x"},
        SECRET,
        [SECRET],
        12345,
    ],
    ids=[
        "secret as env name",
        "almost an env name",
        "both env and file",
        "env as a list",
        "unknown key beside env",
        "secret as a key",
        "literal string",
        "literal list",
        "literal number",
    ],
)
def test_a_secret_typed_where_a_reference_belongs_is_refused_and_never_echoed(value: Any):
    problems = refusal(with_credentials(secret=value))
    assert problems
    for line in problems:
        assert line.startswith("bots.0.credentials.")
        assert SECRET not in line
        assert SECRET.upper().replace("-", "_") not in line
        assert "12345" not in line


def test_an_env_name_that_is_a_secret_says_what_is_allowed():
    assert refusal(with_credentials(secret={"env": SECRET})) == [
        "bots.0.credentials.secret: env must be an UPPER_CASE variable name (A-Z, 0-9, _; "
        "at most 128); what was written is not shown, in case it is the secret itself"
    ]


def test_a_literal_secret_names_its_field_and_what_is_allowed():
    assert refusal(with_credentials(passphrase=SECRET)) == [
        "bots.0.credentials.passphrase: a literal secret is refused in bulkhead.yaml "
        "(not shown); use {env: NAME} or {file: PATH}"
    ]


def test_a_secret_written_as_a_key_under_credentials_is_masked_in_the_path():
    problems = refusal(with_credentials(**{SECRET: {"env": "X"}}))
    assert problems == ["bots.0.credentials.<hidden key>: Extra inputs are not permitted"]


def test_the_redis_admin_password_reference_is_as_private_as_a_bot_credential():
    document = example()
    document["memory"] = {"admin_password": {"env": SECRET}}
    problems = refusal(document)
    assert problems[0].startswith("memory.admin_password: env must be an UPPER_CASE")
    assert all(SECRET not in line for line in problems)


def test_a_credential_written_in_the_wrong_section_is_not_echoed():
    document = example()
    document["bots"][0]["api_key"] = SECRET
    document["bots"][0]["secret"] = SECRET
    problems = refusal(document)
    assert problems == [
        "bots.0.api_key: Extra inputs are not permitted",
        "bots.0.secret: Extra inputs are not permitted",
    ]


def test_a_refusal_of_a_whole_bot_hides_the_credentials_it_holds():
    # Credentials first, so that a short repr of the bot would reach them.
    problems = refusal({"version": 1, "bots": {"credentials": {"secret": SECRET}}})
    assert problems[0].startswith("bots: Input should be a valid list (got {'credentials': ")
    assert all(SECRET not in line for line in problems)


def test_a_syntax_error_on_a_credential_line_does_not_quote_the_line():
    text = EXAMPLE.read_text().replace(
        "secret: {env: BOT1_KUCOIN_API_SECRET}", f"secret: {{env: {SECRET}"
    )
    with pytest.raises(SpecError) as caught:
        parse_spec_bytes(text.encode())
    assert SECRET not in str(caught.value)


@pytest.mark.parametrize("reference", [SECRET, f"/nonexistent/{SECRET}"])
def test_a_secret_file_that_cannot_be_read_is_named_by_its_field_not_its_path(
    tmp_path: Path, reference: str
):
    chosen = bot(
        credentials={
            "api_key": {"env": "K"},
            "secret": {"file": reference},
            "passphrase": {"env": "P"},
        }
    )
    with pytest.raises(SecretResolutionError) as caught:
        resolve_credentials(chosen, {"K": "key-0123", "P": "pass-0123"}, tmp_path)
    message = str(caught.value)
    assert SECRET not in message
    assert message.startswith("bot bot1: credentials.secret: secret from file cannot be read")
    assert "(No such file or directory)" in message


def test_a_secret_file_path_with_a_nul_byte_is_refused_without_a_traceback(tmp_path: Path):
    with pytest.raises(SecretResolutionError, match="is not a usable path"):
        SecretRef(file=Path("se\0cret")).resolve({}, tmp_path)


def test_a_secret_file_in_latin_1_is_refused_without_a_traceback(tmp_path: Path):
    (tmp_path / "secret.txt").write_bytes(b"caf\xe9\n")
    with pytest.raises(SecretResolutionError, match="is not UTF-8 text"):
        SecretRef(file=Path("secret.txt")).resolve({}, tmp_path)


def test_a_secret_file_that_never_ends_is_read_bounded_and_refused():
    with pytest.raises(SecretResolutionError, match="not one line of printable text"):
        SecretRef(file=Path("/dev/zero")).resolve({})


def test_a_docker_secret_file_that_is_missing_names_the_variable_not_the_path():
    with pytest.raises(SecretResolutionError) as caught:
        SecretRef(env="S").resolve({"S_FILE": f"/run/secrets/{SECRET}"})
    assert str(caught.value).startswith("secret from env S_FILE cannot be read")
    assert SECRET not in str(caught.value)


def test_a_missing_env_secret_names_the_bot_the_part_and_the_variable():
    chosen = bot()
    with pytest.raises(SecretResolutionError) as caught:
        resolve_credentials(chosen, {})
    assert str(caught.value) == (
        "bot bot1: credentials.api_key: secret from env BOT1_KUCOIN_API_KEY is missing or empty"
    )
