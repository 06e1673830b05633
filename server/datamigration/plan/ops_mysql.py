"""MySQL / MariaDB statements for zero-downtime changes.

InnoDB online DDL does most of the work: `ALGORITHM=INPLACE, LOCK=NONE` (or INSTANT) is spelled
out on every ALTER so the server refuses, instead of silently copying the table with writes
blocked, when it cannot do the change online. DDL commits implicitly in MySQL, so a multi-
statement operation is not atomic: each is written to be safe to re-run or marked otherwise.
Sync triggers are BEFORE triggers that assign NEW columns (one per event); `<=>` is the
null-safe comparison.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from datamigration.plan.model import Operation
from datamigration.plan.ops_base import Dialect, SyncPair, name_of

ONLINE = "ALGORITHM=INPLACE, LOCK=NONE"
_INTEGER = re.compile(r"^(?:tiny|small|medium|big)?int(?:eger)?\b", re.IGNORECASE)
_DECIMAL = re.compile(
    r"^(?:decimal|numeric|dec|fixed)\s*(\(\s*\d+\s*(?:,\s*\d+\s*)?\))?", re.IGNORECASE
)
_TEMPORAL = re.compile(r"^(datetime|date|timestamp|time)\b\s*(\(\s*\d+\s*\))?", re.IGNORECASE)
_STRING = re.compile(r"^(?:national\s+)?(?:var)?char|^(?:tiny|medium|long)?text\b", re.IGNORECASE)
_BYTES = re.compile(r"^(?:var)?binary|^(?:tiny|medium|long)?blob\b", re.IGNORECASE)
MDL = "metadata lock, brief (online DDL)"


class MySQL(Dialect):
    name = "mysql"
    lint_dialect = "mysql"

    def distinct(self, a: str, b: str) -> str:
        return f"NOT ({a} <=> {b})"

    def cast(self, value: str, type_: str) -> str:
        """CAST to what MySQL and MariaDB accept as a CAST target (SIGNED / UNSIGNED, DECIMAL,
        CHAR, BINARY, DATE, DATETIME, TIME): both reject column types such as `bigint` or
        `int(11)` there. Types with no CAST target (float, enum, json, ...) are left to the
        assignment, which converts to the column's type (and fails in strict mode on a value
        that does not fit, as a CAST then assignment would)."""
        t = type_.strip()
        if _INTEGER.match(t):
            sign = "UNSIGNED" if re.search(r"\bunsigned\b", t, re.IGNORECASE) else "SIGNED"
            return f"CAST({value} AS {sign})"
        if m := _DECIMAL.match(t):
            args = re.sub(r"\s+", "", m.group(1) or "(10,0)")
            return f"CAST({value} AS DECIMAL{args})"
        if m := _TEMPORAL.match(t):
            target = "DATETIME" if m.group(1).lower() == "timestamp" else m.group(1).upper()
            precision = re.sub(r"\s+", "", m.group(2) or "")
            return f"CAST({value} AS {target}{precision})"
        if _STRING.match(t):
            return f"CAST({value} AS CHAR)"
        if _BYTES.match(t):
            return f"CAST({value} AS BINARY)"
        return value

    def add_column(
        self,
        table: str,
        column: str,
        type_: str,
        *,
        default: str | None = None,
        not_null: bool = False,
    ) -> Operation:
        t, c = self.q(table), self.q(column)
        extra = (" NOT NULL" if not_null else "") + (
            f" DEFAULT {default}" if default is not None else ""
        )
        return self.op(
            f"add column {column} {type_} to {table}",
            [f"ALTER TABLE {t} ADD COLUMN {c} {type_}{extra}, {ONLINE}"],
            reverse=[
                self.op(f"drop column {column}", [f"ALTER TABLE {t} DROP COLUMN {c}, {ONLINE}"])
            ],
            lock=MDL,
            rerunnable=False,
        )

    def drop_column(self, table: str, column: str, type_: str) -> Operation:
        t, c = self.q(table), self.q(column)
        return self.op(
            f"drop column {column} from {table}",
            [f"ALTER TABLE {t} DROP COLUMN {c}, {ONLINE}"],
            reverse=[
                self.op(
                    f"add column {column} back (empty: its data is gone)",
                    [f"ALTER TABLE {t} ADD COLUMN {c} {type_}, {ONLINE}"],
                )
            ],
            destructive=True,
            rerunnable=False,
            lock=MDL,
        )

    def set_default(self, table: str, column: str, default: str | None) -> Operation:
        t, c = self.q(table), self.q(column)
        return self.op(
            f"default of {column}: {default}",
            [f"ALTER TABLE {t} ALTER COLUMN {c} SET DEFAULT {default}"],
            reverse=[
                self.op("drop the default", [f"ALTER TABLE {t} ALTER COLUMN {c} DROP DEFAULT"])
            ],
            lock=MDL,
        )

    def _triggers(self, table: str, pairs: Sequence[SyncPair], tag: str) -> list[str]:
        base = name_of("dm_sync", table, tag, limit=58)
        ins, upd = [], []
        for p in pairs:
            o, n = f"NEW.{self.q(p.old)}", f"NEW.{self.q(p.new)}"
            oo, on = f"OLD.{self.q(p.old)}", f"OLD.{self.q(p.new)}"
            fwd, back = p.forward.format(o), p.backward.format(n)
            ins.append(
                f"  IF {n} IS NULL THEN SET {n} = {fwd}; "
                f"ELSEIF {o} IS NULL THEN SET {o} = {back}; END IF;"
            )
            upd.append(
                f"  IF NOT ({n} <=> {on}) AND {o} <=> {oo} THEN SET {o} = {back}; "
                f"ELSE SET {n} = {fwd}; END IF;"
            )
        t = self.q(table)
        return [
            *self._drop(table, tag),
            f"CREATE TRIGGER {self.q(base + '_ins')} BEFORE INSERT ON {t} FOR EACH ROW\nBEGIN\n"
            + "\n".join(ins)
            + "\nEND",
            f"CREATE TRIGGER {self.q(base + '_upd')} BEFORE UPDATE ON {t} FOR EACH ROW\nBEGIN\n"
            + "\n".join(upd)
            + "\nEND",
        ]

    def _drop(self, table: str, tag: str) -> list[str]:
        base = name_of("dm_sync", table, tag, limit=58)
        return [f"DROP TRIGGER IF EXISTS {self.q(base + s)}" for s in ("_ins", "_upd")]

    def sync_triggers(self, table: str, pairs: Sequence[SyncPair], tag: str) -> Operation:
        cols = ", ".join(f"{p.old} <-> {p.new}" for p in pairs)
        return self.op(
            f"triggers keeping {cols} equal on {table} (both directions)",
            self._triggers(table, pairs, tag),
            reverse=[self.op("drop the sync triggers", self._drop(table, tag))],
            lock=MDL,
        )

    def swap_columns(
        self,
        table: str,
        column: str,
        shadow: str,
        old_name: str,
        pairs_after: Sequence[SyncPair],
        tag: str,
        extra: Sequence[str] = (),
        extra_reverse: Sequence[str] = (),
    ) -> Operation:
        # Each DDL statement commits on its own: without the table lock a write landing
        # between the trigger drop, the rename and the new triggers would miss its sync (lost
        # in the other column, or refused by a NOT NULL column nobody fills). LOCK TABLES ...
        # WRITE holds every other session off for the few milliseconds the three take (a
        # failed statement ends the run, and the closed session releases the lock).
        t, c, s, o = self.q(table), self.q(column), self.q(shadow), self.q(old_name)
        return self.op(
            f"swap {column} and {shadow} in one ALTER (the new column takes the name), "
            "the table write-locked from the trigger drop to the new triggers",
            [
                f"LOCK TABLES {t} WRITE",
                *self._drop(table, tag),
                f"ALTER TABLE {t} RENAME COLUMN {c} TO {o}, RENAME COLUMN {s} TO {c}",
                *extra,
                *self._triggers(table, pairs_after, tag),
                "UNLOCK TABLES",
            ],
            reverse=[
                self.op(
                    "swap the columns back",
                    [
                        f"LOCK TABLES {t} WRITE",
                        *self._drop(table, tag),
                        *extra_reverse,
                        f"ALTER TABLE {t} RENAME COLUMN {c} TO {s}, RENAME COLUMN {o} TO {c}",
                        "UNLOCK TABLES",
                    ],
                    rerunnable=False,
                )
            ],
            lock=f"{MDL}; table write lock (LOCK TABLES) for the swap's few milliseconds",
            rerunnable=False,
        )

    def create_index(
        self,
        table: str,
        name: str,
        columns: Sequence[str],
        *,
        unique: bool = False,
        where: str | None = None,
    ) -> list[Operation]:
        if where:
            raise self.unsupported("a partial index", "MySQL has no partial indexes; drop `where`.")
        t, i = self.q(table), self.q(name)
        cols = ", ".join(c if "(" in c else self.q(c) for c in columns)
        kind = "UNIQUE INDEX" if unique else "INDEX"
        return [
            self.op(
                f"build {name} on {table} ({', '.join(columns)}) online",
                [f"ALTER TABLE {t} ADD {kind} {i} ({cols}), {ONLINE}"],
                reverse=[
                    self.op(f"drop index {name}", [f"ALTER TABLE {t} DROP INDEX {i}, {ONLINE}"])
                ],
                lock=MDL,
                rerunnable=False,
            )
        ]

    def drop_index(self, table: str | None, name: str, recreate: str | None) -> Operation:
        if not table:
            raise self.unsupported(
                "dropping an index without its table", "Add `table` to the spec."
            )
        reverse = [self.op(f"rebuild {name}", [recreate])] if recreate else []
        return self.op(
            f"drop index {name} online",
            [f"ALTER TABLE {self.q(table)} DROP INDEX {self.q(name)}, {ONLINE}"],
            reverse=reverse,
            destructive=True,
            lock=MDL,
            rerunnable=False,
        )

    def set_not_null(self, table: str, column: str, type_: str = "") -> list[Operation]:
        t, c = self.q(table), self.q(column)
        return [
            self.op(
                f"{column} NOT NULL (online rebuild; fails if a NULL remains)",
                [f"ALTER TABLE {t} MODIFY {c} {type_} NOT NULL, {ONLINE}"],
                reverse=[
                    self.op(
                        f"{column} nullable again",
                        [f"ALTER TABLE {t} MODIFY {c} {type_} NULL, {ONLINE}"],
                    )
                ],
                lock=MDL,
            )
        ]

    def nullable_before_contract(self, table: str, column: str, type_: str) -> list[Operation]:
        """DDL commits implicitly here, so the contract's DROP TRIGGER and DROP COLUMN are
        separate transactions: an insert through the new column landing between them would
        meet the old NOT NULL column without the trigger that filled it, and fail. Making the
        old column nullable first (online) closes that gap (NULL, unlike a default, never
        collides in the old column's UNIQUE index)."""
        t, c = self.q(table), self.q(column)
        return [
            self.op(
                f"{column} nullable (online): inserts without it succeed once the triggers go",
                [f"ALTER TABLE {t} MODIFY {c} {type_} NULL, {ONLINE}"],
                reverse=[
                    self.op(
                        f"{column} NOT NULL again",
                        [f"ALTER TABLE {t} MODIFY {c} {type_} NOT NULL, {ONLINE}"],
                    )
                ],
                lock=MDL,
            )
        ]

    def add_unique(self, table: str, name: str, columns: Sequence[str]) -> list[Operation]:
        return self.create_index(table, name, columns, unique=True)

    def add_foreign_key(
        self,
        table: str,
        name: str,
        columns: Sequence[str],
        ref_table: str,
        ref_columns: Sequence[str],
        on_delete: str | None,
    ) -> list[Operation]:
        # InnoDB adds a foreign key in place only with foreign_key_checks off; the orphan check
        # that NOT VALID + VALIDATE gives on PostgreSQL is the step's fk_orphans rule instead.
        t = self.q(table)
        cols = ", ".join(self.q(c) for c in columns)
        refs = ", ".join(self.q(c) for c in ref_columns)
        action = f" ON DELETE {on_delete}" if on_delete else ""
        return [
            self.op(
                f"add foreign key {name} online (existing rows checked by validation, not a scan)",
                [
                    "SET SESSION foreign_key_checks = 0",
                    (
                        f"ALTER TABLE {t} ADD CONSTRAINT {self.q(name)} FOREIGN KEY ({cols}) "
                        f"REFERENCES {self.q(ref_table)} ({refs}){action}, {ONLINE}"
                    ),
                    "SET SESSION foreign_key_checks = 1",
                ],
                reverse=[
                    self.op(f"drop {name}", [f"ALTER TABLE {t} DROP FOREIGN KEY {self.q(name)}"])
                ],
                lock=MDL,
                rerunnable=False,
            )
        ]

    def rename_table_with_view(self, table: str, new: str) -> Operation:
        old, nw = self.q(table), self.q(new)
        return self.op(
            f"rename {table} to {new} and leave an updatable view named {table}",
            [f"RENAME TABLE {old} TO {nw}", f"CREATE VIEW {old} AS SELECT * FROM {nw}"],
            reverse=[
                self.op(
                    f"drop the view, rename {new} back to {table}",
                    [f"DROP VIEW IF EXISTS {old}", f"RENAME TABLE {nw} TO {old}"],
                    rerunnable=False,
                )
            ],
            lock=MDL,
            rerunnable=False,
        )

    def drop_view(self, name: str, recreate_as: str) -> Operation:
        v = self.q(name)
        return self.op(
            f"drop the compatibility view {name}",
            [f"DROP VIEW IF EXISTS {v}"],
            reverse=[
                self.op(f"recreate view {name}", [f"CREATE OR REPLACE VIEW {v} AS {recreate_as}"])
            ],
            destructive=True,
            lock=MDL,
        )
