"""How the executor runs statements on MariaDB / MySQL: `execute`, the transaction door
(`transaction`), keyset row pages, session locks (GET_LOCK) and rows for a throwaway copy."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pymysql

from datamigration.db.contracts import ExecuteOptions, StatementLike, keyset_sql
from datamigration.db.mysql.connection import MySQLConnection, qualified, quote_name
from datamigration.errors import DatabaseError

#: ER_WARNING_NOT_COMPLETE_ROLLBACK: some non-transactional tables could not be rolled back
_NON_TRANSACTIONAL_ROLLBACK = 1196


def _executed(cur: Any, sql: str, params: tuple[Any, ...]) -> Any:
    cur.execute(sql, params or None)
    return cur


class MySQLExecutor(MySQLConnection):
    """The executor's side of the MariaDB/MySQL backend."""

    # --- execution and rows --------------------------------------------------------------

    def _execute(self, statements: Sequence[str], counts: list[int], o: ExecuteOptions) -> None:
        conn = self.conn
        try:
            with conn.cursor() as cur:
                if o.lock_timeout_ms:
                    seconds = max(1, int(o.lock_timeout_ms) // 1000)
                    self._q(cur, f"SET SESSION lock_wait_timeout = {seconds}")
                    self._q(cur, f"SET SESSION innodb_lock_wait_timeout = {seconds}")
                if self.is_mariadb:
                    value = (o.timeout_ms or 0) / 1000.0
                    self._q(cur, f"SET SESSION max_statement_time = {value:.3f}")
                if not o.autocommit:
                    self._q(cur, "START TRANSACTION")
                for stmt in statements:
                    self.counter.add(stmt)
                    counts.append(cur.execute(stmt))
                if o.rollback:
                    conn.rollback()
                    self._check_rolled_back(cur)
                elif not o.autocommit:
                    conn.commit()
        except pymysql.MySQLError:
            if conn.open:
                conn.rollback()
            raise

    def _check_rolled_back(self, cur: Any) -> None:
        """A ROLLBACK leaves a non-transactional table (MyISAM, Aria) changed and only warns
        (1196): say so rather than report a clean, rolled-back run."""
        warnings = self._q(cur, "SHOW WARNINGS") or ()
        if any(int(w[1]) == _NON_TRANSACTIONAL_ROLLBACK for w in warnings):
            raise DatabaseError(
                "the rollback could not undo changes to a non-transactional table "
                "(MyISAM/Aria): those changes were kept",
                hint="Check the table's engine (SHOW TABLE STATUS); convert it to InnoDB "
                "before measuring or migrating on it.",
            )

    def _keyset_page(self, table, keys, columns, limit, after, end_at):
        select = ", ".join(quote_name(c) for c in columns) if columns else "t.*"
        source = f"{qualified(table)} AS t"
        sql, params = keyset_sql(
            source, [quote_name(k) for k in keys], select, "%s", after, end_at, limit
        )
        with self.conn.cursor() as cur:
            rows = self._q(cur, sql, params or None)
            return [d[0] for d in cur.description][len(keys) :], rows

    # --- the executor's door ---------------------------------------------------------------

    def _transaction(
        self,
        statements: Sequence[StatementLike],
        lock_timeout_ms: int | None,
        timeout_ms: int | None,
        fetch_last: bool,
    ) -> tuple[list[int], list[tuple[Any, ...]]]:
        conn = self.conn
        counts: list[int] = []
        with conn.cursor() as cur:
            if lock_timeout_ms:
                seconds = max(1, int(lock_timeout_ms) // 1000)
                cur.execute(f"SET SESSION lock_wait_timeout = {seconds}")
                cur.execute(f"SET SESSION innodb_lock_wait_timeout = {seconds}")
            if self.is_mariadb:
                cur.execute(f"SET SESSION max_statement_time = {(timeout_ms or 0) / 1000.0:.3f}")
            cur.execute("START TRANSACTION")
            try:
                rows = self._run_each(
                    statements, counts, fetch_last, lambda sql, p: _executed(cur, sql, p)
                )
                conn.commit()
            except BaseException:
                if conn.open:
                    conn.rollback()
                raise
        return counts, rows

    def try_session_lock(self, name: str) -> bool:
        """GET_LOCK: held by this connection until released or disconnected."""
        rows = self.fetch("SELECT GET_LOCK(%s, 0)", (name[:64],))
        return bool(rows and rows[0][0] == 1)

    def release_session_lock(self, name: str) -> None:
        self.fetch("SELECT RELEASE_LOCK(%s)", (name[:64],))

    def _insert_many(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        with self.conn.cursor() as cur:
            cur.executemany(sql, [tuple(r) for r in rows])
        self.conn.commit()
