"""Change kinds → steps: the entry of the planner's recipe book.

Why this module: it is the one place that knows every recipe module. Importing them registers
their recipes (`@recipe("add_column")` in plan/recipes_*.py) in the toolkit's `RECIPES`;
`build` checks the spec's expressions and names, then runs the recipe of the spec's kind, or
hands a document database's spec to plan/mongo_kinds.py. A new kind is one more recipe
(`move_table` is plan/recipes_move.py: capture, snapshot, catch-up, shadow, cutover). Recipes return `Step`s without ids or estimates; the
planner numbers them, estimates them and attaches monitoring.
"""

from __future__ import annotations

from datamigration.db.model import Schema
from datamigration.plan import (  # noqa: F401 - importing a recipe module registers its recipes
    mongo_kinds,
    recipes_columns,
    recipes_constraints,
    recipes_data,
    recipes_move,
    recipes_tables,
)
from datamigration.plan.expressions import check_spec
from datamigration.plan.model import ChangeSpec
from datamigration.plan.ops_base import Dialect
from datamigration.plan.toolkit import (
    RECIPES,
    Built,
    Ctx,
    column_of,
    table_of,
)

#: change kind -> recipe (every registered one)
BUILDERS = RECIPES


def check_names(spec: ChangeSpec, schema: Schema) -> None:
    """Column and table names the spec gives, looked up in the inspected schema before any
    statement is built, so a name the database does not have is refused with its list."""
    skip = ("raw_sql", "drop_index", "move_table", "add_column")
    if spec.kind in skip or not spec.table:
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
    check_spec(spec, d.name)  # every expression is one expression, before any step exists
    if d.documents:  # document operations, not SQL: plan/mongo_kinds.py
        return mongo_kinds.build(spec, schema, d)
    check_names(spec, schema)
    c = Ctx(spec, schema, d.for_schema(schema))
    BUILDERS[spec.kind](c)
    return c.built
