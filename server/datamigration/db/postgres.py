"""PostgreSQL backend (psycopg 3): introspection in a fixed number of catalog queries, a
read-only query path, and the generic execution path for the executor.

The read-only query path, in the order it bites (docs/databases.md says which protection comes
from the database and which from us):
1. `pg_guard.check_read` parses the text with PostgreSQL's own parser (pglast) and refuses,
   before anything is sent, whatever is not exactly one plain read calling allow-listed
   built-ins (DO, CALL, SET/RESET, COPY, writable CTEs, SELECT INTO, FOR UPDATE, ...);
2. it runs inside ``BEGIN READ ONLY`` with LOCAL statement, lock and idle timeouts;
3. a login user that could act beyond reading (a superuser, or a member of a superuser or
   server-file/program/signal role) first gets `pg_guard.CATALOG_CHECK`: the statement is
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
import difflib
from collections.abc import Sequence
from typing import Any

import pglast
import psycopg
from psycopg import sql as pgsql
from psycopg.pq import TransactionStatus

from datamigration.db import model as m
from datamigration.db.base import (
    DEFAULT_MAX_ROWS,
    Backend,
    ExecuteOptions,
    QueryResult,
    TableSize,
    register_backend,
)
from datamigration.db.errors import (
    AuthenticationFailedError,
    ConnectionFailedError,
    QueryRefusedError,
    QueryTimeoutError,
    TableNotFoundError,
    UnknownDatabaseError,
    translate,
)
from datamigration.db.pg_guard import CATALOG_CHECK, ReadShape, Refused, check_read
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
_SYSTEM_SCHEMAS = "('pg_catalog', 'information_schema')"
_FK_ACTIONS = {
    "a": "NO ACTION",
    "r": "RESTRICT",
    "c": "CASCADE",
    "n": "SET NULL",
    "d": "SET DEFAULT",
}
_REPLICA_IDENTITY = {"d": "default", "f": "full", "n": "nothing", "i": "index"}
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

Q_TABLES = f"""
SELECT c.oid, n.nspname, c.relname, c.relkind, c.reltuples::bigint,
       pg_relation_size(c.oid), NULL::bigint,
       CASE WHEN c.reltoastrelid <> 0 THEN pg_total_relation_size(c.reltoastrelid) ELSE 0 END,
       c.relreplident, d.description
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
LEFT JOIN pg_description d
       ON d.objoid = c.oid AND d.classoid = 'pg_class'::regclass AND d.objsubid = 0
WHERE c.relkind IN ('r', 'p') AND n.nspname NOT IN {_SYSTEM_SCHEMAS}
  AND n.nspname NOT LIKE 'pg\\_toast%%' AND n.nspname NOT LIKE 'pg\\_temp%%'
  AND (%(names)s::text[] IS NULL OR c.relname = ANY(%(names)s::text[])
       OR n.nspname || '.' || c.relname = ANY(%(names)s::text[]))
ORDER BY n.nspname, c.relname
"""

#: The login user's own attributes, and whether it can act beyond reading through a role it
#: belongs to (a superuser role, or a predefined role that runs programs, touches server files
#: or signals sessions): such a user gets the catalog check of pg_guard on every query.
Q_ROLE_RIGHTS = """
SELECT r.rolsuper, r.rolcreaterole,
       EXISTS (SELECT 1 FROM pg_roles p
               WHERE (p.rolsuper OR p.rolname IN ('pg_execute_server_program',
                      'pg_write_server_files', 'pg_read_server_files', 'pg_signal_backend'))
                 AND pg_has_role(r.oid, p.oid, 'MEMBER'))
FROM pg_roles r WHERE r.rolname = current_user
"""

Q_SIZES = f"""
SELECT NULL, n.nspname, c.relname, NULL, c.reltuples::bigint,
       pg_relation_size(c.oid), pg_indexes_size(c.oid), pg_total_relation_size(c.oid)
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE c.relkind IN ('r', 'p') AND n.nspname NOT IN {_SYSTEM_SCHEMAS}
  AND n.nspname NOT LIKE 'pg\\_toast%' AND n.nspname NOT LIKE 'pg\\_temp%'
