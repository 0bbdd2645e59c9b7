"""Read bulkhead.yaml into a ``Fleet``, turning every problem into one readable line.

An error names the field path, the bad value (cut short) and what is allowed; values
under credential fields are never echoed, since a misplaced secret must not reach a
terminal. The file is read bounded (see ``document``), so no spec, however hostile,
costs more than a small one to load or to refuse.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import ValidationError

from bulkhead.config.document import load_document, read_spec_bytes
from bulkhead.config.models import Fleet
from bulkhead.config.problems import SpecError, described

__all__ = ["SpecError", "load_fleet", "parse_fleet", "parse_spec_bytes"]


def parse_fleet(document: Any) -> Fleet:
    """A ``Fleet`` from plain data (as YAML gives it), or a ``SpecError`` of lines."""
    try:
        return Fleet.model_validate(document)
    except ValidationError as error:
        raise SpecError(described(error.errors())) from None


def parse_spec_bytes(data: bytes) -> Fleet:
    """A ``Fleet`` from the bytes of a spec file, bounded as ``document`` describes."""
    return parse_fleet(load_document(data))


def load_fleet(path: Path) -> Fleet:
    """The fleet in the spec file at ``path``; problems are lines without the path."""
    return parse_spec_bytes(read_spec_bytes(path))
