"""MariaDB/MySQL's language facts (no driver needed): see `db.dialect`."""

from __future__ import annotations

from datamigration.db.dialect import Dialect, register_dialect


@register_dialect
class MySQLDialect(Dialect):
    dialect = "mysql"
    sqlglot_dialect = "mysql"
    lint_dialect = "mysql"
    identifier_quote = "`"
    shared_snapshot = "connection"
