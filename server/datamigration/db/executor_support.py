"""What the executor needs from a database beyond `Backend.execute`, per dialect.

The executor's run state must commit in the *same* transaction as the batch it describes (so a
crash can never record a batch that did not commit, nor lose one that did), it must read rows
back from ordinary read-write statements (a backfill's next key boundary, its own state table),
and it must recognise a lock timeout to retry it. `Backend.execute` takes no parameters and
returns only row counts, and `Backend.query` is read-only by design, so these helpers live here,
next to the drivers, and are the executor's only way to reach them.

Everything is parameterised (no value is ever pasted into SQL) and driver errors become our
errors through the backend's own `_fail`, raised outside the `except` block (see db/errors.py).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from datamigration.db.base import Backend
from datamigration.errors import DatabaseError

#: One statement with its parameters, or a function of the row counts so far that returns one
#: (so a checkpoint can record how many rows the batch before it in the same transaction wrote).
Statement = tuple[str, Sequence[Any]]
StatementLike = Statement | Callable[[list[int]], Statement]

#: PostgreSQL lock_not_available (lock_timeout, NOWAIT); MySQL/MariaDB lock wait timeout.
PG_LOCK_TIMEOUT = "55P03"
MYSQL_LOCK_TIMEOUT = 1205


def placeholder(backend: Backend) -> str:
    """The driver's parameter marker: `%s` (psycopg, PyMySQL) or `?` (sqlite3)."""
    return "?" if backend.dialect == "sqlite" else "%s"


def quote(backend: Backend, name: str) -> str:
    """Quote an identifier (dotted names are quoted part by part)."""
    q = "`" if backend.dialect == "mysql" else '"'
    return ".".join(q + part.replace(q, q + q) + q for part in name.split("."))


#: deadlock_detected / serialization_failure (PostgreSQL), deadlock (MySQL): the transaction
#: was rolled back by the server and is safe to run again
PG_TRANSIENT = {"40P01", "40001"}
MYSQL_DEADLOCK = 1213


def is_lock_timeout(error: BaseException) -> bool:
    """True when a statement gave up waiting for a lock, or lost a deadlock: nothing was
    changed, and running it again after a pause is the right thing to do."""
    data = getattr(error, "data", {}) or {}
    if data.get("sqlstate") == PG_LOCK_TIMEOUT or data.get("code") == MYSQL_LOCK_TIMEOUT:
        return True
    if data.get("sqlstate") in PG_TRANSIENT or data.get("code") == MYSQL_DEADLOCK:
        return True
    text = str(error).lower()
    return (
        "lock timeout" in text
        or "lock wait timeout" in text
        or "database is locked" in text
        or "database table is locked" in text
        or "deadlock" in text
    )


def _driver_errors(backend: Backend) -> tuple[type[BaseException], ...]:
    if backend.dialect == "postgresql":
        import psycopg

        return (psycopg.Error,)
    if backend.dialect == "mysql":
        import pymysql

        return (pymysql.MySQLError,)
    if backend.dialect == "sqlite":
        import sqlite3

        return (sqlite3.Error,)
    raise backend._unsupported("executor statements")


