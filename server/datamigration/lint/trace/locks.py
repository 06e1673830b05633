"""Lock tracing on a scratch copy: measure the locks each migration statement takes and whether
it rewrites a table (its relfilenode changes), without taking strong locks on the real tables.

Why a scratch copy: running the statements against the database given, even in a transaction
that is rolled back, takes their real locks on the real tables; tracing a migration against
production would queue an ACCESS EXCLUSIVE lock behind live traffic. So (see `scratch`):

1. the relations the file names are resolved with the session's own search_path; those tables,
   the tables their foreign keys point to and the tables pointing at them (one level, at most
   `MAX_TABLES`) are copied into scratch schemas `dm_trace_<random>_<n>`, one per original
   schema: `LIKE ... INCLUDING ALL EXCLUDING INDEXES`, up to `sample_rows` rows, then keys and
   indexes under their original names (so `DROP INDEX name` finds them), foreign keys between
   copies, partitions, and the sequences behind serial defaults (a real sequence never moves).
   This copy is COMMITTED in its own short transaction. That is deliberate: PostgreSQL keeps
   every lock until the end of the transaction, and the copy's own DDL holds ACCESS EXCLUSIVE
   (and SHARE, ...) on each copy, so in one transaction no statement could show a new lock
   on a copied table. Other sessions see only an empty-looking schema they cannot use;
2. a second transaction, always rolled back: `SET LOCAL search_path = <scratch schemas>,
   <original path>` so unqualified names resolve to the copies, schema-qualified names are
   rewritten in the parse tree (`sql`), each statement runs in a savepoint, and the locks it
   newly holds on copies plus the copies whose relfilenode changed are reported under the
   original names. Locks are cumulative within the transaction, as in a migration that runs in
   one transaction: a mode an earlier statement already took is not reported again (`held`
   lists everything held after a statement);
3. the scratch schemas are dropped (a crashed run's schemas are dropped by the next trace).

The only locks taken on real relations are ACCESS SHARE (LIKE and the sampling SELECT, in step
1). That is checked, not assumed: after the copy and after each statement the session's locks
on every relation outside the scratch schemas are read from pg_locks (a real relation dropped
meanwhile is still known by its oid), and anything stronger stops the trace at once (rolling
back the savepoint releases it). Statements that would reach the real tables through shared
objects (ALTER DOMAIN, DROP ... CASCADE of a type, REINDEX SCHEMA, bare ANALYZE/CLUSTER, DO
blocks naming a schema), change the search_path, role or timeouts, or modify a view,
materialized view or foreign table (not copied) are not run. Every wait is bounded by a short
lock_timeout; the copies are private, so the only waits possible are on real tables.

A scratch DATABASE was rejected: `CREATE DATABASE ... TEMPLATE` needs the source to have no
other connections (impossible on production), and a schema dump needs pg_dump in a
subprocess. Types, domains and functions are shared, not copied; triggers and policies are not
copied, so a trace does not show locks a trigger would take on other tables. Tracing needs
CREATE on the database.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from datamigration.lint.trace.scratch import (
    NotRun,
    Scratch,
    Session,
    TraceSetupError,
    build_copy,
    drop_schemas,
    drop_stale,
)
from datamigration.lint.trace.sql import SYSTEM, Plan, plan_statement, quote_ident

__all__ = ["StatementTrace", "TraceSetupError", "trace_statements"]

_LOCKS = """
SELECT l.relation::oid, n.nspname, c.relname, l.mode
FROM pg_locks l LEFT JOIN pg_class c ON c.oid = l.relation
LEFT JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE l.pid = pg_backend_pid() AND l.granted AND l.locktype = 'relation'
  AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
"""
_FILENODES = """
SELECT c.oid, n.nspname, c.relname, pg_relation_filenode(c.oid)
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE c.relkind IN ('r', 'i', 'm', 'p', 'I', 'S', 't') AND n.nspname = ANY(%s)
"""

_REAL = """
SELECT c.oid, n.nspname, c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname <> ALL(%s) AND n.nspname NOT IN ('pg_catalog', 'information_schema')
  AND n.nspname NOT LIKE 'pg\\_toast%%'
