"""The canonical text form of a value: what both sides of a diff hash, whatever the database.

A checksum diff across PostgreSQL, MySQL, SQLite and MongoDB only works if equal values produce
byte-identical text on both sides. Each database prints values its own way (``1.50`` vs ``1.5``,
``2024-01-01 10:00:00`` vs ``...00.000000``, ``t`` vs ``1``), so every compared column is given a
*kind* (decided from both sides' declared types) and every value is rendered to that kind's
canonical text:

========== ==============================================================================
kind       canonical text
========== ==============================================================================
int        decimal digits (``-42``)
numeric    exact decimal with trailing zeros trimmed (``1.50`` -> ``1.5``, ``2.00`` -> ``2``)
float      the value as an 8-byte float, shortest round-trip digits, PostgreSQL's layout
bool       ``t`` / ``f``
text       the text itself (UTF-8); optionally NFC-normalised
uuid       lower-case hyphenated
timestamp  converted to UTC, truncated to `timestamp_precision` digits, always 6 printed
date       ``YYYY-MM-DD``
time       ``HH:MM:SS.ffffff``
bytes      lower-case hex
json       keys ordered as PostgreSQL's jsonb prints them, ``", "`` and ``": "`` separators
========== ==============================================================================

NULL (and a field missing from a document) is `NULL_MARK`, a control character no ordinary
value equals; fields are joined with `FIELD_SEP`. The SQL renderers in `sqlrender` produce the
same text inside PostgreSQL and MySQL; this module renders it in Python for the sides hashed on
the client (SQLite, MongoDB, MySQL floats) and for row-by-row comparison.
"""

from __future__ import annotations

import datetime as dt
import decimal
import hashlib
import json
import math
import unicodedata
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any
from zoneinfo import ZoneInfo

from datamigration.db.dialect import dialect_of
from datamigration.errors import UserInputError

NULL_MARK = "\x1e"
FIELD_SEP = "\x1f"
KINDS = (
    "int",
    "numeric",
    "float",
    "bool",
    "text",
    "uuid",
    "timestamp",
    "timestamptz",
    "date",
    "time",
    "bytes",
    "json",
)
UTC = dt.UTC


@dataclass(frozen=True)
class Normalisation:
    """How values are normalised before hashing; recorded in every diff report.

    `timestamp_precision` truncates fractional seconds to 0-6 digits on both sides (MongoDB
    dates hold milliseconds, so pairs with MongoDB default to 3). `naive_timezone` is the zone a
    timestamp without time zone is taken to be in. `float_as_numeric` compares floats as exact
    decimals instead of 8-byte floats. `unicode_nfc` NFC-normalises text (client-side only).
    """

    timestamp_precision: int = 6
    naive_timezone: str = "UTC"
    null_equals_missing: bool = True
    unicode_nfc: bool = False
    trim_numeric_scale: bool = True

    def __post_init__(self) -> None:
        if not 0 <= int(self.timestamp_precision) <= 6:
            raise UserInputError(
                f"timestamp_precision must be 0..6, not {self.timestamp_precision}",
                hint="Use 6 for microseconds, 3 for milliseconds (MongoDB), 0 for seconds.",
            )
        try:
            ZoneInfo(self.naive_timezone)
        except Exception:  # noqa: BLE001 - any lookup failure is the same user error
            raise UserInputError(
                f"unknown time zone {self.naive_timezone!r}",
                hint="Use an IANA name such as UTC or Europe/Paris.",
            ) from None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any] | None) -> Normalisation:
        data = dict(data or {})
        known = {k: data[k] for k in cls.__dataclass_fields__ if k in data}
        unknown = sorted(set(data) - set(known))
        if unknown:
            raise UserInputError(
                f"unknown normalisation option(s): {', '.join(unknown)}",
                hint="Known: " + ", ".join(cls.__dataclass_fields__),
            )
        return cls(**known)


# --- kinds from declared types -----------------------------------------------------------


