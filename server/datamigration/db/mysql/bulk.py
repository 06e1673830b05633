"""MariaDB/MySQL's bulk reader and writer for the move engine (see `db.bulk`).

Loads are multi-row INSERTs (PyMySQL's `executemany` folds a batch into one statement) inside
one InnoDB transaction per partition. Values are shaped for the column: documents become JSON
text, instants with a time zone are written normalised to UTC (DATETIME keeps no offset).
AUTO_INCREMENT is moved past the copied maximum after the load.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping, Sequence
from typing import Any

from datamigration.db.bulk import SQLBulk, SQLBulkWriter, plain_value, values_rows
from datamigration.db.model import Column, Table


def _mysql_value(v: Any) -> Any:
    if isinstance(v, dt.datetime) and v.tzinfo is not None:
        return v.astimezone(dt.UTC).replace(tzinfo=None)
    if isinstance(v, dt.time) and v.tzinfo is not None:
        return v.replace(tzinfo=None)
    return plain_value(v)


class MySQLBulkWriter(SQLBulkWriter):
    begin_sql = "START TRANSACTION"

    def adapt(self, row: Sequence[Any]) -> tuple[Any, ...]:
        return tuple(_mysql_value(v) for v in row)

    def broken(self) -> bool:
        return not self.conn.open


class MySQLBulk(SQLBulk):
    writer_class = MySQLBulkWriter
    identity_clause = "AUTO_INCREMENT"

    def upsert_sql(
        self, table: str, columns: Sequence[str], key: Sequence[str], rows: int = 1
    ) -> str:
        """INSERT ... ON DUPLICATE KEY UPDATE (VALUES(c): MariaDB and MySQL both read it)."""
        q = self.quote_identifier
        rest = [c for c in columns if c not in key] or list(key[:1])
        sets = ", ".join(f"{q(c)} = VALUES({q(c)})" for c in rest)
        return (
            f"INSERT INTO {q(table)} ({', '.join(q(c) for c in columns)}) "
            f"VALUES {values_rows(self, len(columns), rows)} ON DUPLICATE KEY UPDATE {sets}"
        )

    def render_default(self, neutral: Any, column: Column) -> str:
        kind, _ = neutral
        if kind in ("now", "today"):
            m = re.search(r"\((\d)\)", column.data_type)
            if kind == "today":
                return "(CURRENT_DATE)"
            return f"CURRENT_TIMESTAMP({m.group(1)})" if m else "CURRENT_TIMESTAMP"
        return super().render_default(neutral, column)

    def before_load(self) -> None:
        """Foreign keys of an existing target are not checked while partitions load in any
        order (the copy validates every row against the source afterwards)."""
        self.execute(["SET SESSION FOREIGN_KEY_CHECKS = 0"], autocommit=True)

    def identity_statements(self, table: Table, maxima: Mapping[str, Any]) -> list[str]:
        for col in table.columns:
            top = maxima.get(col.name)
            if col.identity and top is not None:
                name = self.quote_identifier(table.name)
                return [f"ALTER TABLE {name} AUTO_INCREMENT = {int(top) + 1}"]
        return []
