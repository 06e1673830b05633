"""JSON and YAML written by a person or an agent, parsed so that no input can crash us.

Every file or argument we parse (change specs, validation rules, status.json, bus lines, the
expertise file, MongoDB queries, tool arguments) may be hostile or simply wrong: a list where an
object belongs, or 100,000 nested brackets that make Python's parsers raise RecursionError and
would make every recursive walk after them (schema checks, redaction, JSON output) fail the same
way. These helpers turn each of those into a `FileFormatError` with a hint, and bound the
nesting depth of what they return, so the code after them can recurse freely.

The bound is an allow-list: no format we read needs more than `MAX_DEPTH` levels, and
`MAX_NODES` caps the walk itself (YAML aliases can make a small file describe a huge tree).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import yaml

from datamigration.errors import FileFormatError

MAX_DEPTH = 64
MAX_NODES = 1_000_000
_YAML_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def too_deep(source: str, hint: str, what: str = "the file") -> FileFormatError:
    """The error for input nested past MAX_DEPTH (or past what a parser can recurse into)."""
    return FileFormatError(
        f"{source}: {what} nests deeper than {MAX_DEPTH} levels",
        hint=hint + f" (nothing we read needs more than {MAX_DEPTH} levels of nesting)",
        path=source,
        line=None,
        problem="nested too deeply",
    )


def check_depth(value: Any, *, source: str, hint: str) -> Any:
    """`value` itself when its containers nest at most MAX_DEPTH deep; walked without recursion."""
    stack: list[tuple[Any, int]] = [(value, 0)]
    seen = 0
    while stack:
        item, depth = stack.pop()
        seen += 1
        if seen > MAX_NODES:
            raise FileFormatError(
                f"{source}: more than {MAX_NODES:,} values",
                hint=hint + " (split it into smaller files)",
                path=source,
                line=None,
                problem="too many values",
            )
        if isinstance(item, Mapping):
            children: Any = item.values()
        elif isinstance(item, list | tuple):
            children = item
        else:
            continue
        if depth >= MAX_DEPTH:
            raise too_deep(source, hint, "the value")
        stack.extend((child, depth + 1) for child in children)
    return value


def load_json(text: str, *, source: str, hint: str) -> Any:
    """Parse JSON text; bad syntax, too deep nesting or too many values are FileFormatErrors."""
    try:
        value = json.loads(text)
    except RecursionError:
        raise too_deep(source, hint, "the JSON") from None
    except ValueError as exc:
        line = getattr(exc, "lineno", None)
        raise FileFormatError(
            f"{source}: not valid JSON: {exc}",
            hint=hint,
            path=source,
            line=line,
            problem=str(exc),
        ) from None
    return check_depth(value, source=source, hint=hint)


def load_yaml(text: str, *, source: str, hint: str, loader: Any = None) -> Any:
    """Parse YAML text (safe loader, or a subclass of it given as `loader`); failures and too
    deep nesting are FileFormatErrors."""
    try:
        value = yaml.load(text, Loader=loader or _YAML_LOADER)  # a SafeLoader: safe
    except RecursionError:
        raise too_deep(source, hint, "the YAML") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark is not None else None
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        if "nesting depth" in str(problem):
            raise too_deep(source, hint, "the YAML") from None
        raise FileFormatError(
            f"{source}:{line}: not valid YAML: {problem}" if line else f"{source}: {problem}",
            hint=hint,
            path=source,
            line=line,
            problem=str(problem),
        ) from None
    return check_depth(value, source=source, hint=hint)


def require_object(value: Any, *, source: str, hint: str, what: str = "a JSON object") -> Any:
    """`value` when it is a mapping; otherwise say what was found instead."""
    if not isinstance(value, Mapping):
        found = "null" if value is None else type(value).__name__
        found = {"list": "an array", "str": "a string", "int": "a number", "float": "a number",
                 "bool": "a boolean"}.get(found, found)  # fmt: skip
        raise FileFormatError(
            f"{source}: must be {what}, found {found}",
            hint=hint,
            path=source,
            line=1,
            problem=f"top level is {found}",
        )
    return value
