"""Binary COPY of rows (not of a binary stream): the column types it covers and a timestamp
dumper that also takes ISO-8601 text.

A target column whose type is here is loaded in COPY's binary format: psycopg packs an int
or a float in a few machine instructions where text COPY prints it and the server parses it
back (about 3x less work on both sides, `bench/README.md`). Text sources (SQLite keeps its
DATETIME values as text) reach a timestamp column through `TimestampBinaryDumper`, which
accepts only the plain ISO-8601 spellings that mean the same to PostgreSQL and to Python;
anything else (a time zone, more than six fraction digits, another spelling, a value of an
unexpected type) raises, and the writer loads that batch with text COPY instead (the server
decides, exactly as before).
"""

from __future__ import annotations

import datetime as dt
import re
import struct
from collections.abc import Sequence
from typing import Any

from psycopg.adapt import Dumper
from psycopg.postgres import types as pg_types
from psycopg.pq import Format

#: a target type (typmod removed) -> the PostgreSQL type name whose binary form COPY loads
BINARY_TYPES = {
    "bigint": "int8",
    "integer": "int4",
    "smallint": "int2",
    "double precision": "float8",
    "real": "float4",
    "text": "text",
    "character varying": "varchar",
    "timestamp without time zone": "timestamp",
}
_TYPMOD = re.compile(r"\(\d+\)")
#: ASCII digits only (`\d` would also take other scripts' digits, which PostgreSQL refuses)
_ISO = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}([ T][0-9]{2}:[0-9]{2}(:[0-9]{2}(\.[0-9]{1,6})?)?)?")
_FROM_ISO = dt.datetime.fromisoformat
_EPOCH = dt.datetime(2000, 1, 1)
_INT8 = struct.Struct("!q").pack


def binary_type_names(types: Sequence[str]) -> list[str] | None:
    """The binary COPY type of every column, or None when one has no safe binary form."""
    names = [BINARY_TYPES.get(_TYPMOD.sub("", t).strip()) for t in types]
    return None if not names or None in names else names  # type: ignore[return-value]


class TimestampBinaryDumper(Dumper):
    """`timestamp without time zone` in binary from a naive datetime or plain ISO text."""

    oid = pg_types.get("timestamp").oid  # type: ignore[union-attr]
    format = Format.BINARY

    def dump(self, obj: Any) -> bytes:
        if type(obj) is str:
            # the common spelling ("YYYY-MM-DD HH:MM:SS") checked by its separators, and the
            # digits by fromisoformat (ASCII only): half the time of the regular expression
            if (
                not (
                    len(obj) == 19
                    and obj[10] in " T"
                    and obj[4] == obj[7] == "-"
                    and obj[13] == obj[16] == ":"
                )
                and _ISO.fullmatch(obj) is None
            ):
                raise ValueError(f"not a plain ISO-8601 timestamp: {obj[:40]!r}")
            obj = _FROM_ISO(obj)
        elif type(obj) is dt.date:
            obj = dt.datetime(obj.year, obj.month, obj.day)
        elif not isinstance(obj, dt.datetime):
            raise ValueError("a timestamp without time zone needs a naive datetime")
        if obj.tzinfo is not None:
            raise ValueError("a timestamp without time zone needs a naive datetime")
        d = obj - _EPOCH  # days, seconds and microseconds: cheaper than timedelta // timedelta
        return _INT8((d.days * 86400 + d.seconds) * 1_000_000 + d.microseconds)
