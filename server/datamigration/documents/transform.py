"""Field transforms of document plans, in MongoDB's expression syntax: their vocabulary.

Plans keep a transform as a MongoDB expression (``"$full_name"``,
``{"$convert": {"input": "$age", "to": "long"}}``), so a reviewer reads exactly what real
MongoDB would run. Supported: field paths (``"$a.b"``), literals (``{"$literal": v}``, numbers,
booleans, plain strings), ``$convert`` (to int/long/double/decimal/string/date/bool/objectId,
with ``onError``/``onNull``), the ``$toInt`` ... ``$toObjectId`` shorthands, ``$ifNull``,
``$concat``, ``$toUpper``, ``$toLower`` and ``$trim``.

This module is the part that needs no driver: paths, the operators a plan may use (checked at
plan time), what an expression reads, how two values compare. `db/mongodb/transform.py`
evaluates an expression on the client, building the BSON values `$convert` returns.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

from datamigration.errors import UserInputError

MISSING = object()  # a field the document does not have (MongoDB's "missing", not null)
TARGETS = ("int", "long", "double", "decimal", "string", "date", "bool", "objectId")
SHORTHANDS = {f"$to{t[0].upper()}{t[1:]}": t for t in TARGETS}
#: every operator the evaluator runs: what a plan's transform may use, and nothing else
OPERATORS = frozenset(
    {"$literal", "$convert", "$ifNull", "$concat", "$toUpper", "$toLower", "$trim", *SHORTHANDS}
)
EPOCH = dt.datetime(1970, 1, 1)


class ConversionError(UserInputError):
    """A value the transform cannot convert (MongoDB would fail the update the same way)."""


def get_path(doc: Mapping[str, Any], path: str) -> Any:
    """The value at a dotted path, or MISSING."""
    cur: Any = doc
    for part in path.split("."):
        if isinstance(cur, Mapping) and part in cur:
            cur = cur[part]
        else:
            return MISSING
    return cur


def input_fields(expr: Any) -> list[str]:
    """The document fields an expression reads (for projections and write guards)."""
    out: list[str] = []
    if isinstance(expr, str) and expr.startswith("$") and not expr.startswith("$$"):
        out.append(expr[1:])
    elif isinstance(expr, Mapping):
        if "$literal" in expr:
            return []
        for v in expr.values():
            out += input_fields(v)
    elif isinstance(expr, list | tuple):
        for v in expr:
            out += input_fields(v)
    return list(dict.fromkeys(out))


def unsupported(name: str) -> UserInputError:
    """The refusal of an operator document plans do not evaluate."""
    return UserInputError(
        f"the transform uses {name}, which document plans do not evaluate",
        hint="Use a field path, $convert / $toLong / $toString / $toDate ..., $ifNull, $concat, "
        "$toUpper, $toLower, $trim or $literal.",
    )


def check_expression(expr: Any) -> None:
    """Refuse an expression the evaluator would not run, at plan time (no document needed)."""
    if isinstance(expr, Mapping):
        if len(expr) == 1 and next(iter(expr)).startswith("$"):
            name, arg = next(iter(expr.items()))
            if name not in OPERATORS:
                raise unsupported(name)
            if name == "$literal":
                return
            if name == "$convert" and arg.get("to") not in TARGETS:
                raise UserInputError(
                    f"$convert to {arg.get('to')!r} is not supported",
                    hint="Convert to one of: " + ", ".join(TARGETS),
                )
        for v in expr.values():
            check_expression(v)
    elif isinstance(expr, list | tuple):
        for v in expr:
            check_expression(v)


def millis(value: dt.datetime) -> int:
    naive = value.astimezone(dt.UTC).replace(tzinfo=None) if value.tzinfo else value
    return (naive - EPOCH) // dt.timedelta(milliseconds=1)


def type_bucket(value: Any) -> str:
    """A value's kind for comparisons: int and long are one kind ("integer"): servers that
    store every integer the same way (nx-27017) read a written long back as an int."""
    if value is MISSING:
        return "missing"
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "double"
    if isinstance(value, dt.datetime):
        return "date"
    return type(value).__name__


def same_value(a: Any, b: Any) -> bool:
    """Equal value of the same kind (1 == True and 1 == 1.0 do not count)."""
    if type_bucket(a) != type_bucket(b):
        return False
    if isinstance(a, dt.datetime) and isinstance(b, dt.datetime):
        return millis(a) == millis(b)
    return bool(a == b)
