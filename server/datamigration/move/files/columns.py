"""How one column travels in an export file: its Arrow type (Parquet) and its text form.

The type comes from the lossless type map (`typemap`): a column's source spelling is read into
its meaning (`Logical`), and that meaning picks the Arrow type that keeps every value: integers
of their width and sign, 4-byte floats as float32 and 8-byte ones as float64, decimals with
their precision and scale (decimal128 up to 38 digits, decimal256 up to 76, exact text beyond
or when unbounded), timestamps in microseconds in UTC when they carry a time zone and naive
when they do not, dates, times, intervals as durations, bytes as binary, arrays as lists.
What Arrow has no type for (uuid, JSON, inet, enums, times with a zone) travels as text.

CSV and JSONL carry text and JSON, so each kind also has a text form (`encode`) and its
inverse (`decode`): decimals as exact strings, bytes as base64, timestamps as ISO-8601,
intervals as exact seconds, JSON as JSON text. The manifest keeps each column's source type,
so the importer decodes a value into what the source had.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import decimal
import json
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from datamigration.typemap import ColumnType
from datamigration.typemap.logical import Logical

MICRO = decimal.Decimal(1_000_000)


@dataclass(frozen=True)
class FileColumn:
    """A column of an exported table: name, source spelling, nullability and meaning."""

    name: str
    source_type: str
    nullable: bool
    logical: Logical

    @classmethod
    def of(cls, column: Any, dialect: str) -> FileColumn:
        """From a `model.Column` of a database of `dialect`."""
        t = ColumnType.from_column(column, dialect)
        return cls(column.name, column.data_type, bool(column.nullable), t.logical())

    @property
    def kind(self) -> str:
        return self.logical.kind

    def arrow_type(self) -> Any:
        return arrow_type(self.logical)

    def encode(self, value: Any) -> Any:
        """The JSON-able form of a value (JSONL; CSV writes it as text)."""
        return None if value is None else _encode(value, self.logical)

    def decode(self, value: Any) -> Any:
        """A value read back from JSON or CSV text, as the source's driver would give it."""
        return None if value is None else _decode(value, self.logical)


# --- Arrow types ----------------------------------------------------------------------------


def _int_type(t: Logical) -> Any:
    import pyarrow as pa

    bits = {24: 32}.get(t.bits or 64, t.bits or 64)
    return getattr(pa, f"{'u' if t.unsigned else ''}int{bits}")()


def _decimal_type(t: Logical) -> Any:
    import pyarrow as pa

    p = t.precision
    if t.floating_decimal or p is None or p > 76:
        return pa.string()
    return (pa.decimal128 if p <= 38 else pa.decimal256)(p, t.scale or 0)


def _time_type(t: Logical) -> Any:
    import pyarrow as pa

    return pa.string() if t.tz else pa.time64("us")


def _timestamp_type(t: Logical) -> Any:
    import pyarrow as pa

    return pa.timestamp("us", tz="UTC" if t.tz else None)


def _array_type(t: Logical) -> Any:
    import pyarrow as pa

    return pa.list_(arrow_type(t.element) if t.element is not None else pa.string())


def _simple(name: str, *args: Any) -> Callable[[Logical], Any]:
    def make(t: Logical) -> Any:
        import pyarrow as pa

        return getattr(pa, name)(*args)

    return make


#: kind -> the Arrow type that keeps every value of it; anything else travels as text
_ARROW: dict[str, Callable[[Logical], Any]] = {
    "int": _int_type,
    "float": lambda t: _simple("float32" if (t.bits or 64) <= 32 else "float64")(t),
    "decimal": _decimal_type,
    "bool": _simple("bool_"),
    "date": _simple("date32"),
    "time": _time_type,
    "timestamp": _timestamp_type,
    "interval": _simple("duration", "us"),
    "bytes": _simple("binary"),
    "year": _simple("int16"),
    "array": _array_type,
}


def arrow_type(t: Logical) -> Any:
    import pyarrow as pa

    make = _ARROW.get(t.kind)
    return make(t) if make is not None else pa.string()


def arrow_value(value: Any, arrow: Any) -> Any:
    """A source value in the shape Arrow takes for `arrow` (used when the driver's own value
    does not convert as it is: SQLite's loosely typed values, MySQL's TIME as a duration)."""
    import pyarrow as pa

    if value is None:
        return None
    if pa.types.is_string(arrow):
        return _as_text(value)
    if pa.types.is_decimal(arrow):
        return value if isinstance(value, decimal.Decimal) else decimal.Decimal(_as_text(value))
    if pa.types.is_timestamp(arrow) and isinstance(value, str):
        return dt.datetime.fromisoformat(value)
    if pa.types.is_date(arrow) and isinstance(value, str):
        return dt.date.fromisoformat(value[:10])
    if pa.types.is_time(arrow):
        return _as_time(value)
    if pa.types.is_boolean(arrow):
        return bool(int(value)) if isinstance(value, str | int) else bool(value)
    if pa.types.is_integer(arrow):
        return int(value)
    if pa.types.is_floating(arrow):
        return float(value)
    if pa.types.is_binary(arrow):
        return value.encode() if isinstance(value, str) else bytes(value)
    if pa.types.is_list(arrow) and isinstance(value, str):
        return json.loads(value)
    return value


