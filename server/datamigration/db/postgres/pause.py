"""PostgreSQL's write pause: `LOCK TABLE ... IN EXCLUSIVE MODE` in a transaction of its own.

EXCLUSIVE conflicts with ROW EXCLUSIVE (INSERT/UPDATE/DELETE) and not with ACCESS SHARE
(SELECT): readers go on, writers wait until the transaction ends. `lock_timeout` is LOCAL to
that transaction, so a pause that cannot start in time gives up instead of queueing every
writer behind it.
"""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import AbstractContextManager
from typing import Any

from psycopg import sql as pgsql

from datamigration.db.pause import PauseSupport, held
from datamigration.db.postgres.connection import split_name


class PostgresPause(PauseSupport):
    def pause_writes(
        self, tables: Sequence[str], lock_timeout_ms: int
    ) -> AbstractContextManager[dict[str, Any]]:
        conn = self.conn  # type: ignore[attr-defined]
        names = pgsql.SQL(", ").join(split_name(t) for t in tables)
        lock = pgsql.SQL("LOCK TABLE {} IN EXCLUSIVE MODE").format(names)

        def take() -> None:
            conn.execute("BEGIN")
            conn.execute(
                "SELECT set_config('lock_timeout', %s, true)", (f"{int(lock_timeout_ms)}ms",)
            )
            conn.execute(lock)

        def release() -> None:
            conn.execute("ROLLBACK")

        return held(self, take, release, {"method": "lock", "lock": "EXCLUSIVE (reads go on)"})
