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

ENV_NAME = re.compile(r"^[A-Z_][A-Z0-9_]*$")


def _first_line(path: Path) -> str:
    try:
        lines = path.read_text().splitlines()
    except OSError:
        return ""
    return lines[0] if lines else ""


class SecretResolutionError(ValueError):
    """A referenced secret is missing or empty: stop and tell the operator which one."""


class SecretRef(BaseModel):
    """``{env: NAME}`` or ``{file: PATH}``; exactly one of them."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    env: str | None = Field(default=None, description="environment variable holding the secret")
    file: Path | None = Field(default=None, description="file holding the secret (first line)")

    @model_validator(mode="after")
    def _exactly_one(self) -> SecretRef:
        if (self.env is None) == (self.file is None):
            raise ValueError("give exactly one of env: NAME or file: PATH")
        if self.env is not None and not ENV_NAME.match(self.env):
            raise ValueError(f"env must be an UPPER_CASE variable name, got {self.env!r}")
        return self

    def describe(self) -> str:
        return f"env {self.env}" if self.env else f"file {self.file}"

    def resolve(
        self, environ: Mapping[str, str] | None = None, base_dir: Path | None = None
    ) -> SecretStr:
        """The secret's value, wrapped so it never prints; raises naming the reference only."""
        env = os.environ if environ is None else environ
        if self.env is not None:
            value = env.get(self.env, "")
            pointer = env.get(f"{self.env}_FILE", "")
            if not value and pointer:
                # Docker convention: NAME_FILE names a mounted secret file.
                value = _first_line(Path(pointer))
        else:
            assert self.file is not None
            path = (
                self.file if self.file.is_absolute() or base_dir is None else base_dir / self.file
            )
            value = _first_line(path)
        value = value.strip()
        if not value:
            raise SecretResolutionError(f"secret from {self.describe()} is missing or empty")
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
        if isinstance(data, dict):
            for field, value in data.items():
                if isinstance(value, str):
                    raise ValueError(
                        f"{field}: a literal secret is refused in bulkhead.yaml; "
                        f"use {{env: NAME}} or {{file: PATH}}"
                    )
        return data
