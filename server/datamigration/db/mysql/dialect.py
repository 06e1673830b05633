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
    default_port = 3306
    shared_snapshot = "connection"

    # --- the checksum diff's SQL and kinds (validate/) -----------------------------------
    integer_division = "DIV"
    random_function = "RAND()"
    tinyint1_is_bool = True
    timestamp_is_utc = True  # MySQL TIMESTAMP is stored in UTC

    @classmethod
    def row_text_expr(cls, exprs: Sequence[str]) -> str:
        null, sep = "CHAR(30 USING utf8mb4)", "CHAR(31 USING utf8mb4)"
        return f"CONCAT_WS({sep}, " + ", ".join(f"COALESCE({e}, {null})" for e in exprs) + ")"

    @classmethod
    def row_hash_expr(cls, text: str) -> str:
        return f"CAST(CONV(SUBSTRING(MD5({text}), 1, 15), 16, 10) AS UNSIGNED)"

    @classmethod
    def key_expr(cls, quoted: str, kind: str, type_kind: str | None) -> tuple[str, str]:
        if kind == "uuid":
            return f"BINARY LOWER({quoted})", cls.placeholder
        if kind == "text":
            return f"BINARY {quoted}", cls.placeholder
        return quoted, cls.placeholder

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