ORDER BY n.nspname, c.relname
"""

Q_COLUMNS = """
SELECT a.attrelid, a.attnum, a.attname, format_type(a.atttypid, a.atttypmod),
       format_type(CASE WHEN t.typcategory = 'A' THEN t.typelem ELSE a.atttypid END, NULL),
       COALESCE(et.typname, t.typname), a.atttypmod, a.attnotnull,
       pg_get_expr(d.adbin, d.adrelid), a.attidentity, a.attgenerated, a.attndims,
       t.typcategory = 'A', CASE WHEN t.typcategory = 'A' THEN t.typelem ELSE a.atttypid END,
       ds.description,
       CASE WHEN a.attcollation <> t.typcollation THEN co.collname END
FROM pg_attribute a
JOIN pg_type t ON t.oid = a.atttypid
LEFT JOIN pg_type et ON et.oid = t.typelem AND t.typcategory = 'A'
LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
LEFT JOIN pg_collation co ON co.oid = a.attcollation
LEFT JOIN pg_description ds
       ON ds.objoid = a.attrelid AND ds.classoid = 'pg_class'::regclass AND ds.objsubid = a.attnum
WHERE a.attrelid = ANY(%(oids)s) AND a.attnum > 0 AND NOT a.attisdropped
ORDER BY a.attrelid, a.attnum
"""

Q_CONSTRAINTS = """
SELECT con.conrelid, con.conname, con.contype,
       ARRAY(SELECT a.attname::text FROM unnest(con.conkey) WITH ORDINALITY k(n, o)
             JOIN pg_attribute a ON a.attrelid = con.conrelid AND a.attnum = k.n ORDER BY k.o),
       fn.nspname, fc.relname,
       ARRAY(SELECT a.attname::text FROM unnest(con.confkey) WITH ORDINALITY k(n, o)
             JOIN pg_attribute a ON a.attrelid = con.confrelid AND a.attnum = k.n ORDER BY k.o),
       con.confupdtype, con.confdeltype, con.condeferrable, con.convalidated,
       CASE WHEN con.contype = 'c' THEN pg_get_constraintdef(con.oid, true) END
FROM pg_constraint con
LEFT JOIN pg_class fc ON fc.oid = con.confrelid
LEFT JOIN pg_namespace fn ON fn.oid = fc.relnamespace
WHERE con.conrelid = ANY(%(oids)s) AND con.contype IN ('p', 'u', 'f', 'c')
ORDER BY con.conrelid, con.conname
"""

Q_INDEXES = """
SELECT i.indrelid, ic.relname, am.amname, i.indisunique, i.indisprimary, i.indisvalid,
       i.indnkeyatts,
       ARRAY(SELECT CASE WHEN k.attnum <> 0 THEN a.attname::text
                         ELSE pg_get_indexdef(i.indexrelid, k.n::int, true) END
             FROM unnest(i.indkey::int2[]) WITH ORDINALITY k(attnum, n)
             LEFT JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum
             ORDER BY k.n),
       pg_get_expr(i.indpred, i.indrelid, true), pg_relation_size(i.indexrelid),
       pg_get_indexdef(i.indexrelid), con.conname
FROM pg_index i
JOIN pg_class ic ON ic.oid = i.indexrelid
JOIN pg_am am ON am.oid = ic.relam
LEFT JOIN pg_constraint con ON con.conindid = i.indexrelid AND con.conrelid = i.indrelid
     AND con.contype IN ('p', 'u', 'x')
WHERE i.indrelid = ANY(%(oids)s)
ORDER BY i.indrelid, ic.relname
"""

Q_TRIGGERS = """
SELECT t.tgrelid, t.tgname, t.tgtype, pn.nspname || '.' || p.proname, t.tgenabled,
       pg_get_triggerdef(t.oid, true)
