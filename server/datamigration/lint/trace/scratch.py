"""The scratch copy for lock tracing: the tables a migration touches, copied into
`dm_trace_<random>_<n>` schemas (one per original schema) with their keys, indexes, foreign
keys, partitions, serial sequences and a sample of rows.

The copy is committed in its own short transaction (it takes ACCESS SHARE on the real tables
only) so that the locks its own DDL took are released before the statements are traced, and it
is dropped afterwards; a copy left by a crashed session is dropped by the next trace (each
scratch schema's comment names the session that made it).
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Iterable, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Any, Protocol

from pglast import ast

from datamigration.errors import DatabaseError
from datamigration.lint.trace.sql import SYSTEM, Plan, deparse, plan_statement, quote_ident

#: Tables copied at most (the file's own tables always are; foreign-key neighbours up to this).
MAX_TABLES = 64
MARK = "datamigration lock trace"
_RELKIND = """
SELECT c.oid, c.relkind, n.nspname, c.relname, c.relispartition
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE c.oid = to_regclass(%s)
"""


#: The backend's driver errors (`Backend.driver_errors`): the trace catches what the database
#: refused without importing a driver, which only db/ does.
Errors = tuple[type[BaseException], ...]


class Session(Protocol):
    """What the trace uses of the backend's one PostgreSQL session (`PostgresBackend.conn`).

    The trace must hold that session's locks across statements, in a committed transaction, a
    rolled-back one and a savepoint per statement, so it drives the session itself; it gets
    the session from the backend that `datamigration.db.connect` opened and never opens one.
    """

    closed: bool

    def execute(self, query: str, params: Sequence[Any] | None = None, /) -> Any: ...

    def transaction(self, *, force_rollback: bool = False) -> AbstractContextManager[Any]: ...


class TraceSetupError(DatabaseError):
    """The scratch copy could not be made (privileges, a lock wait on a real table, a timeout)."""


@dataclass
class _Rel:
    oid: int
    kind: str
    schema: str
    name: str


class Scratch:
    """Scratch schemas, the relations copied into them, and the name mapping both ways."""

    def __init__(self, conn: Session, path: list[str], sample_rows: int, errors: Errors) -> None:
        self.conn = conn
        self.errors = errors
        self.path = path
        self.sample_rows = sample_rows
        self.tag = secrets.token_hex(4)
        self.schemas: dict[str, str] = {}  # original -> scratch
        self.copied: dict[int, _Rel] = {}  # original oid -> relation (tables and sequences)
        self.resolved: dict[tuple[str | None, str], _Rel | None] = {}
        self.all_schemas: list[str] = []  # every user schema: procedural code naming one

    # names
    def scratch_of(self, schema: str) -> str:
        if schema not in self.schemas:
            name = f"dm_trace_{self.tag}_{len(self.schemas)}"
            self.conn.execute(f"CREATE SCHEMA {quote_ident(name)}")
            self.schemas[schema] = name
        return self.schemas[schema]

    def original_name(self, schema: str | None, name: str | None) -> str | None:
        for original, scratch in self.schemas.items():
            if schema == scratch:
                return f"{original}.{name}"
        return None

    def resolve(self, schema: str | None, name: str) -> _Rel | None:
        key = (schema, name)
        if key not in self.resolved:
            text = f"{quote_ident(schema)}.{quote_ident(name)}" if schema else quote_ident(name)
            row = self.conn.execute(_RELKIND, (text,)).fetchone()
            self.resolved[key] = _Rel(row[0], row[1], row[2], row[3]) if row else None
        return self.resolved[key]

    def copyable(self, rel: _Rel) -> bool:
        return rel.schema not in SYSTEM and not rel.schema.startswith("pg_") and rel.kind in "rpiIS"

    # copying
    def build(self, plans: list[Plan]) -> None:
        self.all_schemas = [
            r[0]
            for r in self._rows(
                "SELECT nspname FROM pg_namespace WHERE nspname NOT LIKE 'pg\\_%%' "
                "AND nspname <> 'information_schema'"
            )
        ]
        for schema in self.path:
            self.scratch_of(schema)
        tables: dict[int, _Rel] = {}
        sequences: dict[int, _Rel] = {}
        for plan in plans:
            for ref in plan.refs:
                if ref.schema and ref.schema not in SYSTEM and not ref.schema.startswith("pg_"):
                    self.scratch_of(ref.schema)
                rel = self.resolve(ref.schema, ref.name)
                if rel is None or not self.copyable(rel):
                    continue
                if rel.kind in "iI":
                    rel = self._table_of_index(rel)
                if rel.kind == "S":
                    sequences[rel.oid] = rel
                else:
                    rel = self._partition_root(rel)
                    tables[rel.oid] = rel
        for rel in list(tables.values()):
            for neighbour in self._fk_neighbours(rel.oid):
                if len(tables) >= MAX_TABLES:
                    break
                tables.setdefault(neighbour.oid, self._partition_root(neighbour))
        for rel in sequences.values():
            self._copy_sequence(rel)
        for rel in tables.values():
            self._copy_table(rel, None)
        for rel in tables.values():
            self._copy_keys_and_indexes(rel)
        for rel in tables.values():
            self._copy_foreign_keys(rel)

    def _rows(self, sql: str, params: Iterable[Any] = ()) -> list[tuple[Any, ...]]:
        return self.conn.execute(sql, tuple(params)).fetchall()

    def _table_of_index(self, rel: _Rel) -> _Rel:
        row = self._rows(
            "SELECT c.oid, c.relkind, n.nspname, c.relname FROM pg_index i "
            "JOIN pg_class c ON c.oid = i.indrelid JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE i.indexrelid = %s",
            (rel.oid,),
        )[0]
        return _Rel(*row)

    def _partition_root(self, rel: _Rel) -> _Rel:
        """A partition is copied with its whole tree: locks on a parent reach the partitions."""
        row = self._rows(
            "SELECT c.oid, c.relkind, n.nspname, c.relname FROM pg_class c "
            "JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE c.oid = coalesce(pg_partition_root(%s::oid), %s::oid)",
            (rel.oid, rel.oid),
        )[0]
        return _Rel(*row)

    def _fk_neighbours(self, oid: int) -> list[_Rel]:
        rows = self._rows(
            "SELECT DISTINCT c.oid, c.relkind, n.nspname, c.relname FROM pg_constraint k "
            "JOIN pg_class c ON c.oid = CASE WHEN k.conrelid = %s THEN k.confrelid ELSE k.conrelid END "
            "JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE k.contype = 'f' AND (k.conrelid = %s OR k.confrelid = %s) AND k.conparentid = 0",
            (oid, oid, oid),
        )
        return [self._partition_root(_Rel(*r)) for r in rows if r[0] != oid]

    def _target(self, rel: _Rel) -> str:
        return f"{quote_ident(self.scratch_of(rel.schema))}.{quote_ident(rel.name)}"

    def _source(self, rel: _Rel) -> str:
        return f"{quote_ident(rel.schema)}.{quote_ident(rel.name)}"

    def _copy_sequence(self, rel: _Rel) -> None:
        if rel.oid in self.copied:
            return
        self.copied[rel.oid] = rel
        typ, inc, lo, hi, start, cycle = self._rows(
            "SELECT format_type(seqtypid, NULL), seqincrement, seqmin, seqmax, seqstart, seqcycle "
            "FROM pg_sequence WHERE seqrelid = %s",
            (rel.oid,),
        )[0]
        self.conn.execute(
            f"CREATE SEQUENCE {self._target(rel)} AS {typ} INCREMENT {int(inc)} MINVALUE {int(lo)} "
            f"MAXVALUE {int(hi)} START {int(start)} {'CYCLE' if cycle else 'NO CYCLE'}"
        )
        last, called = self._rows(f"SELECT last_value, is_called FROM {self._source(rel)}")[0]
        self.conn.execute("SELECT setval(%s::regclass, %s, %s)", (self._target(rel), last, called))

    def _copy_table(self, rel: _Rel, parent: _Rel | None) -> None:
        if rel.oid in self.copied:
            return
        self.copied[rel.oid] = rel
        target = self._target(rel)
        if parent is not None:
            bound = self._rows(
                "SELECT pg_get_expr(relpartbound, oid) FROM pg_class WHERE oid = %s", (rel.oid,)
            )
            self.conn.execute(
                f"CREATE TABLE {target} PARTITION OF {self._target(parent)} {bound[0][0]}"
            )
        else:
            create = (
                f"CREATE TABLE {target} (LIKE {self._source(rel)} INCLUDING ALL EXCLUDING INDEXES)"
            )
            if rel.kind == "p":
                key = self._rows("SELECT pg_get_partkeydef(%s)", (rel.oid,))[0][0]
                create += f" PARTITION BY {key}"
            self.conn.execute(create)
        if rel.kind == "p":
            for child in self._rows(
                "SELECT c.oid, c.relkind, n.nspname, c.relname FROM pg_inherits h "
                "JOIN pg_class c ON c.oid = h.inhrelid JOIN pg_namespace n ON n.oid = c.relnamespace "
                "WHERE h.inhparent = %s ORDER BY c.oid",
                (rel.oid,),
            ):
                self._copy_table(_Rel(*child), rel)
        self._private_sequences(rel)
        if parent is None:
            self._sample(rel)
            self._continue_identities(rel)

    def _private_sequences(self, rel: _Rel) -> None:
        """Point serial defaults at copied sequences: nextval must never touch a real one."""
        for column, expr, seq_oid, seq_schema, seq_name, seq_text in self._rows(
            "SELECT a.attname, pg_get_expr(d.adbin, d.adrelid), s.oid, n.nspname, s.relname, "
            "s.oid::regclass::text FROM pg_attrdef d "
            "JOIN pg_attribute a ON a.attrelid = d.adrelid AND a.attnum = d.adnum "
            "JOIN pg_depend p ON p.classid = 'pg_attrdef'::regclass AND p.objid = d.oid "
            "AND p.refclassid = 'pg_class'::regclass "
            "JOIN pg_class s ON s.oid = p.refobjid AND s.relkind = 'S' "
            "JOIN pg_namespace n ON n.oid = s.relnamespace WHERE d.adrelid = %s",
            (rel.oid,),
        ):
            seq = _Rel(seq_oid, "S", seq_schema, seq_name)
            self._copy_sequence(seq)
            literal = "'" + seq_text.replace("'", "''") + "'::regclass"
            scratch = "'" + self._target(seq).replace("'", "''") + "'::regclass"
            action = (
                f"SET DEFAULT {expr.replace(literal, scratch)}"
                if literal in expr
                else "DROP DEFAULT"
            )
            self.conn.execute(
                f"ALTER TABLE {self._target(rel)} ALTER COLUMN {quote_ident(column)} {action}"
            )

    def _continue_identities(self, rel: _Rel) -> None:
        """Identity columns got fresh sequences from LIKE: continue where the real ones are, so
        an INSERT in the migration does not collide with a sampled key."""
        for column, real_seq in self._rows(
            "SELECT attname, pg_get_serial_sequence(%s, attname) FROM pg_attribute "
            "WHERE attrelid = %s AND attidentity <> '' AND NOT attisdropped",
            (self._source(rel), rel.oid),
        ):
            if real_seq is None:
                continue
            last, called = self._rows(f"SELECT last_value, is_called FROM {real_seq}")[0]
            self.conn.execute(
                "SELECT setval(pg_get_serial_sequence(%s, %s), %s, %s)",
                (self._target(rel), column, last, called),
            )

    def _sample(self, rel: _Rel) -> None:
        columns = [
            quote_ident(r[0])
            for r in self._rows(
                "SELECT attname FROM pg_attribute WHERE attrelid = %s AND attnum > 0 "
                "AND NOT attisdropped AND attgenerated = '' ORDER BY attnum",
                (rel.oid,),
            )
        ]
        if not columns or self.sample_rows <= 0:
            return
        cols = ", ".join(columns)
        self.conn.execute(
            f"INSERT INTO {self._target(rel)} ({cols}) OVERRIDING SYSTEM VALUE "
            f"SELECT {cols} FROM {self._source(rel)} LIMIT {int(self.sample_rows)}"
        )

    def _copy_keys_and_indexes(self, rel: _Rel) -> None:
        target = self._target(rel)
        for name, definition in self._rows(
            "SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint "
            "WHERE conrelid = %s AND contype IN ('p', 'u', 'x') AND conparentid = 0",
            (rel.oid,),
        ):
            self.conn.execute(
                f"ALTER TABLE {target} ADD CONSTRAINT {quote_ident(name)} {definition}"
            )
        for (definition,) in self._rows(
            "SELECT pg_get_indexdef(i.indexrelid) FROM pg_index i "
            "WHERE i.indrelid = %s AND i.indisvalid "
            "AND NOT EXISTS (SELECT 1 FROM pg_constraint k WHERE k.conindid = i.indexrelid "
            "  AND k.contype IN ('p', 'u', 'x')) "
            "AND NOT EXISTS (SELECT 1 FROM pg_inherits h WHERE h.inhrelid = i.indexrelid)",
            (rel.oid,),
        ):
            self.conn.execute(self.redirect(definition))
        if rel.kind != "p":
            return  # plain inheritance children are not copied; partitions are
        for child in self._rows(
            "SELECT c.oid, c.relkind, n.nspname, c.relname FROM pg_inherits h "
            "JOIN pg_class c ON c.oid = h.inhrelid JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE h.inhparent = %s AND c.relkind IN ('r', 'p')",
            (rel.oid,),
        ):
            self._copy_keys_and_indexes(_Rel(*child))

    def _copy_foreign_keys(self, rel: _Rel) -> None:
        for name, definition, cols, ref_oid, ref_cols in self._rows(
            "SELECT k.conname, pg_get_constraintdef(k.oid), "
            "ARRAY(SELECT attname FROM unnest(k.conkey) WITH ORDINALITY u(n, o) JOIN pg_attribute "
            "  ON attrelid = k.conrelid AND attnum = u.n ORDER BY u.o), k.confrelid, "
            "ARRAY(SELECT attname FROM unnest(k.confkey) WITH ORDINALITY u(n, o) JOIN pg_attribute "
            "  ON attrelid = k.confrelid AND attnum = u.n ORDER BY u.o) "
            "FROM pg_constraint k WHERE k.conrelid = %s AND k.contype = 'f' AND k.conparentid = 0",
            (rel.oid,),
        ):
            parent = self.copied.get(ref_oid)
            if parent is None:
                continue
            target = self._target(rel)
            add = f"ALTER TABLE {target} ADD CONSTRAINT {quote_ident(name)} {definition}"
            if not definition.endswith("NOT VALID"):
                match = " AND ".join(
                    f"p.{quote_ident(a)} = c.{quote_ident(b)}" for a, b in zip(ref_cols, cols)
                )
                present = " AND ".join(f"c.{quote_ident(c)} IS NOT NULL" for c in cols)
                self.conn.execute(
                    f"DELETE FROM {target} c WHERE {present} AND NOT EXISTS "
                    f"(SELECT 1 FROM {self._target(parent)} p WHERE {match})"
                )
                try:
                    with self.conn.transaction():
                        self.conn.execute(self.redirect(add))
                    continue
                except self.errors:
                    add += " NOT VALID"
            self.conn.execute(self.redirect(add))

    def redirect(self, text: str) -> str:
        """Point every qualified relation name in one catalog-made statement at the copies."""
        plan = plan_statement(-1, text)
        for ref in plan.refs:
            if ref.schema and ref.schema in self.schemas:
                ref.set_schema(self.schemas[ref.schema])
        if isinstance(plan.tree.stmt, ast.IndexStmt):
            plan.tree.stmt.relation.inh = True  # `ON ONLY parent`: build on the partitions too
        return deparse(plan)

    # running
    def prepare(self, plan: Plan) -> str:
        """The statement's text pointed at the copies, or raise NotRun with the reason."""
        if isinstance(plan.tree.stmt, ast.DoStmt | ast.CallStmt):
            for schema in self.all_schemas:
                if re.search(
                    rf'(?<![\w$])"?{re.escape(schema)}"?\s*\.\s*["\w]', plan.text, re.IGNORECASE
                ):
                    raise NotRun(
                        f"procedural code names the schema {schema} directly, which the trace "
                        "cannot point at the copies: not run"
                    )
        changed = False
        for ref in plan.refs:
            if ref.schema and (ref.schema in SYSTEM or ref.schema.startswith("pg_")):
                rel = self.resolve(ref.schema, ref.name)
                if rel is not None and not plan.reads_only:
                    raise NotRun(f"touches the system relation {ref.schema}.{ref.name}: not run")
                continue
            rel = self.resolve(ref.schema, ref.name)
            if rel is not None and rel.kind in "iI":
                rel = self._table_of_index(rel)
            if rel is not None and rel.oid not in self.copied:
                if plan.reads_only:
                    continue
                raise NotRun(
                    f"touches {rel.schema}.{rel.name}, which the trace does not copy "
                    f"(relkind {rel.kind!r}): not run, so no lock is taken on it"
                )
            if ref.schema:
                ref.set_schema(self.scratch_of(ref.schema))
                changed = True
        return deparse(plan) if changed else plan.text


