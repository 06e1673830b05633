"""Change kinds → steps: the expand-contract recipe of each kind, built from dialect primitives.

One builder per change kind, registered in `BUILDERS`. A new kind (the later `move_table` copy +
CDC engine) is one more builder and one more pattern; until then `move_table` is refused here
with the engine it waits for named. Builders return `Step`s without ids or estimates; the planner
numbers them, estimates them and attaches monitoring.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

from datamigration.db.model import Schema, Table
from datamigration.errors import NotFoundError, UserInputError
from datamigration.plan.model import DEFAULT_BATCH_SIZE, BackfillSpec, ChangeSpec, Operation, Step
from datamigration.plan.ops_base import (
    Dialect,
    SyncPair,
    UnsupportedChangeError,
    backfill_op,
    combine,
    manual_op,
    name_of,
)


class NotYetSupportedError(UserInputError):
    """A change kind whose engine arrives in a later issue."""


MOVE_REFUSAL = (
    "move_table (moving a table to another database, SQL→SQL or SQL→MongoDB) is not planned yet: "
    "it needs the copy and change-data-capture engine (datamigration.move: bulk copy, CDC from "
    "PostgreSQL logical decoding, cutover), which arrives in a later issue. It will be planned "
    "with the dual_write_cdc pattern."
)


@dataclass
class Built:
    steps: list[Step] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    #: tables the plan touches (for sizes and estimates)
    tables: list[str] = field(default_factory=list)
    #: rules that hold in the final shape and that the steps' rules cannot say there (their
    #: columns are gone), added to the post-migration validation
    final_rules: list[dict[str, Any]] = field(default_factory=list)
    #: columns whose result type the plan changes (table.column): prepared statements break
    result_type_changes: list[str] = field(default_factory=list)


def step(
    phase: str,
    title: str,
    description: str,
    ops: list[Operation],
    *,
    validation: list[dict[str, Any]] | None = None,
    gates: tuple[str, ...] = ("confirmation",),
    reversible: bool = True,
    monitoring: dict[str, Any] | None = None,
) -> Step:
    destructive = any(o.destructive for o in ops)
    if destructive:
        gates = tuple(dict.fromkeys(("validation_passed", *gates, "confirmation")))
        reversible = reversible and all(o.reverse for o in ops)
    return Step(
        id="",
        title=title,
        phase=phase,
        description=description,
        operations=tuple(ops),
        validation=tuple(validation or ()),
        monitoring=dict(monitoring or {}),
        requires_confirmation=any(o.mutating for o in ops) or "confirmation" in gates,
        gates=gates,
        destructive=destructive,
        reversible=reversible,
    )


def undo(op: Operation) -> Operation:
    """The reverse of `op` as an operation of its own, whose reverse is `op` again."""
    r = op.reverse[0]
    return replace(r, reverse=(op,), destructive=False)


def table_of(schema: Schema, name: str) -> Table:
    t = schema.table(name)
    if t is None:
        raise NotFoundError(
            f"table {name!r} not found in the database",
            hint="Tables: " + (", ".join(x.name for x in schema.tables[:30]) or "(none)"),
        )
    return t


def column_of(t: Table, name: str):
    c = t.column(name)
    if c is None:
        raise NotFoundError(
            f"column {t.name}.{name} not found",
            hint="Columns: " + ", ".join(t.column_names),
        )
    return c


def key_of(t: Table, spec: ChangeSpec) -> tuple[str, ...]:
    key = spec.get("key") or (list(t.primary_key.columns) if t.primary_key else None)
    if not key:
        raise UserInputError(
            f"{t.name} has no primary key to batch the backfill by",
            hint='Name unique, non-null key columns in the spec: "key": ["id"].',
        )
    return tuple(key)


class Ctx:
    """What a builder needs: the spec, the schema, the dialect and the batch size."""

    def __init__(self, spec: ChangeSpec, schema: Schema, d: Dialect) -> None:
        self.spec, self.schema, self.d = spec, schema, d
        self.batch = int(spec.get("batch_size") or DEFAULT_BATCH_SIZE)
        self.built = Built()

    def rows(self, t: Table) -> int | None:
        return t.exact_count if t.exact_count is not None else t.row_estimate

    def backfill(self, t: Table, set_expression: str, where: str, desc: str) -> Operation:
        return backfill_op(
            desc,
            BackfillSpec(
                table=t.name,
                key_columns=key_of(t, self.spec),
                set_expression=set_expression,
                where=where,
                batch_size=self.batch,
                dialect=self.d.name,
                estimated_rows=self.rows(t),
            ),
        )

    def deploy(
        self, phase: str, title: str, instructions: str, rules: list[dict[str, Any]]
    ) -> Step:
        return step(
            phase,
            title,
            instructions,
            [manual_op(title, instructions, dialect=self.d.name)],
            validation=rules,
            gates=("validation_passed", "confirmation"),
        )


# --- column changes ---------------------------------------------------------------------------


def mirror_index_name(schema: Schema, table: str, columns: list[str], unique: bool) -> str:
    """A fresh name for an index rebuilt on the new column: ``<table>_<columns>_key`` (unique)
    or ``_idx``, with ``_new`` when that is taken. Never derived from the old index's name,
    which may be one the database generated and reserves (``sqlite_autoindex_users_1``)."""
    taken = {ix.name for t in schema.tables for ix in t.indexes}
    taken |= {u.name for t in schema.tables for u in t.uniques if u.name}
    parts = [table, *(c for c in columns if "(" not in c), "key" if unique else "idx"]
    name = name_of(*parts)
    return name if name not in taken else name_of(*parts, "new")


def _mirror_indexes(c: Ctx, t: Table, old: str, new: str) -> tuple[list[Operation], list[str]]:
    """Indexes (and unique constraints) on `old` rebuilt on `new`, so the switch loses none.
    Returns the operations and the names of the new indexes."""
    ops: list[Operation] = []
    names: list[str] = []
    for ix in t.indexes:
        if old not in ix.columns or ix.primary:
            continue
        cols = [new if col == old else col for col in ix.columns]
        name = mirror_index_name(c.schema, t.name, cols, ix.unique)
        names.append(name)
        ops += c.d.create_index(t.name, name, cols, unique=ix.unique, where=ix.predicate)
    return ops, names


def _old_indexes(t: Table, column: str) -> list[str]:
    """Named (droppable) indexes on `column`: not the primary key, not a constraint's own."""
    return [
        ix.name for ix in t.indexes if column in ix.columns and not ix.primary and not ix.constraint
    ]