"""


@dataclass(frozen=True)
class StatementTrace:
    index: int
    locks: tuple[str, ...]  # "schema.relation: Mode", new with this statement (original names)
    rewritten: tuple[str, ...]  # relations whose filenode changed (original names)
    skipped: str = ""
    error: str = ""
    original_locks: tuple[str, ...] = ()  # new locks on real relations: ACCESS SHARE at most
    held: tuple[str, ...] = ()  # every lock held after it, earlier statements' included

    def to_dict(self) -> dict[str, Any]:
        return {
            "index": self.index,
            "locks": list(self.locks),
            "rewrote": bool(self.rewritten),
            "rewritten": list(self.rewritten),
            "skipped": self.skipped,
            "error": self.error,
            "original_locks": list(self.original_locks),
        }


@dataclass
class _State:
    locks: set[tuple[str, str]] = field(default_factory=set)  # scratch, original names
    real: set[tuple[str, str]] = field(default_factory=set)  # real relations
    nodes: dict[int, tuple[str, int]] = field(default_factory=dict)  # oid -> (name, filenode)


def _snapshot(
    conn: Session, scratch: Scratch, known: dict[int, str], real: dict[int, str]
) -> _State:
    """Locks and filenodes now. A lock on a relation no longer in pg_class was dropped in this
    transaction: a real one (by its oid from `real`) still counts as real, a scratch one keeps
    the name seen earlier, and one never seen (a rewrite's transient heap) is left out."""
    state = _State()
    for oid, name, node in (
        (r[0], scratch.original_name(r[1], r[2]), r[3])
        for r in conn.execute(_FILENODES, (list(scratch.schemas.values()),)).fetchall()
    ):
        state.nodes[oid] = (name or str(oid), node)
        known[oid] = name or str(oid)
    for oid, schema, rel, mode in conn.execute(_LOCKS).fetchall():
        if schema in SYSTEM or (schema or "").startswith(("pg_toast", "pg_temp")):
            continue
        mapped = scratch.original_name(schema, rel)
        if mapped is not None:
            state.locks.add((mapped, mode))
        elif schema is None:
            if oid in real:
                state.real.add((real[oid], mode))
            elif oid in known:
                state.locks.add((known[oid], mode))
        else:
            state.real.add((f"{schema}.{rel}", mode))
    return state


def _too_strong(locks: Iterable[tuple[str, str]]) -> list[str]:
    return sorted(f"{r}: {m}" for r, m in locks if m != "AccessShareLock")


def trace_statements(
    backend: Any,
    statements: list[str],
    *,
    sample_rows: int = 1000,
    lock_timeout_ms: int = 500,
    statement_timeout_ms: int = 30000,
    observe: Callable[[int, int], None] | None = None,
) -> list[StatementTrace]:
    """Trace `statements` on a scratch copy inside the backend's PostgreSQL database.

    `observe(index, backend_pid)` is called while the trace still holds its locks: once at the
    end of the copy, before it commits (index -1), and after each statement that ran.
    The statements are always rolled back and the scratch schemas dropped.
    """
    conn: Session = backend.conn  # the session `datamigration.db.connect` opened
    errors = backend.driver_errors
    plans = [plan_statement(i, text) for i, text in enumerate(statements)]
    timeouts = (
        f"SET LOCAL lock_timeout = {int(lock_timeout_ms)}",
        f"SET LOCAL statement_timeout = {int(statement_timeout_ms)}",
    )
    drop_stale(conn, errors)
    scratch = Scratch(conn, [], sample_rows, errors)
    try:
        with conn.transaction():  # 1: the copy, committed so its own locks are released
            for sql in timeouts:
                conn.execute(sql)
            pid = conn.execute("SELECT pg_backend_pid()").fetchone()[0]
            scratch.path = list(conn.execute("SELECT current_schemas(false)").fetchone()[0])
            for plan in plans:  # names resolve as the migration would see them
                for ref in plan.refs:
                    scratch.resolve(ref.schema, ref.name)
            conn.execute("SET LOCAL search_path = pg_catalog")  # catalog text fully qualified
            build_copy(scratch, plans)
            strong = _too_strong(_snapshot(conn, scratch, {}, {}).real)
            if strong:
                raise TraceSetupError(
                    f"copying took {', '.join(strong)} on real relations",
                    hint="A bug in the trace; the copy was rolled back. Trace a staging copy.",
                )
            if observe is not None:
                observe(-1, pid)
        with conn.transaction(force_rollback=True):  # 2: the statements, always rolled back
            for sql in timeouts:
                conn.execute(sql)
            search = [scratch.schemas[s] for s in scratch.path if s in scratch.schemas]
            search += scratch.path
            conn.execute(
                f"SET LOCAL search_path = {', '.join(quote_ident(s) for s in search) or 'pg_catalog'}"
            )
            return _run(conn, scratch, plans, pid, observe)
    finally:
        drop_schemas(conn, scratch.schemas.values(), errors)


def _run(
    conn: Session,
    scratch: Scratch,
    plans: list[Plan],
    pid: int,
    observe: Callable[[int, int], None] | None,
) -> list[StatementTrace]:
    out: list[StatementTrace] = []
    known: dict[int, str] = {}
    real = {
        oid: f"{schema}.{name}"
        for oid, schema, name in conn.execute(_REAL, (list(scratch.schemas.values()),))
    }
    before = _snapshot(conn, scratch, known, real)
    stopped = ""
    for plan in plans:
        if stopped or plan.skip:
            out.append(StatementTrace(plan.index, (), (), skipped=stopped or plan.skip))
            continue
        try:
            text = scratch.prepare(plan)
        except NotRun as why:
            out.append(StatementTrace(plan.index, (), (), skipped=str(why)))
            continue
        try:
            with conn.transaction():  # a savepoint: a failing statement does not end the run
                conn.execute(text)
                after = _snapshot(conn, scratch, known, real)
                strong = _too_strong(after.real - before.real)
                if strong:
                    raise _RealLock(", ".join(strong))  # rolling back the savepoint frees it
                if observe is not None:
                    observe(plan.index, pid)
        except _RealLock as exc:
            stopped = "not run: the trace stopped at an earlier statement"
            error = f"took {exc} on a real relation: the trace stopped and rolled back"
            out.append(StatementTrace(plan.index, (), (), error=error))
            continue
        except scratch.errors as exc:
            out.append(StatementTrace(plan.index, (), (), error=str(exc).splitlines()[0][:200]))
            continue
        rewritten = sorted(
            name
            for oid, (name, node) in after.nodes.items()
            if oid in before.nodes and before.nodes[oid][1] != node
        )
        out.append(
            StatementTrace(
                plan.index,
                tuple(f"{r}: {m}" for r, m in sorted(after.locks - before.locks)),
                tuple(rewritten),
                original_locks=tuple(f"{r}: {m}" for r, m in sorted(after.real - before.real)),
                held=tuple(f"{r}: {m}" for r, m in sorted(after.locks)),
            )
        )
        before = after
    return out


class _RealLock(Exception):
    pass
