"""MariaDB/MySQL's language facts (no driver needed): see `db.dialect`."""

from __future__ import annotations

from collections.abc import Sequence

from datamigration.db.dialect import Dialect, register_dialect


@register_dialect
class MySQLDialect(Dialect):
    dialect = "mysql"
    sqlglot_dialect = "mysql"
    lint_dialect = "mysql"
    identifier_quote = "`"
    shared_snapshot = "connection"
    #: `#` starts a comment and a backslash escapes inside a string (unless NO_BACKSLASH_ESCAPES)
    expression_forbidden = ("#", "\\")

    @classmethod
    def string_literal(cls, text: str) -> str:
        # a backslash is an escape inside a string unless NO_BACKSLASH_ESCAPES: doubled
        return "'" + text.replace("'", "''").replace("\\", "\\\\") + "'"

    @classmethod
    def insert_skipping_duplicates(cls, target: str, conflict: Sequence[str]) -> tuple[str, str]:
        # a no-op update, not INSERT IGNORE: a row a trigger wrote first (newer) is kept,
        # and every other error (a CHECK, a truncation) still fails the batch
        k = conflict[0]
        return "INSERT INTO", f" ON DUPLICATE KEY UPDATE {k} = {target}.{k}"
