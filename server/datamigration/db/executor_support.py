"""The executor's names for the backend methods it calls (kept while execute/ is reshaped).

Everything a dialect does for the executor is a method of its backend now (the transaction
door `Backend.transaction`, session locks, throwaway copies, catalog facts: see `db.base`), so
this module only forwards, with no dialect in sight. execute/ can call the methods directly and
this module then goes away.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from datamigration.db.base import Backend
from datamigration.db.contracts import Statement, StatementLike
from datamigration.db.errors import is_lock_timeout

__all__ = [
    "Statement",
    "StatementLike",
    "cancel_autovacuum",
    "drop_throwaway",
    "fetch",
    "index_state",
    "insert_rows",
    "is_lock_timeout",
    "keep_to_one_core",
    "placeholder",
    "quote",
    "release_session_lock",
    "skip_foreign_keys",
    "throwaway_database",
    "transaction",
    "try_session_lock",
]


def placeholder(backend: Backend) -> str:
    return backend.placeholder


def quote(backend: Backend, name: str) -> str:
    return backend.quote_identifier(name)


def fetch(backend: Backend, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
    return backend.fetch(sql, params)


def transaction(
    backend: Backend,
    statements: Sequence[StatementLike],
    *,
    lock_timeout_ms: int | None = None,
    timeout_ms: int | None = None,
    fetch_last: bool = False,
) -> tuple[list[int], list[tuple[Any, ...]]]:
    return backend.transaction(
        statements, lock_timeout_ms=lock_timeout_ms, timeout_ms=timeout_ms, fetch_last=fetch_last
    )


def index_state(backend: Backend, index: str) -> str | None:
    return backend.index_state(index)


def try_session_lock(backend: Backend, name: str) -> bool:
    return backend.try_session_lock(name)


def release_session_lock(backend: Backend, name: str) -> None:
    backend.release_session_lock(name)


def insert_rows(
    backend: Backend, table: str, columns: Sequence[str], rows: Sequence[Sequence[Any]]
) -> int:
    return backend.insert_rows(table, columns, rows)


def throwaway_database(backend: Backend, name: str) -> str:
    return backend.throwaway_database(name)


def drop_throwaway(backend: Backend, name: str) -> None:
    backend.drop_throwaway(name)


def skip_foreign_keys(backend: Backend) -> None:
    backend.skip_foreign_keys()


def keep_to_one_core(backend: Backend) -> None:
    backend.keep_to_one_core()


def cancel_autovacuum(backend: Backend, tables: Sequence[str]) -> list[int]:
    return backend.cancel_autovacuum(tables)
