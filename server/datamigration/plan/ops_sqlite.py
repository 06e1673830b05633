"""SQLite statements for zero-downtime changes, within what its ALTER TABLE allows.

SQLite has one writer at a time, so "online" means short write transactions: columns are added
and dropped in place (3.35+ for DROP COLUMN), indexes built in one short-ish write, and old and
new columns kept equal by AFTER triggers (a BEFORE trigger cannot assign NEW in SQLite) that
update the row they fired for. Changes SQLite cannot make in place (nullability, constraints)
are refused with the table-rebuild alternative named.
"""

from __future__ import annotations

from collections.abc import Sequence

from datamigration.plan.model import Operation
from datamigration.plan.ops_base import Dialect, SyncPair, name_of

WRITE = "database write lock, brief"


class SQLite(Dialect):
    name = "sqlite"
    lint_dialect = "sqlite"
    drop_column_drops_indexes = False

    def distinct(self, a: str, b: str) -> str:
        return f"{a} IS NOT {b}"

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
        extra = (f" DEFAULT {default}" if default is not None else "") + (
            " NOT NULL" if not_null else ""
        )
        return self.op(
            f"add column {column} {type_} to {table}",
            [f"ALTER TABLE {t} ADD COLUMN {c} {type_}{extra}"],
            reverse=[self.op(f"drop column {column}", [f"ALTER TABLE {t} DROP COLUMN {c}"])],
            lock=WRITE,
            rerunnable=False,
            lock_timeout_ms=None,
        )

    def drop_column(self, table: str, column: str, type_: str) -> Operation:
        t, c = self.q(table), self.q(column)
        return self.op(
            f"drop column {column} from {table}",
            [f"ALTER TABLE {t} DROP COLUMN {c}"],
            reverse=[
                self.op(
                    f"add column {column} back (empty: its data is gone)",
                    [f"ALTER TABLE {t} ADD COLUMN {c} {type_}"],
                    lock_timeout_ms=None,
                )
            ],
            destructive=True,
            rerunnable=False,
            lock=WRITE,
            lock_timeout_ms=None,
        )

    def _names(self, table: str, tag: str) -> tuple[str, str, str]:
        base = name_of("dm_sync", table, tag, limit=56)
        return base + "_ins", base + "_old", base + "_new"

    def _triggers(self, table: str, pairs: Sequence[SyncPair], tag: str) -> list[str]:
        ins, upd_old, upd_new = (self.q(n) for n in self._names(table, tag))
        t = self.q(table)
        out = self._drop(table, tag)
        fill = ", ".join(
            f"{self.q(p.new)} = COALESCE(NEW.{self.q(p.new)}, {p.forward.format('NEW.' + self.q(p.old))}), "
            f"{self.q(p.old)} = COALESCE(NEW.{self.q(p.old)}, {p.backward.format('NEW.' + self.q(p.new))})"
            for p in pairs
        )
        out.append(
            f"CREATE TRIGGER {ins} AFTER INSERT ON {t} BEGIN\n"
            f"  UPDATE {t} SET {fill} WHERE rowid = NEW.rowid;\nEND"
        )
        for name, src, dst, conv in (
            (upd_old, "old", "new", "forward"),
            (upd_new, "new", "old", "backward"),
        ):
            whens, sets = [], []
            for p in pairs:
                s, d = self.q(getattr(p, src)), self.q(getattr(p, dst))
                whens.append(f"(NEW.{s} IS NOT OLD.{s} AND NEW.{d} IS OLD.{d})")
                sets.append(f"{d} = {getattr(p, conv).format('NEW.' + s)}")
            cols = ", ".join(self.q(getattr(p, src)) for p in pairs)
            out.append(
                f"CREATE TRIGGER {name} AFTER UPDATE OF {cols} ON {t} WHEN {' OR '.join(whens)} "
                f"BEGIN\n  UPDATE {t} SET {', '.join(sets)} WHERE rowid = NEW.rowid;\nEND"
            )
        return out

    def _drop(self, table: str, tag: str) -> list[str]:
        return [f"DROP TRIGGER IF EXISTS {self.q(n)}" for n in self._names(table, tag)]

    def sync_triggers(self, table: str, pairs: Sequence[SyncPair], tag: str) -> Operation:
        cols = ", ".join(f"{p.old} <-> {p.new}" for p in pairs)
        return self.op(
            f"triggers keeping {cols} equal on {table} (both directions)",
            self._triggers(table, pairs, tag),
            reverse=[
                self.op("drop the sync triggers", self._drop(table, tag), lock_timeout_ms=None)
            ],
            lock=WRITE,
            lock_timeout_ms=None,
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
        t, c, s, o = self.q(table), self.q(column), self.q(shadow), self.q(old_name)
        return self.op(
            f"swap {column} and {shadow} in one transaction (the new column takes the name)",
            [
                *self._drop(table, tag),
                f"ALTER TABLE {t} RENAME COLUMN {c} TO {o}",
                f"ALTER TABLE {t} RENAME COLUMN {s} TO {c}",
                *extra,
                *self._triggers(table, pairs_after, tag),
            ],
            reverse=[
                self.op(
                    "swap the columns back",
                    [
                        *self._drop(table, tag),
                        *extra_reverse,
                        f"ALTER TABLE {t} RENAME COLUMN {c} TO {s}",
                        f"ALTER TABLE {t} RENAME COLUMN {o} TO {c}",
                    ],
                    rerunnable=False,
                    lock_timeout_ms=None,
                )
            ],
            lock=WRITE,
            rerunnable=False,
            lock_timeout_ms=None,
        )

    def keep_original_renamed(
        self,
        table: str,
        original: str,
        copy: str,
        copy_indexes: Sequence[str],
        tag: str,
    ) -> Operation:
        # SQLite cannot drop a column with a UNIQUE or PRIMARY KEY constraint, nor add NOT NULL
        # in place; renaming is metadata only and keeps every constraint, index and the column
        # position. The copy holds the same values (the validation gate checked it; the
        # triggers ran until this transaction, which holds the only write lock).
        t, o, c = self.q(table), self.q(original), self.q(copy)
        return self.op(
            f"drop the copy {copy} and give {original} (with its constraints) the name {copy}",
            [
                *self._drop(table, tag),
                *(f"DROP INDEX IF EXISTS {self.q(i)}" for i in copy_indexes),
                f"ALTER TABLE {t} DROP COLUMN {c}",
                f"ALTER TABLE {t} RENAME COLUMN {o} TO {c}",
            ],
            destructive=True,
            rerunnable=False,
            lock=WRITE,
            lock_timeout_ms=None,
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
        i = self.q(name)
        cols = ", ".join(c if "(" in c else self.q(c) for c in columns)
        kind = "UNIQUE INDEX" if unique else "INDEX"
        pred = f" WHERE {where}" if where else ""
        return [
            self.op(
                f"build {name} on {table} ({', '.join(columns)})",
                [f"CREATE {kind} IF NOT EXISTS {i} ON {self.q(table)} ({cols}){pred}"],
                reverse=[
                    self.op(
                        f"drop index {name}", [f"DROP INDEX IF EXISTS {i}"], lock_timeout_ms=None
                    )
                ],
                lock="database write lock for the build",
                lock_timeout_ms=None,
            )
        ]

    def drop_index(self, table: str | None, name: str, recreate: str | None) -> Operation:
        reverse = [self.op(f"rebuild {name}", [recreate], lock_timeout_ms=None)] if recreate else []
        return self.op(
            f"drop index {name}",
            [f"DROP INDEX IF EXISTS {self.q(name)}"],
            reverse=reverse,
            destructive=True,
            lock=WRITE,
            lock_timeout_ms=None,
        )

    def set_not_null(self, table: str, column: str, type_: str = "") -> list[Operation]:
        raise self.unsupported(
            "changing a column's nullability",
            "SQLite cannot alter a column in place: rebuild the table (create the new shape, "
            "copy, swap) with raw_sql, or keep the column nullable and add a validation rule.",
        )

    def add_unique(self, table: str, name: str, columns: Sequence[str]) -> list[Operation]:
        return self.create_index(table, name, columns, unique=True)

    def rename_table_with_view(self, table: str, new: str) -> Operation:
        old, nw = self.q(table), self.q(new)
        return self.op(
            f"rename {table} to {new} and leave a (read-only) view named {table}",
            [f"ALTER TABLE {old} RENAME TO {nw}", f"CREATE VIEW {old} AS SELECT * FROM {nw}"],
            reverse=[
                self.op(
                    f"drop the view, rename {new} back to {table}",
                    [f"DROP VIEW IF EXISTS {old}", f"ALTER TABLE {nw} RENAME TO {old}"],
                    rerunnable=False,
                    lock_timeout_ms=None,
                )
            ],
            lock=WRITE,
            rerunnable=False,
            lock_timeout_ms=None,
        )

    def drop_view(self, name: str, recreate_as: str) -> Operation:
        v = self.q(name)
        return self.op(
            f"drop the compatibility view {name}",
            [f"DROP VIEW IF EXISTS {v}"],
            reverse=[
                self.op(
                    f"recreate view {name}",
                    [f"CREATE VIEW IF NOT EXISTS {v} AS {recreate_as}"],
                    lock_timeout_ms=None,
                )
            ],
            destructive=True,
            lock=WRITE,
            lock_timeout_ms=None,
        )