def _undroppable(t: Table, column: str) -> str | None:
    """Why SQLite's DROP COLUMN would refuse `column` (it must be rebuilt instead), if it would."""
    if t.primary_key and column in t.primary_key.columns:
        return "it is part of the primary key"
    if any(column in u.columns for u in t.uniques) or any(
        column in ix.columns and ix.constraint for ix in t.indexes
    ):
        return "it has a UNIQUE constraint"
    if any(column in fk.columns for fk in t.foreign_keys):
        return "it is part of a foreign key"
    return None


def build_rename_column(c: Ctx) -> None:
    t = table_of(c.schema, c.spec.table or "")
    old, new = c.spec.get("column"), c.spec.get("new_name")
    col = column_of(t, old)
    if t.column(new) is not None:
        raise UserInputError(f"{t.name}.{new} already exists", hint="Pick another new_name.")
    _column_copy(c, t, old, new, col.data_type, SyncPair(old, new), rename=True)


def build_change_type(c: Ctx) -> None:
    t = table_of(c.schema, c.spec.table or "")
    name, type_ = c.spec.get("column"), c.spec.get("type")
    col = column_of(t, name)
    if c.d.rebuilds_tables:  # SQLite: the type (and a typeof CHECK) by a table rebuild
        from datamigration.plan import rebuild_sqlite

        return rebuild_sqlite.column_type(c, t, name, type_)
    why = _undroppable(t, name)
    if why and not c.d.drop_column_drops_indexes and not c.spec.get("keep_old"):
        raise c.d.unsupported(
            f"changing the type of {t.name}.{name} ({why})",
            "SQLite cannot drop the old column afterwards: rebuild the table with raw_sql "
            '(sqlite.org/lang_altertable.html), or plan with "keep_old": true and leave the old '
            "column in place.",
        )
    shadow = name_of(name, "new")
    forward = c.spec.get("using") or c.d.cast("{}", type_)
    pair = SyncPair(name, shadow, forward=forward, backward=c.d.cast("{}", col.data_type))
    _column_copy(c, t, name, shadow, type_, pair, rename=False)


def filled_rule(table: str, column: str, source: str, what: str) -> dict[str, Any]:
    """Every row whose `source` has a value has `column` filled too."""
    return {
        "id": f"{table}-{column}-filled",
        "type": "not_null",
        "table": table,
        "columns": [column],
        "filter": f"{source} IS NOT NULL",
        "description": f"every row with {source} has {column}{what}",
    }


#: What a type swap does to applications that prepare statements on the server.
PREPARED_STATEMENTS = (
    "The swap changes the result type of {col}: connections that prepared a statement "
    "reading it on the server (psycopg's automatic prepare, JDBC, PgBouncer in session mode, "
    "MySQL server-side prepares) fail with 'cached plan must not change result type' until "
    "they prepare again. Right after the swap recycle the application's connection pools (or "
    "run DISCARD ALL on pooled PostgreSQL sessions); or deploy beforehand an application "
    "version that keeps no server-side prepared statement reading it (psycopg "
    "prepare_threshold=None, JDBC prepareThreshold=0) and reads the new column explicitly, "
    "not through SELECT *. Watch the error rate for that message."
)


