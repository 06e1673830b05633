"""MySQL / MariaDB statements for zero-downtime changes.

InnoDB online DDL does most of the work: `ALGORITHM=INSTANT` (metadata only) or
`ALGORITHM=INPLACE, LOCK=NONE` (an online rebuild) is spelled out on every ALTER so the server
refuses, instead of silently copying the table with writes blocked, when it cannot do the change
online. INSTANT is chosen only where the server version the schema was read from supports it for
that operation (`INSTANT_SINCE`, checked on MariaDB 10.11); with no version known, INPLACE (which
MariaDB treats as "INPLACE or better", so it still runs instantly there). ADD CHECK has no online
algorithm at all: it goes through the table rebuild of `rebuild_mysql`. DDL commits implicitly in MySQL, so a multi-
statement operation is not atomic: each is written to be safe to re-run or marked otherwise.
Sync triggers are BEFORE triggers that assign NEW columns (one per event); `<=>` is the
null-safe comparison.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from datamigration.db.mysql.dialect import MySQLDialect
from datamigration.plan.model import Operation
from datamigration.plan.ops_base import SQLDialect, SyncPair, name_of

ONLINE = "ALGORITHM=INPLACE, LOCK=NONE"
INSTANT = "ALGORITHM=INSTANT"
#: First (MariaDB, MySQL) versions whose InnoDB does the operation with ALGORITHM=INSTANT.
#: add_column: at the end of the table; drop_column: a column no index uses (the index drop is
#: not instant: MariaDB answers "Reason: DROP INDEX"); rename_column: on MySQL not for a column
#: of a foreign key.
INSTANT_SINCE: dict[str, tuple[tuple[int, ...], tuple[int, ...]]] = {
    "add_column": ((10, 3), (8, 0, 12)),
    "drop_column": ((10, 4), (8, 0, 29)),
    "rename_column": ((10, 3), (8, 0, 28)),
    "default": ((10, 3), (8, 0)),
}
_VERSION = re.compile(r"(?:5\.5\.5-)?(\d+)\.(\d+)(?:\.(\d+))?")
_LITERAL = re.compile(r"^(?:NULL|TRUE|FALSE|-?\d+(?:\.\d+)?|'(?:[^'\\]|'')*')$", re.IGNORECASE)
_INTEGER = re.compile(r"^(?:tiny|small|medium|big)?int(?:eger)?\b", re.IGNORECASE)
_DECIMAL = re.compile(
    r"^(?:decimal|numeric|dec|fixed)\s*(\(\s*\d+\s*(?:,\s*\d+\s*)?\))?", re.IGNORECASE
)
_TEMPORAL = re.compile(r"^(datetime|date|timestamp|time)\b\s*(\(\s*\d+\s*\))?", re.IGNORECASE)
_STRING = re.compile(r"^(?:national\s+)?(?:var)?char|^(?:tiny|medium|long)?text\b", re.IGNORECASE)
_BYTES = re.compile(r"^(?:var)?binary|^(?:tiny|medium|long)?blob\b", re.IGNORECASE)
MDL = "metadata lock, brief (online DDL)"


@dataclass(frozen=True)
class Server:
    """What the plan may rely on about the server: MariaDB or MySQL, and its version."""

    mariadb: bool
    version: tuple[int, ...]

    @classmethod
    def parse(cls, text: str | None) -> Server | None:
        m = _VERSION.match((text or "").strip())
        if not m:
            return None
        version = tuple(int(g) for g in m.groups() if g is not None)
        return cls(MySQLDialect.version_is_mariadb(text), version)

    def instant(self, operation: str) -> bool:
        maria, mysql = INSTANT_SINCE[operation]
        return self.version >= (maria if self.mariadb else mysql)


class MySQL(SQLDialect):
    name = "mysql"
    lint_dialect = "mysql"
    ddl_lock = sync_lock = MDL
    alter_suffix = f", {ONLINE}"
    check_by_rebuild = True
    update_order_limit = True

    @classmethod
    def upsert_tail(cls, keys: Sequence[str], values: Sequence[str]) -> str:
        sets = ", ".join(f"{k} = VALUES({k})" for k in values)
        return f" ON DUPLICATE KEY UPDATE {sets}"

    swap_description = (
        "swap {column} and {shadow} in one ALTER (the new column takes the name), "
        "the table write-locked from the trigger drop to the new triggers"
    )
    swap_lock = f"{MDL}; table write lock (LOCK TABLES) for the swap's few milliseconds"
    split_table_lock = "metadata lock on {ref_table} (foreign key), brief"
    drop_table_lock = "exclusive metadata lock on the dropped table, brief"
    server: Server | None = None
    schema: Any = None

    def for_schema(self, schema: Any) -> MySQL:
        tuned = type(self)(self.lock_timeout_ms)
        tuned.server = Server.parse(getattr(schema, "server_version", None))
        tuned.schema = schema
        return tuned

    def _column(self, table: str, column: str) -> Any:
        t = self.schema.table(table) if self.schema is not None else None
        return (t, t.column(column)) if t is not None and t.column(column) else (t, None)

    def algorithm(self, operation: str, table: str = "", column: str = "") -> str:
        """`ALGORITHM=INSTANT` where this server does `operation` on `table.column` instantly
        (the schema tells whether the column is indexed or in a foreign key), else the online
        rebuild `ALGORITHM=INPLACE, LOCK=NONE`."""
        if self.server is None or not self.server.instant(operation):
            return ONLINE
        t, col = self._column(table, column)
        if operation == "drop_column" and (
            col is None or any(column in ix.columns for ix in t.indexes)
        ):
            return ONLINE
        if operation == "rename_column" and not self.server.mariadb:
            tables = self.schema.tables if self.schema is not None else ()
            in_fk = any(
                (x.name == table and column in fk.columns)
                or (fk.ref_table == table and column in fk.ref_columns)
                for x in tables
                for fk in x.foreign_keys
            )
            if in_fk:
                return ONLINE
        return INSTANT

    def _alter_suffix(
        self, operation: str, table: str, column: str, default: str | None = None
    ) -> str:
        if operation == "add_column" and default is not None and not _LITERAL.match(default):
            return f", {ONLINE}"  # an expression default: not every version adds it instantly
        op = "drop_column" if operation == "drop_new_column" else operation
        return f", {self.algorithm(op, table, column)}"

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

    def _column_extra(self, default: str | None, not_null: bool) -> str:
        return (" NOT NULL" if not_null else "") + (
            f" DEFAULT {default}" if default is not None else ""
        )

    def _sync_statements(self, table: str, pairs: Sequence[SyncPair], tag: str) -> list[str]:
        base = name_of("dm_sync", table, tag, limit=58)
        ins, upd = [], []
        for p in pairs:
            o, n, oo, on, fwd, back = self._pair_refs(p)
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
            *self._drop_sync(table, tag),
            f"CREATE TRIGGER {self.q(base + '_ins')} BEFORE INSERT ON {t} FOR EACH ROW\nBEGIN\n"
            + "\n".join(ins)
            + "\nEND",
            f"CREATE TRIGGER {self.q(base + '_upd')} BEFORE UPDATE ON {t} FOR EACH ROW\nBEGIN\n"
            + "\n".join(upd)
            + "\nEND",
        ]

    def _drop_sync(self, table: str, tag: str) -> list[str]:
        base = name_of("dm_sync", table, tag, limit=58)
        return [f"DROP TRIGGER IF EXISTS {self.q(base + s)}" for s in ("_ins", "_upd")]

    def _rename_columns(self, t: str, renames: Sequence[tuple[str, str]]) -> list[str]:
        """One ALTER for all the renames: the columns never stand half swapped. Metadata only:
        INSTANT where the server has it for every column renamed, else INPLACE."""
        table = t.strip("`")
        algos = {self.algorithm("rename_column", table, a.strip("`")) for a, _ in renames}
        algo = INSTANT if algos == {INSTANT} else ONLINE
        return [
            f"ALTER TABLE {t} "
            + ", ".join(f"RENAME COLUMN {a} TO {b}" for a, b in renames)
            + f", {algo}"
        ]

    def _write_locked(self, t: str, statements: list[str]) -> list[str]:
        # Each DDL statement commits on its own: without the table lock a write landing
        # between the trigger drop, the rename and the new triggers would miss its sync (lost
        # in the other column, or refused by a NOT NULL column nobody fills). LOCK TABLES ...
        # WRITE holds every other session off for the few milliseconds the three take (a
        # failed statement ends the run, and the closed session releases the lock).
        return [f"LOCK TABLES {t} WRITE", *statements, "UNLOCK TABLES"]

    def _rename_table(self, old: str, new: str) -> str:
        return f"RENAME TABLE {old} TO {new}"

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
        cols = self._index_columns(columns)
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

    def _modify_null(
        self, table: str, column: str, type_: str, nullable: bool, what: str, back: str
    ) -> list[Operation]:
        """One online MODIFY to NULL or NOT NULL, its reverse the other way."""
        t, c = self.q(table), self.q(column)

        def modify(null: bool) -> str:
            return f"ALTER TABLE {t} MODIFY {c} {type_} {'NULL' if null else 'NOT NULL'}, {ONLINE}"

        return [
            self.op(
                what, [modify(nullable)], reverse=[self.op(back, [modify(not nullable)])], lock=MDL
            )
        ]

    def set_not_null(self, table: str, column: str, type_: str = "") -> list[Operation]:
        return self._modify_null(
            table,
            column,
            type_,
            False,
            f"{column} NOT NULL (online rebuild; fails if a NULL remains)",
            f"{column} nullable again",
        )

    def nullable_before_contract(self, table: str, column: str, type_: str) -> list[Operation]:
        """DDL commits implicitly here, so the contract's DROP TRIGGER and DROP COLUMN are
        separate transactions: an insert through the new column landing between them would
        meet the old NOT NULL column without the trigger that filled it, and fail. Making the
        old column nullable first (online) closes that gap (NULL, unlike a default, never
        collides in the old column's UNIQUE index)."""
        return self._modify_null(
            table,
            column,
            type_,
            True,
            f"{column} nullable (online): inserts without it succeed once the triggers go",
            f"{column} NOT NULL again",
        )

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
        fk = self._foreign_key(columns, ref_table, ref_columns, on_delete)
        return [
            self.op(
                f"add foreign key {name} online (existing rows checked by validation, not a scan)",
                [
                    "SET SESSION foreign_key_checks = 0",
                    f"ALTER TABLE {t} ADD CONSTRAINT {self.q(name)} {fk}, {ONLINE}",
                    "SET SESSION foreign_key_checks = 1",
                ],
                reverse=[
                    self.op(
                        f"drop {name} online",
                        [f"ALTER TABLE {t} DROP FOREIGN KEY {self.q(name)}, {ONLINE}"],
                    )
                ],
                lock=MDL,
                rerunnable=False,
            )
        ]

    # --- tables (split / merge) -------------------------------------------------------------

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
        """AFTER triggers on `source` writing each row change into `target`.

        Each write is guarded by a look at the target: it runs only when the target does not
        hold the values already. That is the echo guard (a write made by the twin trigger finds
        its own values and stops, where PostgreSQL asks pg_trigger_depth()), and it keeps the
        trigger from modifying a table the invoking statement reads: MySQL refuses that
        (error 1442), and the batched copy reads one table while writing the other."""
        q, tt = self.q, self.q(target)
        match = " AND ".join(f"{q(tk)} = NEW.{q(sk)}" for sk, tk in key_map)
        same = " AND ".join(f"{q(tc)} <=> NEW.{q(sc)}" for sc, tc in column_map)
        differs = " OR ".join(f"NOT ({q(tc)} <=> NEW.{q(sc)})" for sc, tc in column_map)
        if upsert:
            tcols = [tk for _, tk in key_map] + [tc for _, tc in column_map]
            vals = [f"NEW.{q(sk)}" for sk, _ in key_map] + [f"NEW.{q(sc)}" for sc, _ in column_map]
            sets = ", ".join(f"{q(tc)} = NEW.{q(sc)}" for sc, tc in column_map)
            write = (
                f"  IF NOT EXISTS (SELECT 1 FROM {tt} WHERE {match} AND {same}) THEN\n"
                f"    INSERT INTO {tt} ({', '.join(q(c) for c in tcols)}) "
                f"VALUES ({', '.join(vals)})\n      ON DUPLICATE KEY UPDATE {sets};\n  END IF;"
            )
        else:
            sets = ", ".join(f"{q(tc)} = NEW.{q(sc)}" for sc, tc in column_map)
            write = (
                f"  IF EXISTS (SELECT 1 FROM {tt} WHERE {match} AND ({differs})) THEN\n"
                f"    UPDATE {tt} SET {sets} WHERE {match};\n  END IF;"
            )
        base = name_of("dm_sync", source, tag, limit=58)
        st = q(source)
        events = [("_ins", "INSERT", write), ("_upd", "UPDATE", write)]
        if delete:
            old = " AND ".join(f"{q(tk)} = OLD.{q(sk)}" for sk, tk in key_map)
            events.append(
                (
                    "_del",
                    "DELETE",
                    (
                        f"  IF EXISTS (SELECT 1 FROM {tt} WHERE {old}) THEN\n"
                        f"    DELETE FROM {tt} WHERE {old};\n  END IF;"
                    ),
                )
            )
        drops = [f"DROP TRIGGER IF EXISTS {q(base + s)}" for s, _, _ in events]
        creates = [
            f"CREATE TRIGGER {q(base + s)} AFTER {event} ON {st} FOR EACH ROW\nBEGIN\n{body}\nEND"
            for s, event, body in events
        ]
        return self.op(
            f"triggers copying writes on {source} to {target}",
            [*drops, *creates],
            reverse=[self.op(f"drop the triggers on {source}", drops)],
            lock=MDL,
        )
