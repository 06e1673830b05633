"""MariaDB / MySQL backend (SQLAlchemy engine over PyMySQL).

SQLAlchemy builds and owns the connection (URL handling, charset, timeouts); the statements
themselves go through the DBAPI connection so the read-only path controls every byte sent.

Read-only enforcement for `query`: the client never announces CLIENT_MULTI_STATEMENTS, so the
server parses one statement per call and answers a stacked ``COMMIT; DROP TABLE t`` with a
syntax error; the statement runs inside ``START TRANSACTION READ ONLY`` (the server refuses
writes, ``nextval`` and side-effecting routines with error 1792); the server's own statement
timeout applies (``max_statement_time`` on MariaDB, ``max_execution_time`` on MySQL); after the
statement the server's status flags must still show the open transaction (a lone COMMIT would
have closed it) and a result set must exist; and the transaction is always rolled back.

Introspection reads information_schema with one query per kind of object.
"""

from __future__ import annotations

import dataclasses
import difflib
import re
from collections.abc import Sequence
from typing import Any

import pymysql
import sqlalchemy as sa
from pymysql.constants import CLIENT, SERVER_STATUS

from datamigration.db import model as m
from datamigration.db.base import DEFAULT_MAX_ROWS, Backend, register_backend
from datamigration.db.contracts import (
    ExecuteOptions,
    QueryResult,
    StatementLike,
    TableSize,
    keyset_sql,
)
from datamigration.db.errors import (
    AuthenticationFailedError,
    ConnectionFailedError,
    QueryTimeoutError,
    TableNotFoundError,
    UnknownDatabaseError,
    translate,
)
from datamigration.db.readonly import clamp_rows, fetch_capped, mysql_guard, now, refused
from datamigration.db.readonly_mysql import (
    FILE_PRIVILEGE_SQL,
    NORMAL_SQL_MODE,
    file_privilege_warning,
)
from datamigration.errors import DatabaseError, UserInputError

# Capabilities we announce: PyMySQL's defaults minus MULTI_STATEMENTS (which it does not set
# either; stating it here keeps it that way if the default ever changes).
_CLIENT_FLAGS = (CLIENT.CAPABILITIES | CLIENT.FOUND_ROWS) & ~CLIENT.MULTI_STATEMENTS
_REFUSED_CODES = {1792, 1227, 1142, 1143, 1370, 1044, 1568, 1064, 1148}
_TIMEOUT_CODES = {1969, 3024}  # MariaDB max_statement_time, MySQL max_execution_time

Q_TABLES = """
SELECT TABLE_NAME, TABLE_TYPE, TABLE_ROWS, DATA_LENGTH, INDEX_LENGTH, TABLE_COMMENT
FROM information_schema.TABLES
WHERE TABLE_SCHEMA = DATABASE() AND TABLE_TYPE IN ('BASE TABLE', 'SEQUENCE')
ORDER BY TABLE_NAME
"""

Q_COLUMNS = """
SELECT TABLE_NAME, COLUMN_NAME, ORDINAL_POSITION, COLUMN_DEFAULT, IS_NULLABLE, DATA_TYPE,
       CHARACTER_MAXIMUM_LENGTH, NUMERIC_PRECISION, NUMERIC_SCALE, DATETIME_PRECISION,
       COLUMN_TYPE, EXTRA, GENERATION_EXPRESSION, COLLATION_NAME, COLUMN_COMMENT
FROM information_schema.COLUMNS
WHERE TABLE_SCHEMA = DATABASE()
ORDER BY TABLE_NAME, ORDINAL_POSITION
"""

Q_INDEXES = """
SELECT TABLE_NAME, INDEX_NAME, NON_UNIQUE, SEQ_IN_INDEX, COLUMN_NAME, INDEX_TYPE, SUB_PART
FROM information_schema.STATISTICS
WHERE TABLE_SCHEMA = DATABASE()
ORDER BY TABLE_NAME, INDEX_NAME, SEQ_IN_INDEX
"""

