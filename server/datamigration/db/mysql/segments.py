"""The validator's read-only MariaDB/MySQL connection: a read-only session in UTC, the
statement timeout in the server's own spelling, one consistent snapshot per connection, and
unbuffered cursors for whole-table streams (see `db.segments` for the contract)."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

import pymysql
import pymysql.cursors

from datamigration.db.errors import UnsupportedOperationError
from datamigration.db.segments import DEFAULT_TIMEOUT_MS, SQLReader
from datamigration.db.urls import ConnectionURL


class MySQLReader(SQLReader):
    dialect = "mysql"
    columns_sql = (
        "SELECT column_name, column_type, is_nullable = 'YES' FROM information_schema.columns "
        "WHERE table_schema = DATABASE() AND table_name = %s ORDER BY ordinal_position"
    )
    primary_key_sql = (
        "SELECT column_name FROM information_schema.key_column_usage WHERE "
        "table_schema = DATABASE() AND table_name = %s AND constraint_name = 'PRIMARY' "
        "ORDER BY ordinal_position"
    )

    def __init__(
        self, url: ConnectionURL, timeout_ms: int = DEFAULT_TIMEOUT_MS, *, gentle: bool = False
    ) -> None:
        super().__init__(url, timeout_ms, gentle=gentle)
        self._sscursor = pymysql.cursors.SSCursor

        def go() -> Any:
            conn = pymysql.connect(
                host=url.host or "127.0.0.1",
                port=url.port or 3306,
                user=url.username or "root",
                password=url.password or "",
                database=url.database,
                charset="utf8mb4",
                autocommit=True,
                connect_timeout=10,
            )
            with conn.cursor() as cur:
                cur.execute("SET SESSION time_zone = '+00:00'")
                cur.execute("SET SESSION TRANSACTION READ ONLY")
                cur.execute("SET SESSION group_concat_max_len = 1048576")
                # MariaDB spells the statement timeout in seconds, MySQL in milliseconds.
                try:
                    cur.execute(f"SET SESSION max_statement_time = {timeout_ms / 1000:.3f}")
                except Exception:  # noqa: BLE001 - MySQL proper
                    cur.execute(f"SET SESSION max_execution_time = {int(timeout_ms)}")
            return conn

        self.conn = self._run("connect", go)

    shares_snapshots = True

    def hold_snapshot(self, snapshot_id: str | None = None) -> str:
        """MySQL cannot import another connection's snapshot: callers share this reader
        instead (validate.sides.SharedSnapshot), so only the exporting form is offered."""
        if snapshot_id is not None:
            raise UnsupportedOperationError("MySQL connections cannot join another's snapshot")

        def go() -> str:
            with self.conn.cursor() as cur:
                cur.execute("START TRANSACTION WITH CONSISTENT SNAPSHOT, READ ONLY")
            return f"mysql-connection-{self.conn.thread_id()}"

        return self._run("snapshot", go)

    def stream(self, sql: str, params: Sequence[Any] | None = None) -> Iterator[tuple[Any, ...]]:
        # An unbuffered cursor streams from the server instead of loading the whole result.
        self.queries += 1
        yield from self._drain(self.conn.cursor(self._sscursor), sql, params)
