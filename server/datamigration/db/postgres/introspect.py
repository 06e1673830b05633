"""PostgreSQL introspection: the whole schema in a fixed number of catalog queries.

One query per kind of object (tables, columns, constraints, indexes, triggers, sequences,
enums) for every table at once, inside one read-only repeatable-read transaction, so a schema
of a thousand tables costs the same seven round trips as one of three (Schema.query_count).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import psycopg
from psycopg import sql as pgsql

from datamigration.db import model as m
from datamigration.db.base import TableSize
from datamigration.db.postgres.connection import PostgresConnection, split_name
from datamigration.errors import DatabaseError

_SYSTEM_SCHEMAS = "('pg_catalog', 'information_schema')"
_FK_ACTIONS = {
    "a": "NO ACTION",
    "r": "RESTRICT",
    "c": "CASCADE",
    "n": "SET NULL",
    "d": "SET DEFAULT",
}
_REPLICA_IDENTITY = {"d": "default", "f": "full", "n": "nothing", "i": "index"}


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


def _new_table(row: tuple) -> dict[str, Any]:
    """What the later catalog queries collect for one table, keyed by its oid."""
    return {
        "row": row,
        "columns": [],
        "pk": None,
        "uniques": [],
        "fks": [],
        "checks": [],
        "indexes": [],
        "triggers": [],
    }


class PostgresIntrospection(PostgresConnection):
    """`inspect`, `exact_count` and `table_sizes` of the PostgreSQL backend."""

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
        by_oid: dict[int, dict[str, Any]] = {r[0]: _new_table(r) for r in table_rows}
        self._run(cur, Q_ENUMS)
        enum_rows = cur.fetchall()
        enums_by_oid = {r[0]: tuple(r[3]) for r in enum_rows}
        enums = tuple(m.EnumType(name=r[2], schema=r[1], values=tuple(r[3])) for r in enum_rows)

        self._run(cur, Q_SEQUENCES)
        sequences = tuple(_sequence(r) for r in cur.fetchall())
        owned = {s.owned_by: s for s in sequences if s.owned_by}

        self._run(cur, Q_COLUMNS, {"oids": oids})
        for r in cur.fetchall():
            t = by_oid[r[0]]
            t["columns"].append(_column(r, t["row"][2], owned, enums_by_oid))

        self._run(cur, Q_CONSTRAINTS, {"oids": oids})
        for r in cur.fetchall():
            _add_constraint(by_oid[r[0]], r)

        self._run(cur, Q_INDEXES, {"oids": oids})
        for r in cur.fetchall():
            by_oid[r[0]]["indexes"].append(_index(r))

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

        return m.Schema(
            dialect="postgresql",
            database=self.conn.info.dbname,
            tables=tuple(_table(t, counts.get(oid)) for oid, t in by_oid.items()),
            enums=enums,
            sequences=sequences,
        )

    def exact_count(self, table: str) -> int:
        def count() -> int:
            with self.conn.cursor() as cur:
                self._run(cur, pgsql.SQL("SELECT count(*) FROM {}").format(split_name(table)))
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


def _sequence(r: tuple) -> m.Sequence:
    return m.Sequence(
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


def _column(
    r: tuple, table_name: str, owned: dict[str, m.Sequence], enums_by_oid: dict[int, tuple]
) -> m.Column:
    """One row of Q_COLUMNS as a column; a default drawing from a sequence the table owns
    makes it a serial column."""
    (
        _relid,
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
    ident = {"a": m.IDENTITY_ALWAYS, "d": m.IDENTITY_BY_DEFAULT}.get(identity or "")
    if (
        ident is None
        and default
        and default.startswith("nextval(")
        and f"{table_name}.{name}" in owned
    ):
        ident = m.IDENTITY_SERIAL
    gen_expr = default if generated == "s" else None
    return m.Column(
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


def _add_constraint(t: dict[str, Any], r: tuple) -> None:
    """One row of Q_CONSTRAINTS into its table: primary key, unique, foreign key or check."""
    (
        _relid,
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


def _index(r: tuple) -> m.Index:
    (
        _relid,
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
    return m.Index(
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


def _table(t: dict[str, Any], exact_count: int | None) -> m.Table:
    r = t["row"]
    # Index bytes from the per-index sizes already read; total = heap + indexes + TOAST.
    index_bytes = sum(i.size_bytes or 0 for i in t["indexes"])
    return m.Table(
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
        exact_count=exact_count,
        size_bytes=r[5],
        index_bytes=index_bytes,
        total_bytes=(r[5] or 0) + index_bytes + (r[7] or 0),
        replica_identity=_REPLICA_IDENTITY.get(r[8]),
        comment=r[9],
    )


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
