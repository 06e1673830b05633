"""MongoDB's expressions evaluated on the client: the field transforms of document plans
(their vocabulary, driver-free, is `documents.transform`), with the BSON values `$convert`
builds.

Why on the client: an update with an aggregation pipeline (``[{"$set": {"b": "$a"}}]``) runs
the transform on the server, but not every server takes one (nx-27017, the wire server the
tests run on, refuses pipelines), and a backfill must also *check* its result (the validation
gate compares every document's new field with the transform of its old one). One evaluator
does both, so what is written and what is checked can never disagree.

Conversions follow MongoDB's rules ($convert docs): doubles truncate toward zero, any string is
a true boolean, dates convert to and from milliseconds since the epoch and ISO-8601 text.
"""

from __future__ import annotations

import datetime as dt
import decimal
import math
from collections.abc import Mapping
from typing import Any

from bson import Decimal128, Int64, ObjectId

from datamigration.documents.transform import (
    EPOCH,
    MISSING,
    SHORTHANDS,
    TARGETS,
    ConversionError,
    get_path,
    millis,
    unsupported,
)
from datamigration.errors import UserInputError

_INT32 = (-(2**31), 2**31 - 1)
_INT64 = (-(2**63), 2**63 - 1)


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
    if name in SHORTHANDS:
        value = evaluate(arg, doc)
        return None if value is MISSING or value is None else convert(value, SHORTHANDS[name])
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
    raise unsupported(name)


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
        n = millis(value)
    else:
        raise _fail(value, to)
    if not bounds[0] <= n <= bounds[1]:
        raise _fail(value, to, "out of range")
    return n


def _date(value: Any) -> dt.datetime:
    if isinstance(value, dt.datetime):
        return value
    if isinstance(value, bool):
        raise _fail(value, "date")
    if isinstance(value, int | float):
        return EPOCH + dt.timedelta(milliseconds=int(value))
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
            return float(millis(value))
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
