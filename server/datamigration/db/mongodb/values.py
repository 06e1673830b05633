"""Row values as the BSON types a document mapping asks for, and deterministic document ids.

The move engine builds documents from rows without importing a driver; the few conversions
that need `bson` live here: a numeric becomes Decimal128 (exact, where a double would round),
a 64-bit integer an Int64 (so a `$jsonSchema` that says ``long`` accepts it even when the value
fits 32 bits), a date a datetime at midnight, bytes Binary, and so on. A value that cannot be
stored as the asked type raises ValueError with the reason; the caller sets the row aside.
"""

from __future__ import annotations

import datetime as dt
import decimal
import json
import uuid
from collections.abc import Callable
from typing import Any

from bson import Binary, Decimal128, Int64

#: the namespace of `_id` UUIDs derived from a key (uuid5), fixed so a rerun finds the same ids
ID_NAMESPACE = uuid.UUID("5d4f1c9e-8d57-4bd3-9a8a-6f1f0c6a2e11")
_DEC128 = decimal.Context(prec=34)


def _decimal(value: Any) -> Any:
    if isinstance(value, bool):
        return Decimal128(str(int(value)))
    d = value if isinstance(value, decimal.Decimal) else decimal.Decimal(str(value))
    if d.is_finite() and len(d.as_tuple().digits) > 34:
        raise ValueError(f"{d} has more than the 34 digits a Decimal128 keeps")
    return Decimal128(d)


def _long(value: Any) -> Any:
    if isinstance(value, decimal.Decimal) and value != value.to_integral_value():
        raise ValueError(f"{value} is not an integer")
    return Int64(int(value))


def _int(value: Any) -> Any:
    n = int(value)
    if not -(2**31) <= n < 2**31:
        raise ValueError(f"{n} does not fit a 32-bit int")
    return n


def _date(value: Any) -> Any:
    if isinstance(value, dt.datetime):
        return value
    if isinstance(value, dt.date):
        return dt.datetime(value.year, value.month, value.day)
    if isinstance(value, str):
        return dt.datetime.fromisoformat(value.strip())
    raise ValueError(f"{value!r} is not a date")


def _string(value: Any) -> Any:
    if isinstance(value, str):
        return value
    if isinstance(value, dt.timedelta | dt.time | uuid.UUID | decimal.Decimal):
        return str(value)
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value).decode("utf-8")
    if isinstance(value, dict | list):
        return json.dumps(value, sort_keys=True, default=str)
    return str(value)


def _object(value: Any) -> Any:
    """JSON as its value: text from drivers that return JSON as text (SQLite, MySQL) is parsed;
    a driver that already parsed it (psycopg) may hand over a JSON string scalar as str, which
    then stays that string."""
    if isinstance(value, bytes):
        value = value.decode("utf-8")
    if isinstance(value, str):
        try:
            return json.loads(value)
        except ValueError:
            return value
    return value


def _binary(value: Any) -> Any:
    if isinstance(value, uuid.UUID):
        return Binary.from_uuid(value)
    return Binary(bytes(value))


_CONVERTERS: dict[str, Callable[[Any], Any]] = {
    "decimal": _decimal,
    "long": _long,
    "int": _int,
    "double": float,
    "bool": bool,
    "date": _date,
    "string": _string,
    "object": _object,
    "array": _object,
    "binData": _binary,
}


def converter(bson_type: str) -> Callable[[Any], Any]:
    """The function turning a driver's row value into `bson_type` (None stays None)."""
    convert = _CONVERTERS.get(bson_type, _identity)

    def run(value: Any) -> Any:
        return None if value is None else convert(value)

    return run


def _identity(value: Any) -> Any:
    return value


def derived_id(table: str, key: tuple[Any, ...]) -> uuid.UUID:
    """A UUID made from a table name and its key values: the same row, the same `_id`."""
    text = json.dumps([table, [str(v) for v in key]], separators=(",", ":"))
    return uuid.uuid5(ID_NAMESPACE, text)


def id_value(value: uuid.UUID) -> Any:
    """How a derived id is stored: the UUID's text. (A BSON UUID, binary subtype 4, would be
    the native form, but not every wire server matches binary ids in a replace: nx-27017
    does not, and a rerun would then insert instead of replace.)"""
    return str(value)
