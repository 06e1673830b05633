"""PostgreSQL read-only queries. The path, in the order it bites (docs/databases.md says which
protection comes from the database and which from us):
1. `guard.check_read` parses the text with PostgreSQL's own parser (pglast) and refuses,
   before anything is sent, whatever is not exactly one plain read calling allow-listed
   built-ins (DO, CALL, SET/RESET, COPY, writable CTEs, SELECT INTO, FOR UPDATE, ...);
2. it runs inside ``BEGIN READ ONLY`` with LOCAL statement, lock and idle timeouts;
3. a login user that could act beyond reading (a superuser, or a member of a superuser or
   server-file/program/signal role) first gets `guard.CATALOG_CHECK`: the statement is
   refused, still unsent, when it could reach user code (a view, operator, cast, policy or
   shadowing function written in SQL or a procedural language) that could switch back;
4. it runs as the NOLOGIN role ``datamigration_readonly`` (member of ``pg_read_all_data``):
   ``SET LOCAL SESSION AUTHORIZATION`` for a superuser, ``SET LOCAL ROLE`` for a member;
5. a SELECT is read through a server-side cursor, long values cut on the server, so memory is
   bounded by the caps; the transaction is always rolled back, session advisory locks are
   released, and the session is discarded after any error. Refused means not sent
   (``sent: false``); an error after sending is a failure of the statement (``sent: true``).
"""

from __future__ import annotations

import dataclasses
from typing import Any

import pglast
import psycopg
from psycopg import sql as pgsql
from psycopg.pq import TransactionStatus

from datamigration.db.base import DEFAULT_MAX_ROWS, QueryResult
from datamigration.db.errors import QueryRefusedError
from datamigration.db.postgres.connection import PostgresConnection
from datamigration.db.postgres.guard import CATALOG_CHECK, ReadShape, Refused, check_read
from datamigration.db.readonly import (
    MAX_VALUE_BYTES,
    clamp_rows,
    cut_text,
    fetch_capped,
    now,
    refused,
)
from datamigration.errors import DatabaseError

READONLY_ROLE = "datamigration_readonly"
_PRIVILEGED_WARNING = (
    "the URL's user can act beyond reading (a superuser or a member of a privileged role): "
    "the statement was checked by the parser and the catalog and ran downgraded; for full "
    "protection connect as a read-only login role (CREATE ROLE ... LOGIN IN ROLE "
    "pg_read_all_data)"
)
_READONLY_LOGIN_HINT = (
    "For full protection create a read-only login role once (as an administrator): "
    "CREATE ROLE dm_reader LOGIN PASSWORD '...' IN ROLE pg_read_all_data; then give its URL "
    "(postgresql://dm_reader:${DM_READER_PASSWORD}@host/db, e.g. as a connection in "
    "datamigration.toml) as the db argument."
)

#: The login user's own attributes, and whether it can act beyond reading through a role it
#: belongs to (a superuser role, or a predefined role that runs programs, touches server files
#: or signals sessions): such a user gets the catalog check of guard.py on every query.
Q_ROLE_RIGHTS = """
SELECT r.rolsuper, r.rolcreaterole,
       EXISTS (SELECT 1 FROM pg_roles p
               WHERE (p.rolsuper OR p.rolname IN ('pg_execute_server_program',
                      'pg_write_server_files', 'pg_read_server_files', 'pg_signal_backend'))
                 AND pg_has_role(r.oid, p.oid, 'MEMBER'))
FROM pg_roles r WHERE r.rolname = current_user
"""