def fetch(backend: Backend, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
    """Run one read-write statement on its own (autocommit) and return its rows, if any."""
    return transaction(backend, [(sql, params)], fetch_last=True)[1]


def transaction(
    backend: Backend,
    statements: Sequence[StatementLike],
    *,
    lock_timeout_ms: int | None = None,
    timeout_ms: int | None = None,
    fetch_last: bool = False,
) -> tuple[list[int], list[tuple[Any, ...]]]:
    """Run parameterised statements in one transaction: all commit or none does.

    Returns the row count of each statement and, with `fetch_last`, the rows of the last one.
    """
    errors = _driver_errors(backend)
    counts: list[int] = []
    rows: list[tuple[Any, ...]] = []
    error: DatabaseError | None = None
    started = time.perf_counter()
    try:
        if backend.dialect == "postgresql":
            counts, rows = _pg(backend, statements, lock_timeout_ms, timeout_ms, fetch_last)
        elif backend.dialect == "mysql":
            counts, rows = _mysql(backend, statements, lock_timeout_ms, timeout_ms, fetch_last)
        else:
            counts, rows = _sqlite(backend, statements, lock_timeout_ms, fetch_last)
    except errors as exc:
        error = backend._fail(exc, f"run statement {len(counts) + 1} of {len(statements)}")  # type: ignore[attr-defined]
    if error is not None:
        error.data["elapsed_ms"] = round((time.perf_counter() - started) * 1000, 1)
        raise error
    return counts, rows


def _pg(backend, statements, lock_timeout_ms, timeout_ms, fetch_last):
    conn = backend.conn
    counts: list[int] = []
    rows: list[tuple[Any, ...]] = []
    with conn.transaction(), conn.cursor() as cur:
        cur.execute(
            "SELECT set_config('statement_timeout', %s, true), "
            "set_config('lock_timeout', %s, true)",
            (f"{int(timeout_ms or 0)}ms", f"{int(lock_timeout_ms or 0)}ms"),
        )
        for i, item in enumerate(statements):
            sql, params = item(counts) if callable(item) else item
            backend.counter.add(sql)
            cur.execute(sql, tuple(params) or None)
            counts.append(cur.rowcount)
            if fetch_last and i == len(statements) - 1 and cur.description is not None:
                rows = [tuple(r) for r in cur.fetchall()]
    return counts, rows


def _mysql(backend, statements, lock_timeout_ms, timeout_ms, fetch_last):
    conn = backend.conn
    counts: list[int] = []
    rows: list[tuple[Any, ...]] = []
    with conn.cursor() as cur:
        if lock_timeout_ms:
            seconds = max(1, int(lock_timeout_ms) // 1000)
            cur.execute(f"SET SESSION lock_wait_timeout = {seconds}")
            cur.execute(f"SET SESSION innodb_lock_wait_timeout = {seconds}")
        if backend.is_mariadb:
            cur.execute(f"SET SESSION max_statement_time = {(timeout_ms or 0) / 1000.0:.3f}")
        cur.execute("START TRANSACTION")
        try:
            for i, item in enumerate(statements):
                sql, params = item(counts) if callable(item) else item
                backend.counter.add(sql)
                counts.append(cur.execute(sql, tuple(params) or None))
                if fetch_last and i == len(statements) - 1 and cur.description is not None:
                    rows = [tuple(r) for r in cur.fetchall()]
            conn.commit()
        except BaseException:
            if conn.open:
                conn.rollback()
            raise
    return counts, rows


def _sqlite(backend, statements, lock_timeout_ms, fetch_last):
    conn = backend.conn
    counts: list[int] = []
    rows: list[tuple[Any, ...]] = []
    if lock_timeout_ms:
        conn.execute(f"PRAGMA busy_timeout = {int(lock_timeout_ms)}")
    conn.execute("BEGIN IMMEDIATE")
    try:
        for i, item in enumerate(statements):
            sql, params = item(counts) if callable(item) else item
            backend.counter.add(sql)
            cur = conn.execute(sql, tuple(params))
            counts.append(cur.rowcount)
            if fetch_last and i == len(statements) - 1 and cur.description is not None:
                rows = [tuple(r) for r in cur.fetchall()]
        conn.execute("COMMIT")
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise
    return counts, rows


# --- PostgreSQL catalog facts the executor acts on ---------------------------------------------


def index_state(backend: Backend, index: str) -> str | None:
    """ "valid", "invalid" (a failed CONCURRENTLY build left it behind) or None (absent).

    Only PostgreSQL builds indexes concurrently; elsewhere an index is either there or not.
    """
    if backend.dialect != "postgresql":
        return None
    schema, _, name = index.rpartition(".")
    rows = fetch(
        backend,
        "SELECT i.indisvalid FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid "
        "JOIN pg_namespace n ON n.oid = c.relnamespace "
        "WHERE c.relname = %s AND (%s = '' AND n.nspname = ANY (current_schemas(false)) "
        "OR n.nspname = %s) LIMIT 1",
        (name, schema, schema),
    )
    if not rows:
        return None
    return "valid" if rows[0][0] else "invalid"


@dataclass(frozen=True)
class ReplicationLag:
    """How far the connected standbys are behind (the worst of them)."""

    #: replay lag in seconds as the primary measures it; 0 for a standby that has replayed
    #: everything written (PostgreSQL keeps showing the lag measured at the catch-up until the
    #: standby's next status reply, wal_receiver_status_interval = 10 s by default, which would
    #: hold a caught-up backfill that long)
    seconds: float | None
    #: WAL written on the primary but not yet replayed on the standby
    bytes: int | None
    standbys: int


def replication_lag(backend: Backend) -> ReplicationLag | None:
    """The largest replay lag of the connected standbys, None without standbys (or elsewhere
    than PostgreSQL).

    `replay_lag` in pg_stat_replication keeps growing while a standby's replay is stuck (paused,
    or blocked by a conflicting query) as long as the standby sends replies: on every WAL
    message it receives, and every wal_receiver_status_interval (10 s by default) when idle.
    A role without the privilege to see the columns gets NULLs, which read as "unknown".
    """
    if backend.dialect != "postgresql":
        return None
    rows = fetch(
        backend,
        "SELECT count(*), max(CASE WHEN replay_lsn >= pg_current_wal_lsn() THEN 0 ELSE "
        "EXTRACT(EPOCH FROM COALESCE(replay_lag, write_lag, flush_lag)) END), "
        "max(pg_wal_lsn_diff(pg_current_wal_lsn(), replay_lsn)) FROM pg_stat_replication",
    )
    if not rows or not rows[0][0]:
        return None
    count, seconds, lag_bytes = rows[0]
    return ReplicationLag(
        seconds=float(seconds) if seconds is not None else None,
        bytes=max(int(lag_bytes), 0) if lag_bytes is not None else None,
        standbys=int(count),
    )


def probe_latency_ms(
    backend: Backend,
    sql: str = "SELECT 1",
    params: Sequence[Any] = (),
    *,
    timeout_ms: int = 5_000,
) -> float:
    """Wall time of one small query: the executor's view of how busy the database is.

    The probe never waits longer than `timeout_ms` (for a lock or for the server): a probe
    stuck behind a lock is itself the strain to report, so it returns the time it waited.
    """
    started = time.perf_counter()
    try:
        transaction(
            backend, [(sql, params)], lock_timeout_ms=timeout_ms, timeout_ms=timeout_ms,
            fetch_last=True,
        )  # fmt: skip
    except DatabaseError as exc:
        from datamigration.db.errors import QueryTimeoutError

        if not (is_lock_timeout(exc) or isinstance(exc, QueryTimeoutError)):
            raise
    return (time.perf_counter() - started) * 1000.0


# --- one executor per plan -----------------------------------------------------------------------


def try_session_lock(backend: Backend, name: str) -> bool:
    """Take a lock held by this connection until release or disconnect (a crash frees it).

    PostgreSQL advisory lock / MySQL GET_LOCK; SQLite has no such thing and says yes (its
    writers are serialised by the file lock anyway).
    """
    if backend.dialect == "postgresql":
        rows = fetch(backend, "SELECT pg_try_advisory_lock(hashtextextended(%s, 0))", (name,))
        return bool(rows and rows[0][0])
    if backend.dialect == "mysql":
        rows = fetch(backend, "SELECT GET_LOCK(%s, 0)", (name[:64],))
        return bool(rows and rows[0][0] == 1)
    if backend.dialect == "sqlite" and backend.url.database not in (None, "", ":memory:"):
        # an advisory lock file beside the database, held by this process (freed on exit)
        import fcntl
        import hashlib

        if (id(backend), name) in _FILE_LOCKS:
            return True
        digest = hashlib.sha256(name.encode()).hexdigest()[:12]
        path = Path(backend.url.database).with_name(
            f".{Path(backend.url.database).name}.{digest}.lock"
        )
        handle = path.open("a")
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            handle.close()
            return False
        _FILE_LOCKS[(id(backend), name)] = handle
    return True


#: lock files held by `try_session_lock` on SQLite, per (backend, name)
_FILE_LOCKS: dict[tuple[int, str], Any] = {}


def release_session_lock(backend: Backend, name: str) -> None:
    if backend.dialect == "postgresql":
        fetch(backend, "SELECT pg_advisory_unlock(hashtextextended(%s, 0))", (name,))
    elif backend.dialect == "mysql":
        fetch(backend, "SELECT RELEASE_LOCK(%s)", (name[:64],))
    else:
        handle = _FILE_LOCKS.pop((id(backend), name), None)
        if handle is not None:
            handle.close()


# --- throwaway copies for a staging rehearsal ----------------------------------------------------


def insert_rows(
    backend: Backend, table: str, columns: Sequence[str], rows: Sequence[Sequence[Any]]
) -> int:
    """Insert rows as they are (used to fill a throwaway copy with sampled data)."""
    if not rows:
        return 0
    p = placeholder(backend)
    cols = ", ".join(quote(backend, c) for c in columns)
    marks = ", ".join([p] * len(columns))
    overriding = " OVERRIDING SYSTEM VALUE" if backend.dialect == "postgresql" else ""
    sql = f"INSERT INTO {quote(backend, table)} ({cols}){overriding} VALUES ({marks})"
    errors = _driver_errors(backend)
    error: DatabaseError | None = None
    try:
        if backend.dialect == "sqlite":
            conn = backend.conn
            conn.execute("BEGIN")
            conn.executemany(sql, [tuple(r) for r in rows])
            conn.execute("COMMIT")
        else:
            conn = backend.conn
            with conn.cursor() as cur:
                cur.executemany(sql, [tuple(r) for r in rows])
            if backend.dialect == "mysql":
                conn.commit()
    except errors as exc:
        error = backend._fail(exc, f"copy rows into {table}")  # type: ignore[attr-defined]
    if error is not None:
        raise error
    return len(rows)


def throwaway_database(backend: Backend, name: str) -> str:
    """Create an empty sibling database `name` with the source's schema; returns its URL.

    SQLite: a copy of the file (the online backup API), emptied of rows. PostgreSQL: a new
    database on the same server, schema copied with `pg_dump --schema-only | psql` (passwords go
    through PGPASSWORD, never the command line). Others: not supported (pass a staging URL).
    """
    import os
    import shutil
    import subprocess

    if backend.dialect == "sqlite":
        import sqlite3

        target = str(Path(backend.url.database or "").with_name(name + ".db"))
        dst = sqlite3.connect(target)
        try:
            backend.conn.backup(dst)
            dst.execute("PRAGMA foreign_keys = OFF")
            tables = [r[0] for r in dst.execute(
                "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
            )]  # fmt: skip
            for t in tables:
                dst.execute(f"DELETE FROM {quote(backend, t)}")
            dst.commit()
        finally:
            dst.close()
        return f"sqlite:///{target}"
    if backend.dialect != "postgresql":
        raise backend._unsupported("a throwaway copy (pass a staging database URL)")
    for tool in ("pg_dump", "psql"):
        if shutil.which(tool) is None:
            from datamigration.errors import UserInputError

            raise UserInputError(
                f"{tool} is not installed, so no throwaway copy can be made",
                hint="Pass a staging database URL (--staging), or install the PostgreSQL "
                "client tools.",
            )
    import psycopg

    u = backend.url
    admin = backend._conninfo("postgres")  # type: ignore[attr-defined]
    error: DatabaseError | None = None
    try:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f"CREATE DATABASE {quote(backend, name)}")
    except psycopg.Error as exc:
        error = backend._fail(exc, "create the rehearsal database")  # type: ignore[attr-defined]
    if error is not None:
        raise error
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
    if dump.returncode != 0 or load is None or load.returncode != 0:
        from datamigration.redact import redact_text

        drop_throwaway(backend, name)
        text = (dump.stderr if dump.returncode else load.stderr if load else b"").decode(
            "utf-8", "replace"
        )
        raise DatabaseError(
            "copying the schema for the rehearsal failed: "
            + redact_text(text.strip().splitlines()[-1] if text.strip() else "unknown error"),
            hint="Pass a staging database URL (--staging) instead.",
        )
    return u.with_database(name).url


def drop_throwaway(backend: Backend, name: str) -> None:
    """Remove a database made by `throwaway_database` (safe to call twice)."""
    if backend.dialect == "sqlite":
        target = Path(backend.url.database or "").with_name(name + ".db")
        target.unlink(missing_ok=True)
        return
    if backend.dialect != "postgresql":
        return  # `throwaway_database` refused this dialect: there is nothing to drop
    import psycopg

    error: DatabaseError | None = None
    try:
        with psycopg.connect(backend._conninfo("postgres"), autocommit=True) as conn:  # type: ignore[attr-defined]
            conn.execute(f"DROP DATABASE IF EXISTS {quote(backend, name)} WITH (FORCE)")
    except psycopg.Error as exc:
        error = backend._fail(exc, "drop the rehearsal database")  # type: ignore[attr-defined]
    if error is not None:
        raise error


def skip_foreign_keys(backend: Backend) -> None:
    """While filling a throwaway copy with a sample: do not check references (a sampled child
    row may point at a parent outside the sample). PostgreSQL session_replication_role needs a
    superuser; where it is refused, rows are loaded parents first instead."""
    if backend.dialect == "postgresql":
        try:
            fetch(backend, "SELECT set_config('session_replication_role', 'replica', false)")
        except DatabaseError:
            pass
    elif backend.dialect == "sqlite":
        backend.conn.execute("PRAGMA foreign_keys = OFF")


def keep_to_one_core(backend: Backend) -> None:
    """For the executor's own session on a database that serves an application: its index
    builds and scans never start parallel workers. A parallel CREATE INDEX takes every core of a
    small server while it sorts, which the application pays for in latency; one core for the
    migration is slower and leaves the rest to the application. Plain settings, allowed to any
    role; other databases have no parallel DDL to stop."""
    if backend.dialect == "postgresql":
        fetch(
            backend,
            "SELECT set_config('max_parallel_maintenance_workers', '0', false), "
            "set_config('max_parallel_workers_per_gather', '0', false)",
        )


def cancel_autovacuum(backend: Backend, tables: Sequence[str]) -> list[int]:
    """Cancel the autovacuum workers that hold a lock on one of `tables`; returns their pids.

    Why: a DDL statement that needs the table's ACCESS EXCLUSIVE lock queues behind a running
    autovacuum, and every application query on the table queues behind the DDL. PostgreSQL
    cancels the autovacuum itself only after `deadlock_timeout` (1 s by default) of waiting, so
    the application stalls that long. Cancelling it at once is harmless: autovacuum starts
    again later. Vacuums that prevent transaction-id wraparound are never cancelled (and never
    yield anyway); a role that may not signal them (not superuser) simply gets an empty list.
    """
    if backend.dialect != "postgresql" or not tables:
        return []
    found = fetch(
        backend,
        "SELECT DISTINCT a.pid FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid "
        "WHERE a.backend_type = 'autovacuum worker' "
        "AND l.relation IN (SELECT to_regclass(t) FROM unnest(%s::text[]) AS t) "
        "AND a.query NOT LIKE '%%to prevent wraparound%%'",
        (list(tables),),
    )
    cancelled = []
    for (pid,) in found:
        try:
            if fetch(backend, "SELECT pg_cancel_backend(%s)", (pid,))[0][0]:
                cancelled.append(int(pid))
        except DatabaseError:  # not allowed to signal it: PostgreSQL cancels it after 1 s
            break
    return cancelled