def _as_time(value: Any) -> Any:
    if isinstance(value, dt.timedelta):
        return (dt.datetime.min + value).time()
    if isinstance(value, str):
        return dt.time.fromisoformat(value)
    return value


def _as_text(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, dict | list):
        return json.dumps(value, default=str, ensure_ascii=False)
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value).decode("utf-8", "replace")
    return str(value)


# --- text forms (CSV, JSONL) ----------------------------------------------------------------


def _enc_float(v: Any, t: Logical) -> Any:
    v = float(v)
    return v if math.isfinite(v) else repr(v)


def _enc_decimal(v: Any, t: Logical) -> Any:
    return repr(v) if isinstance(v, float) else str(v)


def _enc_temporal(v: Any, t: Logical) -> Any:
    return v.isoformat() if isinstance(v, dt.date | dt.time) else str(v)


def _enc_interval(v: Any, t: Logical) -> Any:
    if isinstance(v, dt.timedelta):
        whole = decimal.Decimal(v.days * 86_400 + v.seconds)
        return str(whole + decimal.Decimal(v.microseconds) / MICRO)
    return str(v)


def _enc_bytes(v: Any, t: Logical) -> Any:
    raw = v.encode() if isinstance(v, str) else bytes(v)
    return base64.b64encode(raw).decode("ascii")


def _enc_json(v: Any, t: Logical) -> Any:
    """JSON travels as its text: a number inside keeps its digits (1.10 stays 1.10)."""
    return _as_text(v)


def _enc_array(v: Any, t: Logical) -> Any:
    if isinstance(v, str):
        v = json.loads(v)
    el = t.element or Logical("string")
    return [None if x is None else _encode(x, el) for x in v]


def _enc_int(v: Any, t: Logical) -> Any:
    return int(v) if isinstance(v, bool | int) else v


def _enc_bool(v: Any, t: Logical) -> Any:
    return bool(int(v)) if isinstance(v, str) and v.isdigit() else bool(v)


_ENCODE: dict[str, Callable[[Any, Logical], Any]] = {
    "int": _enc_int,
    "year": _enc_int,
    "float": _enc_float,
    "decimal": _enc_decimal,
    "bool": _enc_bool,
    "date": _enc_temporal,
    "time": _enc_temporal,
    "timestamp": _enc_temporal,
    "interval": _enc_interval,
    "bytes": _enc_bytes,
    "json": _enc_json,
    "array": _enc_array,
}


def _encode(v: Any, t: Logical) -> Any:
    enc = _ENCODE.get(t.kind)
    if enc is not None:
        return enc(v, t)
    return v if isinstance(v, str | int | float | bool) else _as_text(v)


def _dec_timestamp(v: Any, t: Logical) -> Any:
    try:
        return dt.datetime.fromisoformat(str(v))
    except ValueError:
        return v  # kept as the source stored it (SQLite text); the target parses or refuses


def _dec_date(v: Any, t: Logical) -> Any:
    try:
        return dt.date.fromisoformat(str(v))
    except ValueError:
        return v


def _dec_time(v: Any, t: Logical) -> Any:
    try:
        return dt.time.fromisoformat(str(v))
    except ValueError:
        return v


def _dec_interval(v: Any, t: Logical) -> Any:
    try:
        micros = decimal.Decimal(str(v)) * MICRO
    except decimal.InvalidOperation:
        return v
    return dt.timedelta(microseconds=int(micros))


def _dec_bool(v: Any, t: Logical) -> Any:
    return v if isinstance(v, bool) else str(v).strip().lower() in ("true", "t", "1")


def _dec_json(v: Any, t: Logical) -> Any:
    return v if isinstance(v, str) else json.dumps(v, default=str, ensure_ascii=False)


def _dec_array(v: Any, t: Logical) -> Any:
    items = json.loads(v) if isinstance(v, str) else v
    el = t.element or Logical("string")
    return [None if x is None else _decode(x, el) for x in items]


_DECODE: dict[str, Callable[[Any, Logical], Any]] = {
    "int": lambda v, t: int(v),
    "year": lambda v, t: int(v),
    "float": lambda v, t: float(v),
    "decimal": lambda v, t: decimal.Decimal(str(v)),
    "bool": _dec_bool,
    "date": _dec_date,
    "time": _dec_time,
    "timestamp": _dec_timestamp,
    "interval": _dec_interval,
    "bytes": lambda v, t: base64.b64decode(v),
    "json": _dec_json,
    "array": _dec_array,
}


def _decode(v: Any, t: Logical) -> Any:
    """A value that does not read as its column's type (SQLite keeps whatever it was given)
    stays as it was written: the target then takes it or refuses the row, which is set aside
    as a refused row, never dropped."""
    dec = _DECODE.get(t.kind)
    if dec is None:
        return v
    try:
        return dec(v, t)
    except (ValueError, TypeError, ArithmeticError, binascii.Error):
        return v
