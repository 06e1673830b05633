"""The validator's read-only SQLite connection: the file opened in read-only mode (see
`db.segments` for the contract)."""

from __future__ import annotations

import pathlib
import sqlite3

from datamigration.db.errors import ConnectionFailedError
from datamigration.db.segments import DEFAULT_TIMEOUT_MS, SQLReader
from datamigration.db.urls import ConnectionURL


class SQLiteReader(SQLReader):
    dialect = "sqlite"
    paramstyle_marker = "?"
    columns_sql = 'SELECT name, type, NOT "notnull" FROM pragma_table_info(?) ORDER BY cid'
    primary_key_sql = "SELECT name FROM pragma_table_info(?) WHERE pk > 0 ORDER BY pk"

    def __init__(
        self, url: ConnectionURL, timeout_ms: int = DEFAULT_TIMEOUT_MS, *, gentle: bool = False
    ) -> None:
        super().__init__(url, timeout_ms, gentle=gentle)
        path = url.database or ":memory:"
        if path != ":memory:" and not pathlib.Path(path).exists():
            raise ConnectionFailedError(
                f"SQLite file not found: {path}", hint="Check the path in the sqlite:/// URL."
            )
        uri = f"file:{path}?mode=ro" if path != ":memory:" else ":memory:"
        self.conn = self._run(
            "connect",
            lambda: sqlite3.connect(uri, uri=path != ":memory:", check_same_thread=False),
        )
