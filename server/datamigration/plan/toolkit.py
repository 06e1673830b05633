"""The planner's toolkit: what every change-kind recipe builds with.

Why a module of its own: the recipes (plan/recipes_*.py, plan/mongo_kinds.py and the table
rebuilds of plan/rebuild_sqlite.py and plan/rebuild_mysql.py) all build with the same few
things: the build context `Ctx`, `step`, the key of a backfill (`key_of`), the validation-rule
builders, and the registry `RECIPES` that plan/kinds.py dispatches on. This module imports no
recipe, so any recipe can import it at its top without an import circle.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from datamigration.db.model import Column, Schema, Table
from datamigration.errors import NotFoundError, UserInputError
from datamigration.plan.model import DEFAULT_BATCH_SIZE, BackfillSpec, ChangeSpec, Operation, Step
from datamigration.plan.ops_base import Dialect, backfill_op, manual_op

#: A validation rule in the validation engine's format (schemas/validation-rules.schema.json).
Rule = dict[str, Any]
#: A recipe: adds the steps of one change kind to `c.built`.
Recipe = Callable[["Ctx"], None]


class NotYetSupportedError(UserInputError):
    """A change kind whose engine arrives in a later issue."""


MOVE_REFUSAL = (
    "move_table from MongoDB (a collection to another database) is not planned yet: a plan "
    "that moves a collection needs change data capture from MongoDB, which is not built. "
    "Tables move with the dual_write_cdc pattern."
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


def column_of(t: Table, name: str) -> Column:
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


# --- validation rules -------------------------------------------------------------------------


def unique_rule(rule_id: str, table: str, columns: Sequence[str]) -> Rule:
    """No two rows share `columns`."""
    return {"id": rule_id, "type": "unique", "table": table, "columns": list(columns)}


def not_null_rule(
    rule_id: str,
    table: str,
    column: str,
    *,
    where: str | dict[str, Any] | None = None,
    description: str = "",
) -> Rule:
    """`column` is filled (in the rows `where` selects, when given: SQL, or a MongoDB
    filter)."""
    rule: Rule = {"id": rule_id, "type": "not_null", "table": table, "columns": [column]}
    if where is not None:
        rule["filter"] = where
    if description:
        rule["description"] = description
    return rule


def filled_rule(table: str, column: str, source: str, what: str) -> Rule:
    """Every row whose `source` has a value has `column` filled too."""
    return not_null_rule(
        f"{table}-{column}-filled",
        table,
        column,
        where=f"{source} IS NOT NULL",
        description=f"every row with {source} has {column}{what}",
    )


def checksum_rule(
    rule_id: str,
    table: str,
    target_table: str,
    key: Sequence[str],
    columns: Sequence[str],
    *,
    field_map: dict[str, str] | None = None,
    description: str = "",
) -> Rule:
    """The rows of `table` and `target_table` hold the same values of `columns` per `key`."""
    rule: Rule = {"id": rule_id, "type": "checksum_diff", "table": table,
                  "target_table": target_table, "key": list(key), "columns": list(columns)}  # fmt: skip
    if field_map is not None:
        rule["field_map"] = field_map
    if description:
        rule["description"] = description
    return rule


def count_rule(
    rule_id: str, table: str, target_table: str, tolerance: int = 0, *, description: str = ""
) -> Rule:
    """`table` and `target_table` have as many rows (within `tolerance`)."""
    rule: Rule = {"id": rule_id, "type": "count_match", "table": table,
                  "target_table": target_table, "tolerance": tolerance}  # fmt: skip
    if description:
        rule["description"] = description
    return rule


def orphans_rule(
    rule_id: str, table: str, columns: Sequence[str], ref_table: str, ref_columns: Sequence[str]
) -> Rule:
    """Every non-null `columns` of `table` has its row in `ref_table`."""
    return {"id": rule_id, "type": "fk_orphans", "table": table, "columns": list(columns),
            "ref_table": ref_table, "ref_columns": list(ref_columns)}  # fmt: skip


# --- the registry -----------------------------------------------------------------------------

#: change kind -> recipe; filled by `@recipe` in the recipe modules (plan/kinds.py imports them)
RECIPES: dict[str, Recipe] = {}


def recipe(kind: str) -> Callable[[Recipe], Recipe]:
    """Function decorator: the recipe of change `kind` (one per kind)."""

    def register(fn: Recipe) -> Recipe:
        if kind in RECIPES:
            raise ValueError(f"change kind {kind!r} already has a recipe")
        RECIPES[kind] = fn
        return fn

    return register


def refuse_move_table(c: Ctx) -> None:
    """move_table of a MongoDB collection waits for a MongoDB reader in the copy engine."""
    raise NotYetSupportedError(
        MOVE_REFUSAL,
        hint="For a one-off copy of the collection, use the copy_data tool (datamigration copy); "
        "the diff_data tool compares the two databases afterwards.",
        kind="move_table",
    )
