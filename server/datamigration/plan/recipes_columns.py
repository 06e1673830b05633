"""Recipes of the column changes: add, drop, rename, change type, set NOT NULL.

Why together: rename and change of type share the expand-contract copy of a column (a new
column beside the old, triggers keeping both in sync, a keyset backfill, the constraints and
indexes of the old column rebuilt on the new, a switch, a contract), and drop / NOT NULL share
its contract helpers.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from datamigration.db.model import Column, Schema, Table
from datamigration.errors import UserInputError
from datamigration.plan import rebuild_sqlite
from datamigration.plan.model import Operation
from datamigration.plan.ops_base import (
    SyncPair,
    UnsupportedChangeError,
    combine,
    name_of,
)
from datamigration.plan.toolkit import (
    PREPARED_STATEMENTS,
    Ctx,
    Rule,
    checksum_rule,
    column_of,
    filled_rule,
    key_of,
    not_null_rule,
    recipe,
    step,
    table_of,
    undo,
    unique_rule,
)


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


@recipe("rename_column")
def build_rename_column(c: Ctx) -> None:
    t = table_of(c.schema, c.spec.table or "")
    old, new = c.spec.get("column"), c.spec.get("new_name")
    col = column_of(t, old)
    if t.column(new) is not None:
        raise UserInputError(f"{t.name}.{new} already exists", hint="Pick another new_name.")
    _column_copy(c, t, old, new, col.data_type, SyncPair(old, new), rename=True)


@recipe("change_type")
def build_change_type(c: Ctx) -> None:
    t = table_of(c.schema, c.spec.table or "")
    name, type_ = c.spec.get("column"), c.spec.get("type")
    col = column_of(t, name)
    if c.d.rebuilds_tables:  # SQLite: the type (and a typeof CHECK) by a table rebuild
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


@dataclass(frozen=True)
class _Copy:
    """One expand-contract copy of a column: what its phases share."""

    c: Ctx
    t: Table
    col: Column
    old: str
    new: str
    type_: str
    pair: SyncPair
    sync: Operation
    rename: bool
    keep_old: bool

    @property
    def tag(self) -> str:
        return self.old

    @property
    def rename_back(self) -> bool:
        """SQLite: a rename keeps the original column (renamed) at the contract instead of
        dropping it."""
        return self.rename and not self.keep_old and not self.c.d.drop_column_drops_indexes


def _column_copy(
    c: Ctx, t: Table, old: str, new: str, type_: str, pair: SyncPair, *, rename: bool
) -> None:
    """Expand (a new column beside the old, kept in sync by triggers), migrate (backfill, the
    old column's constraints and indexes on the new one), then switch and contract: a rename
    deploys the application on the new name, a change of type swaps the two columns."""
    sync = c.d.sync_triggers(t.name, [pair], old)
    x = _Copy(c, t, column_of(t, old), old, new, type_, pair, sync, rename,
              bool(c.spec.get("keep_old")))  # fmt: skip
    c.built.tables.append(t.name)
    key = list(key_of(t, c.spec))
    if old not in key:
        # holds in every shape: the final validation always has a rule that can run
        c.built.final_rules.append(unique_rule(f"{t.name}-pk-unique", t.name, key))
    rules = _expand_and_backfill(x)
    new_indexes = _shape_like_old(x, rules)
    _column_warnings(x)
    if rename:
        _switch_to_new_name(x, rules, new_indexes)
    else:
        _swap_types(x)


def _expand_and_backfill(x: _Copy) -> list[Rule]:
    """The new column, its sync triggers and the backfill; returns the rules that hold after
    the backfill (old and new side by side)."""
    c, t, d, old, new = x.c, x.t, x.c.d, x.old, x.new
    c.built.steps.append(
        step(
            "expand",
            f"Add {t.name}.{new}",
            f"New nullable column {new} ({x.type_}) beside {old}; nothing reads it yet.",
            [d.add_column(t.name, new, x.type_)],
        )
    )
    c.built.steps.append(
        step(
            "expand",
            "Keep old and new in sync",
            "Triggers copy every write of the old application version to the new "
            "column and every write of the new version back, so both versions can "
            "run at the same time.",
            [x.sync],
        )
    )
    fwd = x.pair.forward.format(d.q(old))
    rules: list[Rule] = [filled_rule(t.name, new, old, "")]
    if x.rename:
        rules.append(
            checksum_rule(
                f"{t.name}-{new}-equal",
                t.name,
                t.name,
                key_of(t, c.spec),
                [*key_of(t, c.spec), old],
                field_map={old: new},
                description=f"{new} holds exactly the values of {old}",
            )
        )
    c.built.steps.append(
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
    return rules


def _shape_like_old(x: _Copy, rules: list[Rule]) -> list[str]:
    """The old column's default, NOT NULL, indexes (and, for a rename, foreign keys) on the
    new column, the non-blocking way. Returns the names of the new indexes."""
    c, t, d, col, old, new = x.c, x.t, x.c.d, x.col, x.old, x.new
    shape: list[Operation] = []
    if col.default is not None and not col.identity:
        shape.append(d.set_default(t.name, new, col.default))
    if not col.nullable:
        try:
            shape += d.set_not_null(t.name, new, x.type_)
        except UnsupportedChangeError:
            c.built.warnings.append(
                f"{old} is NOT NULL but {d.name} cannot add NOT NULL to {new} in place: "
                + (
                    f"{new} is nullable until the contract step, which gives the original "
                    f"column (NOT NULL and its other constraints) the name {new}."
                    if x.rename_back
                    else f"{new} stays nullable (the validation rule checks it is filled)."
                )
            )
    index_ops, new_indexes = _mirror_indexes(c, t, old, new)
    shape += index_ops
    if x.rename:
        for fk in t.foreign_keys:
            if old in fk.columns:
                cols = [new if n == old else n for n in fk.columns]
                shape += d.add_foreign_key(
                    t.name, name_of(fk.name or t.name, "new"), cols, fk.ref_table,
                    fk.ref_columns, None,
                )  # fmt: skip
    if shape:
        c.built.steps.append(
            step(
                "migrate",
                f"Give {new} the constraints and indexes of {old}",
                "Defaults, NOT NULL and indexes added the non-blocking way.",
                shape,
                validation=rules[:1],
            )
        )
    return new_indexes


def _column_warnings(x: _Copy) -> None:
    """What the copy cannot carry over by itself: a primary key, an identity's sequence."""
    t, old = x.t, x.old
    if t.primary_key and old in t.primary_key.columns:
        x.c.built.warnings.append(
            f"{old} is part of the primary key of {t.name}: swapping it needs the primary key "
            "rebuilt on the new column; review the swap step, and tables referencing it."
        )
    if x.col.identity:
        x.c.built.warnings.append(
            f"{t.name}.{old} is an identity/serial column: its sequence stays with the old "
            "column; attach it to the new column before the contract step."
        )


def _switch_to_new_name(x: _Copy, rules: list[Rule], new_indexes: list[str]) -> None:
    """A rename: the application moves to the new name, then the old column goes (or, on
    SQLite, the original column takes the new name)."""
    c, t, d, col, old, new = x.c, x.t, x.c.d, x.col, x.old, x.new
    c.built.steps.append(
        c.deploy(
            "switch",
            "Deploy the application using the new name",
            f"Deploy the application version that reads and writes {t.name}.{new}. The old "
            "version keeps working meanwhile: the triggers copy its writes.",
            rules,
        )
    )
    if x.rename_back:
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
                [d.keep_original_renamed(t.name, old, new, new_indexes, x.tag)],
                reversible=False,
            )
        )
        c.built.final_rules += _not_null_rule(t.name, new, col.nullable)
    elif not x.keep_old:
        drops = _drop_indexes_first(c, t, old)
        _contract_columns(
            c, t, old, [x.sync], [*drops, d.drop_column(t.name, old, col.data_type)], col
        )
        c.built.final_rules += _not_null_rule(t.name, new, col.nullable)


