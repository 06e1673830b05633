"""SQLite table rebuild as expand-contract: the changes its ALTER TABLE cannot make in place.

SQLite cannot add NOT NULL, a CHECK or a FOREIGN KEY to an existing table, nor change a column's
declared type. Its own recipe (sqlite.org/lang_altertable.html, "Making Other Kinds Of Table
Schema Changes": create the new shape, copy, drop, rename) holds the write lock for the whole
copy. Here the same rebuild is cut into short steps, each with its reverse:

1. expand: ``<table>__dm_new`` from the original CREATE TABLE text (``sqlite_master``), changed
   only where the spec says (sqlite_ddl.py); the table's indexes on it under temporary names;
   AFTER INSERT / UPDATE / DELETE triggers on the original that mirror every write into it
   (upsert / delete by key). From here on a write the new shape refuses fails.
2. migrate: keyset batches ``INSERT INTO new SELECT ... FROM old WHERE <key range> AND NOT
   EXISTS (already copied)`` through the executor's backfill (checkpoints, resume). Not
   ``INSERT OR IGNORE``: that would also skip rows breaking NOT NULL or CHECK, silently. A row
   the new shape refuses fails its batch, and the executor names its key (execute/refused.py).
3. switch (gated on the count + checksum rules of step 2): one short write transaction with
   foreign keys off and ``legacy_alter_table`` on — so REFERENCES in other tables, views and
   trigger bodies keep naming the table and end up on the new one — that drops the mirror
   triggers, renames the original to ``<table>__dm_old`` and the new table to the name, moves
   the table's own triggers over, creates reverse mirror triggers (writes after the swap reach
   the old table, so swapping back loses nothing) and checks ``PRAGMA foreign_key_check``
   before COMMIT. SQLite ignores ``PRAGMA foreign_keys`` inside a transaction, so the swap is
   one script that sets it around its own BEGIN ... COMMIT (a non-transactional operation).
4. contract (after validation and confirmation): the reverse triggers and ``<table>__dm_old``
   dropped; each index rebuilt under its original name, then the temporary one dropped (SQLite
   cannot rename an index; until here the original names belong to the old table's indexes,
   which a swap back needs).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from datamigration.db.model import Index, Table
from datamigration.errors import UserInputError
from datamigration.plan.model import BackfillSpec, Operation
from datamigration.plan.ops_base import backfill_op, name_of, sql_op
from datamigration.plan.sqlite_ddl import (
    TableChange,
    affinity_check,
    quoted,
    rebuilt_table,
    renamed_index,
)
from datamigration.plan.sqltext import quote
from datamigration.plan.toolkit import checksum_rule, count_rule, key_of, step

WRITE = "database write lock, brief"


def new_name(table: str) -> str:
    return name_of(table, "_dm_new")


def old_name(table: str) -> str:
    return name_of(table, "_dm_old")


def temp_index_name(index: str) -> str:
    return name_of(index, "dm_new")


def _q(name: str) -> str:
    return quote(name, "sqlite")


@dataclass(frozen=True)
class Rebuild:
    """One table rebuilt into a new shape: everything the statements are made from."""

    table: Table
    key: tuple[str, ...]
    change: TableChange
    #: column -> SQL expression of the new value, ``{}`` standing for the old value
    convert: dict[str, str] = field(default_factory=dict)
    #: indexes the new shape adds: (name, columns), created under their final names
    extra_indexes: tuple[tuple[str, tuple[str, ...]], ...] = ()
    #: tables whose foreign keys reference this one (checked at the swap)
    children: tuple[str, ...] = ()

    @property
    def name(self) -> str:
        return self.table.name

    @property
    def columns(self) -> list[str]:
        """The columns copied: generated columns compute themselves."""
        return [c.name for c in self.table.columns if c.generated is None]

    @property
    def indexes(self) -> list[tuple[str, str]]:
        """(name, CREATE INDEX text) of the indexes the table's own DDL does not create."""
        return [
            (ix.name, ix.definition or _index_from_model(self.name, ix))
            for ix in self.table.indexes
            if not ix.constraint and not ix.primary and not ix.name.startswith("sqlite_")
        ]

    def create_sql(self) -> str:
        original = self.table.definition or create_from_model(self.table)
        return rebuilt_table(original, new_name(self.name), self.change)