def _column_copy(
    c: Ctx, t: Table, old: str, new: str, type_: str, pair: SyncPair, *, rename: bool
) -> None:
    d, col = c.d, column_of(t, old)
    tag = f"{old}"
    add = d.add_column(t.name, new, type_)
    sync = d.sync_triggers(t.name, [pair], tag)
    b = c.built
    b.tables.append(t.name)
    keep_old = bool(c.spec.get("keep_old"))
    key = list(key_of(t, c.spec))
    if old not in key:
        # holds in every shape: the final validation always has a rule that can run
        b.final_rules.append({"id": f"{t.name}-pk-unique", "type": "unique", "table": t.name,
                              "columns": key})  # fmt: skip
    # SQLite: a rename keeps the original column (renamed) at the contract instead of dropping it
    rename_back = rename and not keep_old and not d.drop_column_drops_indexes
    b.steps.append(
        step(
            "expand",
            f"Add {t.name}.{new}",
            f"New nullable column {new} ({type_}) beside {old}; nothing reads it yet.",
            [add],
        )
    )
    b.steps.append(
        step(
            "expand",
            "Keep old and new in sync",
            "Triggers copy every write of the old application version to the new "
            "column and every write of the new version back, so both versions can "
            "run at the same time.",
            [sync],
        )
    )
    fwd = pair.forward.format(d.q(old))
    # rules for the shape after the backfill: old and new side by side
    rules: list[dict[str, Any]] = [filled_rule(t.name, new, old, "")]
    if rename:
        rules.append(
            {
                "id": f"{t.name}-{new}-equal",
                "type": "checksum_diff",
                "table": t.name,
                "target_table": t.name,
                "key": list(key_of(t, c.spec)),
                "columns": [*key_of(t, c.spec), old],
                "field_map": {old: new},
                "description": f"{new} holds exactly the values of {old}",
            }
        )
    b.steps.append(
        step(
            "migrate",
            f"Backfill {new}",
            f"Copy {old} into {new} in keyset batches of {c.batch:,} rows, one "
            "transaction per batch.",
            [
                c.backfill(
                    t,
                    f"{d.q(new)} = {fwd}",
                    d.distinct(d.q(new), fwd),
                    f"backfill {t.name}.{new} from {old}",
                )
            ],
            validation=rules,
        )
    )
    shape: list[Operation] = []
    if col.default is not None and not col.identity:
        shape.append(d.set_default(t.name, new, col.default))
    if not col.nullable:
        try:
            shape += d.set_not_null(t.name, new, type_)
        except UnsupportedChangeError:
            c.built.warnings.append(
                f"{old} is NOT NULL but {d.name} cannot add NOT NULL to {new} in place: "
                + (
                    f"{new} is nullable until the contract step, which gives the original "
                    f"column (NOT NULL and its other constraints) the name {new}."
                    if rename_back
                    else f"{new} stays nullable (the validation rule checks it is filled)."
                )
            )
    index_ops, new_indexes = _mirror_indexes(c, t, old, new)
    shape += index_ops
    if rename:
        for fk in t.foreign_keys:
            if old in fk.columns:
                cols = [new if x == old else x for x in fk.columns]
                shape += d.add_foreign_key(
                    t.name,
                    name_of(fk.name or t.name, "new"),
                    cols,
                    fk.ref_table,
                    fk.ref_columns,
                    None,
                )
    if shape:
        b.steps.append(
            step(
                "migrate",
                f"Give {new} the constraints and indexes of {old}",
                "Defaults, NOT NULL and indexes added the non-blocking way.",
                shape,
                validation=rules[:1],
            )
        )
    pk = bool(t.primary_key and old in t.primary_key.columns)
    if pk:
        c.built.warnings.append(
            f"{old} is part of the primary key of {t.name}: swapping it needs the primary key "
            "rebuilt on the new column; review the swap step, and tables referencing it."
        )
    if col.identity:
        c.built.warnings.append(
            f"{t.name}.{old} is an identity/serial column: its sequence stays with the old "
            "column; attach it to the new column before the contract step."
        )
    if rename:
        b.steps.append(
            c.deploy(
                "switch",
                "Deploy the application using the new name",
                f"Deploy the application version that reads and writes {t.name}.{new}. The old "
                "version keeps working meanwhile: the triggers copy its writes.",
                rules,
            )
        )
        if rename_back:
            c.built.steps.append(
                step(
                    "contract",
                    f"Drop the copy; {t.name}.{old} becomes {new}",
                    f"In one transaction: remove the sync triggers, drop the copy {new} and its "
                    f"indexes, and rename the original column {old} to {new}: it keeps its "
                    f"constraints (UNIQUE, NOT NULL), indexes and position, which {d.name} "
                    "cannot add to a column in place nor drop with it. Only after validation "
                    "passed (the copy equals the original) and every application instance "
                    "runs the new version. Point of no return.",
                    [d.keep_original_renamed(t.name, old, new, new_indexes, tag)],
                    reversible=False,
                )
            )
            b.final_rules += _not_null_rule(t.name, new, col.nullable)
        elif not keep_old:
            drops = _drop_indexes_first(c, t, old)
            _contract_columns(
                c, t, old, [sync], [*drops, d.drop_column(t.name, old, col.data_type)], col
            )
            b.final_rules += _not_null_rule(t.name, new, col.nullable)
    else:
        old_name = name_of(old, "old")
        after = SyncPair(old, old_name, forward=pair.backward, backward=pair.forward)
        swap = d.swap_columns(t.name, old, new, old_name, [after], tag)
        # after the swap `new` is gone: `old` is the new-typed column, `old_name` the original
        after_rules = [filled_rule(t.name, old, old_name, " (the new type)")]
        warning = PREPARED_STATEMENTS.format(col=f"{t.name}.{old}")
        b.steps.append(
            step(
                "switch",
                f"Swap {old} to the new type",
                f"In one short transaction {old} becomes {old_name} and {new} takes "
                f"the name {old}; the triggers keep {old_name} in step for rollback. " + warning,
                [swap],
                validation=after_rules,
                gates=("validation_passed", "confirmation"),
                monitoring={
                    "notes": [warning],
                    "watch_errors": ["cached plan must not change result type"],
                },
            )
        )
        b.result_type_changes.append(f"{t.name}.{old}")
        if not keep_old:
            after_sync = d.sync_triggers(t.name, [after], tag)
            drops = _drop_indexes_first(c, t, old)
            _contract_columns(
                c,
                t,
                old_name,
                [after_sync],
                [*drops, d.drop_column(t.name, old_name, col.data_type)],
                col,
            )
            b.final_rules += _not_null_rule(t.name, old, col.nullable)


