"""Recipes of the constraint and index changes: unique, foreign key, check, add/drop index.

Why together: each is added the non-blocking way of its database (an index built
concurrently then attached, a constraint NOT VALID then validated, a MySQL/SQLite table
rebuild where the database has nothing lighter) and checked by one validation rule.
"""

from __future__ import annotations

from datamigration.errors import NotFoundError, UserInputError
from datamigration.plan import rebuild_sqlite
from datamigration.plan.model import Operation
from datamigration.plan.ops_base import (
    name_of,
)
from datamigration.plan.rebuild_mysql import build_rebuild
from datamigration.plan.toolkit import (
    Ctx,
    orphans_rule,
    recipe,
    step,
    table_of,
    unique_rule,
)


@recipe("add_unique")
def build_add_unique(c: Ctx) -> None:
    t = table_of(c.schema, c.spec.table or "")
    cols = list(c.spec.get("columns"))
    name = c.spec.get("name") or name_of(t.name, *cols, "key")
    rule = unique_rule(f"{name}-unique", t.name, cols)
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


@recipe("add_foreign_key")
def build_add_foreign_key(c: Ctx) -> None:
    t = table_of(c.schema, c.spec.table or "")
    cols, ref = list(c.spec.get("columns")), c.spec.get("ref_table")
    refcols = list(c.spec.get("ref_columns"))
    name = c.spec.get("name") or name_of(t.name, *cols, "fkey")
    rule = orphans_rule(f"{name}-orphans", t.name, cols, ref, refcols)
    c.built.tables += [t.name, ref]
    if c.d.rebuilds_tables:
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


@recipe("add_check")
def build_add_check(c: Ctx) -> None:
    t = table_of(c.schema, c.spec.table or "")
    name = c.spec.get("name") or name_of(t.name, "check")
    if c.d.rebuilds_tables:
        return rebuild_sqlite.check(c, t, name, c.spec.get("expression"))
    if c.d.check_by_rebuild:  # InnoDB adds a CHECK only by copying: rebuild beside the table
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


@recipe("add_index")
def build_add_index(c: Ctx) -> None:
    t = table_of(c.schema, c.spec.table or "")
    cols = list(c.spec.get("columns"))
    name = c.spec.get("name") or name_of(t.name, *cols, "idx")
    existing = next((ix for ix in t.indexes if ix.name == name), None)
    if existing is not None and existing.valid:
        raise UserInputError(f"index {name} already exists on {t.name}", hint="Pick another name.")
    unique = bool(c.spec.get("unique"))
    rules = [unique_rule(f"{name}-unique", t.name, cols)] if unique else []
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


@recipe("drop_index")
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
