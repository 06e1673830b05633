"""PostgreSQL's language facts (no driver needed): see `db.dialect`."""

from __future__ import annotations

from collections.abc import Sequence

from datamigration.db.dialect import Dialect, register_dialect


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

    parser = "pglast"
    true_false = ("TRUE", "FALSE")
    bytes_format = "'\\x{}'::bytea"

    @classmethod
    def insert_skipping_duplicates(cls, target: str, conflict: Sequence[str]) -> tuple[str, str]:
        return "INSERT INTO", f" ON CONFLICT ({', '.join(conflict)}) DO NOTHING"