def _not_null_rule(table: str, column: str, nullable: bool) -> list[dict[str, Any]]:
    if nullable:
        return []
    return [{"id": f"{table}-{column}-not-null", "type": "not_null", "table": table,
             "columns": [column]}]  # fmt: skip


def _drop_indexes_first(c: Ctx, t: Table, column: str) -> list[Operation]:
    """Where DROP COLUMN refuses an indexed column (SQLite), the contract drops those indexes
    first. The swap renamed the column, not the indexes, so they keep their names."""
    if c.d.drop_column_drops_indexes:
        return []
    return [c.d.drop_index(t.name, name, None) for name in _old_indexes(t, column)]


def _contract_columns(
    c: Ctx, t: Table, old: str, syncs: list[Operation], drops: list[Operation], col: Any = None
) -> None:
    ops = combine(
        f"drop the sync triggers and {t.name}.{old} in one transaction",
        [undo(s) for s in syncs] + drops,
    )
    in_pk = bool(t.primary_key and col is not None and col.name in t.primary_key.columns)
    if col is not None and not col.nullable and not in_pk:
        # where DDL cannot share one transaction (MySQL), inserts must succeed without the
        # old column at every instant between the trigger drop and the column drop
        ops = [*c.d.nullable_before_contract(t.name, old, col.data_type), *ops]
    c.built.steps.append(
        step(
            "contract",
            f"Drop {t.name}.{old}",
            f"Remove the sync triggers and the old column {old} in one transaction (no write "
            "meets the old column without its trigger). Only after validation passed and "
            "every application instance runs the new version. Point of no return: the rollback "
            "re-adds the column empty.",
            ops,
            reversible=False,
        )
    )


def build_add_column(c: Ctx) -> None:
    t = table_of(c.schema, c.spec.table or "")
    name, type_ = c.spec.get("column"), c.spec.get("type")
    if t.column(name) is not None:
        raise UserInputError(f"{t.name}.{name} already exists", hint="Nothing to add.")
    default = c.spec.get("default")
    default = None if default is None else str(default)
    not_null = c.spec.get("nullable") is False
    if not_null and default is None:
        raise UserInputError(
            f"a NOT NULL column {name} needs a default for existing rows",
            hint='Give "default", or add it nullable, backfill, then set_not_null.',
        )
    c.built.tables.append(t.name)
    c.built.steps.append(
        step(
            "expand",
            f"Add {t.name}.{name}",
            f"Add {name} {type_}; a constant default is metadata only.",
            [c.d.add_column(t.name, name, type_, default=default, not_null=not_null)],
        )
    )


