"""Identifier quoting and literal rendering per dialect, shared by every SQL generator.

Generated SQL is reviewed by people and golden-tested, so names are quoted only when they need
it (reserved words, upper case, odd characters); a name that needs no quotes reads better bare.
Literals are rendered here (not bound as parameters) because plans store complete statements:
what is reviewed is exactly what is sent. How a database spells a quoted name or a literal is
its `db.dialect.Dialect`'s business; this module decides when to quote and what a value is.
"""

from __future__ import annotations

import datetime as dt
import decimal
import re
import uuid
from collections.abc import Sequence
from typing import Any

from datamigration.db.dialect import Dialect, find_dialect

_BARE = re.compile(r"^[a-z_][a-z0-9_]*$")
#: words that must be quoted as identifiers in at least one of our dialects
RESERVED = frozenset(
    """all alter analyse analyze and any array as asc asymmetric between both by case cast check
    collate column constraint create cross current_date current_role current_time
    current_timestamp current_user default deferrable delete desc distinct do drop else end
    except false fetch for foreign from grant group having in index initially inner insert
    intersect into is join key keys lateral leading left like limit localtime localtimestamp
    match natural not null offset on only or order outer placing primary references replace
    returning right row rows select session_user set some symmetric table then to trailing
    true union unique update user using values when where window with""".split()  # noqa: SIM905
)


def _facts(dialect: str) -> type[Dialect]:
    """The dialect's language facts; a name that is no dialect of ours gets the SQL standard's."""
    return find_dialect(dialect) or Dialect


def quote(name: str, dialect: str) -> str:
    """An identifier, quoted only when it has to be. `schema.table` is quoted per part."""
    if "." in name and not name.startswith(('"', "`")):
        return ".".join(quote(part, dialect) for part in name.split("."))
    if _BARE.match(name) and name not in RESERVED:
        return name
    return _facts(dialect).quote_part(name)


def quote_all(names: Sequence[str], dialect: str) -> str:
    return ", ".join(quote(n, dialect) for n in names)


def literal(value: Any, dialect: str) -> str:
    """A SQL literal for a key value read from the database (keyset resume points)."""
    if value is None:
        return "NULL"
    if isinstance(value, bool):
        return _facts(dialect).boolean_literal(value)
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, decimal.Decimal):
        return str(value)
    if isinstance(value, (bytes, bytearray, memoryview)):
        return _facts(dialect).bytes_literal(bytes(value))
    if isinstance(value, (dt.datetime, dt.date, dt.time)):
        return string_literal(
            value.isoformat(sep=" ") if isinstance(value, dt.datetime) else value.isoformat(),
            dialect,
        )
    if isinstance(value, uuid.UUID):
        return string_literal(str(value), dialect)
    return string_literal(str(value), dialect)


def string_literal(text: str, dialect: str) -> str:
    return _facts(dialect).string_literal(text)


def row_value(names: Sequence[str], dialect: str) -> str:
    """`(a, b)` for a composite key, `a` for a single column."""
    if len(names) == 1:
        return quote(names[0], dialect)
    return "(" + quote_all(names, dialect) + ")"


def row_literal(values: Sequence[Any], dialect: str) -> str:
    if len(values) == 1:
        return literal(values[0], dialect)
    return "(" + ", ".join(literal(v, dialect) for v in values) + ")"


def slug(text: str, limit: int = 48) -> str:
    """A lower-case, dash-separated name for ids and file names."""
    s = re.sub(r"[^a-z0-9]+", "_", text.lower()).strip("_")
    return s[:limit].rstrip("_") or "change"
