"""The SQLite file (sqlite3): a writable connection for the executor and a separate read-only
one for queries, their errors, and the helpers every part of the backend shares.

The backend's concerns live beside it in this package: `introspect`, `query` (+ `guard`),
`executor`, `segments`.
"""

from __future__ import annotations

import difflib
import os
import sqlite3
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from datamigration.db.base import Backend
from datamigration.db.errors import (
    QueryTimeoutError,
    TableNotFoundError,
    UnknownDatabaseError,
    translate,
)
from datamigration.db.sqlite.dialect import SQLiteDialect
from datamigration.db.sqlite.guard import MAX_VALUE_LENGTH
from datamigration.errors import DatabaseError


def quote_name(name: str) -> str:
    return SQLiteDialect.quote_part(name)


def qualified(table: str) -> str:
    schema, dot, name = table.rpartition(".")
    return (
        f"{quote_name(schema)}.{quote_name(name)}"
        if dot and schema == "main"
        else quote_name(table)
    )


class SQLiteConnection(SQLiteDialect, Backend):
    """The connection part of the SQLite backend (see `backend.SQLiteBackend`)."""

    driver = "sqlite3"
    driver_errors = (sqlite3.Error,)

    def __init__(self, url, **kwargs: Any) -> None:
        super().__init__(url, **kwargs)
        self.path = url.database or ":memory:"
        self._rw: sqlite3.Connection | None = None
        self._ro: sqlite3.Connection | None = None

    def _exists(self) -> bool:
        return self.path == ":memory:" or Path(self.path).is_file()

    def open(self) -> SQLiteConnection:
        return self

    def _missing(self) -> UnknownDatabaseError:
        folder = Path(self.path).parent
        names = [p.name for p in folder.iterdir()] if folder.is_dir() else []
        close = difflib.get_close_matches(Path(self.path).name, names, n=1, cutoff=0.5)
        hint = (
            f"Did you mean {str(folder / close[0])!r}?"
            if close
            else "Check the path; sqlite:///relative.db or sqlite:////absolute/path.db."
        )
        return UnknownDatabaseError(
            f"SQLite database file {self.path} does not exist", hint=hint, path=self.path
        )

    def _fail(self, exc: BaseException, action: str) -> DatabaseError:
        text = str(exc)
        if "interrupted" in text:
            return translate(exc, label=self.label, action=action, cls=QueryTimeoutError)
        if "no such table" in text:
            return translate(
                exc,
                label=self.label,
                action=action,
                cls=TableNotFoundError,
            )
        return translate(exc, label=self.label, action=action)

    @property
    def conn(self) -> sqlite3.Connection:
        """The writable connection (creates the file when it does not exist yet)."""
        if self._rw is None:
            self._rw = sqlite3.connect(
                self.path,
                timeout=self.connect_timeout,
                isolation_level=None,
                check_same_thread=False,
            )
            self._rw.execute("PRAGMA foreign_keys = ON")
        return self._rw

    def _read_conn(self) -> sqlite3.Connection:
        if self._ro is None:
            if not self._exists():
                raise self._missing()
            if self.path == ":memory:":
                target = "file::memory:?mode=ro"
            else:
                target = Path(self.path).resolve().as_uri() + "?mode=ro"
            error: DatabaseError | None = None
            try:
                self._ro = sqlite3.connect(
                    target,
                    uri=True,
                    timeout=self.connect_timeout,
                    isolation_level=None,
                    check_same_thread=False,
                )
                self._ro.execute("PRAGMA query_only = 1")
                self._ro.setlimit(sqlite3.SQLITE_LIMIT_LENGTH, MAX_VALUE_LENGTH)
                self._ro.setlimit(sqlite3.SQLITE_LIMIT_ATTACHED, 0)
            except sqlite3.Error as exc:
                error = self._fail(exc, "open read-only")
            if error is not None:
                raise error
        return self._ro

    def close(self) -> None:
        for c in (self._rw, self._ro):
            if c is not None:
                c.close()
        self._rw = self._ro = None

    def _q(self, conn: sqlite3.Connection, sql: str, params: Sequence[Any] = ()) -> list[tuple]:
        self.counter.add(sql)
        return conn.execute(sql, params).fetchall()

    def server_version(self) -> str | None:
        return sqlite3.sqlite_version


def sqlite_path_exists(path: str) -> bool:
    return path == ":memory:" or os.path.exists(path)
