"""Secret references: where a credential lives, never the credential itself.

bulkhead.yaml is version-controlled, so it may only *point* at secrets (an environment
variable or a file); a literal secret in it is refused before anything starts.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, SecretStr, model_validator

from bulkhead.config.problems import FieldProblem, Location
from bulkhead.errors import OperatorError

ENV_NAME = re.compile(r"[A-Z_][A-Z0-9_]{0,127}")
#: most bytes read from a secret file: a credential is one short line (so ``/dev/zero``
#: or a mistyped path to a large file costs no more than a small read)
MAX_SECRET_FILE_BYTES = 64 * 1024
#: longest secret accepted; KuCoin's are under 100 characters
MAX_SECRET_CHARS = 1024
_PATH_HIDDEN = "its path is not shown in case a secret was typed there"


class SecretResolutionError(OperatorError, ValueError):
    """A referenced secret is missing or empty: stop and tell the operator which one."""


def _first_line(path: Path, what: str) -> str:
    """The first line of a secret file, read in at most ``MAX_SECRET_FILE_BYTES``."""
    try:
        with path.open("rb") as handle:
            head = handle.read(MAX_SECRET_FILE_BYTES)
    except OSError as error:
        reason = error.strerror or type(error).__name__
        raise SecretResolutionError(f"{what} cannot be read ({reason}); {_PATH_HIDDEN}") from None
    except ValueError:  # a NUL byte in the path
        raise SecretResolutionError(f"{what} is not a usable path; {_PATH_HIDDEN}") from None
    try:
        text = head.decode("utf-8")
    except UnicodeDecodeError:
        raise SecretResolutionError(f"{what} is not UTF-8 text") from None
    lines = text.splitlines()
    return lines[0] if lines else ""


class SecretRef(BaseModel):
    """``{env: NAME}`` or ``{file: PATH}``; exactly one of them.

    Whatever is written here may be the secret itself, typed in the wrong place, so no
    message about a reference repeats what it holds, except an env name that passed the
    check below. A file's path is never repeated: it is the operator's own to look up.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    env: str | None = Field(default=None, description="environment variable holding the secret")
    file: Path | None = Field(default=None, description="file holding the secret (first line)")

    @model_validator(mode="after")
    def _exactly_one(self) -> SecretRef:
        if (self.env is None) == (self.file is None):
            raise ValueError("give exactly one of env: NAME or file: PATH")
        if self.env is not None and not ENV_NAME.fullmatch(self.env):
            raise ValueError(
                "env must be an UPPER_CASE variable name (A-Z, 0-9, _; at most 128); "
                "what was written is not shown, in case it is the secret itself"
            )
        return self

    def describe(self) -> str:
        return f"env {self.env}" if self.env else "file"

    def resolve(
        self,
        environ: Mapping[str, str] | None = None,
        base_dir: Path | None = None,
        *,
        label: str = "",
    ) -> SecretStr:
        """The secret's value, wrapped so it never prints; errors name the reference only.

        ``label`` (e.g. ``bot bot1: credentials.secret``) starts every error message.
        """
        prefix = f"{label}: " if label else ""
        what = f"{prefix}secret from {self.describe()}"
        env = os.environ if environ is None else environ
        if self.env is not None:
            value = env.get(self.env, "")
            pointer = env.get(f"{self.env}_FILE", "")
            if not value and pointer:
                # Docker convention: NAME_FILE names a mounted secret file.
                value = _first_line(Path(pointer), f"{what}_FILE")
        else:
            assert self.file is not None
            path = (
                self.file if self.file.is_absolute() or base_dir is None else base_dir / self.file
            )
            value = _first_line(path, what)
        value = value.strip()
        if not value:
            raise SecretResolutionError(f"{what} is missing or empty")
        if len(value) > MAX_SECRET_CHARS or not value.isprintable():
            raise SecretResolutionError(
                f"{what} is not one line of printable text of at most {MAX_SECRET_CHARS} characters"
            )
        return SecretStr(value)


class Credentials(BaseModel):
    """The three parts of a KuCoin API key, each by reference."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    api_key: SecretRef
    secret: SecretRef
    passphrase: SecretRef

    @model_validator(mode="before")
    @classmethod
    def _refuse_literals(cls, data: object) -> object:
        """Anything but a mapping where a reference belongs is taken for a literal secret."""
        if isinstance(data, dict):
            problems: list[tuple[Location, str]] = [
                (
                    (field if isinstance(field, str | int) else repr(field),),
                    "a literal secret is refused in bulkhead.yaml (not shown); "
                    "use {env: NAME} or {file: PATH}",
                )
                for field, value in data.items()
                if value is not None and not isinstance(value, dict | SecretRef)
            ]
            if problems:
                raise FieldProblem(*problems)
        return data
