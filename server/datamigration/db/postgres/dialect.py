"""PostgreSQL's language facts (no driver needed): see `db.dialect`."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from datamigration.db.dialect import Dialect, register_dialect

#: how the diff prints a timestamp (microseconds, as `canonical.render` does)
TS_PG = "YYYY-MM-DD HH24:MI:SS.US"


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


@register_dialect
class PostgresDialect(Dialect):
    dialect = "postgresql"
    sqlglot_dialect = "postgres"
    lint_dialect = "postgres"
    default_port = 5432
    shared_snapshot = "export"
    null_safe_differs = "IS DISTINCT FROM"
    nested_comments = True
    lock_trace = True

    # --- the checksum diff's SQL (validate/) ---------------------------------------------
    width_bucket = True
    bucket_bounds_limit = 1024

    @classmethod
    def key_expr(cls, quoted: str, kind: str, type_kind: str | None) -> tuple[str, str]:
        if kind == "uuid" and type_kind == "uuid":
            return quoted, "%s::uuid"  # uuid order is the order of its lower-case text
        if kind in ("text", "uuid"):
            return f'{quoted} COLLATE "C"', cls.placeholder
        return quoted, cls.placeholder

    @classmethod
    def field_expr(cls, col: str, kind: str, type_kind: str | None, norm: Any) -> str | None:
        """PostgreSQL expression printing quoted column `col` in `kind`'s canonical text
        (`norm`: the diff's `validate.canonical.Normalisation`)."""
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

    parser = "pglast"
    true_false = ("TRUE", "FALSE")
    bytes_format = "'\\x{}'::bytea"

    @classmethod
    def insert_skipping_duplicates(cls, target: str, conflict: Sequence[str]) -> tuple[str, str]:
        return "INSERT INTO", f" ON CONFLICT ({', '.join(conflict)}) DO NOTHING"