def _swap_types(x: _Copy) -> None:
    """A change of type: the new-typed column takes the old name in one short transaction
    (the original stays, in sync, for the rollback), then the original goes."""
    c, t, d, col, old, new = x.c, x.t, x.c.d, x.col, x.old, x.new
    old_name = name_of(old, "old")
    after = SyncPair(old, old_name, forward=x.pair.backward, backward=x.pair.forward)
    swap = d.swap_columns(t.name, old, new, old_name, [after], x.tag)
    # after the swap `new` is gone: `old` is the new-typed column, `old_name` the original
    after_rules = [filled_rule(t.name, old, old_name, " (the new type)")]
    warning = PREPARED_STATEMENTS.format(col=f"{t.name}.{old}")
    c.built.steps.append(
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
    c.built.result_type_changes.append(f"{t.name}.{old}")
    if not x.keep_old:
        after_sync = d.sync_triggers(t.name, [after], x.tag)
        drops = _drop_indexes_first(c, t, old)
        _contract_columns(
            c,
            t,
            old_name,
            [after_sync],
            [*drops, d.drop_column(t.name, old_name, col.data_type)],
            col,
        )
        c.built.final_rules += _not_null_rule(t.name, old, col.nullable)


def _not_null_rule(table: str, column: str, nullable: bool) -> list[Rule]:
    """The final NOT NULL of a column that was NOT NULL before the change."""
    return [] if nullable else [not_null_rule(f"{table}-{column}-not-null", table, column)]


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


@recipe("add_column")
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


@recipe("drop_column")
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


@recipe("set_not_null")
def build_set_not_null(c: Ctx) -> None:
    t = table_of(c.schema, c.spec.table or "")
    col = column_of(t, c.spec.get("column"))
    d = c.d
    c.built.tables.append(t.name)
    rule = not_null_rule(f"{t.name}-{col.name}-not-null", t.name, col.name)
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