class NotRun(Exception):
    pass


def build_copy(scratch: Scratch, plans: list[Plan]) -> None:
    try:
        scratch.build(plans)
        for original, name in scratch.schemas.items():
            scratch.conn.execute(
                f"COMMENT ON SCHEMA {quote_ident(name)} IS "
                + _literal(f"{MARK} {_owner_tag(scratch.conn)} copy of {original}")
            )
    except scratch.errors as exc:
        first = str(exc).splitlines()[0][:300]
        hint = (
            "The trace copies the tables the file touches into scratch schemas (dropped "
            "afterwards): it needs CREATE on the database and SELECT on those tables, and waits "
            "at most lock_timeout for ACCESS SHARE on them. Retry, or trace a staging copy."
        )
        raise TraceSetupError(
            f"could not make the scratch copy for the trace: {first}", hint=hint
        ) from None


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _owner_tag(conn: Session) -> str:
    pid, started = conn.execute(
        "SELECT pid, backend_start FROM pg_stat_activity WHERE pid = pg_backend_pid()"
    ).fetchone()
    return f"pid={pid} started={started.isoformat()}"


def drop_schemas(conn: Session, schemas: Iterable[str], errors: Errors) -> None:
    names = list(schemas)
    if not names or conn.closed:
        return
    try:
        with conn.transaction():
            conn.execute("SET LOCAL lock_timeout = 5000")
            for name in names:
                conn.execute(f"DROP SCHEMA IF EXISTS {quote_ident(name)} CASCADE")
    except errors:
        pass  # the next trace drops it: its owning session is gone by then


def drop_stale(conn: Session, errors: Errors) -> None:
    """Drop scratch schemas of ours whose tracing session no longer exists (a crash)."""
    rows = conn.execute(
        "SELECT n.nspname, obj_description(n.oid, 'pg_namespace') FROM pg_namespace n "
        "WHERE n.nspname LIKE 'dm\\_trace\\_%' AND pg_has_role(n.nspowner, 'USAGE')"
    ).fetchall()
    stale = []
    for name, comment in rows:
        match = re.search(r"pid=(\d+) started=(\S+)", comment or "")
        if comment is None or not comment.startswith(MARK) or match is None:
            continue
        alive = conn.execute(
            "SELECT 1 FROM pg_stat_activity WHERE pid = %s "
            "AND (backend_start IS NULL OR backend_start = %s::timestamptz)",
            (int(match[1]), match[2]),
        ).fetchone()
        if alive is None:
            stale.append(name)
    drop_schemas(conn, stale, errors)