FROM pg_trigger t
JOIN pg_proc p ON p.oid = t.tgfoid
JOIN pg_namespace pn ON pn.oid = p.pronamespace
WHERE t.tgrelid = ANY(%(oids)s) AND NOT t.tgisinternal
ORDER BY t.tgrelid, t.tgname
"""

Q_SEQUENCES = f"""
SELECT n.nspname, c.relname, format_type(s.seqtypid, NULL), s.seqstart, s.seqincrement,
       s.seqmin, s.seqmax, s.seqcycle,
       (SELECT tc.relname || '.' || a.attname FROM pg_depend d
        JOIN pg_class tc ON tc.oid = d.refobjid
        JOIN pg_attribute a ON a.attrelid = d.refobjid AND a.attnum = d.refobjsubid
        WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid
          AND d.refclassid = 'pg_class'::regclass AND d.deptype IN ('a', 'i') LIMIT 1)
FROM pg_sequence s
JOIN pg_class c ON c.oid = s.seqrelid
JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname NOT IN {_SYSTEM_SCHEMAS}
ORDER BY n.nspname, c.relname
"""

Q_ENUMS = f"""
SELECT t.oid, n.nspname, t.typname, array_agg(e.enumlabel::text ORDER BY e.enumsortorder)
FROM pg_type t
JOIN pg_enum e ON e.enumtypid = t.oid
JOIN pg_namespace n ON n.oid = t.typnamespace
WHERE n.nspname NOT IN {_SYSTEM_SCHEMAS}
GROUP BY t.oid, n.nspname, t.typname
ORDER BY n.nspname, t.typname
"""


def _modifiers(typname: str, typmod: int) -> tuple[int | None, int | None, int | None]:
    """(length, precision, scale) from PostgreSQL's type modifier encoding."""
    if typmod is None or typmod < 0:
        return None, None, None
    if typname in ("varchar", "bpchar"):
        return typmod - 4, None, None
    if typname == "numeric":
        value = typmod - 4
        return None, (value >> 16) & 0xFFFF, value & 0xFFFF
    if typname in ("bit", "varbit"):
        return typmod, None, None
    if typname in ("timestamp", "timestamptz", "time", "timetz"):
        return None, typmod, None
    return None, None, None


#: SQLSTATEs that have a narrower error class than DatabaseError.
_SQLSTATE_ERRORS: dict[str | None, type[DatabaseError]] = {
    "57014": QueryTimeoutError,  # query_canceled (statement_timeout)
    "3D000": UnknownDatabaseError,  # invalid_catalog_name
    "42P01": TableNotFoundError,  # undefined_table
}


def _split_name(table: str) -> pgsql.Composable:
    schema, dot, name = table.rpartition(".")
    if dot:
        return pgsql.Identifier(schema, name)
    return pgsql.Identifier(name)


