"""SQLite's bulk reader and writer for the move engine (see `db.bulk`).

A partition loads in one large transaction with `executemany`. SQLite stores dates and times
as ISO-8601 text (with the UTC offset where the source kept one), decimals as text where a
REAL would round them (NUMERIC affinity keeps what converts exactly), documents as JSON text.
Foreign keys and unique constraints exist only in CREATE TABLE / as unique indexes, so foreign
keys are declared with the table and checked after the load (`PRAGMA foreign_key_check`).
An INTEGER PRIMARY KEY is SQLite's own auto-numbering; nothing to move after the load.
"""

from __future__ import annotations

import datetime as dt
import decimal
from collections.abc import Iterator, Sequence
from typing import Any

from datamigration.db.bulk import SQLBulk, SQLBulkWriter, plain_value
from datamigration.db.contracts import keyset_sql
from datamigration.db.model import Column, Table
from datamigration.db.sqlite.connection import qualified, quote_name


def _sqlite_value(v: Any) -> Any:
    if isinstance(v, bool):
        return int(v)
    if isinstance(v, dt.datetime):
        return v.isoformat(sep=" ")
    if isinstance(v, (dt.date, dt.time)):
        return v.isoformat()
    if isinstance(v, (decimal.Decimal, dt.timedelta)):
        return str(v)
    if isinstance(v, memoryview):
        return bytes(v)
    return plain_value(v)


class SQLiteBulkWriter(SQLBulkWriter):
    def adapt(self, row: Sequence[Any]) -> tuple[Any, ...]:
        return tuple(_sqlite_value(v) for v in row)


class SQLiteBulk(SQLBulk):
    writer_class = SQLiteBulkWriter
    alter_foreign_keys = False
    alter_uniques = False

    def _pk_inline(self, table: Table) -> bool:
        pk = table.primary_key
        if pk is None or len(pk.columns) != 1:
            return False
        col = table.column(pk.columns[0])
        return col is not None and bool(col.identity) and col.data_type.upper() == "INTEGER"

    def column_sql(self, table: Table, col: Column) -> str:
        text = super().column_sql(table, col)
        if (
            self._pk_inline(table)
            and table.primary_key
            and col.name == table.primary_key.columns[0]
        ):
            text = text.replace(" INTEGER", " INTEGER PRIMARY KEY", 1)
        return text

    def before_load(self) -> None:
        self.conn.execute("PRAGMA foreign_keys = OFF")

    def read_range(
        self,
        table: str,
        columns: Sequence[str],
        key: Sequence[str],
        lo: Sequence[Any] | None,
        hi: Sequence[Any] | None,
        batch_size: int,
    ) -> Iterator[list[tuple[Any, ...]]]:
        """Keyset pages as `iter_rows` reads them, but selecting the columns alone and reading
        the key from its place among them: each page is the driver's own list of rows, passed
        on as is instead of every row being copied to drop the key selected in front."""
        if not set(key) <= set(columns):
            yield from super().read_range(table, columns, key, lo, hi, batch_size)
            return
        key_at = [list(columns).index(k) for k in key]
        select = ", ".join(quote_name(c) for c in columns)
        keys = [quote_name(k) for k in key]
        last = lo
        while True:
            sql, params = keyset_sql(qualified(table), keys, select, "?", last, hi, batch_size,
                                     select_keys=False)  # fmt: skip
            rows = self._guard(
                f"read rows of {table}", lambda s=sql, p=params: self._page(s, p).fetchall()
            )
            if not rows:
                return
            yield rows
            if len(rows) < batch_size:
                return
            last = tuple(rows[-1][i] for i in key_at)

    def key_boundaries(self, table: str, key: Sequence[str], every: int) -> list[tuple[Any, ...]]:
        """Every `every`-th key, each found by stepping `every` entries along the key's index
        from the previous one (LIMIT 1 OFFSET, in SQLite's own code): the same keys as
        numbering the rows with a window function, which sorts the whole key first."""
        q = self.quote_identifier
        cols = ", ".join(q(k) for k in key)
        after = f"WHERE ({cols}) > ({', '.join('?' * len(key))}) "
        out: list[tuple[Any, ...]] = []
        while True:
            rows = self.fetch(
                f"SELECT {cols} FROM {q(table)} {after if out else ''}"
                f"ORDER BY {cols} LIMIT 1 OFFSET {int(every) - 1}",
                out[-1] if out else (),
            )
            if not rows:
                return out
            out.append(tuple(rows[0]))

    def describe_target(self, name: str) -> tuple[Table | None, int]:
        if not self._exists():
            return None, 0  # the copy creates the file
        return super().describe_target(name)