Q_KEYS = """
SELECT tc.TABLE_NAME, tc.CONSTRAINT_NAME, tc.CONSTRAINT_TYPE, k.COLUMN_NAME,
       k.REFERENCED_TABLE_SCHEMA, k.REFERENCED_TABLE_NAME, k.REFERENCED_COLUMN_NAME,
       rc.UPDATE_RULE, rc.DELETE_RULE
FROM information_schema.TABLE_CONSTRAINTS tc
JOIN information_schema.KEY_COLUMN_USAGE k
  ON k.CONSTRAINT_SCHEMA = tc.CONSTRAINT_SCHEMA AND k.CONSTRAINT_NAME = tc.CONSTRAINT_NAME
 AND k.TABLE_NAME = tc.TABLE_NAME
LEFT JOIN information_schema.REFERENTIAL_CONSTRAINTS rc
  ON rc.CONSTRAINT_SCHEMA = tc.CONSTRAINT_SCHEMA AND rc.CONSTRAINT_NAME = tc.CONSTRAINT_NAME
 AND rc.TABLE_NAME = tc.TABLE_NAME
WHERE tc.TABLE_SCHEMA = DATABASE() AND tc.CONSTRAINT_TYPE IN ('PRIMARY KEY', 'UNIQUE',
      'FOREIGN KEY')
ORDER BY tc.TABLE_NAME, tc.CONSTRAINT_NAME, k.ORDINAL_POSITION
"""

Q_CHECKS_MARIADB = """
SELECT TABLE_NAME, CONSTRAINT_NAME, CHECK_CLAUSE FROM information_schema.CHECK_CONSTRAINTS
WHERE CONSTRAINT_SCHEMA = DATABASE() ORDER BY TABLE_NAME, CONSTRAINT_NAME
"""

Q_CHECKS_MYSQL = """
SELECT tc.TABLE_NAME, cc.CONSTRAINT_NAME, cc.CHECK_CLAUSE
FROM information_schema.CHECK_CONSTRAINTS cc
JOIN information_schema.TABLE_CONSTRAINTS tc
  ON tc.CONSTRAINT_SCHEMA = cc.CONSTRAINT_SCHEMA AND tc.CONSTRAINT_NAME = cc.CONSTRAINT_NAME
 AND tc.CONSTRAINT_TYPE = 'CHECK'
WHERE cc.CONSTRAINT_SCHEMA = DATABASE() ORDER BY tc.TABLE_NAME, cc.CONSTRAINT_NAME
"""

Q_TRIGGERS = """
SELECT EVENT_OBJECT_TABLE, TRIGGER_NAME, ACTION_TIMING, EVENT_MANIPULATION, ACTION_ORIENTATION,
       ACTION_STATEMENT
FROM information_schema.TRIGGERS WHERE TRIGGER_SCHEMA = DATABASE()
ORDER BY EVENT_OBJECT_TABLE, TRIGGER_NAME
"""


def _quote(name: str) -> str:
    return "`" + name.replace("`", "``") + "`"


def _qualified(table: str) -> str:
    schema, dot, name = table.rpartition(".")
    return f"{_quote(schema)}.{_quote(name)}" if dot else _quote(table)


def _enum_values(column_type: str) -> tuple[str, ...] | None:
    found = re.match(r"\s*(enum|set)\((.*)\)\s*$", column_type, re.IGNORECASE | re.DOTALL)
    if not found:
        return None
    return tuple(v.replace("''", "'") for v in re.findall(r"'((?:[^']|'')*)'", found.group(2)))


