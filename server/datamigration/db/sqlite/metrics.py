"""What a SQLite file can say about its load: its size and where it lives. SQLite keeps no
server counters (commits, connections, locks), so those readings are absent."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from datamigration.db.metrics import LONG_TRANSACTION_S
from datamigration.db.sqlite.connection import SQLiteConnection


class SQLiteMetrics(SQLiteConnection):
    """The monitoring part of the SQLite backend."""

    def metrics_counters(self, long_transaction_s: float = LONG_TRANSACTION_S) -> dict[str, Any]:
        if self.path == ":memory:" or not Path(self.path).is_file():
            return {}
        return {"database_size_bytes": Path(self.path).stat().st_size}

    def data_directory(self) -> str | None:
        return None if self.path == ":memory:" else str(Path(self.path).resolve().parent)
