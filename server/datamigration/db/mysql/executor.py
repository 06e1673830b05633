"""How the executor runs statements on MariaDB / MySQL: the one door `execute`, keyset row
pages, session locks (GET_LOCK) and rows for a throwaway copy."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

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

    def _execute(
        self, statements: Sequence[StatementLike], counts: list[int], o: ExecuteOptions
    ) -> list[tuple[Any, ...]]:
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
                rows = self._run_each(
                    statements, counts, o.fetch_last, lambda sql, p: _executed(cur, sql, p)
                )
                if o.rollback:
                    conn.rollback()
                    self._check_rolled_back(cur)
                elif not o.autocommit:
                    conn.commit()
        except BaseException:
            if conn.open:
                conn.rollback()
            raise
        return rows

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

    # --- session locks and rows for a throwaway copy -------------------------------------

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
