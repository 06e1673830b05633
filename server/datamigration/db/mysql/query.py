"""MariaDB / MySQL read-only queries.

Read-only enforcement for `query`: `guard.mysql_guard` refuses before sending what is not one
plain read; the client never announces CLIENT_MULTI_STATEMENTS, so the server parses one
statement per call and answers a stacked ``COMMIT; DROP TABLE t`` with a syntax error; the
statement runs inside ``START TRANSACTION READ ONLY`` (the server refuses writes, ``nextval``
and side-effecting routines with error 1792); the server's own statement timeout applies
(``max_statement_time`` on MariaDB, ``max_execution_time`` on MySQL); after the statement the
server's status flags must still show the open transaction (a lone COMMIT would have closed
it) and a result set must exist; and the transaction is always rolled back.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import pymysql
from pymysql.constants import SERVER_STATUS

from datamigration.db.base import DEFAULT_MAX_ROWS
from datamigration.db.contracts import QueryResult
from datamigration.db.mysql.connection import MySQLConnection
from datamigration.db.mysql.guard import (
    FILE_PRIVILEGE_SQL,
    NORMAL_SQL_MODE,
    file_privilege_warning,
    mysql_guard,
)
from datamigration.db.readonly import clamp_rows, fetch_capped, now, refused
from datamigration.errors import DatabaseError

_REFUSED_CODES = {1792, 1227, 1142, 1143, 1370, 1044, 1568, 1064, 1148}


class MySQLQuery(MySQLConnection):
    """`query` of the MariaDB/MySQL backend: the read-only path described above."""

    # --- read-only query -----------------------------------------------------------------

    def query(
        self,
        sql: str,
        *,
        max_rows: int = DEFAULT_MAX_ROWS,
        timeout_ms: int | None = None,
        offset: int = 0,
    ) -> QueryResult:
        max_rows = clamp_rows(max_rows)
        timeout = int(timeout_ms or self.statement_timeout_ms)
        reason = mysql_guard(sql)
        if reason is not None:
            raise refused(self.label, reason)
        conn = self.conn
        started = now()
        error: DatabaseError | None = None
        result: QueryResult | None = None
        try:
            if self._file_warning is None:
                privileges = [r[0] for r in self._rows(FILE_PRIVILEGE_SQL)]
                self._file_warning = file_privilege_warning(privileges) or ""
            warning = self._file_warning
            with conn.cursor() as cur:
                if self.is_mariadb:
                    limit = f"max_statement_time = {timeout / 1000.0:.3f}"
                else:
                    limit = f"max_execution_time = {timeout}"
                self._q(cur, f"SET SESSION {limit}, {NORMAL_SQL_MODE}")
                self._q(cur, "START TRANSACTION READ ONLY")
            # Unbuffered: rows stay on the server until fetched, so a cap stops the transfer.
            cur = conn.cursor(pymysql.cursors.SSCursor)
            try:
                self.counter.add(sql)
                cur.execute(sql)
                if not conn.server_status & SERVER_STATUS.SERVER_STATUS_IN_TRANS:
                    error = refused(
                        self.label,
                        "the statement ended the read-only transaction (COMMIT/ROLLBACK)",
                    )
                elif cur.description is None:
                    error = refused(
                        self.label,
                        "the statement returned no result set; only queries are allowed",
                    )
                else:
                    result = fetch_capped(
                        cur, [d[0] for d in cur.description], max_rows, started, skip=offset
                    )
                    if warning:
                        result = dataclasses.replace(result, warnings=(*result.warnings, warning))
            finally:
                if result is not None and result.truncated:
                    # Closing the cursor would read every remaining row to finish the result;
                    # hanging up instead makes the server stop and roll back.
                    self._abandon(cur)
                else:
                    cur.close()
                    if conn.open:
                        conn.rollback()
                        # GET_LOCK() locks belong to the session and survive a rollback.
                        with conn.cursor() as lock_cur:
                            lock_cur.execute("SELECT RELEASE_ALL_LOCKS()")
        except pymysql.MySQLError as exc:
            error = self._query_error(exc, sql)
        if error is not None:
            self.close()  # never reuse a session a refused statement ran in
            raise error
        assert result is not None
        return result

    def _abandon(self, cur: Any) -> None:
        """Hang up with rows unread: the server stops sending and rolls the transaction back."""
        # PyMySQL's SSCursor.close() and the result's __del__ would read every remaining row
        # to finish the unbuffered result; tell both that it is finished.
        pending = getattr(cur, "_result", None)
        if pending is not None:
            pending.unbuffered_active = False
        cur.connection = None
        if self._sa_conn is not None:
            self._sa_conn.invalidate()  # closes the socket; no reset (ROLLBACK) on its way out
        self.close()

    def _query_error(self, exc: pymysql.MySQLError, sql: str) -> DatabaseError:
        code = exc.args[0] if exc.args else None
        if code == 1064 and _statement_count(sql) > 1:
            return refused(
                self.label,
                "several statements given; the server accepts exactly one per call",
                code=code,
            )
        if code in _REFUSED_CODES and code != 1064:
            return self._refused_by_database(exc, code=code)
        return self._fail(exc, "query")


def _statement_count(sql: str) -> int:
    """Statements by sqlglot's MySQL parser, only to word the refusal; 1 when unsure."""
    try:
        import sqlglot

        return len([s for s in sqlglot.parse(sql, read="mysql") if s is not None])
    except Exception:  # noqa: BLE001 - any parse problem: the server's message stands
        return 1 if ";" not in sql.strip().rstrip(";") else 2