class PostgresQuery(PostgresConnection):
    """`query` of the PostgreSQL backend: the read-only path described above."""

    def __init__(self, url, **kwargs: Any) -> None:
        super().__init__(url, **kwargs)
        self._readonly_role: str | None | bool = False  # False: not decided yet
        self._privileged = True  # may the login user act beyond reading? (decided with the role)

    def _ensure_readonly_role(self, cur) -> str | None:
        """The low-privilege role to SET LOCAL ROLE to, created once if we may; else None."""
        if self._readonly_role is not False:
            return self._readonly_role  # type: ignore[return-value]
        role = str(self.url.options.get("readonly_role", READONLY_ROLE))
        self._run(cur, Q_ROLE_RIGHTS)
        superuser, createrole, self._privileged = cur.fetchone() or (False, False, True)
        self._run(
            cur,
            "SELECT pg_has_role(current_user, oid, 'MEMBER') FROM pg_roles WHERE rolname = %s",
            (role,),
        )
        row = cur.fetchone()
        if row is None and (superuser or createrole) and self.conn.info.server_version >= 140000:
            try:
                # One transaction: another session sees the role only with its grant.
                with self.conn.transaction():
                    ident = pgsql.Identifier(role)
                    self._run(cur, pgsql.SQL("CREATE ROLE {} NOLOGIN").format(ident))
                    self._run(cur, pgsql.SQL("GRANT pg_read_all_data TO {}").format(ident))
                    if not superuser:
                        self._run(cur, pgsql.SQL("GRANT {} TO CURRENT_USER").format(ident))
            except psycopg.errors.DuplicateObject:
                pass  # another process created it a moment ago
            except psycopg.errors.UniqueViolation:
                pass
            except psycopg.Error:
                self._readonly_role = None
                return None
            self._run(
                cur,
                "SELECT pg_has_role(current_user, oid, 'MEMBER') FROM pg_roles WHERE rolname = %s",
                (role,),
            )
            row = cur.fetchone()
        self._readonly_role = role if row and row[0] else None
        return self._readonly_role  # type: ignore[return-value]

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
        try:
            shape = check_read(sql)  # refusals happen here, before anything is sent
        except Refused as why:
            raise refused(self.label, why.why, hint=why.hint, sent=False) from None
        started = now()
        conn = self.conn
        error: DatabaseError | None = None
        result: QueryResult | None = None
        sent = False
        try:
            with conn.cursor() as cur:
                superuser = conn.info.parameter_status("is_superuser") == "on"
                role = self._ensure_readonly_role(cur)
                if superuser and not role:
                    raise self._superuser_without_role()
                self._run(cur, "BEGIN TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY")
                try:
                    self._run(
                        cur,
                        "SELECT set_config('statement_timeout', %s, true), "
                        "set_config('lock_timeout', %s, true), "
                        "set_config('idle_in_transaction_session_timeout', %s, true)",
                        (f"{timeout}ms", f"{min(timeout, 5000)}ms", f"{timeout * 2}ms"),
                    )
                    if self._privileged:
                        self._refuse_reachable_user_code(cur, shape, superuser)
                    if role:
                        # A superuser's session and current user both become the role, so a
                        # RESET ROLE inside the statement changes nothing.
                        how = "SESSION AUTHORIZATION" if superuser else "ROLE"
                        self._run(
                            cur,
                            pgsql.SQL("SET LOCAL {} {}").format(
                                pgsql.SQL(how), pgsql.Identifier(role)
                            ),
                        )
                    sent = True
                    result = self._run_read(conn, cur, sql, shape.kind, max_rows, started, offset)
                    if self._privileged:
                        result = dataclasses.replace(
                            result, warnings=(*result.warnings, _PRIVILEGED_WARNING)
                        )
                finally:
                    if conn.info.transaction_status != TransactionStatus.IDLE:
                        conn.execute("ROLLBACK")
                    # Session-level advisory locks survive a rollback; a query must not keep one.
                    if conn.info.transaction_status == TransactionStatus.IDLE:
                        conn.execute("SELECT pg_advisory_unlock_all()")
        except psycopg.Error as exc:
            error = self._fail(exc, "read-only query")
            error.data["sent"] = sent
        except DatabaseError as exc:  # a refusal before sending, or a statement that ended
            error = exc  # the transaction: the session is not reused either way
        if error is not None:
            self._discard_session()
            raise error
        assert result is not None
        return result

    def _superuser_without_role(self) -> QueryRefusedError:
        user = self.conn.info.user
        return refused(
            self.label,
            f"the URL's user {user!r} is a superuser and no read-only role is available to "
            "run the statement as (PostgreSQL 14+ with pg_read_all_data is needed)",
            hint=_READONLY_LOGIN_HINT,
            sent=False,
        )

    def _refuse_reachable_user_code(
        self, cur: psycopg.Cursor, shape: ReadShape, superuser: bool
    ) -> None:
        """Refuse, before sending, a statement that could reach user code when the login user
        could undo the downgrade or act beyond reading (a superuser, a member of one, or of
        pg_execute_server_program and the like): only code written in SQL or a procedural
        language could switch back, and the parser already refused SET/RESET/DO in the text."""
        self._run(
            cur,
            CATALOG_CHECK,
            {
                "functions": sorted(shape.functions),
                "operators": sorted(shape.operators),
                "types": sorted(shape.types),
                "relations": sorted(shape.relations),
            },
        )
        reached = cur.fetchall()
        if reached:
            way, function = reached[0]
            who = (
                "is a superuser"
                if superuser
                else "can act as a superuser, run server programs, read server files or "
                "signal other sessions"
            )
            raise refused(
                self.label,
                f"{way} could run the user function {function}() with the rights of the "
                f"URL's user, which {who} (user code may switch the role back)",
                hint="Qualify built-ins as pg_catalog.name, or connect with a read-only login "
                "role, which the database itself holds to reading. " + _READONLY_LOGIN_HINT,
                sent=False,
            )

    def _run_read(
        self,
        conn: psycopg.Connection,
        cur: psycopg.Cursor,
        sql: str,
        kind: str,
        max_rows: int,
        started: float,
        offset: int = 0,
    ) -> QueryResult:
        """Send the checked statement and read at most the caps; EXPLAIN and SHOW output is
        small and comes in one answer."""
        if kind == "select":
            result = self._read_select(conn, cur, sql, max_rows, started, offset)
        else:
            self._run(cur, sql, prepare=True)
            columns = [d.name for d in cur.description or ()]
            result = fetch_capped(cur, columns, max_rows, started, skip=offset)
        if conn.info.transaction_status != TransactionStatus.INTRANS:
            raise DatabaseError(
                f"read-only query on {self.label}: the statement was sent and ended the "
                "transaction; the session is discarded",
                hint="Send one SELECT; report this statement as a bug of the query guard.",
                sent=True,
            )
        return result

    def _read_select(
        self,
        conn: psycopg.Connection,
        cur: psycopg.Cursor,
        sql: str,
        max_rows: int,
        started: float,
        offset: int = 0,
    ) -> QueryResult:
        """A SELECT through a server-side cursor (DECLARE ... FETCH in batches): the server
        computes and sends only the rows the caps let through. Declaring runs nothing but
        describes the columns; when one can be long (a variable-length type), the statement is
        declared again inside a wrapper that cuts such values on the server, so a 50 MB text
        or a huge array never crosses the wire whole."""
        body = pglast.split(sql, with_parser=True)[0]
        self.counter.add(sql)
        with conn.cursor(name="datamigration_describe") as probe:
            probe.execute(body)
            described = [(d.name, d.type_code) for d in probe.description or ()]
        self._run(
            cur,
            "SELECT oid FROM pg_type WHERE oid = ANY(%s) AND typlen < 0",
            ([oid for _, oid in described],),
        )
        long_types = {r[0] for r in cur.fetchall()}
        wrapped, layout = _cut_long_values(body, [oid in long_types for _, oid in described])
        with conn.cursor(name="datamigration_query") as scur:
            scur.execute(wrapped)
            rows = _Reassembled(scur, layout)
            names = [name for name, _ in described]
            return fetch_capped(rows, names, max_rows, started, skip=offset)

    # --- generic execution and row reading (executor, mover, validator) ------------------


