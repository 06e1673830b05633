"""SQLite's trigger capture (see `db.trigger_capture` for the protocol).

Three AFTER triggers per table write `json_object(...)` of NEW/OLD into the change table.
SQLite types values, not columns, so each value is written by its own storage class: text,
integers and NULL as JSON has them, a BLOB as `{"b": hex}` (JSON holds no bytes) and a REAL as
`{"r": quote(x)}` (SQLite's JSON prints 15 digits, `quote` prints as many as the double needs).
Nothing else writes a JSON object there (a text that looks like one stays a JSON string), so
reading back gives exactly the values a plain SELECT returns.

SQLite has one writer at a time, so change ids are drawn in commit order here; the change
table's AUTOINCREMENT keeps ids (and so batch numbers) from being reused after deletes.
"""

from __future__ import annotations

from typing import Any

from datamigration.db.model import Column, Table
from datamigration.db.trigger_capture import RowConverter, TriggerCapture, limit_sql

_CATALOG = r"""
SELECT type, name, tbl_name FROM sqlite_master
WHERE type IN ('trigger', 'table') AND name LIKE 'dm\_sync\_%' ESCAPE '\'
"""
_NOW_MS = "((julianday('now') - 2440587.5) * 86400000.0)"


class SQLiteTriggerCapture(TriggerCapture):
    """Triggers and a change table in a SQLite file (see the module docstring)."""

    overhead_note = (
        "Trigger capture slows the application's writes: each captured row also inserts a "
        "JSON change row in the same transaction."
    )
    read_columns = "id, batch, tbl, op, before_row, after_row, tx_id, CAST(captured_at AS INTEGER)"
    oldest_age_sql = f"({_NOW_MS} - MIN(captured_at)) / 1000.0"

    @classmethod
    def catalog(cls, backend: Any) -> list[dict[str, Any]]:
        out = []
        for kind, name, table in backend.fetch(_CATALOG):
            if kind == "trigger":
                out.append({"kind": "trigger", "name": name, "table": table})
            elif name.endswith("_changes"):
                out.append({"kind": "change_table", "name": name, "table": None})
        return out

    def change_table_statements(self) -> list[str]:
        q = self.backend.quote_part
        table = q(self.change_table)
        return [
            (
                f"CREATE TABLE IF NOT EXISTS {table} (id INTEGER PRIMARY KEY AUTOINCREMENT, "
                "batch INTEGER, tbl TEXT NOT NULL, op TEXT NOT NULL, row_key TEXT, before_row TEXT, "
                f"after_row TEXT, tx_id INTEGER, captured_at REAL NOT NULL DEFAULT {_NOW_MS})"
            ),
            f"CREATE INDEX IF NOT EXISTS {q(self.change_table + '_batch')} ON {table} (batch, id)",
        ]

    def trigger_statements(self, given: str, table: Table, key: tuple[str, ...]) -> list[str]:
        q = self.backend.quote_part
        inserts = self.change_inserts(
            q(self.change_table),
            given,
            table,
            key,
            lambda pairs: f"json_object({', '.join(pairs)})",
            _value_sql,
        )
        verbs = {"i": "INSERT", "u": "UPDATE", "d": "DELETE"}
        target = self.backend.quote_identifier(given)
        out = []
        for name, insert in inserts.items():
            out.append(f"DROP TRIGGER IF EXISTS {q(name)}")
            out.append(
                f"CREATE TRIGGER {q(name)} AFTER {verbs[name[-1]]} ON {target} BEGIN {insert}; END"
            )
        return out

    def stamp_statements(self, limit: int | None) -> list[str]:
        changes = self.backend.quote_part(self.change_table)
        return [
            f"INSERT INTO {changes} (tbl, op) VALUES ('', 'm')",
            (
                f"UPDATE {changes} SET batch = last_insert_rowid() WHERE id IN (SELECT id FROM "
                f"{changes} WHERE batch IS NULL AND id < last_insert_rowid() ORDER BY id"
                f"{limit_sql(limit)})"
            ),
            f"DELETE FROM {changes} WHERE id = last_insert_rowid()",
        ]

    def row_converter(self, given: str, table: Table) -> RowConverter:
        def row(values: Any) -> dict[str, Any]:
            return {k: _value(v) for k, v in values.items()}

        return row


def _value_sql(ref: str, column: Column | None) -> str:
    return (
        f"CASE typeof({ref}) WHEN 'blob' THEN json_object('b', hex({ref})) "
        f"WHEN 'real' THEN json_object('r', quote({ref})) ELSE {ref} END"
    )


def _value(v: Any) -> Any:
    if isinstance(v, dict):
        if "b" in v:
            return bytes.fromhex(v["b"])
        if "r" in v:
            return float(v["r"])
    return v


CAPTURE = SQLiteTriggerCapture
