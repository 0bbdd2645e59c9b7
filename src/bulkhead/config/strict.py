"""The base of every model of bulkhead.yaml: unknown fields refused, frozen, no NaN."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)
