"""SQLite's write pause: `BEGIN IMMEDIATE` holds the file's RESERVED lock.

SQLite locks the whole file, not a table: other connections keep reading, every writer (the
application's and anything else on the file) waits up to its busy timeout until the
transaction ends. `busy_timeout` bounds the wait for the lock itself.
"""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import AbstractContextManager
from typing import Any

from datamigration.db.pause import PauseSupport, held


class SQLitePause(PauseSupport):
    pause_holds_database = True

    def pause_writes(
        self, tables: Sequence[str], lock_timeout_ms: int
    ) -> AbstractContextManager[dict[str, Any]]:
        conn = self.conn  # type: ignore[attr-defined]

        def take() -> None:
            conn.execute(f"PRAGMA busy_timeout = {int(lock_timeout_ms)}")
            conn.execute("BEGIN IMMEDIATE")

        def release() -> None:
            if conn.in_transaction:
                conn.execute("ROLLBACK")

        return held(
            self, take, release, {"method": "lock", "lock": "RESERVED on the file (reads go on)"}
        )
