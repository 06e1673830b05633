"""SQL that renders the canonical text form (see `canonical`) inside PostgreSQL and MySQL.

Hashing inside the database is what makes the diff fast: a segment's count and hash sum cross
the network as two numbers instead of thousands of rows. That only works if the SQL below
prints each value exactly as `canonical.render` does in Python, so every kind has one expression
per dialect here, and a kind a dialect cannot print identically (MySQL floats and JSON, time
zones other than UTC) returns None: the caller then hashes that side on the client and says so
in the report.

Key order must also agree across databases, so text keys are compared bytewise (PostgreSQL
``COLLATE "C"``, MySQL ``BINARY``), which is also Python's and MongoDB's order.

Every expression here is SQL text for the drivers' ``format`` paramstyle, because the diff
sends it with ``%s`` parameters: a literal ``%`` (MySQL's ``DATE_FORMAT`` directives, the
PostgreSQL modulo operator) is written ``%%``, and the readers always execute it with a
parameter list, even an empty one, so the driver turns ``%%`` back into ``%``. A single ``%``
would be read as a placeholder ("unsupported format character 'Y'"), and MySQL's ``%s``
(seconds) as a parameter.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from datamigration.db.dialect import dialect_of
from datamigration.validate.canonical import Normalisation

TS_PG = "YYYY-MM-DD HH24:MI:SS.US"


def quote_ident(name: str, dialect: str) -> str:
    return dialect_of(dialect).quote_part(name)


def quote_table(name: str, dialect: str) -> str:
    """Quote a possibly schema-qualified table name part by part."""
    return ".".join(quote_ident(part, dialect) for part in name.split("."))


def _pg_trunc(col: str, precision: int) -> str:
    if precision == 6:
        return col
    if precision == 0:
        return f"date_trunc('second', {col})"
    if precision == 3:
        return f"date_trunc('milliseconds', {col})"
    # Other precisions: drop the extra microseconds arithmetically.
    keep = 10 ** (6 - precision)
    return (
        f"({col} - make_interval(secs => (floor(extract(microseconds from {col}))::bigint "
        f"%% {keep}) / 1000000.0))"
    )


def pg_expr(col: str, kind: str, type_kind: str | None, norm: Normalisation) -> str | None:
    """PostgreSQL expression printing quoted column `col` in `kind`'s canonical text."""
    if kind == "int":
        return f"{col}::text"
    if kind == "numeric":
        return f"trim_scale({col}::numeric)::text"
    if kind == "float":
        return f"{col}::float8::text"
    if kind == "bool":
        if type_kind == "bool":
            return f"CASE WHEN {col} THEN 't' ELSE 'f' END"
        return f"CASE WHEN {col}::numeric <> 0 THEN 't' ELSE 'f' END"
    if kind in ("timestamp", "timestamptz"):
        if type_kind == "timestamptz":
            utc = f"({col} AT TIME ZONE 'UTC')"
        elif type_kind == "timestamp":
            utc = (
                col
                if norm.naive_timezone == "UTC"
                else f"(({col} AT TIME ZONE '{norm.naive_timezone}') AT TIME ZONE 'UTC')"
            )
        else:
            return None  # timestamps kept as text: parse on the client
        return f"to_char({_pg_trunc(utc, norm.timestamp_precision)}, '{TS_PG}')"
    if kind == "date":
        return f"to_char({col}, 'YYYY-MM-DD')" if type_kind in ("date", "timestamp") else None
    if kind == "time":
        return f"to_char({col}, 'HH24:MI:SS.US')" if type_kind == "time" else None
    if kind == "uuid":
        return f"lower({col}::text)"
    if kind == "bytes":
        return f"encode({col}, 'hex')" if type_kind == "bytes" else None
    if kind == "json":
        return f"{col}::jsonb::text"
    if norm.unicode_nfc:
        return None
    if type_kind in ("float", "numeric", "bool", "timestamp", "timestamptz", "bytes", "json"):
        return None  # printed differently by each side: let Python render both
    return f"{col}::text"


