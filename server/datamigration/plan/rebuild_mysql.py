"""MySQL / MariaDB changes that InnoDB cannot make online: rebuild the table beside itself.

Some ALTERs have no lock-free algorithm (ADD CHECK answers "ALGORITHM=INPLACE is not supported
... Try ALGORITHM=COPY" on MariaDB 10.11 and MySQL 8), and COPY blocks every write for the whole
copy. The way gh-ost and pt-online-schema-change do it, with the plan's own steps:

1. expand: ``<t>__dm_new`` is created LIKE the table and altered while it is empty (instant);
   ``<t>__dm_old``, also LIKE the table, is a stand-in that the swap rotates into place;
2. expand: AFTER INSERT / UPDATE / DELETE triggers on the table mirror every write into
   ``<t>__dm_new`` (REPLACE / DELETE by key), so new writes meet the new definition at once;
3. migrate: the existing rows are copied by the executor's batched keyset backfill
   (INSERT ... SELECT ... ON DUPLICATE KEY UPDATE no-op: a row a trigger wrote first is newer
   and kept), resumable from its checkpoint; the step's rules (count and checksum of every
   column) are the gate before the swap;
4. switch: triggers on ``<t>__dm_new`` start mirroring into the stand-in, then one atomic
   ``RENAME TABLE`` rotates the three tables: the new table takes the name, the original
   becomes ``<t>__dm_old`` and the stand-in ``<t>__dm_new``. Each trigger moves with its table,
   so from the same instant the new table's triggers mirror every write back into the
   original (what a rollback needs) and no write ever finds a trigger aimed at a missing
   table. The reverse rename is the rollback. RENAME TABLE is the one statement that swaps
   names atomically: MariaDB refuses it under LOCK TABLES, and ALTER ... RENAME there
   releases the lock, so the rotation is what keeps the swap gap-free;
5. contract: the mirroring triggers and both leftover tables are dropped.

Refused: tables without a primary key (the copy and the triggers need one), tables other
tables reference by foreign key (InnoDB would move those references to the renamed original),
and tables with triggers of their own (they would stay on the original).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from datamigration.db.model import Table
from datamigration.plan.model import BackfillSpec
from datamigration.plan.ops_base import backfill_op, name_of
from datamigration.plan.toolkit import Ctx, checksum_rule, count_rule, key_of, step

RENAME_LOCK = "exclusive metadata lock on the three tables for the rename (milliseconds)"
TRIGGER_LOCK = "metadata lock, brief (trigger DDL)"


def names(table: str) -> tuple[str, str, str]:
    """The shadow, the old-table name and the rotation's temporary name for `table`."""
    return (
        name_of(f"{table}__dm_new", limit=64),
        name_of(f"{table}__dm_old", limit=64),
        name_of(f"{table}__dm_swap", limit=64),
    )


def refusal(c: Ctx, t: Table) -> str | None:
    """Why `t` cannot be rebuilt this way, or None."""
    if not t.primary_key:
        return f"{t.name} has no primary key for the batched copy and the mirroring triggers"
    referencing = sorted(
        x.name for x in c.schema.tables for fk in x.foreign_keys if fk.ref_table == t.name
    )
    if referencing:
        return (
            f"{', '.join(referencing)} reference {t.name} by foreign key: InnoDB moves those "
            "references to the renamed original at the swap"
        )
    if t.triggers:
        return (
            f"{t.name} has triggers of its own ({', '.join(x.name for x in t.triggers)}), "
            "which would stay on the original table"
        )
    return None


def _mirror(
    c: Ctx, source: str, target: str, columns: list[str], key: list[str], tag: str
) -> tuple[list[str], list[str]]:
    """(create, drop) statements of AFTER triggers on `source` mirroring its rows to `target`."""
    q = c.d.q
    cols = ", ".join(q(x) for x in columns)
    new_vals = ", ".join(f"NEW.{q(x)}" for x in columns)
    old_key = " AND ".join(f"{q(k)} = OLD.{q(k)}" for k in key)
    moved = " OR ".join(f"NOT (NEW.{q(k)} <=> OLD.{q(k)})" for k in key)
    replace = f"REPLACE INTO {q(target)} ({cols}) VALUES ({new_vals})"
    delete = f"DELETE FROM {q(target)} WHERE {old_key}"
    base = name_of("dm_rebuild", source, tag, limit=58)
    bodies = [
        ("_ins", "INSERT", f"  {replace};"),
        ("_upd", "UPDATE", f"  IF {moved} THEN {delete}; END IF;\n  {replace};"),
        ("_del", "DELETE", f"  {delete};"),
    ]
    create = [
        f"CREATE TRIGGER {q(base + s)} AFTER {event} ON {q(source)} FOR EACH ROW\n"
        f"BEGIN\n{body}\nEND"
        for s, event, body in bodies
    ]
    drop = [f"DROP TRIGGER IF EXISTS {q(base + s)}" for s, _, _ in bodies]
    return create, drop


