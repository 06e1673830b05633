"""The `move_table` recipe: copy a table to another database, with the CDC phase pending.

Why a plan at all when `copy_data` exists: a move is a migration like any other, reviewed by
hash, confirmed, resumable and recorded on the story. The plan's pattern is `dual_write_cdc`;
until the change-data-capture engine lands, the plan stops after the copy: its switch step is
a manual step that says plainly that CDC and the cutover are pending, so nobody reads the
copy as a finished move. The copy step runs `move.run_copy` (execute/copy_operation.py),
resumable and ending with its own validation.

The target is named in the spec (`target`): a connection name or a URL whose password comes
from the environment (`${VAR}`); a literal password would be stored in the plan and is
refused.
"""

from __future__ import annotations

from datamigration.db.urls import ConnectionURL, resolve
from datamigration.errors import UserInputError
from datamigration.plan.model import Operation
from datamigration.plan.ops_base import manual_op
from datamigration.plan.toolkit import Ctx, recipe, step, table_of

CDC_PENDING = (
    "the change-data-capture phase is pending: this plan copies {table} to {target} and stops "
    "there. Writes made to {table} after the copy started are not carried over until the "
    "change-data-capture engine arrives (next issue): stop writes to {table} before the copy, "
    "or copy again with truncate before switching."
)


def _check_target(target: str) -> None:
    text = str(target)
    if "${" in text:
        return
    try:
        url: ConnectionURL | None = resolve(text, None) if "://" in text else None
    except Exception:  # noqa: BLE001 - a name resolved at run time
        url = None
    if url is not None and url.password:
        raise UserInputError(
            "the move_table target carries a password, which the stored plan would keep",
            hint="Name a connection from datamigration.toml, or write the password as ${VAR}.",
        )


@recipe("move_table")
def move_table(c: Ctx) -> None:
    spec = c.spec
    t = table_of(c.schema, spec.table)
    target = str(spec.get("target"))
    _check_target(target)
    if spec.get("target_table") and spec.get("target_table") != t.name:
        raise UserInputError(
            "move_table keeps the table's name on the target (renaming on the way is not "
            "supported yet)",
            hint="Drop target_table, then rename the table with a rename_table plan.",
        )
    copy = Operation(
        id="",
        kind="copy",
        dialect=c.d.name,
        description=f"copy {t.name} to {target}: lossless target schema, key-range "
        "partitions, resumable, validated by counts and checksum diff",
        lock_timeout_ms=None,
        rerunnable=True,
        params={
            "target": target,
            "tables": [t.name],
            "batch_size": c.batch,
            "estimated_rows": c.rows(t) or 0,
        },
        reverse=(
            manual_op(
                f"leave or drop {t.name} on {target}",
                f"The source {t.name} is unchanged. Drop the copied {t.name} on {target} "
                "by hand if the move is abandoned.",
                dialect=c.d.name,
            ),
        ),
    )
    title = f"Copy {t.name} to the target database"
    what = f"Copy every row of {t.name} to {target} and validate the copy."
    c.built.steps.append(step("migrate", title, what, [copy]))
    pending = CDC_PENDING.format(table=t.name, target=target)
    c.built.steps.append(
        step(
            "switch",
            "Change data capture and cutover (PENDING)",
            "Pending: " + pending,
            [
                manual_op(
                    "change data capture and cutover (pending)",
                    "PENDING - " + pending,
                    dialect=c.d.name,
                )
            ],
        )
    )
    c.built.warnings.append(pending)
    c.built.tables.append(t.name)
