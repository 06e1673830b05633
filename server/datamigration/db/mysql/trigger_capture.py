"""MariaDB/MySQL's trigger capture (see `db.trigger_capture` for the protocol).

Three AFTER triggers per table (INSERT, UPDATE, DELETE; the server allows one statement each)
write `JSON_OBJECT(...)` of every column of NEW/OLD into the change table. A trigger runs with
its definer's rights, so the application's user needs no grant on the change table. TRUNCATE
fires no trigger on these servers: a TRUNCATE of a captured table during a sync is not seen.

Columns are written so that the JSON holds what a plain SELECT returns: binary strings and
geometry as HEX (JSON holds no bytes), BIT as its number, JSON/LONGTEXT cast to text (MariaDB
would otherwise embed a JSON column's document, losing its exact text), and TIMESTAMP as
UNIX_TIMESTAMP: its text would be in the *writer's* session time zone, so the reader turns the
instant back into its own session's local time with FROM_UNIXTIME, one query per batch, as a
SELECT on the reader's connection would. DOUBLE values come back as the server prints them in
both JSON and the text protocol (15 significant digits), so they match a plain SELECT.

The reader's writes (stamping a batch, deleting acknowledged rows) run READ COMMITTED: under
REPEATABLE READ their range scans would take gap locks that block the triggers' inserts, and so
the application's writes.
"""

from __future__ import annotations

import datetime as dt
import decimal
import re
from collections.abc import Callable, Sequence
from typing import Any

from datamigration.db.model import Column, Table
from datamigration.db.trigger_capture import (
    ChangeRow,
    RowConverter,
    TriggerCapture,
    columnwise,
    lenient,
    limit_sql,
)

_INT = {"tinyint", "smallint", "mediumint", "int", "integer", "bigint", "year"}
_DECIMAL = {"decimal", "numeric"}
_FLOAT = {"float", "double", "real", "double precision"}
_BINARY = {
    "binary", "varbinary", "tinyblob", "blob", "mediumblob", "longblob", "geometry", "point",
    "linestring", "polygon", "multipoint", "multilinestring", "multipolygon",
    "geometrycollection",
}  # fmt: skip
_AS_TEXT = {"json", "longtext"}
_TIME = re.compile(r"^(-)?(\d+):(\d{2}):(\d{2})(?:\.(\d{1,6}))?$")
_CHUNK = 500

_CATALOG = r"""
SELECT 'trigger', TRIGGER_NAME, EVENT_OBJECT_TABLE FROM information_schema.TRIGGERS
WHERE TRIGGER_SCHEMA = DATABASE() AND TRIGGER_NAME LIKE 'dm\_sync\_%'
UNION ALL
SELECT IF(TABLE_NAME LIKE '%\_changes', 'change_table', 'binlog_position'), TABLE_NAME, NULL
FROM information_schema.TABLES WHERE TABLE_SCHEMA = DATABASE()
AND (TABLE_NAME LIKE 'dm\_sync\_%\_changes' OR TABLE_NAME LIKE 'dm\_sync\_%\_binlog')
"""


class Instant:
    """A TIMESTAMP column's value as seconds since the epoch, until the batch's one
    FROM_UNIXTIME query turns it into the reader's local time."""

    __slots__ = ("seconds",)

    def __init__(self, seconds: Any) -> None:
        self.seconds = decimal.Decimal(seconds)