def mysql_expr(col: str, kind: str, type_kind: str | None, norm: Normalisation) -> str | None:
    """MySQL/MariaDB expression for `kind`, or None where MySQL cannot print it identically."""
    if kind == "int":
        return f"CAST({col} AS CHAR)"
    if kind == "numeric":
        if type_kind not in ("int", "numeric"):
            return None
        s = f"CAST({col} AS CHAR)"
        return f"IF(LOCATE('.', {s}) > 0, TRIM(TRAILING '.' FROM TRIM(TRAILING '0' FROM {s})), {s})"
    if kind == "bool":
        return f"IF({col} <> 0, 't', 'f')"
    if kind in ("timestamp", "timestamptz"):
        if type_kind not in ("timestamp", "timestamptz"):
            return None
        if type_kind == "timestamp" and norm.naive_timezone != "UTC":
            return None
        p = norm.timestamp_precision
        head = f"DATE_FORMAT({col}, '%%Y-%%m-%%d %%H:%%i:%%s.')"
        frac = f"DATE_FORMAT({col}, '%%f')"
        if p < 6:
            frac = f"RPAD(LEFT({frac}, {p}), 6, '0')" if p else "'000000'"
        return f"CONCAT({head}, {frac})"
    if kind == "date":
        return f"DATE_FORMAT({col}, '%%Y-%%m-%%d')" if type_kind in ("date", "timestamp") else None
    if kind == "time":
        return f"TIME_FORMAT({col}, '%%H:%%i:%%s.%%f')" if type_kind == "time" else None
    if kind == "uuid":
        return f"LOWER(CONVERT({col} USING utf8mb4))"
    if kind == "bytes":
        return f"LOWER(HEX({col}))" if type_kind == "bytes" else None
    if kind in ("float", "json") or norm.unicode_nfc:
        return None
    if type_kind in ("float", "numeric", "bool", "timestamp", "timestamptz", "bytes", "json"):
        return None
    return f"CONVERT({col} USING utf8mb4)"


def field_expr(
    dialect: str, col: str, kind: str, type_kind: str | None, norm: Normalisation
) -> str | None:
    fn = {"postgresql": pg_expr, "mysql": mysql_expr}.get(dialect)
    return fn(col, kind, type_kind, norm) if fn else None


def row_text_expr(dialect: str, exprs: Sequence[str]) -> str:
    return dialect_of(dialect).row_text_expr(exprs)


def hash_expr(dialect: str, text: str) -> str:
    """The 60-bit md5 prefix of the row text, as an integer (summed per segment)."""
    return dialect_of(dialect).row_hash_expr(text)


@dataclass(frozen=True)
class KeySQL:
    """How one side's key columns appear in predicates and ORDER BY."""

    dialect: str
    exprs: tuple[str, ...]  # comparable expressions (bytewise for text)
    markers: tuple[str, ...]  # parameter marker per key column (%s, ?, %s::uuid)

    def _row(self) -> str:
        return self.exprs[0] if len(self.exprs) == 1 else "(" + ", ".join(self.exprs) + ")"

    def _params(self) -> str:
        m = self.markers
        return m[0] if len(m) == 1 else "(" + ", ".join(m) + ")"

    def range(self, lo: tuple | None, hi: tuple | None) -> tuple[str, list]:
        """Predicate `lo <= key < hi` (None = unbounded) and its parameters."""
        parts, params = [], []
        if lo is not None:
            parts.append(f"{self._row()} >= {self._params()}")
            params.extend(lo)
        if hi is not None:
            parts.append(f"{self._row()} < {self._params()}")
            params.extend(hi)
        return (" AND ".join(parts) or "1=1"), params

    def in_list(self, keys: Sequence[tuple]) -> tuple[str, list]:
        if not keys:
            return "1=0", []
        params: list = []
        for k in keys:
            params.extend(k)
        return f"{self._row()} IN (" + ", ".join([self._params()] * len(keys)) + ")", params

    def order_by(self) -> str:
        return ", ".join(self.exprs)

    def bucket_by_width(self, start: int, width: int, n: int) -> str:
        div = dialect_of(self.dialect).integer_division
        return f"LEAST(GREATEST(({self.exprs[0]} - {int(start)}) {div} {int(width)}, 0), {n - 1})"

    def bucket_by_bounds(self, bounds: Sequence[tuple]) -> tuple[str, list]:
        """Bucket number = how many boundaries are <= key (0..len(bounds))."""
        params: list = []
        if not bounds:
            return "0", params  # one bucket (an empty CASE or ARRAY[] is not valid SQL)
        if dialect_of(self.dialect).width_bucket and len(self.exprs) == 1:
            # width_bucket does a binary search over the sorted boundaries.
            for b in bounds:
                params.extend(b)
            arr = ", ".join([self.markers[0]] * len(bounds))
            return f"width_bucket({self.exprs[0]}, ARRAY[{arr}])", params
        whens = []
        for i, b in enumerate(bounds):
            whens.append(f"WHEN {self._row()} < {self._params()} THEN {i}")
            params.extend(b)
        return f"CASE {' '.join(whens)} ELSE {len(bounds)} END", params


def key_sql(dialect: str, quoted: Sequence[str], kinds: Sequence[tuple[str, str | None]]) -> KeySQL:
    """Key expressions for a side; `kinds` holds (compared kind, the side's own type kind)."""
    found = dialect_of(dialect)
    exprs, markers = [], []
    for q, (kind, type_kind) in zip(quoted, kinds, strict=True):
        e, m = found.key_expr(q, kind, type_kind)
        exprs.append(e)
        markers.append(m)
    return KeySQL(dialect, tuple(exprs), tuple(markers))
