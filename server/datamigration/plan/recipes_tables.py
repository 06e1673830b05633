"""Recipes of the table changes: rename a table, split columns off into a new table, merge a
table's columns into another.

Why together: each keeps two tables (or a table and a view) in step while both application
versions run, and validates the copy by counts and checksums before the contract.
"""

from __future__ import annotations

from datamigration.db.model import Table
from datamigration.errors import UserInputError
from datamigration.plan.model import BackfillSpec
from datamigration.plan.ops_base import (
    backfill_op,
    combine,
)
from datamigration.plan.toolkit import (
    Ctx,
    NotYetSupportedError,
    checksum_rule,
    column_of,
    count_rule,
    key_of,
    recipe,
    step,
    table_of,
    undo,
)


@recipe("rename_table")
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
    if d.read_only_views:
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


def _split_copy(c: Ctx, t: Table, new: str, key: tuple[str, ...], cols: list[str]) -> BackfillSpec:
    """The batched copy of the key and the split-off columns into `new`, skipping rows
    already there (so a re-run after a crash is harmless)."""
    d = c.d
    match = " AND ".join(f"n.{d.q(k)} = src.{d.q(k)}" for k in key)
    return BackfillSpec(
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


@recipe("split_table")
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
    spec = _split_copy(c, t, new, key, cols)
    rules = [
        count_rule(f"{new}-count", t.name, new),
        checksum_rule(f"{new}-equal", t.name, new, key, [*key, *cols]),
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


@recipe("merge_tables")
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
