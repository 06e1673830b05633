"""The safe rewrite of one PostgreSQL statement, as SQL the user can paste.

Each function receives the parsed statement (names already known) and returns the ordered
statements of the safe sequence, with `--` comments only where a step is not SQL (deploy the
application, run in its own transaction). Step boundaries that need their own transaction are
marked, because that is exactly where hand-written rewrites go wrong.
"""

from __future__ import annotations

import copy

from pglast import ast
from pglast.enums import AlterTableType, ConstrType, ObjectType

from datamigration.lint.pgtypes import lit, q, sql

LOCK_TIMEOUT = "SET lock_timeout = '2s';"
OUTSIDE_TX = "-- run outside a transaction (its own migration / autocommit):"
NEXT_TX = "-- in a separate transaction (after COMMIT):"


def _lines(*parts: str) -> str:
    return "\n".join(p for p in parts if p)


def _cols(names) -> str:
    return ", ".join(q(n) for n in names)


def index_name(table: str, cols: list[str], suffix: str = "idx") -> str:
    base = "_".join([table.split(".")[-1].strip('"'), *cols, suffix])
    return base[:63]


def create_index_concurrently(node: ast.IndexStmt) -> str:
    new = copy.deepcopy(node)
    new.concurrent = True
    if not new.idxname:
        cols = [p.name for p in new.indexParams or () if getattr(p, "name", None)]
        new.idxname = index_name(new.relation.relname, cols or ["expr"])
    new.if_not_exists = True
    name = (q(new.relation.schemaname) + "." if new.relation.schemaname else "") + q(new.idxname)
    return _lines(
        OUTSIDE_TX,
        LOCK_TIMEOUT,
        sql(new) + ";",
        "-- if the build failed it leaves an INVALID index; check, drop and retry:",
        f"SELECT indisvalid FROM pg_index WHERE indexrelid = {lit(name)}::regclass;",
        f"-- DROP INDEX CONCURRENTLY IF EXISTS {name};",
    )


def drop_index_concurrently(node: ast.DropStmt) -> str:
    out = [OUTSIDE_TX, LOCK_TIMEOUT]
    for obj in node.objects:
        name = ".".join(q(s.sval) for s in obj)
        out.append(f"DROP INDEX CONCURRENTLY IF EXISTS {name};")
    return _lines(*out)


def run_alone(text: str) -> str:
    return _lines(
        "COMMIT;  -- or remove the surrounding BEGIN / turn off the framework's transaction",
        OUTSIDE_TX,
        text.rstrip(";") + ";",
    )


def set_not_null(table: str, col: str, pg_version: int) -> str:
    check = q(f"{table.split('.')[-1].strip(chr(34))}_{col}_not_null")
    steps = [
        LOCK_TIMEOUT,
        f"ALTER TABLE {table} ADD CONSTRAINT {check} CHECK ({q(col)} IS NOT NULL) NOT VALID;",
        NEXT_TX,
        f"-- pre-check: SELECT count(*) FROM {table} WHERE {q(col)} IS NULL;  -- must be 0",
        f"ALTER TABLE {table} VALIDATE CONSTRAINT {check};",
        NEXT_TX,
        LOCK_TIMEOUT,
    ]
    if pg_version >= 12:
        steps += [
            (
                f"ALTER TABLE {table} ALTER COLUMN {q(col)} SET NOT NULL;  -- no scan: the valid "
                "CHECK proves it"
            ),
            f"ALTER TABLE {table} DROP CONSTRAINT {check};",
        ]
    else:
        steps.append(
            f"-- PostgreSQL {pg_version} cannot use the CHECK to skip the scan of SET "
            "NOT NULL; keep the validated CHECK instead of SET NOT NULL."
        )
    return _lines(*steps)


def constraint_not_valid(table: str, con: ast.Constraint, fk_cols: list[str] | None = None) -> str:
    """ADD CONSTRAINT ... NOT VALID (instant), VALIDATE in the next transaction."""
    new = copy.deepcopy(con)
    new.skip_validation = True
    new.initially_valid = False
    name = con.conname or _default_conname(table, con)
    new.conname = name
    add = ast.AlterTableCmd(subtype=AlterTableType.AT_AddConstraint, def_=new)
    body = sql(
        ast.AlterTableStmt(relation=_rv(table), cmds=(add,), objtype=ObjectType.OBJECT_TABLE)
    )
    steps = []
    if fk_cols:
        steps += [OUTSIDE_TX, foreign_key_index(table, fk_cols)]
    steps += [
        LOCK_TIMEOUT,
        body + ";",
        NEXT_TX,
        f"ALTER TABLE {table} VALIDATE CONSTRAINT {q(name)};",
    ]
    return _lines(*steps)


