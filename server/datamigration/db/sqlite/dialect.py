"""SQLite's language facts (no driver needed): see `db.dialect`."""

from __future__ import annotations

from collections.abc import Sequence

from datamigration.db.dialect import Dialect, register_dialect


@register_dialect
class SQLiteDialect(Dialect):
    dialect = "sqlite"
    sqlglot_dialect = "sqlite"
    lint_dialect = "sqlite"
    placeholder = "?"
    embedded = True
    hashes_in_database = False  # no md5()
    regexp = False  # no REGEXP function unless an extension defines one

    # --- the checksum diff's SQL and kinds (validate/) -----------------------------------
    type_affinity = True

    @classmethod
    def modulo(cls, expr: str, n: int) -> str:
        return f"({expr} % {n})"  # sqlite3 marks parameters with ?, so % is only modulo

    @classmethod
    def insert_skipping_duplicates(cls, target: str, conflict: Sequence[str]) -> tuple[str, str]:
        return "INSERT OR IGNORE INTO", ""