def _equal_rules(table: str, other: str, key: list[str], columns: list[str], what: str) -> list:
    return [
        count_rule(f"{other}-count", table, other,
                   description=f"{other} has as many rows as {table}{what}"),
        checksum_rule(f"{other}-equal", table, other, key, columns,
                      description=f"{other} holds exactly the rows of {table}{what}"),
    ]  # fmt: skip


@dataclass(frozen=True)
class _Rebuild:
    """What every step of one rebuild names: the table, its twin, the stand-in, the rotation's
    temporary name, the key and the copied columns (generated columns are not copied)."""

    table: str
    new: str
    old: str
    tmp: str
    key: list[str]
    columns: list[str]


def _expand_steps(c: Ctx, r: _Rebuild, clauses: list[str], what: str, mirror_sql: tuple[list[str], list[str]]) -> None:  # fmt: skip
    """Create the twin with the new definition (altered while empty, so instant) and the
    stand-in, then mirror every write into the twin so new rows meet the new definition."""
    d, q = c.d, c.d.q
    fwd, drop_fwd = mirror_sql
    create = d.op(
        f"create {r.new} (the new definition, empty) and the stand-in {r.old}",
        [
            f"CREATE TABLE {q(r.new)} LIKE {q(r.table)}",
            f"ALTER TABLE {q(r.new)} {', '.join(clauses)}",
            f"CREATE TABLE {q(r.old)} LIKE {q(r.table)}",
        ],
        reverse=[
            d.op(
                f"drop {r.new} and {r.old}",
                [f"DROP TABLE IF EXISTS {q(r.new)}", f"DROP TABLE IF EXISTS {q(r.old)}"],
            )
        ],
        lock=f"none on {r.table} (new tables)",
        rerunnable=False,
    )
    mirror = d.op(
        f"triggers mirroring every write on {r.table} into {r.new}",
        [*drop_fwd, *fwd],
        reverse=[d.op("drop the mirroring triggers", drop_fwd)],
        lock=TRIGGER_LOCK,
    )
    c.built.steps.append(
        step(
            "expand",
            f"Create {r.new} with the new definition",
            f"{r.new} is created LIKE {r.table} and altered while empty ({what}); {r.old} is an "
            "empty stand-in the swap rotates into place.",
            [create],
        )
    )
    c.built.steps.append(
        step(
            "expand",
            f"Mirror writes on {r.table} into {r.new}",
            f"AFTER INSERT/UPDATE/DELETE triggers copy every write into {r.new} by key. From "
            f"here on a write that breaks the new definition fails ({what}), as it will "
            "after the swap.",
            [mirror],
        )
    )


def _copy_step(c: Ctx, t: Table, r: _Rebuild) -> None:
    """The existing rows by the executor's keyset backfill; a row the triggers wrote first is
    newer and kept. Its count and checksum rules are the gate before the swap."""
    q = c.d.q
    spec = BackfillSpec(
        table=r.table,
        key_columns=tuple(r.key),
        mode="insert",
        target_table=r.new,
        insert_columns=tuple(r.columns),
        select_expressions=tuple(f"src.{q(x)}" for x in r.columns),
        where="NOT EXISTS (SELECT 1 FROM {} n WHERE {})".format(
            q(r.new), " AND ".join(f"n.{q(k)} = src.{q(k)}" for k in r.key)
        ),
        conflict_columns=tuple(r.key),
        batch_size=c.batch,
        dialect=c.d.name,
        estimated_rows=c.rows(t),
    )
    c.built.steps.append(
        step(
            "migrate",
            f"Copy {r.table} into {r.new}",
            f"Existing rows in keyset batches of {c.batch:,}, one transaction each, resumable "
            "from the checkpoint; a row the triggers wrote first is newer and kept. The rules "
            f"(row count and a checksum of every column) gate the swap.",
            [backfill_op(f"copy {r.table} rows into {r.new}", spec)],
            validation=_equal_rules(r.table, r.new, r.key, r.columns, ""),
        )
    )


