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

    @classmethod
    def insert_skipping_duplicates(cls, target: str, conflict: Sequence[str]) -> tuple[str, str]:
        return "INSERT OR IGNORE INTO", ""
