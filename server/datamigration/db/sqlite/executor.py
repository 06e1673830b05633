"""How the executor runs statements on SQLite: the one door `execute` (BEGIN IMMEDIATE unless
autocommit; plain SQL text may be a script of several statements), keyset row pages, an
advisory lock file as the session lock, and throwaway copies of the file for a rehearsal."""

from __future__ import annotations

import fcntl
import hashlib
import sqlite3
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from datamigration.db.contracts import ExecuteOptions, StatementLike, keyset_sql
from datamigration.db.sqlite.connection import SQLiteConnection, qualified, quote_name

#: lock files held by `try_session_lock`, per (backend, name): held for the process's life
#: unless released, like a session lock for the life of its connection
_FILE_LOCKS: dict[tuple[int, str], Any] = {}


class SQLiteExecutor(SQLiteConnection):
    """The executor's side of the SQLite backend."""

    # --- execution and rows --------------------------------------------------------------

    def _execute(
        self, statements: Sequence[StatementLike], counts: list[int], o: ExecuteOptions
    ) -> list[tuple[Any, ...]]:
        conn = self.conn
        if o.lock_timeout_ms:
            conn.execute(f"PRAGMA busy_timeout = {int(o.lock_timeout_ms)}")

        def run(sql: str, params: tuple[Any, ...] | None) -> Any:
            if params is None and sql.strip().rstrip(";").count(";"):
                conn.executescript(sql) if o.autocommit else _exec_many(conn, sql)
                return _SCRIPT
            return conn.execute(sql, params or ())

        try:
            if not o.autocommit:
                conn.execute("BEGIN IMMEDIATE")
            rows = self._run_each(statements, counts, o.fetch_last, run)
            if not o.autocommit:
                conn.execute("ROLLBACK" if o.rollback else "COMMIT")
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise
        return rows

    def _keyset_page(self, table, keys, columns, limit, after, end_at):
        select = ", ".join(quote_name(c) for c in columns) if columns else "*"
        sql, params = keyset_sql(
            qualified(table), [quote_name(k) for k in keys], select, "?", after, end_at, limit
        )
        cur = self._page(sql, params)
        return [d[0] for d in cur.description][len(keys) :], cur.fetchall()

    def _page(self, sql: str, params: Sequence[Any]) -> sqlite3.Cursor:
        conn = self.conn if not self._exists() else self._read_conn()
        self.counter.add(sql)
        return conn.execute(sql, params)

    # --- session locks and throwaway copies ------------------------------------------

    def try_session_lock(self, name: str) -> bool:
        """SQLite has no session lock: an advisory lock file beside the database, held by this
        process (freed on exit); an in-memory database says yes (its writers are serialised
        by the file lock anyway)."""
        if self.url.database in (None, "", ":memory:"):
            return True
        if (id(self), name) in _FILE_LOCKS:
            return True
        digest = hashlib.sha256(name.encode()).hexdigest()[:12]
        database = Path(self.url.database)
        handle = database.with_name(f".{database.name}.{digest}.lock").open("a")
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            handle.close()
            return False
        _FILE_LOCKS[(id(self), name)] = handle
        return True

    def release_session_lock(self, name: str) -> None:
        handle = _FILE_LOCKS.pop((id(self), name), None)
        if handle is not None:
            handle.close()

    def skip_foreign_keys(self) -> None:
        self.conn.execute("PRAGMA foreign_keys = OFF")

    def _insert_many(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        conn = self.conn
        conn.execute("BEGIN")
        conn.executemany(sql, [tuple(r) for r in rows])
        conn.execute("COMMIT")

    def throwaway_database(self, name: str) -> str:
        """A copy of the file (the online backup API), emptied of rows."""
        target = str(Path(self.url.database or "").with_name(name + ".db"))
        dst = sqlite3.connect(target)
        try:
            self.conn.backup(dst)
            dst.execute("PRAGMA foreign_keys = OFF")
            tables = [r[0] for r in dst.execute(
                "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
            )]  # fmt: skip
            for t in tables:
                dst.execute(f"DELETE FROM {self.quote_identifier(t)}")
            dst.commit()
        finally:
            dst.close()
        return f"sqlite:///{target}"

    def drop_throwaway(self, name: str) -> None:
        Path(self.url.database or "").with_name(name + ".db").unlink(missing_ok=True)


class _Script:
    """What a script of several statements reports: no row count, no rows."""

    rowcount = -1
    description = None


_SCRIPT = _Script()


def _exec_many(conn: sqlite3.Connection, script: str) -> None:
    """Several statements inside the caller's transaction (executescript would COMMIT)."""
    buf = ""
    for line in script.splitlines(keepends=True):
        buf += line
        if sqlite3.complete_statement(buf):
            conn.execute(buf)
            buf = ""
    if buf.strip():
        conn.execute(buf)
