"""SQLite read-only queries.

Read-only enforcement for `query`: a separate connection opened with ``mode=ro`` (the file
cannot be written through it), ``PRAGMA query_only``, the authorizer of `guard` (only reads
and allow-listed built-in functions), one statement per call (sqlite3 refuses the rest), a
progress-handler deadline as the statement timeout, a length limit on every string and blob
(``randomblob(900000000)`` fails instead of taking gigabytes), and a rollback at the end.
"""

from __future__ import annotations

import sqlite3
import time

from datamigration.db.base import DEFAULT_MAX_ROWS
from datamigration.db.contracts import QueryResult
from datamigration.db.errors import QueryTimeoutError, ResultTooLargeError
from datamigration.db.readonly import clamp_rows, fetch_capped, now, refused
from datamigration.db.sqlite.connection import SQLiteConnection
from datamigration.db.sqlite.guard import MAX_VALUE_LENGTH, Authorizer
from datamigration.errors import DatabaseError


class SQLiteQuery(SQLiteConnection):
    """`query` of the SQLite backend: the read-only path described above."""

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
        deadline = time.monotonic() + (timeout_ms or self.statement_timeout_ms) / 1000.0
        conn = self._read_conn()
        started = now()
        error: DatabaseError | None = None
        result: QueryResult | None = None
        authorizer = Authorizer()
        conn.set_progress_handler(lambda: 1 if time.monotonic() > deadline else 0, 1000)
        try:
            conn.execute("BEGIN")
            authorizer = Authorizer()
            conn.set_authorizer(authorizer)
            try:
                self.counter.add(sql)
                cur = conn.execute(sql)
                if not conn.in_transaction:
                    error = refused(self.label, "the statement ended the read-only transaction")
                elif cur.description is None:
                    error = refused(
                        self.label, "the statement returned no result set; only queries are allowed"
                    )
                else:
                    result = fetch_capped(
                        cur, [d[0] for d in cur.description], max_rows, started, skip=offset
                    )
            finally:
                conn.set_authorizer(None)
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
        except sqlite3.ProgrammingError as exc:
            if "one statement" in str(exc):
                error = self._refused_by_database(exc)
            else:
                error = self._fail(exc, "query")
        except sqlite3.Error as exc:
            if "not authorized" in str(exc) and authorizer.denied:
                error = refused(
                    self.label, f"the database denied {authorizer.denied}", denied=authorizer.denied
                )
            elif "not authorized" in str(exc) or "readonly" in str(exc).replace("-", ""):
                error = self._refused_by_database(exc)
            elif "too big" in str(exc):
                error = ResultTooLargeError(
                    f"query on {self.label} read or built a value over {MAX_VALUE_LENGTH} bytes, "
                    "the limit of the read-only connection, and was stopped",
                    hint="Return a part of the value (substr(x, 1, 1000), length(x)) instead.",
                )
            elif "interrupted" in str(exc):
                error = QueryTimeoutError(
                    f"query on {self.label} exceeded its timeout of "
                    f"{timeout_ms or self.statement_timeout_ms} ms and was interrupted",
                    hint=QueryTimeoutError.default_hint,
                )
            else:
                error = self._fail(exc, "query")
        finally:
            conn.set_progress_handler(None, 0)
        if error is not None:
            self._discard_read_conn()
            raise error
        assert result is not None
        return result

    def _discard_read_conn(self) -> None:
        if self._ro is not None:
            self._ro.close()
            self._ro = None