class MySQLTriggerCapture(TriggerCapture):
    """Triggers and a change table on MariaDB/MySQL (see the module docstring)."""

    overhead_note = (
        "Trigger capture slows the application's writes: each captured row also inserts a "
        "JSON change row in the same transaction (measure with bench/bench_capture_overhead.py)."
        " A row binlog (log_bin=ON, binlog_format=ROW) costs the application less."
    )
    read_columns = (
        "id, batch, tbl, op, before_row, after_row, tx_id, "
        "CAST(UNIX_TIMESTAMP(captured_at) * 1000 AS SIGNED)"
    )
    oldest_age_sql = "UNIX_TIMESTAMP(NOW(6)) - UNIX_TIMESTAMP(MIN(captured_at))"

    def _changes(self) -> str:
        q = self.backend.quote_part
        return f"{q(self.backend.url.database)}.{q(self.change_table)}"

    @classmethod
    def catalog(cls, backend: Any) -> list[dict[str, Any]]:
        return [
            {"kind": kind, "name": name, "table": table}
            for kind, name, table in backend.fetch(_CATALOG)
        ]

    def change_table_statements(self) -> list[str]:
        text = "LONGTEXT CHARACTER SET utf8mb4 COLLATE utf8mb4_bin"
        return [
            (
                f"CREATE TABLE IF NOT EXISTS {self._changes()} (id BIGINT NOT NULL AUTO_INCREMENT "
                "PRIMARY KEY, batch BIGINT NULL, tbl VARCHAR(255) NOT NULL, op CHAR(1) NOT NULL, "
                f"row_key {text}, before_row {text}, after_row {text}, tx_id BIGINT NULL, "
                "captured_at TIMESTAMP(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6), "
                "KEY batch_id (batch, id)) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4"
            )
        ]

    def trigger_statements(self, given: str, table: Table, key: tuple[str, ...]) -> list[str]:
        inserts = self.change_inserts(
            self._changes(),
            given,
            table,
            key,
            lambda pairs: f"JSON_OBJECT({', '.join(pairs)})",
            _value_sql,
        )
        verbs = {"i": "INSERT", "u": "UPDATE", "d": "DELETE"}
        target, q = self.backend.quote_identifier(given), self.backend.quote_part
        out = []
        for name, insert in inserts.items():
            out.append(f"DROP TRIGGER IF EXISTS {q(name)}")
            out.append(
                f"CREATE TRIGGER {q(name)} AFTER {verbs[name[-1]]} ON {target} FOR EACH ROW "
                + insert
            )
        return out

    def stamp_statements(self, limit: int | None) -> list[str]:
        changes = self._changes()
        return [
            f"INSERT INTO {changes} (tbl, op) VALUES ('', 'm')",
            (
                f"UPDATE {changes} SET batch = LAST_INSERT_ID() WHERE batch IS NULL "
                f"AND id < LAST_INSERT_ID() ORDER BY id{limit_sql(limit)}"
            ),
            f"DELETE FROM {changes} WHERE id = LAST_INSERT_ID()",
        ]

    def write(self, statements: Sequence[Any]) -> None:
        """READ COMMITTED for the reader's writes (see the module docstring)."""
        backend = self.backend

        def run() -> None:
            conn = backend.conn
            with conn.cursor() as cur:
                cur.execute("SET TRANSACTION ISOLATION LEVEL READ COMMITTED")
                cur.execute("START TRANSACTION")
                try:
                    for item in statements:
                        sql, params = (item, None) if isinstance(item, str) else item
                        backend.counter.add(sql)
                        cur.execute(sql, params)
                    conn.commit()
                except BaseException:
                    if conn.open:
                        conn.rollback()
                    raise

        backend._guard(f"read the change table {self.change_table}", run)

    def size_bytes(self) -> int | None:
        rows = self.backend.fetch(
            "SELECT DATA_LENGTH + INDEX_LENGTH FROM information_schema.TABLES "
            "WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = %s",
            (self.change_table,),
        )
        return int(rows[0][0]) if rows and rows[0][0] is not None else None

    # --- values ----------------------------------------------------------------------------

    def row_converter(self, given: str, table: Table) -> RowConverter:
        return columnwise({c.name: _converter(c) for c in table.columns})

    def convert_rows(self, rows: list[ChangeRow]) -> list[ChangeRow]:
        """Then the batch's TIMESTAMP instants in the reader's session time zone."""
        out = super().convert_rows(rows)
        resolve_instants(self.backend, [v for r in out for v in (r.before, r.after) if v])
        return out


def resolve_instants(backend: Any, rows: Sequence[dict[str, Any]]) -> None:
    """Replace the `Instant`s in `rows` by the reader's local time (FROM_UNIXTIME, as a SELECT
    on this connection shows a TIMESTAMP), in a few queries per batch."""
    found = [(values, name) for values in rows for name, v in values.items()
             if isinstance(v, Instant)]  # fmt: skip
    for i in range(0, len(found), _CHUNK):
        part = found[i : i + _CHUNK]
        marks = ", ".join(["FROM_UNIXTIME(%s)"] * len(part))
        local = backend.fetch(f"SELECT {marks}", [values[name].seconds for values, name in part])
        for (values, name), value in zip(part, local[0], strict=True):
            values[name] = value


def _value_sql(ref: str, column: Column | None) -> str:
    kind = column.type_name if column is not None else ""
    if kind in _BINARY:
        return f"HEX({ref})"
    if kind == "bit":
        return f"{ref} + 0"
    if kind == "timestamp":
        return f"UNIX_TIMESTAMP({ref})"
    if kind in _AS_TEXT:
        return f"CAST({ref} AS CHAR CHARACTER SET utf8mb4)"
    return ref


def _converter(column: Column) -> Callable[[Any], Any]:
    kind = column.type_name
    if kind in _INT:
        return int
    if kind in _DECIMAL:
        return decimal.Decimal
    if kind in _FLOAT:
        return float
    if kind in _BINARY:
        return bytes.fromhex
    if kind == "bit":
        size = max(1, ((column.length or 1) + 7) // 8)
        return lambda v: int(v).to_bytes(size, "big")
    if kind == "timestamp":
        return Instant
    if kind == "date":
        return lenient(dt.date.fromisoformat)
    if kind == "datetime":
        return lenient(dt.datetime.fromisoformat)
    if kind == "time":
        return _duration
    return lambda v: v


def _duration(text: Any) -> Any:
    """TIME is a duration (-838:59:59 to 838:59:59), read as a timedelta like PyMySQL does."""
    m = _TIME.match(str(text))
    if m is None:
        return text
    sign, hours, minutes, seconds, fraction = m.groups()
    value = dt.timedelta(
        hours=int(hours),
        minutes=int(minutes),
        seconds=int(seconds),
        microseconds=int((fraction or "0").ljust(6, "0")),
    )
    return -value if sign else value


CAPTURE = MySQLTriggerCapture
