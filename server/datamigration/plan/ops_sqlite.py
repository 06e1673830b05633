"""SQLite statements for zero-downtime changes, within what its ALTER TABLE allows.

SQLite has one writer at a time, so "online" means short write transactions: columns are added
and dropped in place (3.35+ for DROP COLUMN), indexes built in one short-ish write, and old and
new columns kept equal by AFTER triggers (a BEFORE trigger cannot assign NEW in SQLite) that
update the row they fired for. Changes SQLite cannot make in place (NOT NULL, CHECK, FOREIGN
KEY, a column's type) are planned as a table rebuild (plan/rebuild_sqlite.py): new table,
mirror triggers, batched copy, swap in one short transaction, old table dropped at the contract.
"""

from __future__ import annotations

from collections.abc import Sequence

from datamigration.plan.model import Operation
from datamigration.plan.ops_base import Dialect, SQLDialect, SyncPair, name_of

WRITE = "database write lock, brief"


class SQLite(SQLDialect):
    name = "sqlite"
    lint_dialect = "sqlite"
    drop_column_drops_indexes = False
    ddl_lock = sync_lock = swap_lock = WRITE
    ddl_lock_timeout = False
    read_only_views = True
    downtime_note = (
        "none planned: SQLite serialises writers, so each DDL step makes other "
        "writers wait for its short write transaction (busy timeout)"
    )
    view_note = "a (read-only) view"
    rebuilds_tables = True

    #: No ALTER COLUMN ... SET DEFAULT in SQLite.
    set_default = Dialect.set_default

    def distinct(self, a: str, b: str) -> str:
        return f"{a} IS NOT {b}"

    def _names(self, table: str, tag: str) -> tuple[str, str, str]:
        base = name_of("dm_sync", table, tag, limit=56)
        return base + "_ins", base + "_old", base + "_new"

    def _sync_statements(self, table: str, pairs: Sequence[SyncPair], tag: str) -> list[str]:
        ins, upd_old, upd_new = (self.q(n) for n in self._names(table, tag))
        t = self.q(table)
        out = self._drop_sync(table, tag)
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

    def _drop_sync(self, table: str, tag: str) -> list[str]:
        return [f"DROP TRIGGER IF EXISTS {self.q(n)}" for n in self._names(table, tag)]

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
        return self.ddl(
            f"drop the copy {copy} and give {original} (with its constraints) the name {copy}",
            [
                *self._drop_sync(table, tag),
                *(f"DROP INDEX IF EXISTS {self.q(i)}" for i in copy_indexes),
                f"ALTER TABLE {t} DROP COLUMN {c}",
                f"ALTER TABLE {t} RENAME COLUMN {o} TO {c}",
            ],
            destructive=True,
            rerunnable=False,
            lock=WRITE,
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
        cols = self._index_columns(columns)
        kind = "UNIQUE INDEX" if unique else "INDEX"
        pred = f" WHERE {where}" if where else ""
        return [
            self.ddl(
                f"build {name} on {table} ({', '.join(columns)})",
                [f"CREATE {kind} IF NOT EXISTS {i} ON {self.q(table)} ({cols}){pred}"],
                reverse=[self.ddl(f"drop index {name}", [f"DROP INDEX IF EXISTS {i}"])],
                lock="database write lock for the build",
            )
        ]

    def drop_index(self, table: str | None, name: str, recreate: str | None) -> Operation:
        reverse = [self.ddl(f"rebuild {name}", [recreate])] if recreate else []
        return self.ddl(
            f"drop index {name}",
            [f"DROP INDEX IF EXISTS {self.q(name)}"],
            reverse=reverse,
            destructive=True,
            lock=WRITE,
        )

    def set_not_null(self, table: str, column: str, type_: str = "") -> list[Operation]:
        # the in-place primitive (a rename's copy column); set_not_null itself is a rebuild
        raise self.unsupported(
            "changing a column's nullability in place",
            "SQLite cannot alter a column in place: plan set_not_null on the column (the planner "
            "rebuilds the table: new shape, copy, swap), or keep it nullable with a validation "
            "rule.",
        )

    def _create_view(self, v: str, definition: str) -> str:
        return f"CREATE VIEW IF NOT EXISTS {v} AS {definition}"
