"""Field transforms of document plans, evaluated on the client, in MongoDB's expression syntax.

Why on the client: an update with an aggregation pipeline (``[{"$set": {"b": "$a"}}]``) runs
the transform on the server, but not every server takes one (nx-27017, the wire server the
tests run on, refuses pipelines), and a backfill must also *check* its result (the validation
gate compares every document's new field with the transform of its old one). One evaluator
does both, so what is written and what is checked can never disagree. Plans keep the transform
as a MongoDB expression (``"$full_name"``, ``{"$convert": {"input": "$age", "to": "long"}}``),
so a reviewer reads exactly what real MongoDB would run.

Supported: field paths (``"$a.b"``), literals (``{"$literal": v}``, numbers, booleans, plain
strings), ``$convert`` (to int/long/double/decimal/string/date/bool/objectId, with
``onError``/``onNull``), the ``$toInt`` ... ``$toObjectId`` shorthands, ``$ifNull``,
``$concat``, ``$toUpper``, ``$toLower`` and ``$trim``. Conversions follow MongoDB's rules
($convert docs): doubles truncate toward zero, any string is a true boolean, dates convert
to and from milliseconds since the epoch and ISO-8601 text.
"""

from __future__ import annotations

import datetime as dt
import decimal
import math
from collections.abc import Mapping
from typing import Any

from bson import Decimal128, Int64, ObjectId

from datamigration.errors import UserInputError

MISSING = object()  # a field the document does not have (MongoDB's "missing", not null)
TARGETS = ("int", "long", "double", "decimal", "string", "date", "bool", "objectId")
_SHORTHANDS = {f"$to{t[0].upper()}{t[1:]}": t for t in TARGETS}
#: every operator `evaluate` runs: what a plan's transform may use, and nothing else
OPERATORS = frozenset(
    {"$literal", "$convert", "$ifNull", "$concat", "$toUpper", "$toLower", "$trim", *_SHORTHANDS}
)
_INT32 = (-(2**31), 2**31 - 1)
_INT64 = (-(2**63), 2**63 - 1)
_EPOCH = dt.datetime(1970, 1, 1)


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