def build_drop_column(c: Ctx) -> None:
    t = table_of(c.schema, c.spec.table or "")
    col = column_of(t, c.spec.get("column"))
    c.built.tables.append(t.name)
    c.built.steps.append(
        c.deploy(
            "switch",
            "Deploy the application without the column",
            f"Deploy the version that no longer reads or writes {t.name}.{col.name}.",
            [],
        )
    )
    c.built.steps.append(
        step(
            "contract",
            f"Drop {t.name}.{col.name}",
            "Drop the column once no application version uses it.",
            [c.d.drop_column(t.name, col.name, col.data_type)],
            reversible=False,
        )
    )


def build_set_not_null(c: Ctx) -> None:
    t = table_of(c.schema, c.spec.table or "")
    col = column_of(t, c.spec.get("column"))
    d = c.d
    c.built.tables.append(t.name)
    rule = {
        "id": f"{t.name}-{col.name}-not-null",
        "type": "not_null",
        "table": t.name,
        "columns": [col.name],
    }
    if c.spec.get("fill"):
        c.built.steps.append(
            step(
                "migrate",
                f"Fill NULLs in {col.name}",
                f"Write {c.spec.get('fill')} into existing NULLs in batches. Which rows were "
                "NULL is not kept, so no rollback can restore them: a point of no return.",
                [
                    c.backfill(
                        t,
                        f"{d.q(col.name)} = {c.spec.get('fill')}",
                        f"{d.q(col.name)} IS NULL",
                        f"fill NULLs of {t.name}.{col.name}",
                    )
                ],
                validation=[rule],
                reversible=False,
            )
        )
    if c.d.rebuilds_tables:
        from datamigration.plan import rebuild_sqlite

        return rebuild_sqlite.not_null(c, t, col.name, rule)
    c.built.steps.append(
        step(
            "migrate",
            f"Make {col.name} NOT NULL",
            "Checked without blocking writes, then enforced.",
            d.set_not_null(t.name, col.name, col.data_type),
            validation=[rule],
        )
    )


def build_add_unique(c: Ctx) -> None:
    t = table_of(c.schema, c.spec.table or "")
    cols = list(c.spec.get("columns"))
    name = c.spec.get("name") or name_of(t.name, *cols, "key")
    rule = {"id": f"{name}-unique", "type": "unique", "table": t.name, "columns": cols}
    c.built.tables.append(t.name)
    c.built.steps.append(
        step(
            "expand",
            f"Unique ({', '.join(cols)}) on {t.name}",
            "Build the unique index without blocking writes, then attach it.",
            c.d.add_unique(t.name, name, cols),
            validation=[rule],
        )
    )


def build_add_foreign_key(c: Ctx) -> None:
    t = table_of(c.schema, c.spec.table or "")
    cols, ref = list(c.spec.get("columns")), c.spec.get("ref_table")
    refcols = list(c.spec.get("ref_columns"))
    name = c.spec.get("name") or name_of(t.name, *cols, "fkey")
    rule = {
        "id": f"{name}-orphans",
        "type": "fk_orphans",
        "table": t.name,
        "columns": cols,
        "ref_table": ref,
        "ref_columns": refcols,
    }
    c.built.tables += [t.name, ref]
    if c.d.rebuilds_tables:
        from datamigration.plan import rebuild_sqlite

        on_delete = c.spec.get("on_delete")
        return rebuild_sqlite.foreign_key(c, t, name, cols, ref, refcols, on_delete, rule)
    ops: list[Operation] = []
    if not any(tuple(ix.columns[: len(cols)]) == tuple(cols) for ix in t.indexes):
        ops += c.d.create_index(t.name, name_of(t.name, *cols, "idx"), cols)
        c.built.warnings.append(
            f"no index leads with ({', '.join(cols)}) on {t.name}: the plan builds one, or every "
            f"delete on {ref} scans {t.name}."
        )
    ops += c.d.add_foreign_key(t.name, name, cols, ref, refcols, c.spec.get("on_delete"))
    c.built.steps.append(
        step(
            "expand",
            f"Foreign key {t.name}({', '.join(cols)}) → {ref}",
            "Added NOT VALID (no scan), then validated without blocking writes.",
            ops,
            validation=[rule],
        )
    )


def build_add_check(c: Ctx) -> None:
    t = table_of(c.schema, c.spec.table or "")
    name = c.spec.get("name") or name_of(t.name, "check")
    if c.d.rebuilds_tables:
        from datamigration.plan import rebuild_sqlite

        return rebuild_sqlite.check(c, t, name, c.spec.get("expression"))
    if c.d.name == "mysql":  # InnoDB adds a CHECK only by copying: rebuild beside the table
        from datamigration.plan.rebuild_mysql import build_rebuild

        expr = c.spec.get("expression")
        build_rebuild(c, t, [f"ADD CONSTRAINT {c.d.q(name)} CHECK ({expr})"], f"CHECK ({expr})")
        return
    c.built.tables.append(t.name)
    c.built.steps.append(
        step(
            "expand",
            f"Check {name} on {t.name}",
            f"CHECK ({c.spec.get('expression')}) added NOT VALID, then validated.",
            c.d.add_check(t.name, name, c.spec.get("expression")),
        )
    )