def _rv(table: str) -> ast.RangeVar:
    parts = [p.strip('"') for p in table.split(".")]
    if len(parts) == 2:
        return ast.RangeVar(schemaname=parts[0], relname=parts[1], inh=True, relpersistence="p")
    return ast.RangeVar(relname=parts[-1], inh=True, relpersistence="p")


def _default_conname(table: str, con: ast.Constraint) -> str:
    base = table.split(".")[-1].strip('"')
    kind = {
        ConstrType.CONSTR_CHECK: "check",
        ConstrType.CONSTR_FOREIGN: "fkey",
        ConstrType.CONSTR_PRIMARY: "pkey",
        ConstrType.CONSTR_UNIQUE: "key",
        ConstrType.CONSTR_EXCLUSION: "excl",
    }.get(con.contype, "con")
    cols = [] if kind == "pkey" else [s.sval for s in (con.fk_attrs or con.keys or ())]
    return "_".join([base, *cols, kind])[:63]


def foreign_key_index(table: str, cols: list[str]) -> str:
    name = index_name(table, cols)
    return f"CREATE INDEX CONCURRENTLY IF NOT EXISTS {q(name)} ON {table} ({_cols(cols)});"


def unique_via_index(table: str, con: ast.Constraint, primary: bool) -> str:
    cols = [s.sval for s in con.keys or ()]
    name = con.conname or _default_conname(table, con)
    idx = q(name)
    steps = [
        (
            f"-- pre-check: SELECT {_cols(cols)}, count(*) FROM {table} GROUP BY {_cols(cols)} "
            "HAVING count(*) > 1;  -- must return no rows"
        ),
    ]
    if primary:
        steps.append(
            "-- the key columns must be NOT NULL first (CHECK ... NOT VALID -> VALIDATE "
            "-> SET NOT NULL)"
        )
    steps += [
        OUTSIDE_TX,
        f"CREATE UNIQUE INDEX CONCURRENTLY IF NOT EXISTS {idx} ON {table} ({_cols(cols)});",
        NEXT_TX,
        LOCK_TIMEOUT,
        (
            f"ALTER TABLE {table} ADD CONSTRAINT {q(name)} "
            f"{'PRIMARY KEY' if primary else 'UNIQUE'} USING INDEX {idx};"
        ),
    ]
    return _lines(*steps)


_FILLED_BY_ADD = {
    ConstrType.CONSTR_NOTNULL,
    ConstrType.CONSTR_DEFAULT,
    ConstrType.CONSTR_IDENTITY,
    ConstrType.CONSTR_GENERATED,
}


def add_column_then_backfill(
    table: str, coldef: ast.ColumnDef, default_sql: str | None, not_null: bool
) -> str:
    """ADD COLUMN nullable (no volatile default) -> SET DEFAULT -> batched backfill -> NOT NULL."""
    col = q(coldef.colname)
    plain = copy.deepcopy(coldef)
    plain.constraints = (
        tuple(c for c in plain.constraints or () if c.contype not in _FILLED_BY_ADD) or None
    )
    plain.is_not_null = False
    typ = sql(plain.typeName)
    if typ.lower() in ("serial", "serial4", "bigserial", "serial8", "smallserial", "serial2"):
        typ = "bigint"
    steps = [LOCK_TIMEOUT, f"ALTER TABLE {table} ADD COLUMN IF NOT EXISTS {col} {typ};"]
    if default_sql:
        steps.append(f"ALTER TABLE {table} ALTER COLUMN {col} SET DEFAULT {default_sql};")
        steps += [
            "-- backfill in batches outside the DDL transaction (repeat until 0 rows):",
            (
                f"UPDATE {table} SET {col} = {default_sql} WHERE ctid = ANY (ARRAY(SELECT ctid FROM "
                f"{table} WHERE {col} IS NULL LIMIT 1000));"
            ),
        ]
    if not_null:
        steps.append(set_not_null(table, coldef.colname, 12))
    return _lines(*steps)