def _index_from_model(table: str, ix: Index) -> str:
    cols = ", ".join(c if "(" in c else _q(c) for c in ix.columns)
    where = f" WHERE {ix.predicate}" if ix.predicate else ""
    unique = "UNIQUE " if ix.unique else ""
    return f"CREATE {unique}INDEX {_q(ix.name)} ON {_q(table)} ({cols}){where}"


def create_from_model(t: Table) -> str:
    """A CREATE TABLE written from the schema model, for a schema that carries no DDL text (one
    read from a file rather than inspected): columns, keys, uniques, references, checks."""
    pk = t.primary_key.columns if t.primary_key else ()
    parts = []
    for c in t.columns:
        text = f"{_q(c.name)} {c.data_type}".rstrip()
        if c.identity in ("rowid", "autoincrement"):
            text += " PRIMARY KEY" + (" AUTOINCREMENT" if c.identity == "autoincrement" else "")
        elif not c.nullable:
            text += " NOT NULL"
        if c.default is not None:
            text += f" DEFAULT {c.default}"
        if c.generated is not None:
            text += f" GENERATED ALWAYS AS ({c.generated})"
            text += " STORED" if c.generated_stored else ""
        parts.append(text)
    if pk and not any(c.identity in ("rowid", "autoincrement") for c in t.columns):
        parts.append(f"PRIMARY KEY ({quoted(pk)})")
    parts += [f"UNIQUE ({quoted(u.columns)})" for u in t.uniques]
    for fk in t.foreign_keys:
        actions = "".join(
            f" ON {verb} {action}"
            for verb, action in (("DELETE", fk.on_delete), ("UPDATE", fk.on_update))
            if action and action != "NO ACTION"
        )
        parts.append(
            f"FOREIGN KEY ({quoted(fk.columns)}) REFERENCES {_q(fk.ref_table)}"
            + (f" ({quoted(fk.ref_columns)})" if fk.ref_columns else "")
            + actions
        )
    parts += [
        (f"CONSTRAINT {_q(ck.name)} " if ck.name else "") + f"CHECK ({ck.expression})"
        for ck in t.checks
    ]
    return f"CREATE TABLE {_q(t.name)} ({', '.join(parts)})"


# --- statements ---------------------------------------------------------------------------------


def _value(r: Rebuild, column: str, ref: str) -> str:
    return r.convert.get(column, "{}").format(ref)


def mirror_triggers(r: Rebuild, source: str, target: str, tag: str, convert: bool) -> list[str]:
    """AFTER triggers on `source` that repeat each write on `target` (upsert / delete by key)."""
    s, t = _q(source), _q(target)
    cols = r.columns
    rest = [c for c in cols if c not in r.key]
    values = ", ".join(_value(r, c, f"NEW.{_q(c)}") if convert else f"NEW.{_q(c)}" for c in cols)
    update = (
        "DO UPDATE SET " + ", ".join(f"{_q(c)} = excluded.{_q(c)}" for c in rest)
        if rest
        else "DO NOTHING"
    )
    upsert = (
        f"INSERT INTO {t} ({quoted(cols)}) VALUES ({values})\n"
        f"    ON CONFLICT ({quoted(r.key)}) {update};"
    )
    match = " AND ".join(f"{_q(k)} = OLD.{_q(k)}" for k in r.key)
    moved = " AND ".join(f"NEW.{_q(k)} IS OLD.{_q(k)}" for k in r.key)
    ins, upd, dele = trigger_names(r.name, tag)
    return [
        f"CREATE TRIGGER {_q(ins)} AFTER INSERT ON {s} BEGIN\n  {upsert}\nEND",
        (
            f"CREATE TRIGGER {_q(upd)} AFTER UPDATE ON {s} BEGIN\n"
            f"  DELETE FROM {t} WHERE {match} AND NOT ({moved});\n  {upsert}\nEND"
        ),
        f"CREATE TRIGGER {_q(dele)} AFTER DELETE ON {s} BEGIN\n  DELETE FROM {t} WHERE {match};\nEND",
    ]


def trigger_names(table: str, tag: str) -> tuple[str, str, str]:
    base = name_of("dm_rebuild", table, tag, limit=56)
    return base + "_ins", base + "_upd", base + "_del"


def drop_triggers(table: str, tag: str) -> list[str]:
    return [f"DROP TRIGGER IF EXISTS {_q(n)}" for n in trigger_names(table, tag)]