def build_add_index(c: Ctx) -> None:
    t = table_of(c.schema, c.spec.table or "")
    cols = list(c.spec.get("columns"))
    name = c.spec.get("name") or name_of(t.name, *cols, "idx")
    existing = next((ix for ix in t.indexes if ix.name == name), None)
    if existing is not None and existing.valid:
        raise UserInputError(f"index {name} already exists on {t.name}", hint="Pick another name.")
    unique = bool(c.spec.get("unique"))
    rules = (
        [{"id": f"{name}-unique", "type": "unique", "table": t.name, "columns": cols}]
        if unique
        else []
    )
    c.built.tables.append(t.name)
    c.built.steps.append(
        step(
            "expand",
            f"Index {name}",
            "Built without blocking writes; an invalid leftover is dropped first.",
            c.d.create_index(t.name, name, cols, unique=unique, where=c.spec.get("where")),
            validation=rules,
        )
    )


def build_drop_index(c: Ctx) -> None:
    name = c.spec.get("name")
    found = [(t, ix) for t in c.schema.tables for ix in t.indexes if ix.name == name]
    if not found:
        raise NotFoundError(f"index {name!r} not found", hint="Check the index name.")
    t, ix = found[0]
    c.built.tables.append(t.name)
    c.built.steps.append(
        step(
            "contract",
            f"Drop index {name}",
            "Dropped without blocking writes; the rollback rebuilds it.",
            [c.d.drop_index(t.name, name, ix.definition)],
        )
    )


def build_rename_table(c: Ctx) -> None:
    t = table_of(c.schema, c.spec.table or "")
    new = c.spec.get("new_name")
    if c.schema.table(new) is not None:
        raise UserInputError(f"table {new} already exists", hint="Pick another new_name.")
    if c.spec.get("strategy") == "expand_contract":
        raise NotYetSupportedError(
            "rename_table with strategy expand_contract (copy + triggers) is not planned yet",
            hint='Use the default strategy "view": the table is renamed and a view keeps the old '
            "name working until the contract step.",
        )
    d = c.d
    c.built.tables.append(t.name)
    rename = d.rename_table_with_view(t.name, new)
    c.built.steps.append(
        step(
            "expand",
            f"Rename {t.name} to {new}",
            f"One short transaction: rename, then a view named {t.name} so the "
            "old application keeps working.",
            [rename],
        )
    )
    if d.name == "sqlite":
        c.built.warnings.append(
            f"SQLite views are read-only: the old application can read {t.name} but not write it "
            "until it is redeployed."
        )
    c.built.steps.append(
        c.deploy(
            "switch",
            f"Deploy the application using {new}",
            f"Deploy the version that uses {new}.",
            [],
        )
    )
    if not c.spec.get("keep_old"):
        c.built.steps.append(
            step(
                "contract",
                f"Drop the view {t.name}",
                "Remove the compatibility view once nothing uses the old name.",
                [d.drop_view(t.name, f"SELECT * FROM {d.q(new)}")],
            )
        )


