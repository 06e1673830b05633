"""Lock tracing (eugene's method): run migration statements inside one transaction, record after
each statement the relation locks it newly holds and whether a table or index was rewritten
(its relfilenode changed), then roll everything back.

Point it at a scratch or staging copy of the schema: the statements really run (and are then
rolled back), so every lock is taken on the database given, bounded by a short lock_timeout and
statement_timeout so tracing never queues behind production traffic for long.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

import psycopg

#: Statements that cannot run inside a transaction block, or that end it.
_SKIP = re.compile(
    r"\bCONCURRENTLY\b|^\s*(?:VACUUM|BEGIN|START|COMMIT|END|ROLLBACK|ABORT)\b", re.IGNORECASE
)
_LOCKS = """
SELECT coalesce(n.nspname || '.' || c.relname, l.relation::text), l.mode
FROM pg_locks l LEFT JOIN pg_class c ON c.oid = l.relation
LEFT JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE l.pid = pg_backend_pid() AND l.granted AND l.locktype = 'relation'
  AND coalesce(n.nspname, '') NOT IN ('pg_catalog', 'information_schema')
"""
_FILENODES = """
SELECT n.nspname || '.' || c.relname, pg_relation_filenode(c.oid)
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE c.relkind IN ('r', 'i', 'm', 'p') AND n.nspname NOT IN ('pg_catalog', 'information_schema')
  AND n.nspname NOT LIKE 'pg_toast%'
"""


@dataclass(frozen=True)
class StatementTrace:
    index: int
    locks: tuple[str, ...]  # "relation: Mode", new with this statement
    rewritten: tuple[str, ...]  # relations whose filenode changed
    skipped: str = ""
    error: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {
            "index": self.index,
            "locks": list(self.locks),
            "rewrote": bool(self.rewritten),
            "rewritten": list(self.rewritten),
            "skipped": self.skipped,
            "error": self.error,
        }


@dataclass
class _State:
    locks: set[tuple[str, str]] = field(default_factory=set)
    nodes: dict[str, int] = field(default_factory=dict)


def trace_statements(
    backend: Any,
    statements: list[str],
    *,
    lock_timeout_ms: int = 2000,
    statement_timeout_ms: int = 30000,
) -> list[StatementTrace]:
    """Trace `statements` on the backend's PostgreSQL connection; nothing is committed."""
    conn: psycopg.Connection = backend._connect()
    out: list[StatementTrace] = []
    with conn.transaction(force_rollback=True):
        conn.execute(f"SET LOCAL lock_timeout = {int(lock_timeout_ms)}")
        conn.execute(f"SET LOCAL statement_timeout = {int(statement_timeout_ms)}")
        before = _snapshot(conn)
        for i, text in enumerate(statements):
            if _SKIP.search(text):
                out.append(
                    StatementTrace(
                        i,
                        (),
                        (),
                        skipped="cannot run inside a transaction block (traced as a no-op)",
                    )
                )
                continue
            try:
                with conn.transaction():  # a savepoint: a failing statement does not end the run
                    conn.execute(text)
                    after = _snapshot(conn)
            except psycopg.Error as exc:
                out.append(StatementTrace(i, (), (), error=str(exc).splitlines()[0][:200]))
                continue
            new_locks = sorted(after.locks - before.locks)
            rewritten = sorted(
                rel
                for rel, node in after.nodes.items()
                if rel in before.nodes and before.nodes[rel] != node
            )
            out.append(
                StatementTrace(i, tuple(f"{r}: {m}" for r, m in new_locks), tuple(rewritten))
            )
            before = after
    return out


def _snapshot(conn: psycopg.Connection) -> _State:
    return _State(
        locks={(r, m) for r, m in conn.execute(_LOCKS).fetchall()},
        nodes={r: n for r, n in conn.execute(_FILENODES).fetchall()},
    )
