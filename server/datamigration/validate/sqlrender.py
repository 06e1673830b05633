"""SQL that renders the canonical text form (see `canonical`) inside PostgreSQL and MySQL.

Hashing inside the database is what makes the diff fast: a segment's count and hash sum cross
the network as two numbers instead of thousands of rows. That only works if the SQL prints each
value exactly as `canonical.render` does in Python, so every kind has one expression per
dialect (the dialect class's `field_expr`, in db/<database>/dialect.py), and a kind a dialect cannot print identically (MySQL floats and JSON, time
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

from datamigration.db.dialect import dialect_of, find_dialect
from datamigration.validate.canonical import Normalisation


def quote_ident(name: str, dialect: str) -> str:
    return dialect_of(dialect).quote_part(name)


def quote_table(name: str, dialect: str) -> str:
    """Quote a possibly schema-qualified table name part by part."""
    return ".".join(quote_ident(part, dialect) for part in name.split("."))


def field_expr(
    dialect: str, col: str, kind: str, type_kind: str | None, norm: Normalisation
) -> str | None:
    """The database's expression printing quoted column `col` in `kind`'s canonical text, or
    None where it cannot print it identically (that side is then hashed on the client)."""
    found = find_dialect(dialect)
    return found.field_expr(col, kind, type_kind, norm) if found else None


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