def evaluate(expr: Any, doc: Mapping[str, Any]) -> Any:
    """The value of `expr` for `doc` (MISSING when it reads a missing field)."""
    if isinstance(expr, str):
        return get_path(doc, expr[1:]) if expr.startswith("$") else expr
    if isinstance(expr, list | tuple):
        return [evaluate(v, doc) for v in expr]
    if not isinstance(expr, Mapping):
        return expr
    if len(expr) != 1 or not next(iter(expr)).startswith("$"):
        return {k: evaluate(v, doc) for k, v in expr.items()}
    name, arg = next(iter(expr.items()))
    if name == "$literal":
        return arg
    if name == "$convert":
        value = evaluate(arg["input"], doc)
        if value is MISSING or value is None:
            return evaluate(arg["onNull"], doc) if "onNull" in arg else None
        try:
            return convert(value, arg["to"])
        except ConversionError:
            if "onError" in arg:
                return evaluate(arg["onError"], doc)
            raise
    if name in _SHORTHANDS:
        value = evaluate(arg, doc)
        return None if value is MISSING or value is None else convert(value, _SHORTHANDS[name])
    if name == "$ifNull":
        for item in arg:
            value = evaluate(item, doc)
            if value is not MISSING and value is not None:
                return value
        return None
    if name == "$concat":
        parts = [evaluate(a, doc) for a in arg]
        if any(p is MISSING or p is None for p in parts):
            return None
        return "".join(str(p) for p in parts)
    if name in ("$toUpper", "$toLower"):
        value = evaluate(arg, doc)
        text = "" if value is MISSING or value is None else str(value)
        return text.upper() if name == "$toUpper" else text.lower()
    if name == "$trim":
        value = evaluate(arg["input"], doc)
        return None if value is MISSING or value is None else str(value).strip()
    raise UserInputError(
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
                evaluate(expr, {})  # raises with the hint
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


def _fail(value: Any, to: str, why: str = "") -> ConversionError:
    return ConversionError(
        f"cannot convert {value!r} ({type(value).__name__}) to {to}{': ' + why if why else ''}",
        hint="Fix the document, or give the transform an onError value "
        '({"$convert": {"input": ..., "to": ..., "onError": null}}).',
    )


def _integer(value: Any, to: str, bounds: tuple[int, int]) -> int:
    if isinstance(value, int):  # bool too: True is 1
        n = int(value)
    elif isinstance(value, float):
        if math.isnan(value) or math.isinf(value):
            raise _fail(value, to)
        n = int(value)  # truncates toward zero, as MongoDB does
    elif isinstance(value, Decimal128):
        d = value.to_decimal()
        if not d.is_finite():
            raise _fail(value, to)
        n = int(d)
    elif isinstance(value, str):
        try:
            n = int(value.strip(), 10)
        except ValueError:
            raise _fail(value, to, "not a base-10 integer") from None
    elif isinstance(value, dt.datetime) and to == "long":
        n = _millis(value)
    else:
        raise _fail(value, to)
    if not bounds[0] <= n <= bounds[1]:
        raise _fail(value, to, "out of range")
    return n


def _millis(value: dt.datetime) -> int:
    naive = value.astimezone(dt.UTC).replace(tzinfo=None) if value.tzinfo else value
    return (naive - _EPOCH) // dt.timedelta(milliseconds=1)


def _date(value: Any) -> dt.datetime:
    if isinstance(value, dt.datetime):
        return value
    if isinstance(value, bool):
        raise _fail(value, "date")
    if isinstance(value, int | float):
        return _EPOCH + dt.timedelta(milliseconds=int(value))
    if isinstance(value, ObjectId):
        return value.generation_time.replace(tzinfo=None)
    if isinstance(value, str):
        text = value.strip()
        if text.endswith("Z"):
            text = text[:-1] + "+00:00"
        try:
            parsed = dt.datetime.fromisoformat(text)
        except ValueError:
            raise _fail(value, "date", "not an ISO-8601 date") from None
        if parsed.tzinfo is not None:
            parsed = parsed.astimezone(dt.UTC).replace(tzinfo=None)
        # BSON dates hold milliseconds
        return parsed.replace(microsecond=parsed.microsecond // 1000 * 1000)
    raise _fail(value, "date")


def _string(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dt.datetime):
        naive = value.astimezone(dt.UTC).replace(tzinfo=None) if value.tzinfo else value
        return naive.strftime("%Y-%m-%dT%H:%M:%S.") + f"{naive.microsecond // 1000:03d}Z"
    if isinstance(value, float):
        return repr(value) if not value.is_integer() else str(int(value))
    if isinstance(value, int | str | ObjectId | Decimal128):
        return str(value)
    raise _fail(value, "string")


def convert(value: Any, to: str) -> Any:
    """`value` converted to the BSON type `to`, following MongoDB's $convert."""
    if to == "int":
        return _integer(value, to, _INT32)
    if to == "long":
        return Int64(_integer(value, to, _INT64))
    if to == "double":
        if isinstance(value, dt.datetime):
            return float(_millis(value))
        try:
            return float(value.to_decimal() if isinstance(value, Decimal128) else value)
        except (TypeError, ValueError):
            raise _fail(value, to) from None
    if to == "decimal":
        if isinstance(value, Decimal128):
            return value
        try:
            return Decimal128(
                decimal.Decimal(str(int(value) if isinstance(value, bool) else value))
            )
        except (decimal.InvalidOperation, TypeError, ValueError):
            raise _fail(value, to) from None
    if to == "string":
        return _string(value)
    if to == "date":
        return _date(value)
    if to == "bool":
        if isinstance(value, Decimal128):
            return value.to_decimal() != 0
        if isinstance(value, str):
            return True  # every string is true in MongoDB, even ""
        if isinstance(value, bool | int | float | dt.datetime | ObjectId):
            return bool(value) if not isinstance(value, dt.datetime | ObjectId) else True
        raise _fail(value, to)
    if to == "objectId":
        if isinstance(value, ObjectId):
            return value
        try:
            return ObjectId(str(value))
        except Exception:  # noqa: BLE001 - bson raises InvalidId or TypeError
            raise _fail(value, to) from None
    raise UserInputError(f"unknown conversion target {to!r}", hint="One of: " + ", ".join(TARGETS))


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
        return _millis(a) == _millis(b)
    return bool(a == b)