def add_column_required(table: str, coldef: ast.ColumnDef) -> str:
    col = q(coldef.colname)
    typ = sql(coldef.typeName)
    return _lines(
        "-- either a constant default (no rewrite since PostgreSQL 11):",
        LOCK_TIMEOUT,
        f"ALTER TABLE {table} ADD COLUMN IF NOT EXISTS {col} {typ} NOT NULL DEFAULT <constant>;",
        "-- or nullable, backfill, then NOT NULL without a long lock:",
        f"ALTER TABLE {table} ADD COLUMN IF NOT EXISTS {col} {typ};",
        f"-- backfill {col} in batches, then:",
        set_not_null(table, coldef.colname, 12),
    )


def expand_contract_type(table: str, col: str, new_type: str, using: str | None) -> str:
    tmp = q(f"{col}_new")
    fn = q(f"{table.split('.')[-1].strip(chr(34))}_{col}_sync")
    expr = using.replace(q(col), "NEW." + q(col)) if using else f"NEW.{q(col)}::{new_type}"
    return _lines(
        "-- expand: a new column kept in sync by a trigger",
        LOCK_TIMEOUT,
        f"ALTER TABLE {table} ADD COLUMN IF NOT EXISTS {tmp} {new_type};",
        f"CREATE OR REPLACE FUNCTION {fn}() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
        f"NEW.{tmp} := {expr}; RETURN NEW; END $$;",
        f"CREATE TRIGGER {fn} BEFORE INSERT OR UPDATE ON {table} FOR EACH ROW EXECUTE FUNCTION "
        f"{fn}();",
        "-- backfill in batches (repeat until 0 rows):",
        f"UPDATE {table} SET {tmp} = {(using or q(col) + '::' + new_type)} WHERE ctid = ANY "
        f"(ARRAY(SELECT ctid FROM {table} WHERE {tmp} IS NULL AND {q(col)} IS NOT NULL LIMIT "
        "1000));",
        "-- switch reads to the new column and deploy; then contract in one short transaction:",
        LOCK_TIMEOUT,
        f"DROP TRIGGER {fn} ON {table};",
        f"ALTER TABLE {table} RENAME COLUMN {q(col)} TO {q(col + '_old')};",
        f"ALTER TABLE {table} RENAME COLUMN {tmp} TO {q(col)};",
        f"-- later: ALTER TABLE {table} DROP COLUMN {q(col + '_old')};",
    )


def rename_column(table: str, old: str, new: str, old_type: str | None = None) -> str:
    fn = q(f"{table.split('.')[-1].strip(chr(34))}_{new}_sync")
    o, n = q(old), q(new)
    return _lines(
        "-- expand: add the new name and keep both in sync",
        LOCK_TIMEOUT,
        f"ALTER TABLE {table} ADD COLUMN IF NOT EXISTS {n} {old_type or '<type of ' + old + '>'};",
        f"CREATE OR REPLACE FUNCTION {fn}() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
        f"IF NEW.{n} IS NULL THEN NEW.{n} := NEW.{o}; END IF; "
        f"IF NEW.{o} IS NULL THEN NEW.{o} := NEW.{n}; END IF; RETURN NEW; END $$;",
        f"CREATE TRIGGER {fn} BEFORE INSERT OR UPDATE ON {table} FOR EACH ROW EXECUTE FUNCTION "
        f"{fn}();",
        f"-- backfill in batches: UPDATE {table} SET {n} = {o} WHERE {n} IS NULL ...;",
        f"-- move every reader and writer to {new} and deploy; then contract:",
        f"DROP TRIGGER {fn} ON {table};",
        f"ALTER TABLE {table} DROP COLUMN {o};",
    )


def rename_table(table: str, new: str) -> str:
    return _lines(
        LOCK_TIMEOUT,
        "BEGIN;",
        f"ALTER TABLE {table} RENAME TO {q(new)};",
        f"CREATE VIEW {table} AS SELECT * FROM {q(new)};  -- old name keeps working "
        "(simple views are updatable)",
        "COMMIT;",
        f"-- move every client to {new} and deploy; then: DROP VIEW {table};",
    )


def drop_later(what: str, drop_sql: str) -> str:
    return _lines(
        f"-- 1. remove every use of {what} from the application and deploy",
        "-- 2. back it up (pg_dump -t / COPY ... TO) if the data may be needed",
        "-- 3. in a later migration:",
        LOCK_TIMEOUT,
        drop_sql,
    )
