"""A brief write pause on some tables: what a cutover holds while it drains and diffs.

Why in db/: how writes are paused is each database's own statement (PostgreSQL `LOCK TABLE
... IN EXCLUSIVE MODE`, which lets reads go on; MySQL/MariaDB `LOCK TABLES ... READ`; SQLite a
`BEGIN IMMEDIATE` on the file), so the cutover engine asks the backend for the pause instead of
naming a database. A backend that cannot pause (a document store) refuses, and the cutover uses
the application's flag instead.

The pause is a context manager on the backend's own connection: entering takes the lock,
waiting at most `lock_timeout_ms` (a pause that cannot start quickly must not queue the
application's writes behind it for long), leaving releases it — on an error too.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from typing import Any, ClassVar


class PauseSupport:
    """The backend side of a write pause (see the module docstring)."""

    #: the pause holds the whole database (SQLite's file lock): a trigger capture, which
    #: writes to its change table as it reads, cannot drain under it
    pause_holds_database: ClassVar[bool] = False

    def pause_writes(
        self, tables: Sequence[str], lock_timeout_ms: int
    ) -> AbstractContextManager[dict[str, Any]]:
        """Block writes to `tables` (reads go on) until the block ends; yields what was taken
        (`method`, `lock`). Raises LockTimeoutError when the lock is not granted in time."""
        raise self._unsupported("a write pause (use the application's flag)")  # type: ignore[attr-defined]


@contextmanager
def held(backend: Any, take: Any, release: Any, what: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """Run `take()` (driver errors become our errors), yield `what`, then always `release()`
    (also when `take` failed half way: the transaction it opened ends)."""
    try:
        backend._guard("pause writes", take)
    except BaseException:
        backend._guard("end the write pause", release)
        raise
    try:
        yield what
    finally:
        backend._guard("end the write pause", release)