def build_split_table(c: Ctx) -> None:
    t = table_of(c.schema, c.spec.table or "")
    new = c.spec.get("new_table")
    cols = list(c.spec.get("columns"))
    key = key_of(t, c.spec)
    d = c.d
    shape = [(k, column_of(t, k).data_type, False) for k in key]
    shape += [(x, column_of(t, x).data_type, column_of(t, x).nullable) for x in cols]
    create = d.create_table_like(new, shape, key, t.name)
    kmap = [(k, k) for k in key]
    cmap = [(x, x) for x in cols]
    fwd = d.table_sync_triggers(t.name, new, kmap, cmap, f"to_{new}", upsert=True, delete=True)
    back = d.table_sync_triggers(
        new, t.name, kmap, cmap, f"to_{t.name}", upsert=False, delete=False
    )
    qk = ", ".join(d.q(k) for k in key)
    match = " AND ".join(f"n.{d.q(k)} = src.{d.q(k)}" for k in key)
    spec = BackfillSpec(
        table=t.name,
        key_columns=key,
        mode="insert",
        target_table=new,
        insert_columns=(*key, *cols),
        select_expressions=tuple(f"src.{d.q(x)}" for x in (*key, *cols)),
        where=f"NOT EXISTS (SELECT 1 FROM {d.q(new)} n WHERE {match})",
        conflict_columns=key,
        batch_size=c.batch,
        dialect=d.name,
        estimated_rows=c.rows(t),
    )
    del qk
    rules = [
        {
            "id": f"{new}-count",
            "type": "count_match",
            "table": t.name,
            "target_table": new,
            "tolerance": 0,
        },
        {
            "id": f"{new}-equal",
            "type": "checksum_diff",
            "table": t.name,
            "target_table": new,
            "key": list(key),
            "columns": [*key, *cols],
        },
    ]
    b = c.built
    b.tables += [t.name]
    b.steps.append(
        step(
            "expand",
            f"Create {new}",
            f"{new} holds {', '.join(cols)} keyed by {', '.join(key)}.",
            [create],
        )
    )
    b.steps.append(
        step(
            "expand",
            f"Sync {t.name} and {new}",
            "Triggers copy writes both ways so both application versions run.",
            [fwd, back],
        )
    )
    b.steps.append(
        step(
            "migrate",
            f"Backfill {new}",
            f"Copy existing rows in batches of {c.batch:,}.",
            [backfill_op(f"copy {t.name} rows into {new}", spec)],
            validation=rules,
        )
    )
    b.steps.append(
        c.deploy(
            "switch",
            f"Deploy the application reading {new}",
            f"Deploy the version that reads and writes {', '.join(cols)} in {new}.",
            rules,
        )
    )
    if not c.spec.get("keep_old"):
        drops = [d.drop_column(t.name, x, column_of(t, x).data_type) for x in cols]
        b.steps.append(
            step(
                "contract",
                f"Drop the moved columns from {t.name}",
                "Remove the triggers and the old columns in one transaction (no write meets "
                "a moved column without its trigger); point of no return.",
                combine(
                    f"drop the sync triggers and the moved columns of {t.name}",
                    [undo(back), undo(fwd), *drops],
                ),
                reversible=False,
            )
        )


def build_merge_tables(c: Ctx) -> None:
    t = table_of(c.schema, c.spec.table or "")
    src = table_of(c.schema, c.spec.get("from_table"))
    cols = list(c.spec.get("columns"))
    join: dict[str, str] = dict(c.spec.get("join"))
    d = c.d
    adds = [d.add_column(t.name, x, column_of(src, x).data_type) for x in cols]
    kmap = list(join.items())  # from_table column -> table column
    cmap = [(x, x) for x in cols]
    fwd = d.table_sync_triggers(
        src.name, t.name, kmap, cmap, f"to_{t.name}", upsert=False, delete=False
    )
    back = d.table_sync_triggers(
        t.name,
        src.name,
        [(b, a) for a, b in kmap],
        cmap,
        f"to_{src.name}",
        upsert=False,
        delete=False,
    )
    cond = " AND ".join(f"f.{d.q(a)} = {d.q(t.name)}.{d.q(b)}" for a, b in kmap)
    sets = ", ".join(
        f"{d.q(x)} = (SELECT f.{d.q(x)} FROM {d.q(src.name)} f WHERE {cond})" for x in cols
    )
    todo = " OR ".join(
        d.distinct(d.q(x), f"(SELECT f.{d.q(x)} FROM {d.q(src.name)} f WHERE {cond})") for x in cols
    )
    b = c.built
    b.tables += [t.name, src.name]
    b.steps.append(
        step("expand", f"Add {', '.join(cols)} to {t.name}", "New nullable columns.", adds)
    )
    b.steps.append(
        step(
            "expand",
            f"Sync {src.name} and {t.name}",
            "Triggers copy writes both ways so both application versions run.",
            [fwd, back],
        )
    )
    b.steps.append(
        step(
            "migrate",
            f"Backfill from {src.name}",
            f"Batches of {c.batch:,}.",
            [c.backfill(t, sets, todo, f"copy {', '.join(cols)} from {src.name}")],
        )
    )
    b.steps.append(
        c.deploy(
            "switch",
            f"Deploy the application reading {t.name}",
            f"Deploy the version that no longer uses {src.name}.",
            [],
        )
    )
    if not c.spec.get("keep_old"):
        b.steps.append(
            step(
                "contract",
                f"Drop {src.name}",
                "Remove the triggers and the merged table in one transaction; point of no return.",
                combine(
                    f"drop the sync triggers and {src.name}",
                    [undo(back), undo(fwd), d.drop_table(src.name)],
                ),
                reversible=False,
            )
        )


