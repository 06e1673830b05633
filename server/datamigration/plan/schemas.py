"""JSON Schema checks for change specs and plans, with errors that name the field at fault.

The plan schema refers to the change-spec and validation-rules schemas by their `$id`, so the
three are loaded into one registry: the plan file, the spec inside it and the rules inside its
steps are checked against the very schemas people read.
"""

from __future__ import annotations

import functools
import json
from importlib import resources
from typing import Any

from jsonschema import Draft202012Validator
from referencing import Registry, Resource

from datamigration.errors import FileFormatError

_NAMES = ("change-spec", "export-manifest", "plan", "validation-rules")


def _load(name: str) -> dict[str, Any]:
    text = (
        resources.files("datamigration")
        .joinpath("schemas", f"{name}.schema.json")
        .read_text(encoding="utf-8")
    )
    return json.loads(text)


@functools.cache
def validator(name: str) -> Draft202012Validator:
    schemas = {n: _load(n) for n in _NAMES}
    registry: Registry = Registry()
    for schema in schemas.values():
        registry = registry.with_resource(schema["$id"], Resource.from_contents(schema))
    Draft202012Validator.check_schema(schemas[name])
    return Draft202012Validator(schemas[name], registry=registry)


def errors(data: Any, name: str) -> list[str]:
    """Every violation as `path: message`, most specific (shallowest) first."""
    found = sorted(
        validator(name).iter_errors(data), key=lambda e: (len(e.path), [str(p) for p in e.path])
    )
    return [f"{'/'.join(str(p) for p in e.path) or '(top level)'}: {e.message}" for e in found]


def check(data: Any, name: str, *, source: str, hint: str) -> None:
    """Raise FileFormatError naming the first problem when `data` does not conform."""
    problems = errors(data, name)
    if problems:
        raise FileFormatError(
            f"{source}: {problems[0]}",
            hint=hint,
            path=source,
            problem=problems[0],
            problems=problems[:10],
        )