def kind_of(type_text: str | None, dialect: str) -> str | None:
    """The kind of a declared column type; None when the type says nothing (SQLite, Mongo)."""
    if not type_text:
        return None
    t = type_text.lower().strip()
    base = t.split("(")[0].strip()
    found = dialect_of(dialect)
    if found.tinyint1_is_bool and base in ("tinyint",) and "(1)" in t:
        return "bool"
    if base in ("bool", "boolean"):
        return "bool"
    if base in (
        "smallint",
        "integer",
        "int",
        "bigint",
        "int2",
        "int4",
        "int8",
        "tinyint",
        "mediumint",
        "serial",
        "bigserial",
        "smallserial",
    ) or base.startswith(("int ", "bigint ", "smallint ", "tinyint ", "mediumint ")):
        return "int"
    if base in ("numeric", "decimal", "dec", "fixed", "money"):
        return "numeric"
    if base in ("real", "float", "float4", "float8", "double", "double precision") or (
        base.startswith("double")
    ):
        return "float"
    if base == "uuid":
        return "uuid"
    if base in ("timestamptz", "timestamp with time zone") or "with time zone" in t:
        return "time" if base.startswith("time ") or base == "timetz" else "timestamptz"
    if base.startswith("timestamp") or base == "datetime":
        if found.timestamp_is_utc and base.startswith("timestamp"):
            return "timestamptz"  # MySQL TIMESTAMP is stored in UTC
        return "timestamp"
    if base == "date":
        return "date"
    if base.startswith("time"):
        return "time"
    if base in ("bytea", "blob", "tinyblob", "mediumblob", "longblob", "binary", "varbinary"):
        return "bytes"
    if base in ("json", "jsonb"):
        return "json"
    if found.type_affinity:
        # SQLite affinity: INT anywhere means integer; REAL/FLOA/DOUB float; the rest text-ish.
        if "int" in base:
            return "int"
        if any(x in base for x in ("real", "floa", "doub")):
            return "float"
        if any(x in base for x in ("char", "clob", "text")):
            return "text"
        return None
    return "text"


_COMBINE = {
    frozenset({"int", "numeric"}): "numeric",
    frozenset({"int", "float"}): "float",
    frozenset({"numeric", "float"}): "float",
    frozenset({"int", "bool"}): "bool",
    frozenset({"timestamp", "timestamptz"}): "timestamptz",
    frozenset({"text", "uuid"}): "uuid",
    frozenset({"text", "json"}): "json",
}


def combine_kinds(a: str | None, b: str | None) -> str:
    """One kind both sides render to. Text wins over anything it cannot be compared with, since
    every value has a text form; a typed side wins over an untyped one (SQLite, MongoDB)."""
    if a is None and b is None:
        return "text"
    if a is None or b is None or a == b:
        return a or b or "text"
    pair = frozenset({a, b})
    if pair in _COMBINE:
        return _COMBINE[pair]
    if "text" in pair:
        # e.g. timestamps kept as text by a copy tool: compare in the typed side's kind, so that
        # "2024-01-01 10:00:00" equals a timestamp of that instant.
        return next(iter(pair - {"text"}))
    return "text"


# --- Python rendering ------------------------------------------------------------------------


def pg_float_text(x: float) -> str:
    """An 8-byte float as PostgreSQL prints it (extra_float_digits >= 1): shortest round-trip
    digits, fixed notation for decimal exponents -4..14, else ``d.ddde+XX``."""
    if math.isnan(x):
        return "NaN"
    if math.isinf(x):
        return "Infinity" if x > 0 else "-Infinity"
    if x == 0:
        return "-0" if math.copysign(1.0, x) < 0 else "0"
    sign = "-" if x < 0 else ""
    mantissa, _, exp_text = repr(abs(x)).partition("e")
    exp = int(exp_text) if exp_text else 0
    whole, _, frac = mantissa.partition(".")
    digits = (whole + frac).lstrip("0")
    # Position of the decimal point relative to the first significant digit.
    point = len(whole) + exp if whole != "0" else exp - (len(frac) - len(frac.lstrip("0")))
    digits = digits.rstrip("0") or "0"
    e10 = point - 1
    if -4 <= e10 < 15:
        if point <= 0:
            return f"{sign}0.{'0' * -point}{digits}"
        if point >= len(digits):
            return f"{sign}{digits}{'0' * (point - len(digits))}"
        return f"{sign}{digits[:point]}.{digits[point:]}"
    body = digits[0] + ("." + digits[1:] if len(digits) > 1 else "")
    return f"{sign}{body}e{'-' if e10 < 0 else '+'}{abs(e10):02d}"


def numeric_text(value: Any) -> str:
    """Exact decimal text with trailing fractional zeros trimmed (PostgreSQL's trim_scale)."""
    if isinstance(value, float):
        if not math.isfinite(value):
            return pg_float_text(value)
        d = decimal.Decimal(repr(value))
    elif isinstance(value, decimal.Decimal):
        d = value
    else:
        d = decimal.Decimal(str(value).strip())
    if d.is_nan():
        return "NaN"
    if d.is_infinite():
        return "Infinity" if d > 0 else "-Infinity"
    if d == 0:
        return "0"
    text = format(d, "f")
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return text


def _to_datetime(value: Any) -> dt.datetime | None:
    if isinstance(value, dt.datetime):
        return value
    if isinstance(value, dt.date):
        return dt.datetime(value.year, value.month, value.day)
    if isinstance(value, str):
        text = value.strip().replace("Z", "+00:00")
        try:
            return dt.datetime.fromisoformat(text)
        except ValueError:
            return None
    if isinstance(value, int | float):  # epoch seconds, as SQLite apps sometimes store
        return dt.datetime.fromtimestamp(value, UTC)
    return None


