"""The MariaDB / MySQL connection: a SQLAlchemy engine over PyMySQL, its errors (server codes to
our classes), and the helpers every part of the backend shares.

SQLAlchemy builds and owns the connection (URL handling, charset, timeouts); the statements
themselves go through the DBAPI connection so the read-only path controls every byte sent. The
backend's concerns live beside it in this package: `introspect`, `query` (+ `guard`),
`executor`, `segments`.
"""

from __future__ import annotations

import difflib
from collections.abc import Sequence
from typing import Any

import pymysql
import sqlalchemy as sa
from pymysql.constants import CLIENT

from datamigration.db.base import Backend
from datamigration.db.errors import (
    AuthenticationFailedError,
    ConnectionFailedError,
    QueryTimeoutError,
    TableNotFoundError,
    UnknownDatabaseError,
    translate,
)
from datamigration.db.mysql.dialect import MySQLDialect
from datamigration.errors import DatabaseError

# Capabilities we announce: PyMySQL's defaults minus MULTI_STATEMENTS (which it does not set
# either; stating it here keeps it that way if the default ever changes).
_CLIENT_FLAGS = (CLIENT.CAPABILITIES | CLIENT.FOUND_ROWS) & ~CLIENT.MULTI_STATEMENTS
_TIMEOUT_CODES = {1969, 3024}  # MariaDB max_statement_time, MySQL max_execution_time


def quote_name(name: str) -> str:
    return MySQLDialect.quote_part(name)


def qualified(table: str) -> str:
    schema, dot, name = table.rpartition(".")
    return f"{quote_name(schema)}.{quote_name(name)}" if dot else quote_name(table)


class MySQLConnection(MySQLDialect, Backend):
    """The connection part of the MariaDB/MySQL backend (see `backend.MySQLBackend`)."""

    driver_errors = (pymysql.MySQLError,)
    driver = "pymysql"

    def __init__(self, url, **kwargs: Any) -> None:
        super().__init__(url, **kwargs)
        self._engine: sa.Engine | None = None
        self._sa_conn: sa.Connection | None = None
        self._raw: pymysql.connections.Connection | None = None
        self.version: str = ""
        #: the query answers' warning about FILE/SUPER ("" when none), read once per backend
        self._file_warning: str | None = None

    @property
    def is_mariadb(self) -> bool:
        return self.version_is_mariadb(self.version)

    # --- connection ----------------------------------------------------------------------

    def _make_engine(self, database: str | None) -> sa.Engine:
        u = self.url
        sa_url = sa.URL.create(
            "mysql+pymysql",
            username=u.username or "root",
            password=u.password,
            host=u.host or "127.0.0.1",
            port=u.port or 3306,
            database=database,
            query={"charset": u.params.get("charset", "utf8mb4")},
        )
        timeout = max(1, int(self.connect_timeout))
        return sa.create_engine(
            sa_url,
            poolclass=sa.pool.NullPool,
            connect_args={
                "connect_timeout": timeout,
                "client_flag": _CLIENT_FLAGS,
                "autocommit": True,
            },
        )

    def open(self) -> MySQLConnection:
        self._connect()
        return self

    def _connect(self) -> pymysql.connections.Connection:
        if self._raw is not None and self._raw.open:
            return self._raw
        error: DatabaseError | None = None
        try:
            self._engine = self._make_engine(self.url.database)
            self._sa_conn = self._engine.connect().execution_options(isolation_level="AUTOCOMMIT")
            self._raw = self._sa_conn.connection.dbapi_connection  # type: ignore[assignment]
            self._raw.autocommit(True)
            with self._raw.cursor() as cur:
                cur.execute("SELECT VERSION()")
                self.version = str(cur.fetchone()[0])
        except sa.exc.DBAPIError as exc:
            error = self._connect_error(exc.orig or exc)
        except pymysql.MySQLError as exc:
            error = self._connect_error(exc)
        if error is not None:
            self.close()
            raise error
        return self._raw  # type: ignore[return-value]

    def _connect_error(self, exc: BaseException) -> DatabaseError:
        code = exc.args[0] if getattr(exc, "args", None) else None
        label, secrets = self.label, self._secrets()
        if code in (1045, 1698):
            return translate(
                exc, label=label, action="connect", secrets=secrets, cls=AuthenticationFailedError
            )
        if code == 1049:
            return translate(
                exc,
                label=label,
                action="connect",
                secrets=secrets,
                cls=UnknownDatabaseError,
                hint=self._nearest_database_hint(),
                database=self.url.database,
            )
        if code == 1044:
            return translate(
                exc,
                label=label,
                action="connect",
                secrets=secrets,
                cls=AuthenticationFailedError,
                hint="The user may not use this database; check its grants.",
            )
        return translate(
            exc,
            label=label,
            action="connect",
            secrets=secrets,
            cls=ConnectionFailedError,
            hint=ConnectionFailedError.default_hint,
        )

    def _nearest_database_hint(self) -> str:
        names: list[str] = []
        try:
            engine = self._make_engine(None)
            with engine.connect() as conn:
                names = [r[0] for r in conn.exec_driver_sql("SHOW DATABASES")]
            engine.dispose()
        except (sa.exc.SQLAlchemyError, pymysql.MySQLError):
            names = []
        close = difflib.get_close_matches(self.url.database or "", names, n=1, cutoff=0.5)
        if close:
            return f"Did you mean the database {close[0]!r}?"
        return "Check the database name in the URL (SHOW DATABASES lists them)."

    @property
    def conn(self) -> pymysql.connections.Connection:
        return self._connect()

    def close(self) -> None:
        try:
            if self._sa_conn is not None:
                self._sa_conn.close()
        except (sa.exc.SQLAlchemyError, pymysql.MySQLError):
            pass
        if self._engine is not None:
            self._engine.dispose()
        self._sa_conn = self._engine = self._raw = None

    def _fail(self, exc: BaseException, action: str) -> DatabaseError:
        code = exc.args[0] if exc.args else None
        kw: dict[str, Any] = {"label": self.label, "action": action, "secrets": self._secrets()}
        if code == 1146:  # no such table
            return translate(exc, cls=TableNotFoundError, **kw)
        if code in _TIMEOUT_CODES:
            return translate(exc, cls=QueryTimeoutError, code=code, **kw)
        if code in (2006, 2013, 2003):  # server gone, lost connection, cannot connect
            return translate(exc, cls=ConnectionFailedError, code=code, **kw)
        return translate(exc, code=code, **kw)

    def _rows(self, sql: str) -> list[tuple]:
        with self.conn.cursor() as cur:
            return self._q(cur, sql)

    def _q(self, cur, sql: str, params: Sequence[Any] | None = None) -> list[tuple]:
        self.counter.add(sql)
        cur.execute(sql, params)
        return list(cur.fetchall())

    def server_version(self) -> str | None:
        self._connect()
        return self.version