def _own_triggers(r: Rebuild) -> list[tuple[str, str]]:
    """The table's own triggers (name, CREATE TRIGGER text): a rename takes them along."""
    return [(tr.name, tr.definition) for tr in r.table.triggers if tr.definition]


def _foreign_key_check(r: Rebuild) -> list[str]:
    """Statements that fail (a CHECK) when PRAGMA foreign_key_check finds a row: the table's
    own references and those of the tables referencing it."""
    tables = [r.name, *(c for c in r.children if c != r.name)]
    found = " UNION ALL ".join(
        f"SELECT 1 FROM pragma_foreign_key_check({_literal(t)})" for t in tables
    )
    return [
        (
            "CREATE TEMP TABLE IF NOT EXISTS dm_foreign_key_check (found INTEGER "
            "CONSTRAINT foreign_key_check_found_rows_the_swap_would_orphan CHECK (found = 0))"
        ),
        f"INSERT INTO temp.dm_foreign_key_check SELECT count(*) FROM ({found})",
        "DROP TABLE temp.dm_foreign_key_check",
    ]


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _script(body: Sequence[str]) -> str:
    """One swap: foreign keys off and legacy_alter_table on around one write transaction."""
    lines = [
        "PRAGMA foreign_keys = OFF",
        "PRAGMA legacy_alter_table = ON",
        "BEGIN IMMEDIATE",
        *body,
        "COMMIT",
        "PRAGMA legacy_alter_table = OFF",
        "PRAGMA foreign_keys = ON",
    ]
    return ";\n".join(lines) + ";"


def swap_sql(r: Rebuild, *, back: bool = False) -> str:
    """The swap (the new table takes the name), or with `back` its undo (the old one does)."""
    t, n, o = _q(r.name), _q(new_name(r.name)), _q(old_name(r.name))
    away, into = (n, o) if back else (o, n)  # where the named table goes, what takes its name
    own = _own_triggers(r)
    return _script(
        [
            *drop_triggers(r.name, "back" if back else "fwd"),
            *(f"DROP TRIGGER IF EXISTS {_q(name)}" for name, _ in own),
            f"ALTER TABLE {t} RENAME TO {away}",
            f"ALTER TABLE {into} RENAME TO {t}",
            *(sql for _, sql in own),
            *(
                mirror_triggers(r, r.name, new_name(r.name), "fwd", convert=True)
                if back
                else mirror_triggers(r, r.name, old_name(r.name), "back", convert=False)
            ),
            *_foreign_key_check(r),
        ]
    )


# --- operations ---------------------------------------------------------------------------------


def _op(description: str, statements: Sequence[str], **kw: Any) -> Operation:
    kw.setdefault("lock_timeout_ms", None)
    kw.setdefault("lock", WRITE)
    return sql_op(description, statements, dialect="sqlite", **kw)


def create_op(r: Rebuild) -> Operation:
    n = new_name(r.name)
    indexes = [renamed_index(sql, temp_index_name(name), n) for name, sql in r.indexes]
    indexes += [
        f"CREATE INDEX IF NOT EXISTS {_q(name)} ON {_q(n)} ({quoted(cols)})"
        for name, cols in r.extra_indexes
    ]
    return _op(
        f"create {n} with the new shape, its indexes, and triggers mirroring {r.name} into it",
        [r.create_sql(), *indexes, *mirror_triggers(r, r.name, n, "fwd", convert=True)],
        reverse=[
            _op(
                f"drop the mirror triggers and {n}",
                [*drop_triggers(r.name, "fwd"), f"DROP TABLE IF EXISTS {_q(n)}"],
            )
        ],
        lock="database write lock for the index builds on the empty table, brief",
    )


def copy_spec(r: Rebuild, batch_size: int, estimated_rows: int | None) -> BackfillSpec:
    n = new_name(r.name)
    match = " AND ".join(f"n.{_q(k)} = src.{_q(k)}" for k in r.key)
    return BackfillSpec(
        table=r.name,
        key_columns=r.key,
        mode="insert",
        target_table=n,
        insert_columns=tuple(r.columns),
        select_expressions=tuple(_value(r, c, f"src.{_q(c)}") for c in r.columns),
        # rows the triggers already copied are skipped; nothing else is (no OR IGNORE)
        where=f"NOT EXISTS (SELECT 1 FROM {_q(n)} AS n WHERE {match})",
        batch_size=batch_size,
        dialect="sqlite",
        estimated_rows=estimated_rows,
    )


