"""How the executor runs statements on PostgreSQL: the one door `execute` (statements in one
transaction, committed or rolled back, with timeouts LOCAL to it, or each on its own for CREATE
INDEX CONCURRENTLY), keyset row pages, and the catalog facts and session settings the executor
acts on.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Sequence
from typing import Any

import psycopg
from psycopg import sql as pgsql
from psycopg.pq import TransactionStatus

from datamigration.db.contracts import ExecuteOptions, StatementLike
from datamigration.db.postgres.connection import PostgresConnection, split_name
from datamigration.errors import DatabaseError, UserInputError


class PostgresExecutor(PostgresConnection):
    """The executor's side of the PostgreSQL backend."""

    def _execute(
        self, statements: Sequence[StatementLike], counts: list[int], o: ExecuteOptions
    ) -> list[tuple[Any, ...]]:
        """Timeouts LOCAL to the one transaction, or set for the session and reset after an
        autocommit run (where each statement is its own transaction)."""
        conn = self.conn
        settings = (
            f"{int(o.timeout_ms)}ms" if o.timeout_ms else "0",
            f"{int(o.lock_timeout_ms)}ms" if o.lock_timeout_ms else "0",
        )
        local = "false" if o.autocommit else "true"
        bound = (
            f"SELECT set_config('statement_timeout', %s, {local}), "
            f"set_config('lock_timeout', %s, {local})"
        )

        with conn.cursor() as cur:

            def run(sql: str, params: tuple[Any, ...] | None) -> Any:
                cur.execute(sql, params or None)
                return cur

            if o.autocommit:
                self._run(cur, bound, settings)
                try:
                    return self._run_each(statements, counts, o.fetch_last, run)
                finally:
                    if conn.info.transaction_status == TransactionStatus.IDLE:
                        cur.execute("RESET statement_timeout; RESET lock_timeout")
            with conn.transaction(force_rollback=o.rollback):
                self._run(cur, bound, settings)
                return self._run_each(statements, counts, o.fetch_last, run)

    def _keyset_page(self, table, keys, columns, limit, after, end_at):
        select = pgsql.SQL(", ").join(map(pgsql.Identifier, columns)) if columns else pgsql.SQL("*")
        key_tuple = pgsql.SQL("({})").format(pgsql.SQL(", ").join(map(pgsql.Identifier, keys)))
        marks = pgsql.SQL(", ").join(pgsql.Placeholder() * len(keys))
        order = pgsql.SQL(", ").join(map(pgsql.Identifier, keys))
        where, params = [], []
        if after is not None:
            where.append(pgsql.SQL("{} > ({})").format(key_tuple, marks))
            params.extend(after)
        if end_at is not None:
            where.append(pgsql.SQL("{} <= ({})").format(key_tuple, marks))
            params.extend(end_at)
        query = pgsql.SQL("SELECT {}, {} FROM {} {} ORDER BY {} LIMIT {}").format(
            order,
            select,
            split_name(table),
            pgsql.SQL("WHERE ") + pgsql.SQL(" AND ").join(where) if where else pgsql.SQL(""),
            order,
            pgsql.Literal(int(limit)),
        )
        with self.conn.cursor() as cur:
            self._run(cur, query, params)
            return [d.name for d in cur.description][len(keys) :], cur.fetchall()

    # --- catalog facts and session settings the executor acts on ---------------------------

    def index_state(self, index: str) -> str | None:
        """Only PostgreSQL builds indexes concurrently, and a failed build leaves an invalid
        index behind."""
        schema, _, name = index.rpartition(".")
        rows = self.fetch(
            "SELECT i.indisvalid FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid "
            "JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE c.relname = %s AND (%s = '' AND n.nspname = ANY (current_schemas(false)) "
            "OR n.nspname = %s) LIMIT 1",
            (name, schema, schema),
        )
        if not rows:
            return None
        return "valid" if rows[0][0] else "invalid"

    def try_session_lock(self, name: str) -> bool:
        """An advisory lock of this session."""
        rows = self.fetch("SELECT pg_try_advisory_lock(hashtextextended(%s, 0))", (name,))
        return bool(rows and rows[0][0])

    def release_session_lock(self, name: str) -> None:
        self.fetch("SELECT pg_advisory_unlock(hashtextextended(%s, 0))", (name,))

    def keep_to_one_core(self) -> None:
        """A parallel CREATE INDEX takes every core of a small server while it sorts, which the
        application pays for in latency; one core for the migration is slower and leaves the
        rest to the application. Plain settings, allowed to any role."""
        self.fetch(
            "SELECT set_config('max_parallel_maintenance_workers', '0', false), "
            "set_config('max_parallel_workers_per_gather', '0', false)"
        )

    def cancel_autovacuum(self, tables: Sequence[str]) -> list[int]:
        """A DDL statement that needs the table's ACCESS EXCLUSIVE lock queues behind a running
        autovacuum, and every application query on the table queues behind the DDL. PostgreSQL
        cancels the autovacuum itself only after `deadlock_timeout` (1 s by default) of
        waiting, so the application stalls that long. Cancelling it at once is harmless:
        autovacuum starts again later. Vacuums that prevent transaction-id wraparound are never
        cancelled (and never yield anyway); a role that may not signal them (not superuser)
        simply gets an empty list."""
        if not tables:
            return []
        found = self.fetch(
            "SELECT DISTINCT a.pid FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid "
            "WHERE a.backend_type = 'autovacuum worker' "
            "AND l.relation IN (SELECT to_regclass(t) FROM unnest(%s::text[]) AS t) "
            "AND a.query NOT LIKE '%%to prevent wraparound%%'",
            (list(tables),),
        )
        cancelled = []
        for (pid,) in found:
            try:
                if self.fetch("SELECT pg_cancel_backend(%s)", (pid,))[0][0]:
                    cancelled.append(int(pid))
            except DatabaseError:  # not allowed to signal it: PostgreSQL cancels it after 1 s
                break
        return cancelled

    # --- throwaway copies for a staging rehearsal ------------------------------------------

    def skip_foreign_keys(self) -> None:
        """session_replication_role needs a superuser; where it is refused, rows are loaded
        parents first instead."""
        try:
            self.fetch("SELECT set_config('session_replication_role', 'replica', false)")
        except DatabaseError:
            pass

    _insert_overriding = " OVERRIDING SYSTEM VALUE"

    def _insert_many(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        with self.conn.cursor() as cur:
            cur.executemany(sql, [tuple(r) for r in rows])

    def throwaway_database(self, name: str) -> str:
        """A new database on the same server, schema copied with `pg_dump --schema-only | psql`
        (passwords go through PGPASSWORD, never the command line)."""
        for tool in ("pg_dump", "psql"):
            if shutil.which(tool) is None:
                raise UserInputError(
                    f"{tool} is not installed, so no throwaway copy can be made",
                    hint="Pass a staging database URL (--staging), or install the PostgreSQL "
                    "client tools.",
                )
        self._on_maintenance_db(
            f"CREATE DATABASE {self.quote_identifier(name)}", "create the rehearsal database"
        )
        dump, load = self._copy_schema(name)
        if dump.returncode != 0 or load is None or load.returncode != 0:
            from datamigration.redact import redact_text

            self.drop_throwaway(name)
            text = (dump.stderr if dump.returncode else load.stderr if load else b"").decode(
                "utf-8", "replace"
            )
            raise DatabaseError(
                "copying the schema for the rehearsal failed: "
                + redact_text(text.strip().splitlines()[-1] if text.strip() else "unknown error"),
                hint="Pass a staging database URL (--staging) instead.",
            )
        return self.url.with_database(name).url

    def _copy_schema(self, name: str) -> tuple[Any, Any]:
        """pg_dump of this database's schema into `name` with psql: (dump, load) results."""
        u = self.url
        env = dict(os.environ)
        if u.password:
            env["PGPASSWORD"] = u.password
        common = [
            "-h",
            u.host or "localhost",
            "-p",
            str(u.port or 5432),
            "-U",
            u.username or "postgres",
        ]
        dump = subprocess.run(
            ["pg_dump", "--schema-only", "--no-owner", "--no-privileges", *common, u.database or ""],
            capture_output=True, env=env, timeout=300, check=False,
        )  # fmt: skip
        load = None
        if dump.returncode == 0:
            load = subprocess.run(
                ["psql", "-q", "-v", "ON_ERROR_STOP=1", *common, "-d", name],
                input=dump.stdout, capture_output=True, env=env, timeout=300, check=False,
            )  # fmt: skip
        return dump, load

    def drop_throwaway(self, name: str) -> None:
        self._on_maintenance_db(
            f"DROP DATABASE IF EXISTS {self.quote_identifier(name)} WITH (FORCE)",
            "drop the rehearsal database",
        )

    def _on_maintenance_db(self, statement: str, action: str) -> None:
        """Run one statement on the server's `postgres` database (CREATE/DROP DATABASE cannot
        run on the database they are about)."""

        def run() -> None:
            with psycopg.connect(self.conninfo("postgres"), autocommit=True) as conn:
                conn.execute(statement)

        self._guard(action, run)