def _cut_long_values(body: str, long: list[bool]) -> tuple[str, list[bool]]:
    """The statement wrapped so that each value of a variable-length column longer than
    MAX_VALUE_BYTES comes back as NULL plus "<size>:<first MAX_VALUE_BYTES characters>".

    concat() renders a value with its type's output function (never a cast, which a user
    could define); OFFSET 0 keeps the planner from inlining the statement, so each value is
    computed once. Without long columns the statement is sent as it is.
    """
    if not any(long):
        return body, long
    cap = MAX_VALUE_BYTES
    names = [f"c{i}" for i in range(len(long))]
    exprs: list[str] = []
    for name, is_long in zip(names, long, strict=True):
        if not is_long:
            exprs.append(f"q.{name}")
            continue
        text = f"pg_catalog.concat(q.{name})"
        size = f"pg_catalog.octet_length({text})"
        exprs.append(f"CASE WHEN {size} <= {cap} THEN q.{name} END")
        exprs.append(
            f"CASE WHEN {size} > {cap} THEN {size}::text || ':' || "
            f"pg_catalog.left({text}, {cap}) END"
        )
    wrapped = (
        f"SELECT {', '.join(exprs)} FROM (SELECT * FROM (\n{body}\n) AS q0 OFFSET 0) "
        f"AS q({', '.join(names)})"
    )
    return wrapped, long


class _Reassembled:
    """A cursor whose rows put a cut value (NULL + "<size>:<prefix>") back in its column."""

    def __init__(self, cursor: psycopg.ServerCursor, long: list[bool]) -> None:
        self._cursor, self._long = cursor, long

    def fetchmany(self, size: int) -> list[tuple[Any, ...]]:
        rows = self._cursor.fetchmany(size)
        if not any(self._long):
            return rows
        out = []
        for raw in rows:
            values, i = [], 0
            for is_long in self._long:
                if not is_long:
                    values.append(raw[i])
                    i += 1
                    continue
                value, cut = raw[i], raw[i + 1]
                i += 2
                if cut is not None:
                    total, _, prefix = cut.partition(":")
                    value = cut_text(prefix.encode(), int(total))
                values.append(value)
            out.append(tuple(values))
        return out
