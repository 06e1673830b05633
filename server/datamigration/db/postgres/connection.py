"""The PostgreSQL connection (psycopg 3): one autocommit connection with explicit transactions,
its errors (SQLSTATE to our classes), and the helpers every part of the backend shares.

The backend's concerns live beside it in this package: `introspect` (the catalog), `query`
(read-only statements and `guard`), `executor` (the executor's transaction door and the
statements it runs), `probes` (replication lag), `segments` (the validator's readers).
"""

from __future__ import annotations

import difflib
from typing import Any

import psycopg
from psycopg import sql as pgsql

from datamigration.db.base import Backend
from datamigration.db.errors import (
    AuthenticationFailedError,
    ConnectionFailedError,
    QueryTimeoutError,
    TableNotFoundError,
    UnknownDatabaseError,
    translate,
)
from datamigration.db.postgres.dialect import PostgresDialect
from datamigration.errors import DatabaseError

#: SQLSTATEs that have a narrower error class than DatabaseError.
_SQLSTATE_ERRORS: dict[str | None, type[DatabaseError]] = {
    "57014": QueryTimeoutError,  # query_canceled (statement_timeout)
    "3D000": UnknownDatabaseError,  # invalid_catalog_name
    "42P01": TableNotFoundError,  # undefined_table
}


def split_name(table: str) -> pgsql.Composable:
    schema, dot, name = table.rpartition(".")
    if dot:
        return pgsql.Identifier(schema, name)
    return pgsql.Identifier(name)


class PostgresConnection(PostgresDialect, Backend):
    """The connection part of the PostgreSQL backend (see `backend.PostgresBackend`)."""

    driver = "psycopg"
    driver_errors = (psycopg.Error,)

    def __init__(self, url, **kwargs: Any) -> None:
        super().__init__(url, **kwargs)
        self._conn: psycopg.Connection | None = None

    # --- connection ----------------------------------------------------------------------

    def conninfo(self, database: str | None = None) -> str:
        """libpq connection string of this URL, or of another database on the same server
        (a maintenance database, a throwaway copy)."""
        u = self.url
        params: dict[str, Any] = dict(u.params)
        params.update(
            host=u.host or params.get("host"),
            port=u.port or params.get("port"),
            user=u.username or params.get("user"),
            password=u.password,
            dbname=database or u.database or params.get("dbname"),
            connect_timeout=max(2, int(self.connect_timeout)),
            application_name=params.get("application_name", "datamigration"),
        )
        return psycopg.conninfo.make_conninfo(**{k: v for k, v in params.items() if v is not None})

    def open(self) -> PostgresConnection:
        self._connect()
        return self

    def _connect(self) -> psycopg.Connection:
        if self._conn is not None and not self._conn.closed:
            return self._conn
        error: DatabaseError | None = None
        try:
            self._conn = psycopg.connect(self.conninfo(), autocommit=True)
        except psycopg.Error as exc:
            error = self._connect_error(exc)
        if error is not None:
            raise error
        return self._conn

    def _connect_error(self, exc: psycopg.Error) -> DatabaseError:
        text = str(exc)
        label, secrets = self.label, self._secrets()
        if "password authentication failed" in text or "no password supplied" in text:
            return translate(
                exc, label=label, action="connect", secrets=secrets, cls=AuthenticationFailedError
            )
        if "does not exist" in text and "database" in text:
            hint = self._nearest_database_hint()
            return translate(
                exc,
                label=label,
                action="connect",
                secrets=secrets,
                cls=UnknownDatabaseError,
                hint=hint,
                database=self.url.database,
            )
        if "role" in text and "does not exist" in text:
            return translate(
                exc, label=label, action="connect", secrets=secrets, cls=AuthenticationFailedError
            )
        return translate(
            exc, label=label, action="connect", secrets=secrets, cls=ConnectionFailedError
        )

    def _nearest_database_hint(self) -> str:
        names: list[str] = []
        for maintenance in ("postgres", "template1"):
            try:
                with psycopg.connect(self.conninfo(maintenance), autocommit=True) as conn:
                    names = [
                        r[0]
                        for r in conn.execute(
                            "SELECT datname FROM pg_database WHERE datallowconn AND NOT datistemplate"
                        )
                    ]
                break
            except psycopg.Error:
                continue
        close = difflib.get_close_matches(self.url.database or "", names, n=1, cutoff=0.5)
        if close:
            return f"Did you mean the database {close[0]!r}?"
        return "Check the database name in the URL; list databases with psql -l."

    @property
    def conn(self) -> psycopg.Connection:
        return self._connect()

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def _discard_session(self) -> None:
        """After a refusal, never reuse a session the statement may have touched."""
        try:
            self.close()
        except psycopg.Error:
            self._conn = None

    def _fail(self, exc: BaseException, action: str) -> DatabaseError:
        state = getattr(exc, "sqlstate", None)
        kw: dict[str, Any] = {"label": self.label, "action": action, "secrets": self._secrets()}
        if isinstance(exc, psycopg.OperationalError) and state is None:
            return translate(exc, cls=ConnectionFailedError, **kw)
        return translate(exc, cls=_SQLSTATE_ERRORS.get(state, DatabaseError), sqlstate=state, **kw)

    def _run(self, cur: psycopg.Cursor, sql: Any, params: Any = None, **kw: Any) -> None:
        self.counter.add(sql if isinstance(sql, str) else repr(sql))
        cur.execute(sql, params, **kw)

    def server_version(self) -> str | None:
        v = self.conn.info.server_version
        return f"{v // 10000}.{v % 10000}" if v >= 100000 else str(v)