def copy_op(r: Rebuild, batch_size: int, estimated_rows: int | None) -> Operation:
    return backfill_op(
        f"copy {r.name} into {new_name(r.name)}", copy_spec(r, batch_size, estimated_rows)
    )


def swap_op(r: Rebuild) -> Operation:
    o, n = old_name(r.name), new_name(r.name)
    back = _op(
        f"swap back: {r.name} becomes {n} again, {o} takes the name {r.name}",
        [swap_sql(r, back=True)],
        transactional=False,
        rerunnable=False,
        lock_timeout_ms=2_000,
    )
    return _op(
        f"swap in one write transaction: {r.name} becomes {o}, {n} takes the name {r.name}",
        [swap_sql(r)],
        transactional=False,
        rerunnable=False,
        lock_timeout_ms=2_000,
        reverse=[back],
    )


def contract_ops(r: Rebuild) -> list[Operation]:
    o = old_name(r.name)
    ops = [
        _op(
            f"drop the reverse triggers and {o}",
            [*drop_triggers(r.name, "back"), f"DROP TABLE IF EXISTS {_q(o)}"],
            destructive=True,
        )
    ]
    for name, sql in r.indexes:
        tmp = temp_index_name(name)
        ops.append(
            _op(
                f"index {name} under its own name again (SQLite cannot rename an index)",
                [renamed_index(sql, name), f"DROP INDEX IF EXISTS {_q(tmp)}"],
                lock="database write lock for the index build",
            )
        )
    return ops


# --- rules --------------------------------------------------------------------------------------


def equal_rules(r: Rebuild, source: str, target: str, tag: str) -> list[dict[str, Any]]:
    """Same rows, same values: what the swap (and the contract) waits for."""
    compared = [c for c in r.columns if c not in r.convert or c in r.key]
    return [
        count_rule(f"{r.name}-{tag}-count", source, target,
                   description=f"{target} has as many rows as {source}"),
        checksum_rule(f"{r.name}-{tag}-equal", source, target, r.key, compared,
                      description=f"{target} holds the rows of {source}"),
    ]  # fmt: skip


# --- steps --------------------------------------------------------------------------------------


def _refuse_leftovers(schema: Any, table: str, names: Sequence[str]) -> None:
    """Refuse when the rebuild's own tables exist already: another rebuild is under way or was
    left behind, and creating over it would lose what it holds."""
    for name in names:
        if schema.table(name) is not None:
            raise UserInputError(
                f"{name} already exists: a rebuild of {table} is under way or was left behind",
                hint="Finish or roll back that plan (datamigration run-status), or drop the "
                "leftover table after checking it holds nothing you need.",
            )


def _rebuild_warnings(r: Rebuild, what: str, n: str) -> list[str]:
    """What the reviewer must know about a rebuild: writes the new shape refuses fail from the
    expand step on, indexes carry temporary names until the contract, and a table planned
    from a schema file has no CREATE TABLE text to keep."""
    t = r.table
    temp = ", ".join(temp_index_name(name) for name, _ in r.indexes)
    out = [
        f"SQLite cannot {what} in place: the plan rebuilds {t.name} (new table {n}, copy, swap). "
        f"From the expand step on, a write to {t.name} that the new shape refuses fails (the "
        "mirror trigger refuses it), as a NOT VALID constraint would elsewhere."
        + (
            f" Between the swap and the contract the indexes of {t.name} carry temporary "
            f"names ({temp})."
            if temp
            else ""
        )
    ]
    if not t.definition:
        out.append(
            f"the schema holds no CREATE TABLE text for {t.name} (not inspected live): {n} is "
            "written from the schema model; plan against the database to keep the text as is."
        )
    return out


