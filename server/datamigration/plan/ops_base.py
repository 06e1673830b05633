"""What every dialect's SQL generator provides, and the small helpers they share.

The planner composes steps from these primitives (add a column, keep two columns in sync with
triggers, build an index without blocking writes, add a constraint without a long scan ...).
Each primitive returns finished `Operation`s — statements plus their reverse — so the plan
holds exactly what the executor will send. A dialect that cannot do something safely raises
`UnsupportedChangeError` with what to do instead, rather than emitting a blocking statement.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

from datamigration.errors import UserInputError
from datamigration.plan.backfill import sample_statement
from datamigration.plan.model import DEFAULT_LOCK_TIMEOUT_MS, BackfillSpec, Operation
from datamigration.plan.sqltext import quote

#: Identifier length limit we keep to everywhere (PostgreSQL's is 63, MySQL's 64).
MAX_NAME = 63


class UnsupportedChangeError(UserInputError):
    """The change cannot be done without downtime on this database (yet)."""


@dataclass(frozen=True)
class SyncPair:
    """Two columns of one table kept equal by triggers while both app versions run.

    `forward` turns the old column's value into the new column's (``{}`` stands for the value);
    `backward` the other way. For a rename both are ``{}``; for a type change they cast.
    """

    old: str
    new: str
    forward: str = "{}"
    backward: str = "{}"


def name_of(*parts: str, limit: int = MAX_NAME) -> str:
    """A generated object name that every dialect accepts.

    At most `limit` UTF-8 bytes (PostgreSQL truncates identifiers past 63 bytes, MySQL refuses
    more than 64 characters), shortened with a stable hash suffix so two long names that share a
    prefix stay distinct; never starting with ``sqlite_`` (SQLite reserves that prefix for its
    own objects, e.g. ``sqlite_autoindex_users_1``, and refuses such names).
    """
    import hashlib

    name = "_".join(p for p in parts if p)
    if name.lower().startswith("sqlite_"):
        name = "dm_" + name[len("sqlite_") :]
    raw = name.encode("utf-8")
    if len(raw) <= limit:
        return name
    tail = hashlib.sha1(raw).hexdigest()[:8]
    head = raw[: limit - 9].decode("utf-8", "ignore")  # never cut a character in half
    return f"{head}_{tail}"


def sql_op(
    description: str,
    statements: Sequence[str],
    *,
    dialect: str,
    reverse: Sequence[Operation] = (),
    transactional: bool = True,
    lock_timeout_ms: int | None = DEFAULT_LOCK_TIMEOUT_MS,
    destructive: bool = False,
    rerunnable: bool = True,
    lock: str = "",
) -> Operation:
    """An operation with a placeholder id (the planner numbers them once the plan is built)."""
    return Operation(
        id="",
        kind="sql",
        dialect=dialect,
        description=description,
        statements=tuple(statements),
        reverse=tuple(reverse),
        transactional=transactional,
        lock_timeout_ms=lock_timeout_ms,
        destructive=destructive,
        rerunnable=rerunnable,
        lock=lock,
    )


def combine(description: str, ops: Sequence[Operation]) -> list[Operation]:
    """`ops` as one operation (one transaction) when they can share one: transactional SQL.

    Why: dropping the sync triggers and then the old column in two transactions leaves a gap in
    which a write through the new column alone meets the old column without its trigger (a NOT
    NULL old column then refuses the insert). One transaction has no gap on PostgreSQL and
    SQLite. The reverse undoes the parts last first."""
    if len(ops) < 2 or not all(o.kind == "sql" and o.transactional for o in ops):
        return list(ops)
    timeouts = [o.lock_timeout_ms for o in ops if o.lock_timeout_ms is not None]
    return [
        replace(
            ops[-1],
            description=description,
            statements=tuple(s for o in ops for s in o.statements),
            reverse=tuple(r for o in reversed(ops) for r in o.reverse),
            destructive=any(o.destructive for o in ops),
            rerunnable=all(o.rerunnable for o in ops),
            lock_timeout_ms=max(timeouts) if timeouts else None,
            lock="; ".join(dict.fromkeys(o.lock for o in ops if o.lock)),
        )
    ]


def backfill_op(description: str, spec: BackfillSpec) -> Operation:

    return Operation(
        id="",
        kind="backfill",
        dialect=spec.dialect,
        description=description,
        statements=(sample_statement(spec),),
        backfill=spec,
        transactional=False,
        lock_timeout_ms=DEFAULT_LOCK_TIMEOUT_MS,
        lock="row locks of one batch at a time",
    )


def manual_op(description: str, instructions: str, *, dialect: str) -> Operation:
    return Operation(
        id="",
        kind="manual",
        dialect=dialect,
        description=description,
        mutating=False,
        lock_timeout_ms=None,
        params={"instructions": instructions},
    )


def with_lock_timeout(op: Operation, ms: int) -> Operation:
    """The same operation (and its reverse) with another lock timeout, for spec overrides."""
    if op.lock_timeout_ms is None:
        return op
    return replace(
        op, lock_timeout_ms=ms, reverse=tuple(with_lock_timeout(r, ms) for r in op.reverse)
    )


class Dialect:
    """SQL generation for one database. Subclasses implement the primitives they support."""

    name: str = ""
    lint_dialect: str = ""
    #: False where DROP COLUMN refuses a column that is still indexed (SQLite): the contract
    #: drops those indexes first.
    drop_column_drops_indexes: bool = True
    #: True where constraints and types that ALTER cannot change in place are changed by a
    #: table rebuild (SQLite: plan/rebuild_sqlite.py) instead of being refused.
    rebuilds_tables: bool = False
    #: True for a document database: its recipes are document operations (plan/mongo_kinds.py)
    documents: bool = False
    #: The language of its operations in plan.md's code blocks.
    code_fence: str = "sql"
    #: False where statements take no lock timeout (SQLite: one writer, a busy timeout instead).
    ddl_lock_timeout: bool = True
    #: Sets the lock timeout (``{ms}``) atop a framework migration file (a session setting).
    lock_timeout_prelude: str = ""
    #: Why the plan needs no downtime on this database, where that is not the lock timeout.
    downtime_note: str = ""
    #: True where ADD CHECK copies the table (InnoDB): the CHECK is added by a rebuild beside it.
    check_by_rebuild: bool = False
    #: True where a view cannot be written through (SQLite).
    read_only_views: bool = False
    #: True where UPDATE takes ORDER BY ... LIMIT (MySQL), which also cannot LIMIT a subquery.
    update_order_limit: bool = False

    @classmethod
    def upsert_tail(cls, keys: Sequence[str], values: Sequence[str]) -> str:
        """The clause that turns an INSERT into an upsert on `keys`, updating `values`."""
        sets = ", ".join(f"{k} = excluded.{k}" for k in values)
        return f" ON CONFLICT ({', '.join(keys)}) DO UPDATE SET {sets}"

    def __init__(self, lock_timeout_ms: int = DEFAULT_LOCK_TIMEOUT_MS) -> None:
        self.lock_timeout_ms = lock_timeout_ms

    def q(self, name: str) -> str:
        return quote(name, self.name)

    def for_schema(self, schema: Any) -> Dialect:
        """This dialect tuned to the database the schema describes (its server version): the
        same object where nothing depends on it."""
        return self

    def unsupported(self, what: str, instead: str) -> UnsupportedChangeError:
        return UnsupportedChangeError(
            f"{what} is not supported on {self.name} without downtime",
            hint=instead,
            dialect=self.name,
        )

    def op(self, description: str, statements: Sequence[str], **kw: Any) -> Operation:
        kw.setdefault("lock_timeout_ms", self.lock_timeout_ms)
        return sql_op(description, statements, dialect=self.name, **kw)

    # --- expressions ----------------------------------------------------------------------

    def distinct(self, a: str, b: str) -> str:
        """Null-safe "a differs from b"."""
        return f"{a} IS DISTINCT FROM {b}"

    def cast(self, value: str, type_: str) -> str:
        return f"CAST({value} AS {type_})"

    # --- primitives (override) --------------------------------------------------------------

    def add_column(
        self,
        table: str,
        column: str,
        type_: str,
        *,
        default: str | None = None,
        not_null: bool = False,
    ) -> Operation:
        raise self.unsupported("adding a column", "Use raw_sql.")

    def drop_column(self, table: str, column: str, type_: str) -> Operation:
        raise self.unsupported("dropping a column", "Use raw_sql.")

    def rename_column(self, table: str, old: str, new: str) -> Operation:
        raise self.unsupported("renaming a column", "Use expand-contract (rename_column).")

    def set_default(self, table: str, column: str, default: str | None) -> Operation:
        raise self.unsupported("setting a default", "Use raw_sql.")

    def keep_original_renamed(
        self,
        table: str,
        original: str,
        copy: str,
        copy_indexes: Sequence[str],
        tag: str,
    ) -> Operation:
        """Contract of a rename where the old column cannot be dropped in place: drop the sync
        triggers, the copy and its indexes, and give the original column the new name, all in
        one transaction (no write can slip in between)."""
        raise self.unsupported("renaming the original column at the contract", "Use raw_sql.")

    def nullable_before_contract(self, table: str, column: str, type_: str) -> list[Operation]:
        """Operations that let inserts leave the old NOT NULL column empty before the contract
        drops its sync triggers. None where the contract is one transaction (PostgreSQL,
        SQLite): no write ever sees the old column without its trigger there."""
        return []

    def sync_triggers(self, table: str, pairs: Sequence[SyncPair], tag: str) -> Operation:
        raise self.unsupported("sync triggers", "Use raw_sql.")

    def drop_sync_triggers(self, table: str, pairs: Sequence[SyncPair], tag: str) -> Operation:
        raise self.unsupported("sync triggers", "Use raw_sql.")

    def create_index(
        self,
        table: str,
        name: str,
        columns: Sequence[str],
        *,
        unique: bool = False,
        where: str | None = None,
    ) -> list[Operation]:
        raise self.unsupported("creating an index", "Use raw_sql.")

    def drop_index(self, table: str | None, name: str, recreate: str | None) -> Operation:
        raise self.unsupported("dropping an index", "Use raw_sql.")

    def set_not_null(self, table: str, column: str, type_: str = "") -> list[Operation]:
        raise self.unsupported("SET NOT NULL", "Use raw_sql.")

    def add_unique(self, table: str, name: str, columns: Sequence[str]) -> list[Operation]:
        raise self.unsupported("adding a unique constraint", "Use raw_sql.")

    def add_foreign_key(
        self,
        table: str,
        name: str,
        columns: Sequence[str],
        ref_table: str,
        ref_columns: Sequence[str],
        on_delete: str | None,
    ) -> list[Operation]:
        raise self.unsupported("adding a foreign key", "Use raw_sql.")

    def add_check(self, table: str, name: str, expression: str) -> list[Operation]:
        raise self.unsupported("adding a check constraint", "Use raw_sql.")

    def rename_table_with_view(self, table: str, new: str) -> Operation:
        raise self.unsupported("renaming a table behind a view", "Use raw_sql.")

    def drop_view(self, name: str, recreate_as: str) -> Operation:
        raise self.unsupported("dropping a view", "Use raw_sql.")

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
        raise self.unsupported("swapping columns", "Use raw_sql.")

    def create_table_like(
        self,
        new_table: str,
        columns: Sequence[tuple[str, str, bool]],
        key: Sequence[str],
        ref_table: str,
    ) -> Operation:
        raise self.unsupported("creating the split table", "Use raw_sql.")

    def drop_table(self, table: str) -> Operation:
        raise self.unsupported("dropping a table", "Use raw_sql.")

    def table_sync_triggers(
        self,
        source: str,
        target: str,
        key_map: Sequence[tuple[str, str]],
        column_map: Sequence[tuple[str, str]],
        tag: str,
        *,
        upsert: bool,
        delete: bool,
    ) -> Operation:
        raise self.unsupported(
            "keeping two tables in sync with triggers",
            "Split and merge are planned on PostgreSQL; elsewhere write the steps as raw_sql.",
        )


class SQLDialect(Dialect):
    """The primitives whose shape every SQL dialect shares, with hooks for where they differ.

    Why one implementation: an added column, a compatibility view or a column swap is the same
    sequence of statements on each database; only spellings (``IF EXISTS``, MySQL's online-DDL
    clause, how a table is renamed), the lock each takes and whether statements carry a lock
    timeout differ. Those are the class attributes and small ``_`` methods below.
    """

    #: The lock an ordinary ALTER takes, as shown in the plan.
    ddl_lock: str = ""
    #: The lock the sync-trigger statements take.
    sync_lock: str = ""
    #: True where column DDL is spelled with IF [NOT] EXISTS (and so can be re-run).
    if_exists: bool = False
    #: Appended to ALTER statements that must not fall back to a blocking table copy.
    alter_suffix: str = ""
    #: What the reverse of `sync_triggers` is called.
    sync_drop_description: str = "drop the sync triggers"
    #: What the compatibility view left by `rename_table_with_view` allows.
    view_note: str = "an updatable view"
    #: `swap_columns`'s description (``{column}``, ``{shadow}`` filled in) and lock.
    swap_description: str = (
        "swap {column} and {shadow} in one transaction (the new column takes the name)"
    )
    swap_lock: str = ""
    #: The locks taken by `create_table_like` (``{ref_table}`` filled in) and `drop_table`.
    split_table_lock: str = "{ref_table}: brief lock for the foreign key"
    drop_table_lock: str = "exclusive lock on the dropped table"

    def ddl(self, description: str, statements: Sequence[str], **kw: Any) -> Operation:
        """`op`, without a lock timeout where the dialect's statements take none."""
        if not self.ddl_lock_timeout:
            kw.setdefault("lock_timeout_ms", None)
        return self.op(description, statements, **kw)

    # --- hooks --------------------------------------------------------------------------------

    def _column_extra(self, default: str | None, not_null: bool) -> str:
        return (f" DEFAULT {default}" if default is not None else "") + (
            " NOT NULL" if not_null else ""
        )

    def _alter_suffix(
        self, operation: str, table: str, column: str, default: str | None = None
    ) -> str:
        """What ends an ALTER doing `operation` (add_column, drop_column, drop_new_column,
        default) on `table.column`: `alter_suffix` unless the dialect picks per operation."""
        return self.alter_suffix if operation != "default" else ""

    def _sync_statements(self, table: str, pairs: Sequence[SyncPair], tag: str) -> list[str]:
        """Statements (re)creating the triggers that keep each pair equal."""
        raise self.unsupported("sync triggers", "Use raw_sql.")

    def _pair_refs(self, p: SyncPair) -> tuple[str, str, str, str, str, str]:
        """For a row trigger: NEW.old, NEW.new, OLD.old, OLD.new, and the forward (from NEW.old)
        and backward (from NEW.new) conversions."""
        o, n = f"NEW.{self.q(p.old)}", f"NEW.{self.q(p.new)}"
        oo, on = f"OLD.{self.q(p.old)}", f"OLD.{self.q(p.new)}"
        return o, n, oo, on, p.forward.format(o), p.backward.format(n)

    def _drop_sync(self, table: str, tag: str) -> list[str]:
        """Statements dropping what `_sync_statements` created (if it exists)."""
        raise self.unsupported("sync triggers", "Use raw_sql.")

    def _rename_columns(self, t: str, renames: Sequence[tuple[str, str]]) -> list[str]:
        """Statements renaming quoted columns of the quoted table `t`, in order."""
        return [f"ALTER TABLE {t} RENAME COLUMN {a} TO {b}" for a, b in renames]

    def _write_locked(self, t: str, statements: list[str]) -> list[str]:
        """`statements` made safe from concurrent writes (a transaction suffices by default)."""
        return statements

    def _rename_table(self, old: str, new: str) -> str:
        return f"ALTER TABLE {old} RENAME TO {new}"

    def _create_view(self, v: str, definition: str) -> str:
        return f"CREATE OR REPLACE VIEW {v} AS {definition}"

    def _index_columns(self, columns: Sequence[str]) -> str:
        """Index keys: plain names quoted, expressions (with a parenthesis) as given."""
        return ", ".join(c if "(" in c else self.q(c) for c in columns)

    def _foreign_key(
        self,
        columns: Sequence[str],
        ref_table: str,
        ref_columns: Sequence[str],
        on_delete: str | None,
    ) -> str:
        cols = ", ".join(self.q(c) for c in columns)
        refs = ", ".join(self.q(c) for c in ref_columns)
        action = f" ON DELETE {on_delete}" if on_delete else ""
        return f"FOREIGN KEY ({cols}) REFERENCES {self.q(ref_table)} ({refs}){action}"

    # --- shared primitives --------------------------------------------------------------------

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
        ine, ie = ("IF NOT EXISTS ", "IF EXISTS ") if self.if_exists else ("", "")
        extra = self._column_extra(default, not_null)
        add_suffix = self._alter_suffix("add_column", table, column, default)
        drop_suffix = self._alter_suffix("drop_new_column", table, column)
        return self.ddl(
            f"add column {column} {type_} to {table}",
            [f"ALTER TABLE {t} ADD COLUMN {ine}{c} {type_}{extra}{add_suffix}"],
            # `op`, not `ddl`: this reverse has always carried the default lock timeout.
            reverse=[
                self.op(
                    f"drop column {column}",
                    [f"ALTER TABLE {t} DROP COLUMN {ie}{c}{drop_suffix}"],
                )
            ],
            lock=self.ddl_lock,
            rerunnable=self.if_exists,
        )

    def drop_column(self, table: str, column: str, type_: str) -> Operation:
        t, c = self.q(table), self.q(column)
        ine, ie = ("IF NOT EXISTS ", "IF EXISTS ") if self.if_exists else ("", "")
        drop_suffix = self._alter_suffix("drop_column", table, column)
        add_suffix = self._alter_suffix("add_column", table, column)
        return self.ddl(
            f"drop column {column} from {table}",
            [f"ALTER TABLE {t} DROP COLUMN {ie}{c}{drop_suffix}"],
            reverse=[
                self.ddl(
                    f"add column {column} back (empty: its data is gone)",
                    [f"ALTER TABLE {t} ADD COLUMN {ine}{c} {type_}{add_suffix}"],
                )
            ],
            destructive=True,
            rerunnable=self.if_exists,
            lock=self.ddl_lock,
        )

    def set_default(self, table: str, column: str, default: str | None) -> Operation:
        t, c = self.q(table), self.q(column)
        x = self._alter_suffix("default", table, column)
        return self.ddl(
            f"default of {column}: {default}",
            [f"ALTER TABLE {t} ALTER COLUMN {c} SET DEFAULT {default}{x}"],
            reverse=[
                self.ddl("drop the default", [f"ALTER TABLE {t} ALTER COLUMN {c} DROP DEFAULT{x}"])
            ],
            lock=self.ddl_lock,
        )

    def sync_triggers(self, table: str, pairs: Sequence[SyncPair], tag: str) -> Operation:
        cols = ", ".join(f"{p.old} <-> {p.new}" for p in pairs)
        return self.ddl(
            f"triggers keeping {cols} equal on {table} (both directions)",
            self._sync_statements(table, pairs, tag),
            reverse=[self.ddl(self.sync_drop_description, self._drop_sync(table, tag))],
            lock=self.sync_lock,
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
        forward = [
            *self._drop_sync(table, tag),
            *self._rename_columns(t, [(c, o), (s, c)]),
            *extra,
            *self._sync_statements(table, pairs_after, tag),
        ]
        back = [
            *self._drop_sync(table, tag),
            *extra_reverse,
            *self._rename_columns(t, [(c, s), (o, c)]),
        ]
        return self.ddl(
            self.swap_description.format(column=column, shadow=shadow),
            self._write_locked(t, forward),
            reverse=[
                self.ddl("swap the columns back", self._write_locked(t, back), rerunnable=False)
            ],
            lock=self.swap_lock,
            rerunnable=False,
        )

    def add_unique(self, table: str, name: str, columns: Sequence[str]) -> list[Operation]:
        return self.create_index(table, name, columns, unique=True)

    def create_table_like(
        self,
        new_table: str,
        columns: Sequence[tuple[str, str, bool]],
        key: Sequence[str],
        ref_table: str,
    ) -> Operation:
        """The table a split moves columns to: keyed like `ref_table`, its key a foreign key
        to it (ON DELETE CASCADE)."""
        cols = [f"  {self.q(n)} {t}{'' if nullable else ' NOT NULL'}" for n, t, nullable in columns]
        k = ", ".join(self.q(c) for c in key)
        cols.append(f"  PRIMARY KEY ({k})")
        cols.append(f"  FOREIGN KEY ({k}) REFERENCES {self.q(ref_table)} ({k}) ON DELETE CASCADE")
        nt = self.q(new_table)
        return self.op(
            f"create {new_table} alongside {ref_table}",
            [f"CREATE TABLE IF NOT EXISTS {nt} (\n" + ",\n".join(cols) + "\n)"],
            reverse=[self.op(f"drop {new_table}", [f"DROP TABLE IF EXISTS {nt}"])],
            lock=self.split_table_lock.format(ref_table=ref_table),
        )

    def drop_table(self, table: str) -> Operation:
        return self.op(
            f"drop {table}",
            [f"DROP TABLE IF EXISTS {self.q(table)}"],
            destructive=True,
            lock=self.drop_table_lock,
        )

    def rename_table_with_view(self, table: str, new: str) -> Operation:
        old, nw = self.q(table), self.q(new)
        return self.ddl(
            f"rename {table} to {new} and leave {self.view_note} named {table}",
            [self._rename_table(old, nw), f"CREATE VIEW {old} AS SELECT * FROM {nw}"],
            reverse=[
                self.ddl(
                    f"drop the view, rename {new} back to {table}",
                    [f"DROP VIEW IF EXISTS {old}", self._rename_table(nw, old)],
                    rerunnable=False,
                )
            ],
            lock=self.ddl_lock,
            rerunnable=False,
        )

    def drop_view(self, name: str, recreate_as: str) -> Operation:
        v = self.q(name)
        return self.ddl(
            f"drop the compatibility view {name}",
            [f"DROP VIEW IF EXISTS {v}"],
            reverse=[self.ddl(f"recreate view {name}", [self._create_view(v, recreate_as)])],
            destructive=True,
            lock=self.ddl_lock,
        )