@register_backend
class MySQLBackend(Backend):
    """MariaDB and MySQL. `is_mariadb` decides the few statements that differ."""

    schemes = ("mysql", "mariadb", "mysql+pymysql", "mariadb+pymysql")
    dialect = "mysql"
    driver_errors = (pymysql.MySQLError,)
    driver = "pymysql"
    online_ddl = True
    lock_timeout = True  # lock_wait_timeout
    sequences = True  # MariaDB 10.3+
    sqlglot_dialect = "mysql"
    lint_dialect = "mysql"
    identifier_quote = "`"

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
        return "mariadb" in self.version.lower()

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

    def open(self) -> MySQLBackend:
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

    # --- introspection -------------------------------------------------------------------

    def inspect(
        self, *, tables: Sequence[str] | None = None, exact_counts: bool = False
    ) -> m.Schema:
        if not self.url.database:
            raise UserInputError(
                f"{self.label} names no database to inspect",
                hint="Add the database to the URL: mysql://user@host:3306/DBNAME",
            )
        start_count = self.counter.count
        error: DatabaseError | None = None
        try:
            with self.conn.cursor() as cur:
                result = self._read_catalog(cur, tables, exact_counts)
        except pymysql.MySQLError as exc:
            error = self._fail(exc, "inspect")
        if error is not None:
            raise error
        tables_out, sequences = result
        return m.Schema(
            dialect="mysql",
            database=self.url.database,
            tables=tables_out,
            sequences=sequences,
            server_version=self.version,
            query_count=self.counter.count - start_count,
        )

    def _read_catalog(self, cur, names, exact_counts):
        wanted = {n.rpartition(".")[2] for n in names} if names else None
        table_rows = self._q(cur, Q_TABLES)
        sequences = tuple(
            m.Sequence(name=r[0], schema=self.url.database)
            for r in table_rows
            if r[1] == "SEQUENCE"
        )
        info = {
            r[0]: {
                "row": r,
                "cols": [],
                "idx": {},
                "pk": None,
                "uniques": {},
                "fks": {},
                "checks": [],
                "triggers": [],
            }
            for r in table_rows
            if r[1] == "BASE TABLE" and (wanted is None or r[0] in wanted)
        }
        for r in self._q(cur, Q_COLUMNS):
            if r[0] in info:
                info[r[0]]["cols"].append(self._column(r))
        for tbl, iname, non_unique, _seq, col, itype, sub in self._q(cur, Q_INDEXES):
            if tbl in info:
                entry = info[tbl]["idx"].setdefault(
                    iname, {"unique": not non_unique, "method": (itype or "").lower(), "cols": []}
                )
                entry["cols"].append(f"{col}({sub})" if sub else col)
        for tbl, cname, ctype, col, rschema, rtable, rcol, upd, dele in self._q(cur, Q_KEYS):
            if tbl not in info:
                continue
            t = info[tbl]
            if ctype == "PRIMARY KEY":
                cols = (t["pk"].columns if t["pk"] else ()) + (col,)
                t["pk"] = m.PrimaryKey(name=cname, columns=cols)
            elif ctype == "UNIQUE":
                t["uniques"].setdefault(cname, []).append(col)
            else:
                fk = t["fks"].setdefault(
                    cname,
                    {
                        "cols": [],
                        "ref": [],
                        "rtable": rtable,
                        "rschema": rschema,
                        "upd": upd,
                        "del": dele,
                    },
                )
                fk["cols"].append(col)
                fk["ref"].append(rcol)
        for tbl, cname, clause in self._q(
            cur, Q_CHECKS_MARIADB if self.is_mariadb else Q_CHECKS_MYSQL
        ):
            if tbl in info:
                info[tbl]["checks"].append(m.CheckConstraint(name=cname, expression=clause))
        for tbl, tname, timing, event, level, body in self._q(cur, Q_TRIGGERS):
            if tbl in info:
                info[tbl]["triggers"].append(
                    m.Trigger(
                        name=tname, timing=timing, events=(event,), level=level, definition=body
                    )
                )
        counts: dict[str, int] = {}
        if exact_counts and info:
            union = " UNION ALL ".join(
                f"SELECT {_literal(t)}, COUNT(*) FROM {_quote(t)}" for t in info
            )
            counts = {r[0]: int(r[1]) for r in self._q(cur, union)}
        out = []
        for name, t in info.items():
            r = t["row"]
            out.append(
                m.Table(
                    name=name,
                    schema=self.url.database,
                    columns=tuple(t["cols"]),
                    primary_key=t["pk"],
                    uniques=tuple(
                        m.UniqueConstraint(name=n, columns=tuple(c))
                        for n, c in sorted(t["uniques"].items())
                    ),
                    foreign_keys=tuple(
                        m.ForeignKey(
                            name=n,
                            columns=tuple(f["cols"]),
                            ref_table=f["rtable"],
                            ref_schema=f["rschema"],
                            ref_columns=tuple(f["ref"]),
                            on_update=f["upd"] or "NO ACTION",
                            on_delete=f["del"] or "NO ACTION",
                        )
                        for n, f in sorted(t["fks"].items())
                    ),
                    indexes=tuple(
                        m.Index(
                            name=n,
                            columns=tuple(e["cols"]),
                            unique=e["unique"],
                            method=e["method"],
                            primary=n == "PRIMARY",
                            constraint=n if n == "PRIMARY" or n in t["uniques"] else None,
                        )
                        for n, e in sorted(t["idx"].items())
                    ),
                    checks=tuple(t["checks"]),
                    triggers=tuple(t["triggers"]),
                    row_estimate=int(r[2]) if r[2] is not None else None,
                    exact_count=counts.get(name),
                    size_bytes=r[3],
                    index_bytes=r[4],
                    total_bytes=(r[3] or 0) + (r[4] or 0),
                    comment=r[5] or None,
                )
            )
        return tuple(out), sequences

    def _column(self, r: tuple) -> m.Column:
        (
            _tbl,
            name,
            pos,
            default,
            nullable,
            dtype,
            char_len,
            num_prec,
            num_scale,
            dt_prec,
            ctype,
            extra,
            gen_expr,
            collation,
            comment,
        ) = r
        extra = (extra or "").lower()
        dtype = (dtype or "").lower()
        generated = gen_expr if gen_expr and "generated" in extra else None
        if default == "NULL" or generated:
            default = None  # MariaDB spells "no default" as the text NULL
        length = precision = scale = None
        if dtype in ("char", "varchar", "binary", "varbinary", "bit"):
            length = int(char_len) if char_len is not None else None
            if dtype == "bit":
                length = int(num_prec) if num_prec is not None else None
        elif dtype in ("decimal", "numeric"):
            precision, scale = num_prec, num_scale
        elif dtype in ("datetime", "timestamp", "time"):
            precision = dt_prec
        return m.Column(
            name=name,
            data_type=ctype,
            type_name=dtype,
            nullable=nullable == "YES",
            default=default,
            length=length,
            precision=precision,
            scale=scale,
            identity=m.IDENTITY_AUTO_INCREMENT if "auto_increment" in extra else None,
            generated=generated,
            generated_stored=("stored" in extra or "persistent" in extra) if generated else None,
            enum_values=_enum_values(ctype) if dtype in ("enum", "set") else None,
            collation=collation,
            ordinal=int(pos),
            comment=comment or None,
        )

    def exact_count(self, table: str) -> int:
        sql = f"SELECT COUNT(*) FROM {_qualified(table)}"
        return int(self._guard(f"count rows of {table}", lambda: self._rows(sql))[0][0])

    def table_sizes(self) -> dict[str, TableSize]:
        rows = self._guard("read table sizes", lambda: self._rows(Q_TABLES))
        return {
            r[0]: TableSize(r[0], r[2], r[3], r[4], (r[3] or 0) + (r[4] or 0))
            for r in rows
            if r[1] == "BASE TABLE"
        }

    # --- read-only query -----------------------------------------------------------------

    def query(
        self,
        sql: str,
        *,
        max_rows: int = DEFAULT_MAX_ROWS,
        timeout_ms: int | None = None,
        offset: int = 0,
    ) -> QueryResult:
        max_rows = clamp_rows(max_rows)
        timeout = int(timeout_ms or self.statement_timeout_ms)
        reason = mysql_guard(sql)
        if reason is not None:
            raise refused(self.label, reason)
        conn = self.conn
        started = now()
        error: DatabaseError | None = None
        result: QueryResult | None = None
        try:
            if self._file_warning is None:
                privileges = [r[0] for r in self._rows(FILE_PRIVILEGE_SQL)]
                self._file_warning = file_privilege_warning(privileges) or ""
            warning = self._file_warning
            with conn.cursor() as cur:
                if self.is_mariadb:
                    limit = f"max_statement_time = {timeout / 1000.0:.3f}"
                else:
                    limit = f"max_execution_time = {timeout}"
                self._q(cur, f"SET SESSION {limit}, {NORMAL_SQL_MODE}")
                self._q(cur, "START TRANSACTION READ ONLY")
            # Unbuffered: rows stay on the server until fetched, so a cap stops the transfer.
            cur = conn.cursor(pymysql.cursors.SSCursor)
            try:
                self.counter.add(sql)
                cur.execute(sql)
                if not conn.server_status & SERVER_STATUS.SERVER_STATUS_IN_TRANS:
                    error = refused(
                        self.label,
                        "the statement ended the read-only transaction (COMMIT/ROLLBACK)",
                    )
                elif cur.description is None:
                    error = refused(
                        self.label,
                        "the statement returned no result set; only queries are allowed",
                    )
                else:
                    result = fetch_capped(
                        cur, [d[0] for d in cur.description], max_rows, started, skip=offset
                    )
                    if warning:
                        result = dataclasses.replace(result, warnings=(*result.warnings, warning))
            finally:
                if result is not None and result.truncated:
                    # Closing the cursor would read every remaining row to finish the result;
                    # hanging up instead makes the server stop and roll back.
                    self._abandon(cur)
                else:
                    cur.close()
                    if conn.open:
                        conn.rollback()
                        # GET_LOCK() locks belong to the session and survive a rollback.
                        with conn.cursor() as lock_cur:
                            lock_cur.execute("SELECT RELEASE_ALL_LOCKS()")
        except pymysql.MySQLError as exc:
            error = self._query_error(exc, sql)
        if error is not None:
            self.close()  # never reuse a session a refused statement ran in
            raise error
        assert result is not None
        return result

    def _abandon(self, cur: Any) -> None:
        """Hang up with rows unread: the server stops sending and rolls the transaction back."""
        # PyMySQL's SSCursor.close() and the result's __del__ would read every remaining row
        # to finish the unbuffered result; tell both that it is finished.
        pending = getattr(cur, "_result", None)
        if pending is not None:
            pending.unbuffered_active = False
        cur.connection = None
        if self._sa_conn is not None:
            self._sa_conn.invalidate()  # closes the socket; no reset (ROLLBACK) on its way out
        self.close()

    def _query_error(self, exc: pymysql.MySQLError, sql: str) -> DatabaseError:
        code = exc.args[0] if exc.args else None
        if code == 1064 and _statement_count(sql) > 1:
            return refused(
                self.label,
                "several statements given; the server accepts exactly one per call",
                code=code,
            )
        if code in _REFUSED_CODES and code != 1064:
            return self._refused_by_database(exc, code=code)
        return self._fail(exc, "query")

    # --- execution and rows --------------------------------------------------------------

    def _execute(self, statements: Sequence[str], counts: list[int], o: ExecuteOptions) -> None:
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
                for stmt in statements:
                    self.counter.add(stmt)
                    counts.append(cur.execute(stmt))
                if o.rollback:
                    conn.rollback()
                    self._check_rolled_back(cur)
                elif not o.autocommit:
                    conn.commit()
        except pymysql.MySQLError:
            if conn.open:
                conn.rollback()
            raise

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
        select = ", ".join(_quote(c) for c in columns) if columns else "t.*"
        source = f"{_qualified(table)} AS t"
        sql, params = keyset_sql(
            source, [_quote(k) for k in keys], select, "%s", after, end_at, limit
        )
        with self.conn.cursor() as cur:
            rows = self._q(cur, sql, params or None)
            return [d[0] for d in cur.description][len(keys) :], rows

    # --- the executor's door ---------------------------------------------------------------

    def _transaction(
        self,
        statements: Sequence[StatementLike],
        lock_timeout_ms: int | None,
        timeout_ms: int | None,
        fetch_last: bool,
    ) -> tuple[list[int], list[tuple[Any, ...]]]:
        conn = self.conn
        counts: list[int] = []
        with conn.cursor() as cur:
            if lock_timeout_ms:
                seconds = max(1, int(lock_timeout_ms) // 1000)
                cur.execute(f"SET SESSION lock_wait_timeout = {seconds}")
                cur.execute(f"SET SESSION innodb_lock_wait_timeout = {seconds}")
            if self.is_mariadb:
                cur.execute(f"SET SESSION max_statement_time = {(timeout_ms or 0) / 1000.0:.3f}")
            cur.execute("START TRANSACTION")
            try:
                rows = self._run_each(
                    statements, counts, fetch_last, lambda sql, p: _executed(cur, sql, p)
                )
                conn.commit()
            except BaseException:
                if conn.open:
                    conn.rollback()
                raise
        return counts, rows

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


#: ER_WARNING_NOT_COMPLETE_ROLLBACK: some non-transactional tables could not be rolled back
_NON_TRANSACTIONAL_ROLLBACK = 1196


def _executed(cur: Any, sql: str, params: tuple[Any, ...]) -> Any:
    cur.execute(sql, params or None)
    return cur


def _literal(text: str) -> str:
    return "'" + text.replace("\\", "\\\\").replace("'", "''") + "'"


def _statement_count(sql: str) -> int:
    """Statements by sqlglot's MySQL parser, only to word the refusal; 1 when unsure."""
    try:
        import sqlglot

        return len([s for s in sqlglot.parse(sql, read="mysql") if s is not None])
    except Exception:  # noqa: BLE001 - any parse problem: the server's message stands
        return 1 if ";" not in sql.strip().rstrip(";") else 2
