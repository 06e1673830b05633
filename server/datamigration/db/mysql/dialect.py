"""MariaDB/MySQL's language facts (no driver needed): see `db.dialect`."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from datamigration.db.dialect import Dialect, register_dialect


@register_dialect
class MySQLDialect(Dialect):
    dialect = "mysql"
    sqlglot_dialect = "mysql"
    lint_dialect = "mysql"
    identifier_quote = "`"
    default_port = 3306
    shared_snapshot = "connection"

    @staticmethod
    def version_is_mariadb(version: str | None) -> bool:
        """A server version string (`SELECT VERSION()`) names MariaDB, not MySQL."""
        return "mariadb" in (version or "").lower()

    # --- the checksum diff's SQL and kinds (validate/) -----------------------------------
    integer_division = "DIV"
    random_function = "RAND()"
    tinyint1_is_bool = True
    timestamp_is_utc = True  # MySQL TIMESTAMP is stored in UTC
    indexes_unbounded_text = False  # TEXT/BLOB keys need a prefix length

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

    @classmethod
    def field_expr(cls, col: str, kind: str, type_kind: str | None, norm: Any) -> str | None:
        """MySQL/MariaDB expression for `kind`, or None where MySQL cannot print it
        identically (`norm`: the diff's `validate.canonical.Normalisation`)."""
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
            return (
                f"DATE_FORMAT({col}, '%%Y-%%m-%%d')" if type_kind in ("date", "timestamp") else None
            )
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