def build_backfill(c: Ctx) -> None:
    t = table_of(c.schema, c.spec.table or "")
    sets: dict[str, str] = dict(c.spec.get("set"))
    d = c.d
    for col in sets:
        column_of(t, col)
    assign = ", ".join(f"{d.q(k)} = {v}" for k, v in sets.items())
    todo = " OR ".join(d.distinct(d.q(k), f"({v})") for k, v in sets.items())
    if c.spec.get("where"):
        todo = f"({c.spec.get('where')}) AND ({todo})"
    rereads = [k for k, v in sets.items() if re.search(rf"\b{re.escape(k)}\b", v)]
    if rereads:
        c.built.warnings.append(
            f"The backfill of {', '.join(rereads)} reads the value it replaces: a row once done "
            "no longer matches, so it is never skipped as already right. The executor's "
            "checkpoint keeps each row to one pass; running the backfill again from the start "
            "(another plan) would apply it twice."
        )
    c.built.tables.append(t.name)
    c.built.steps.append(
        step(
            "migrate",
            f"Backfill {t.name}",
            f"Set {', '.join(sets)} in keyset batches of {c.batch:,}; rows "
            "already right are skipped, so a re-run is harmless. The previous values are not "
            "kept, so no rollback can restore them: a point of no return (restore from the "
            "verified backup, or plan a backfill that sets them back).",
            [c.backfill(t, assign, todo, f"backfill {t.name}")],
            reversible=False,
        )
    )


def build_raw_sql(c: Ctx) -> None:
    from datamigration.lint.split import split_statements

    stmts, _ = split_statements(c.spec.get("sql"), c.d.lint_dialect)
    texts = [s.text.strip().rstrip(";") for s in stmts]
    rev, _ = split_statements(c.spec.get("reverse_sql") or "", c.d.lint_dialect)
    reverse = (
        [c.d.op("reverse (as given)", [s.text.strip().rstrip(";") for s in rev])] if rev else []
    )
    concurrent = any("concurrently" in s.lower() for s in texts)
    transactional = c.spec.get("transactional", not concurrent)
    ops = (
        [c.d.op("raw SQL (as given)", texts, reverse=reverse)]
        if transactional
        else [
            c.d.op(f"raw SQL {i + 1}", [s], transactional=False, reverse=reverse if i == 0 else [])
            for i, s in enumerate(texts)
        ]
    )
    if not reverse:
        c.built.warnings.append("raw_sql without reverse_sql: the step cannot be rolled back.")
    if c.spec.table:
        c.built.tables.append(c.spec.table)
    c.built.steps.append(
        step(
            "migrate",
            c.spec.title or "Raw SQL",
            "Statements as written, linted below.",
            ops,
            reversible=bool(reverse),
        )
    )


def build_move_table(c: Ctx) -> None:
    raise NotYetSupportedError(
        MOVE_REFUSAL,
        hint="For now: plan the schema change in place, or export/import by hand; the "
        "validate and diff tools can already compare the two databases.",
        kind="move_table",
    )


BUILDERS: dict[str, Callable[[Ctx], None]] = {
    "add_column": build_add_column,
    "drop_column": build_drop_column,
    "rename_column": build_rename_column,
    "change_type": build_change_type,
    "set_not_null": build_set_not_null,
    "add_unique": build_add_unique,
    "add_foreign_key": build_add_foreign_key,
    "add_check": build_add_check,
    "add_index": build_add_index,
    "drop_index": build_drop_index,
    "rename_table": build_rename_table,
    "split_table": build_split_table,
    "merge_tables": build_merge_tables,
    "backfill": build_backfill,
    "raw_sql": build_raw_sql,
    "move_table": build_move_table,
}


def check_names(spec: ChangeSpec, schema: Schema) -> None:
    """Column and table names the spec gives, looked up in the inspected schema before any
    statement is built, so a name the database does not have is refused with its list."""
    skip = ("raw_sql", "drop_index", "move_table", "add_column")
    if spec.kind in skip or not spec.table or schema.dialect == "mongodb":
        return
    t = table_of(schema, spec.table)
    names = [c for c in spec.get("columns") or () if "(" not in c or spec.kind == "split_table"]
    if spec.kind == "merge_tables":
        names = list(dict(spec.get("join") or {}).values())
        src = table_of(schema, spec.get("from_table"))
        for c in [*dict(spec.get("join") or {}), *(spec.get("columns") or ())]:
            column_of(src, c)
    for c in [*names, *(spec.get("key") or ())]:
        column_of(t, c)
    if spec.kind == "add_foreign_key":
        ref = table_of(schema, spec.get("ref_table"))
        for c in spec.get("ref_columns") or ():
            column_of(ref, c)


def build(spec: ChangeSpec, schema: Schema, d: Dialect) -> Built:
    from datamigration.plan.expressions import check_spec

    check_spec(spec, d.name)  # every expression is one expression, before any step exists
    if d.name == "mongodb":  # document operations, not SQL: plan/mongo_kinds.py
        from datamigration.plan import mongo_kinds

        return mongo_kinds.build(spec, schema, d)
    check_names(spec, schema)
    c = Ctx(spec, schema, d.for_schema(schema))
    BUILDERS[spec.kind](c)
    return c.built