def plan_rebuild(
    c: Any,
    t: Table,
    what: str,
    change: TableChange,
    *,
    convert: dict[str, str] | None = None,
    extra_indexes: Sequence[tuple[str, Sequence[str]]] = (),
    rules: Sequence[dict[str, Any]] = (),
    contract: bool = True,
) -> None:
    """Append the rebuild's steps to `c.built` (`c` is the toolkit's `Ctx`)."""
    n, o = new_name(t.name), old_name(t.name)
    _refuse_leftovers(c.schema, t.name, (n, o))
    children = tuple(
        x.name for x in c.schema.tables if any(fk.ref_table == t.name for fk in x.foreign_keys)
    )
    r = Rebuild(
        table=t,
        key=tuple(key_of(t, c.spec)),
        change=change,
        convert=dict(convert or {}),
        extra_indexes=tuple((name, tuple(cols)) for name, cols in extra_indexes),
        children=children,
    )
    b = c.built
    b.tables.append(t.name)
    b.warnings += _rebuild_warnings(r, what, n)
    b.steps.append(
        step(
            "expand",
            f"Create {n} with the new shape",
            f"{n} is created from the CREATE TABLE of {t.name} as SQLite keeps it, changed only "
            f"to {what}, with the same indexes under temporary names; AFTER triggers mirror "
            f"every insert, update and delete of {t.name} into it. One short write transaction "
            "(the indexes are built on an empty table).",
            [create_op(r)],
        )
    )
    b.steps.append(
        step(
            "migrate",
            f"Copy {t.name} into {n}",
            f"Keyset batches of {c.batch:,} rows, one transaction each, skipping rows the "
            "triggers already copied. A row the new shape refuses stops the step with its key "
            "named; nothing is dropped silently and nothing is swapped.",
            [copy_op(r, c.batch, c.rows(t))],
            validation=equal_rules(r, t.name, n, "copy"),
        )
    )
    b.steps.append(
        step(
            "switch",
            f"Swap {n} in for {t.name}",
            f"Only after the copy's count and checksum match: one short write transaction "
            f"(foreign keys off, legacy_alter_table on, so references to {t.name} from other "
            f"tables, views and triggers stay valid) renames {t.name} to {o} and {n} to "
            f"{t.name}, moves the table's own triggers over, and mirrors later writes back "
            f"into {o} so the swap can be undone; PRAGMA foreign_key_check runs before COMMIT.",
            [swap_op(r)],
            validation=[*equal_rules(r, o, t.name, "swapped"), *rules],
            gates=("validation_passed", "confirmation"),
        )
    )
    b.final_rules += list(rules)
    if contract:
        b.steps.append(
            step(
                "contract",
                f"Drop {o}",
                f"Remove the reverse triggers and {o} in one transaction, then rebuild each "
                "index under its original name and drop the temporary one. Only after "
                "validation passed and on confirmation. Point of no return.",
                contract_ops(r),
                reversible=False,
            )
        )


# --- the change kinds that SQLite makes by a rebuild ----------------------------------------------


def not_null(c: Any, t: Table, column: str, rule: dict[str, Any]) -> None:
    plan_rebuild(c, t, f"make {column} NOT NULL", TableChange(not_null=(column,)), rules=[rule])


def check(c: Any, t: Table, name: str, expression: str) -> None:
    constraint = f"CONSTRAINT {_q(name)} CHECK ({expression})"
    plan_rebuild(c, t, f"add CHECK {name}", TableChange(constraints=(constraint,)))


def foreign_key(
    c: Any,
    t: Table,
    name: str,
    columns: Sequence[str],
    ref_table: str,
    ref_columns: Sequence[str],
    on_delete: str | None,
    rule: dict[str, Any],
) -> None:
    clause = c.d._foreign_key(columns, ref_table, ref_columns, on_delete)
    indexed = any(tuple(ix.columns[: len(columns)]) == tuple(columns) for ix in t.indexes)
    extra = [] if indexed else [(name_of(t.name, *columns, "idx"), columns)]
    if extra:
        c.built.warnings.append(
            f"no index leads with ({', '.join(columns)}) on {t.name}: the new table gets "
            f"{extra[0][0]}, or every delete on {ref_table} would scan {t.name}."
        )
    plan_rebuild(
        c,
        t,
        f"add the foreign key {name}",
        TableChange(constraints=(f"CONSTRAINT {_q(name)} {clause}",)),
        extra_indexes=extra,
        rules=[rule],
    )


def column_type(c: Any, t: Table, column: str, type_: str) -> None:

    enforce = affinity_check(column, type_)
    checks = (
        ((column, f"CONSTRAINT {_q(name_of(t.name, column, 'type'))} {enforce}"),)
        if enforce
        else ()
    )
    using = c.spec.get("using")
    plan_rebuild(
        c,
        t,
        f"change the type of {column} to {type_}"
        + (" (a CHECK on typeof makes the type binding)" if enforce else ""),
        TableChange(types=((column, type_),), column_checks=checks),
        convert={column: using} if using else None,
        contract=not c.spec.get("keep_old"),
    )