@register_backend
class PostgresBackend(Backend):
    """PostgreSQL through psycopg 3; one connection, autocommit, explicit transactions."""

    schemes = ("postgresql", "postgres", "postgresql+psycopg")
    dialect = "postgresql"
    driver = "psycopg"
    driver_errors = (psycopg.Error,)
    transactional_ddl = True
    concurrent_index = True
    logical_decoding = True
    server_side_cursors = True
    copy = True
    returning = True
    not_valid_constraints = True
    lock_timeout = True
    sequences = True
    enum_types = True
    replica_identity = True

    def __init__(self, url, **kwargs: Any) -> None:
        super().__init__(url, **kwargs)
        self._conn: psycopg.Connection | None = None
        self._readonly_role: str | None | bool = False  # False: not decided yet
        self._privileged = True  # may the login user act beyond reading? (decided with the role)

    # --- connection ----------------------------------------------------------------------

    def _conninfo(self, database: str | None = None) -> str:
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

    def open(self) -> PostgresBackend:
        self._connect()
        return self

    def _connect(self) -> psycopg.Connection:
        if self._conn is not None and not self._conn.closed:
            return self._conn
        error: DatabaseError | None = None
        try:
            self._conn = psycopg.connect(self._conninfo(), autocommit=True)
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
                with psycopg.connect(self._conninfo(maintenance), autocommit=True) as conn:
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

    # --- introspection -------------------------------------------------------------------

    def inspect(
        self, *, tables: Sequence[str] | None = None, exact_counts: bool = False
    ) -> m.Schema:
        start_count = self.counter.count
        conn = self.conn
        error: DatabaseError | None = None
        try:
            with conn.cursor() as cur:
                self._run(cur, "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
                try:
                    schema = self._read_catalog(cur, list(tables) if tables else None, exact_counts)
                finally:
                    self._run(cur, "ROLLBACK")
        except psycopg.Error as exc:
            error = self._fail(exc, "inspect")
        if error is not None:
            raise error
        return m.Schema(
            dialect=schema.dialect,
            database=schema.database,
            tables=schema.tables,
            enums=schema.enums,
            sequences=schema.sequences,
            server_version=self.server_version(),
            query_count=self.counter.count - start_count,
        )

    def _read_catalog(self, cur, names, exact_counts) -> m.Schema:
        self._run(cur, Q_TABLES, {"names": names})
        table_rows = cur.fetchall()
        oids = [r[0] for r in table_rows]
        by_oid: dict[int, dict[str, Any]] = {
            r[0]: {
                "row": r,
                "columns": [],
                "pk": None,
                "uniques": [],
                "fks": [],
                "checks": [],
                "indexes": [],
                "triggers": [],
            }
            for r in table_rows
        }
        self._run(cur, Q_ENUMS)
        enum_rows = cur.fetchall()
        enums_by_oid = {r[0]: tuple(r[3]) for r in enum_rows}
        enums = tuple(m.EnumType(name=r[2], schema=r[1], values=tuple(r[3])) for r in enum_rows)

        self._run(cur, Q_SEQUENCES)
        sequences = tuple(
            m.Sequence(
                name=r[1],
                schema=r[0],
                data_type=r[2],
                start=r[3],
                increment=r[4],
                min_value=r[5],
                max_value=r[6],
                cycle=r[7],
                owned_by=r[8],
            )
            for r in cur.fetchall()
        )
        owned = {s.owned_by: s for s in sequences if s.owned_by}

        self._run(cur, Q_COLUMNS, {"oids": oids})
        for r in cur.fetchall():
            (
                relid,
                num,
                name,
                full_type,
                base_type,
                typname,
                typmod,
                notnull,
                default,
                identity,
                generated,
                ndims,
                is_array,
                typoid,
                comment,
                collation,
            ) = r
            length, precision, scale = _modifiers(typname, typmod)
            table_name = by_oid[relid]["row"][2]
            ident = {"a": m.IDENTITY_ALWAYS, "d": m.IDENTITY_BY_DEFAULT}.get(identity or "")
            if (
                ident is None
                and default
                and default.startswith("nextval(")
                and f"{table_name}.{name}" in owned
            ):
                ident = m.IDENTITY_SERIAL
            gen_expr = default if generated == "s" else None
            by_oid[relid]["columns"].append(
                m.Column(
                    name=name,
                    data_type=full_type,
                    type_name=base_type,
                    nullable=not notnull,
                    default=None if gen_expr else default,
                    length=length,
                    precision=precision,
                    scale=scale,
                    array_dims=max(ndims, 1) if is_array else 0,
                    identity=ident,
                    generated=gen_expr,
                    generated_stored=True if gen_expr else None,
                    enum_values=enums_by_oid.get(typoid),
                    collation=collation,
                    ordinal=num,
                    comment=comment,
                )
            )

        self._run(cur, Q_CONSTRAINTS, {"oids": oids})
        for r in cur.fetchall():
            (
                relid,
                name,
                kind,
                cols,
                ref_schema,
                ref_table,
                ref_cols,
                upd,
                dele,
                deferrable,
                validated,
                definition,
            ) = r
            t = by_oid[relid]
            if kind == "p":
                t["pk"] = m.PrimaryKey(name=name, columns=tuple(cols))
            elif kind == "u":
                t["uniques"].append(
                    m.UniqueConstraint(name=name, columns=tuple(cols), deferrable=deferrable)
                )
            elif kind == "f":
                t["fks"].append(
                    m.ForeignKey(
                        name=name,
                        columns=tuple(cols),
                        ref_table=ref_table,
                        ref_schema=ref_schema,
                        ref_columns=tuple(ref_cols),
                        on_update=_FK_ACTIONS.get(upd, "NO ACTION"),
                        on_delete=_FK_ACTIONS.get(dele, "NO ACTION"),
                        deferrable=deferrable,
                        validated=validated,
                    )
                )
            elif kind == "c":
                t["checks"].append(
                    m.CheckConstraint(
                        name=name, expression=_check_expression(definition), validated=validated
                    )
                )

        self._run(cur, Q_INDEXES, {"oids": oids})
        for r in cur.fetchall():
            (
                relid,
                name,
                method,
                unique,
                primary,
                valid,
                nkey,
                parts,
                predicate,
                size,
                definition,
                constraint,
            ) = r
            by_oid[relid]["indexes"].append(
                m.Index(
                    name=name,
                    columns=tuple(parts[:nkey]),
                    include=tuple(parts[nkey:]),
                    unique=unique,
                    method=method,
                    predicate=predicate,
                    valid=valid,
                    primary=primary,
                    constraint=constraint,
                    size_bytes=size,
                    definition=definition,
                )
            )

        self._run(cur, Q_TRIGGERS, {"oids": oids})
        for r in cur.fetchall():
            relid, name, tgtype, function, enabled, definition = r
            by_oid[relid]["triggers"].append(_trigger(name, tgtype, function, enabled, definition))

        counts: dict[int, int] = {}
        if exact_counts and oids:
            parts = [
                pgsql.SQL("SELECT {}::oid, count(*) FROM {}").format(
                    pgsql.Literal(oid), pgsql.Identifier(t["row"][1], t["row"][2])
                )
                for oid, t in by_oid.items()
            ]
            self._run(cur, pgsql.SQL(" UNION ALL ").join(parts))
            counts = {int(oid): n for oid, n in cur.fetchall()}

        out = []
        for oid, t in by_oid.items():
            r = t["row"]
            # Index bytes from the per-index sizes already read; total = heap + indexes + TOAST.
            index_bytes = sum(i.size_bytes or 0 for i in t["indexes"])
            out.append(
                m.Table(
                    name=r[2],
                    schema=r[1],
                    kind="partitioned" if r[3] == "p" else "table",
                    columns=tuple(t["columns"]),
                    primary_key=t["pk"],
                    uniques=tuple(t["uniques"]),
                    foreign_keys=tuple(t["fks"]),
                    indexes=tuple(t["indexes"]),
                    checks=tuple(t["checks"]),
                    triggers=tuple(t["triggers"]),
                    row_estimate=r[4] if r[4] is not None and r[4] >= 0 else None,
                    exact_count=counts.get(oid),
                    size_bytes=r[5],
                    index_bytes=index_bytes,
                    total_bytes=(r[5] or 0) + index_bytes + (r[7] or 0),
                    replica_identity=_REPLICA_IDENTITY.get(r[8]),
                    comment=r[9],
                )
            )
        return m.Schema(
            dialect="postgresql",
            database=self.conn.info.dbname,
            tables=tuple(out),
            enums=enums,
            sequences=sequences,
        )

    def exact_count(self, table: str) -> int:
        def count() -> int:
            with self.conn.cursor() as cur:
                self._run(cur, pgsql.SQL("SELECT count(*) FROM {}").format(_split_name(table)))
                return int(cur.fetchone()[0])

        return self._guard(f"count rows of {table}", count)

    def table_sizes(self) -> dict[str, TableSize]:
        def read() -> list[tuple]:
            with self.conn.cursor() as cur:
                self._run(cur, Q_SIZES)
                return cur.fetchall()

        rows = self._guard("read table sizes", read)
        return {
            f"{r[1]}.{r[2]}": TableSize(
                table=f"{r[1]}.{r[2]}",
                row_estimate=r[4] if r[4] >= 0 else None,
                size_bytes=r[5],
                index_bytes=r[6],
                total_bytes=r[7],
            )
            for r in rows
        }

    # --- read-only query -----------------------------------------------------------------

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

    def _execute(self, statements: Sequence[str], counts: list[int], o: ExecuteOptions) -> None:
        conn = self.conn
        settings = (
            f"{int(o.timeout_ms)}ms" if o.timeout_ms else "0",
            f"{int(o.lock_timeout_ms)}ms" if o.lock_timeout_ms else "0",
        )
        with conn.cursor() as cur:
            if o.autocommit:
                self._run(
                    cur,
                    "SELECT set_config('statement_timeout', %s, false), "
                    "set_config('lock_timeout', %s, false)",
                    settings,
                )
                try:
                    for stmt in statements:
                        self._run(cur, stmt)
                        counts.append(cur.rowcount)
                finally:
                    if conn.info.transaction_status == TransactionStatus.IDLE:
                        cur.execute("RESET statement_timeout; RESET lock_timeout")
            else:
                with conn.transaction(force_rollback=o.rollback):
                    self._run(
                        cur,
                        "SELECT set_config('statement_timeout', %s, true), "
                        "set_config('lock_timeout', %s, true)",
                        settings,
                    )
                    for stmt in statements:
                        self._run(cur, stmt)
                        counts.append(cur.rowcount)

    def _keyset_page(self, table, keys, columns, limit, after, end_at):
        select = pgsql.SQL(", ").join(map(pgsql.Identifier, columns)) if columns else pgsql.SQL("*")
        key_tuple = pgsql.SQL("({})").format(pgsql.SQL(", ").join(map(pgsql.Identifier, keys)))
        marks = pgsql.SQL(", ").join(pgsql.Placeholder() * len(keys))
        order = pgsql.SQL(", ").join(map(pgsql.Identifier, keys))
        where, params = [], []
        if after is not None:
            where.append(pgsql.SQL("{} > ({})").format(key_tuple, marks))
            params.extend(after)
        if end_at is not None:
            where.append(pgsql.SQL("{} <= ({})").format(key_tuple, marks))
            params.extend(end_at)
        query = pgsql.SQL("SELECT {}, {} FROM {} {} ORDER BY {} LIMIT {}").format(
            order,
            select,
            _split_name(table),
            pgsql.SQL("WHERE ") + pgsql.SQL(" AND ").join(where) if where else pgsql.SQL(""),
            order,
            pgsql.Literal(int(limit)),
        )
        with self.conn.cursor() as cur:
            self._run(cur, query, params)
            return [d.name for d in cur.description][len(keys) :], cur.fetchall()


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


def _check_expression(definition: str) -> str:
    text = definition.strip()
    text = text.removesuffix(" NOT VALID")
    if text.upper().startswith("CHECK (") and text.endswith(")"):
        text = text[len("CHECK (") : -1]
    return text.strip()


def _trigger(name: str, tgtype: int, function: str, enabled: str, definition: str) -> m.Trigger:
    timing = "INSTEAD OF" if tgtype & 64 else ("BEFORE" if tgtype & 2 else "AFTER")
    events = tuple(
        e
        for bit, e in ((4, "INSERT"), (16, "UPDATE"), (8, "DELETE"), (32, "TRUNCATE"))
        if tgtype & bit
    )
    return m.Trigger(
        name=name,
        timing=timing,
        events=events,
        level="ROW" if tgtype & 1 else "STATEMENT",
        function=function,
        enabled=enabled != "D",
        definition=definition,
    )
