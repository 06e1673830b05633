"""MariaDB/MySQL's write pause: `LOCK TABLES ... READ` on a session of its own.

A READ lock lets every session read the tables and makes writers wait until `UNLOCK TABLES`.
`lock_wait_timeout` (whole seconds, at least 1) bounds the wait for the lock itself.
"""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import AbstractContextManager
from typing import Any

from datamigration.db.mysql.connection import qualified
from datamigration.db.pause import PauseSupport, held


class MySQLPause(PauseSupport):
    def pause_writes(
        self, tables: Sequence[str], lock_timeout_ms: int
    ) -> AbstractContextManager[dict[str, Any]]:
        conn = self.conn  # type: ignore[attr-defined]
        seconds = max(1, -(-int(lock_timeout_ms) // 1000))
        lock = "LOCK TABLES " + ", ".join(f"{qualified(t)} READ" for t in tables)

        def take() -> None:
            with conn.cursor() as cur:
                cur.execute(f"SET SESSION lock_wait_timeout = {seconds}")
                cur.execute(lock)

        def release() -> None:
            with conn.cursor() as cur:
                cur.execute("UNLOCK TABLES")

        return held(self, take, release, {"method": "lock", "lock": "READ (reads go on)"})