def timestamp_text(value: Any, norm: Normalisation) -> str:
    stamp = _to_datetime(value)
    if stamp is None:
        return str(value)
    if stamp.tzinfo is None:
        if norm.naive_timezone != "UTC":
            stamp = stamp.replace(tzinfo=ZoneInfo(norm.naive_timezone))
        else:
            stamp = stamp.replace(tzinfo=UTC)
    stamp = stamp.astimezone(UTC)
    keep = 10 ** (6 - norm.timestamp_precision)
    stamp = stamp.replace(microsecond=stamp.microsecond - stamp.microsecond % keep)
    return stamp.strftime("%Y-%m-%d %H:%M:%S.%f")


def _jsonb_dump(obj: Any) -> str:
    """JSON as PostgreSQL's jsonb prints it: keys by length then bytewise, ", " / ": "
    separators, numbers kept as written (jsonb keeps 1.50 as 1.50)."""
    if isinstance(obj, dict):
        keys = sorted(obj, key=lambda k: (len(k.encode()), k.encode()))
        return (
            "{"
            + ", ".join(f"{json.dumps(k, ensure_ascii=False)}: {_jsonb_dump(obj[k])}" for k in keys)
            + "}"
        )
    if isinstance(obj, list):
        return "[" + ", ".join(_jsonb_dump(v) for v in obj) + "]"
    if isinstance(obj, decimal.Decimal):
        return str(obj)
    if isinstance(obj, float):
        return pg_float_text(obj)
    return json.dumps(obj, ensure_ascii=False)


def json_text(value: Any) -> str:
    if isinstance(value, str | bytes):
        try:
            value = json.loads(value, parse_float=decimal.Decimal)
        except ValueError:
            return value if isinstance(value, str) else value.decode("utf-8", "replace")
    return _jsonb_dump(value)


def render(value: Any, kind: str, norm: Normalisation) -> str:
    """Canonical text of one value for `kind` (never the NULL mark: callers test None)."""
    if kind == "int":
        if isinstance(value, bool):
            return "1" if value else "0"
        if isinstance(value, int):
            return str(value)
        return numeric_text(value)
    if kind == "numeric":
        return numeric_text(value) if not isinstance(value, bool) else str(int(value))
    if kind == "float":
        try:
            return pg_float_text(float(value))
        except (TypeError, ValueError):
            return str(value)
    if kind == "bool":
        if isinstance(value, str):
            return "t" if value.strip().lower() in ("t", "true", "1", "y", "yes", "on") else "f"
        return "t" if value else "f"
    if kind in ("timestamp", "timestamptz"):
        return timestamp_text(value, norm)
    if kind == "date":
        stamp = _to_datetime(value)
        return stamp.strftime("%Y-%m-%d") if stamp is not None else str(value)
    if kind == "time":
        if isinstance(value, dt.timedelta):
            value = (dt.datetime.min + value).time()
        if isinstance(value, str):
            try:
                value = dt.time.fromisoformat(value)
            except ValueError:
                return value
        if isinstance(value, dt.datetime):
            value = value.time()
        if isinstance(value, dt.time):
            return value.strftime("%H:%M:%S.%f")
        return str(value)
    if kind == "uuid":
        return str(value).lower()
    if kind == "bytes":
        if isinstance(value, bytes | bytearray | memoryview):
            return bytes(value).hex()
        if isinstance(value, uuid.UUID):
            return value.bytes.hex()
        return str(value).encode().hex()
    if kind == "json":
        return json_text(value)
    # text
    if isinstance(value, bytes | bytearray | memoryview):
        text = bytes(value).decode("utf-8", "replace")
    elif isinstance(value, float):
        text = pg_float_text(value)
    elif isinstance(value, decimal.Decimal):
        text = numeric_text(value)
    elif isinstance(value, bool):
        text = "t" if value else "f"
    elif isinstance(value, dt.datetime):
        text = timestamp_text(value, norm)
    else:
        text = str(value)
    return unicodedata.normalize("NFC", text) if norm.unicode_nfc else text


def render_or_null(value: Any, kind: str, norm: Normalisation) -> str:
    return NULL_MARK if value is None else render(value, kind, norm)


def row_text(fields: Sequence[str]) -> str:
    return FIELD_SEP.join(fields)


def row_hash(fields: Sequence[str]) -> int:
    """The 60-bit md5 prefix of the canonical row text: the unit summed per segment."""
    return int(hashlib.md5(row_text(fields).encode("utf-8")).hexdigest()[:15], 16)


def key_value(text: str, kind: str) -> Any:
    """A key field's canonical text as a JSON-able value (ints stay numbers)."""
    if kind == "int":
        try:
            return int(text)
        except ValueError:
            return text
    return text
