"""JSON Schema checks for the coordination files, with errors that point at the file and line.

The schemas live in `datamigration/schemas/` (package data) so people and other agents can read
the same contract we enforce. A failed check becomes a FileFormatError naming the file, the line
(when the caller can map a JSON path to one) and the problem.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable, Sequence
from importlib import resources
from typing import Any

from jsonschema import Draft202012Validator

from datamigration.errors import FileFormatError


@functools.cache
def validator(name: str) -> Draft202012Validator:
    """The validator for `schemas/<name>.schema.json`."""
    text = (
        resources.files("datamigration")
        .joinpath("schemas", f"{name}.schema.json")
        .read_text(encoding="utf-8")
    )
    schema = json.loads(text)
    Draft202012Validator.check_schema(schema)
    return Draft202012Validator(schema)


@functools.cache
def sub_validator(name: str, definition: str) -> Draft202012Validator:
    """A validator for one `$defs` entry of a schema (refs still resolve against the whole)."""
    whole = validator(name)
    return whole.evolve(schema=whole.schema["$defs"][definition])


def first_error(
    data: Any, name: str, definition: str | None = None
) -> tuple[list[str | int], str] | None:
    """The most relevant violation (JSON path, message), or None when `data` conforms."""
    v = sub_validator(name, definition) if definition else validator(name)
    errors = sorted(v.iter_errors(data), key=lambda e: (len(e.path), [str(p) for p in e.path]))
    if not errors:
        return None
    err = errors[0]
    where = "/".join(str(p) for p in err.path) or "(top level)"
    return list(err.path), f"{where}: {err.message}"


def validate_or_raise(
    data: Any,
    name: str,
    *,
    source: str,
    line_of: Callable[[Sequence[str | int]], int | None] | None = None,
    hint: str | None = None,
) -> None:
    """Raise FileFormatError (path, line, problem) when `data` does not match the schema."""
    found = first_error(data, name)
    if found is None:
        return
    path, problem = found
    line = line_of(path) if line_of else None
    where = f"{source}:{line}" if line else source
    raise FileFormatError(
        f"{where}: {problem}",
        hint=hint or f"Fix the entry at {where}; nothing was written.",
        path=source,
        line=line,
        problem=problem,
    )