def _switch_step(c: Ctx, r: _Rebuild, back_sql: tuple[list[str], list[str]], rules: list[dict[str, Any]] | None) -> None:  # fmt: skip
    """Arm the mirror back into the original, then rotate the three tables in one RENAME
    TABLE: the triggers move with their tables, so the rollback (the reverse rename) loses no
    write and no write finds a trigger aimed at a missing table."""
    d, q = c.d, c.d.q
    back, drop_back = back_sql
    t, new, old, tmp = r.table, r.new, r.old, r.tmp
    rotate = (
        f"RENAME TABLE {q(t)} TO {q(tmp)}, {q(new)} TO {q(t)}, "
        f"{q(old)} TO {q(new)}, {q(tmp)} TO {q(old)}"
    )
    unrotate = (
        f"RENAME TABLE {q(t)} TO {q(tmp)}, {q(old)} TO {q(t)}, "
        f"{q(new)} TO {q(old)}, {q(tmp)} TO {q(new)}"
    )
    arm = d.op(
        f"triggers on {new} mirroring its writes into {old} (after the swap: into the original)",
        [*drop_back, *back],
        reverse=[d.op(f"drop the triggers on {new}", drop_back)],
        lock=TRIGGER_LOCK,
    )
    swap = d.op(
        f"swap: {new} becomes {t}, the original {old} (one atomic RENAME TABLE)",
        [rotate],
        reverse=[d.op(f"swap back: the original becomes {t} again", [unrotate])],
        lock=RENAME_LOCK,
        rerunnable=False,
    )
    after = _equal_rules(t, old, r.key, r.columns, " (mirrored for the rollback)")
    c.built.steps.append(
        step(
            "switch",
            f"Swap {new} in as {t}",
            f"One atomic RENAME TABLE: the rebuilt table takes the name {t} and the "
            f"original stays as {old}, kept equal by the triggers (which move with their "
            "tables), so the rollback (the reverse rename) loses no write. The application "
            "needs no deploy: the name and columns are the same.",
            [arm, swap],
            validation=[*after, *(rules or [])],
            gates=("validation_passed", "confirmation"),
        )
    )


def build_rebuild(
    c: Ctx, t: Table, clauses: list[str], what: str, rules: list[dict[str, Any]] | None = None
) -> None:
    """Steps that give `t` the definition `ALTER TABLE t <clauses>` without blocking writes.

    `what` says the change in words; `rules` hold once the change is made (on `t`)."""
    why = refusal(c, t)
    if why:
        raise c.d.unsupported(
            f"{what} (ALTER ... ALGORITHM=COPY blocks writes; the online rebuild cannot run: "
            f"{why})",
            "Run the ALTER in a maintenance window, or with gh-ost / pt-online-schema-change "
            "(--alter-foreign-keys-method for referenced tables).",
        )
    d, q = c.d, c.d.q
    new, old, tmp = names(t.name)
    key = list(key_of(t, c.spec))
    columns = [x.name for x in t.columns if not x.generated]
    r = _Rebuild(t.name, new, old, tmp, key, columns)
    fwd, drop_fwd = _mirror(c, t.name, new, columns, key, "fwd")
    back, drop_back = _mirror(c, new, old, columns, key, "back")
    b = c.built
    b.tables.append(t.name)
    _expand_steps(c, r, clauses, what, (fwd, drop_fwd))
    _copy_step(c, t, r)
    _switch_step(c, r, (back, drop_back), rules)
    b.warnings.append(
        f"{t.name} is rebuilt beside itself ({new}, copy, atomic RENAME TABLE): MySQL has no "
        f"online algorithm for {what}. Until the contract each write to {t.name} is written "
        "three times (the table, its twin, the stand-in) and the table's disk space is needed "
        "twice. The AUTO_INCREMENT counter of the rebuilt table follows the highest id copied: "
        "ids of rows deleted at the end of the table before the swap can be used again."
    )
    if not c.spec.get("keep_old"):
        b.steps.append(
            step(
                "contract",
                f"Drop {old}",
                f"Drop the triggers on {t.name}, then the original ({old}, with its triggers) "
                "and the stand-in. Point of no return: the original table is gone.",
                [
                    d.op(
                        f"drop the mirroring triggers and the tables {old}, {new}",
                        [
                            *drop_back,
                            *drop_fwd,
                            f"DROP TABLE IF EXISTS {q(old)}",
                            f"DROP TABLE IF EXISTS {q(new)}",
                        ],
                        destructive=True,
                        lock=f"exclusive metadata lock on {old} and {new}, brief",
                    )
                ],
                reversible=False,
            )
        )
