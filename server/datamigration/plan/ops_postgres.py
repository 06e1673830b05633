"""PostgreSQL statements for zero-downtime changes.

The rules they follow (see docs/planning.md): every DDL runs under `lock_timeout` (the executor
sets it and retries), so a blocked ALTER never queues traffic behind it for long; indexes are
built CONCURRENTLY after dropping any invalid leftover of an interrupted build; constraints are
added NOT VALID (brief lock, no scan) and validated separately (SHARE UPDATE EXCLUSIVE: reads
and writes continue); SET NOT NULL rides on a validated CHECK so it does not scan; old and new
columns are kept equal by one BEFORE trigger in both directions, so the old and the new
application version can run side by side.
"""

from __future__ import annotations

from collections.abc import Sequence

from datamigration.plan.model import Operation
from datamigration.plan.ops_base import SQLDialect, SyncPair, name_of

FN_LOCK = "SHARE ROW EXCLUSIVE on the table, brief"
AX_BRIEF = "ACCESS EXCLUSIVE, brief (metadata only)"


class Postgres(SQLDialect):
    name = "postgresql"
    lint_dialect = "postgres"
    ddl_lock = swap_lock = AX_BRIEF
    sync_lock = FN_LOCK
    if_exists = True
    lock_timeout_prelude = "SET lock_timeout = '{ms}ms';\n"
    sync_drop_description = "drop the sync trigger"
    split_table_lock = "SHARE ROW EXCLUSIVE on {ref_table} (foreign key), brief"
    drop_table_lock = "ACCESS EXCLUSIVE on the dropped table"

    # --- sync triggers (same table) -----------------------------------------------------------

    def _sync_statements(self, table: str, pairs: Sequence[SyncPair], tag: str) -> list[str]:
        fn = name_of("dm_sync", table, tag)
        insert, update = [], []
        for p in pairs:
            o, n, oo, on, fwd, back = self._pair_refs(p)
            insert.append(
                f"    IF {n} IS NULL THEN {n} := {fwd};\n"
                f"    ELSIF {o} IS NULL THEN {o} := {back};\n    END IF;"
            )
            update.append(
                f"    IF {n} IS DISTINCT FROM {on} AND {o} IS NOT DISTINCT FROM {oo} THEN\n"
                f"      {o} := {back};  -- written by the new application version\n"
                f"    ELSE\n      {n} := {fwd};  -- written by the old version\n    END IF;"
            )
        body = (
            f"CREATE OR REPLACE FUNCTION {self.q(fn)}() RETURNS trigger LANGUAGE plpgsql AS $$\n"
            "BEGIN\n  IF TG_OP = 'INSERT' THEN\n"
            + "\n".join(insert)
            + "\n  ELSE\n"
            + "\n".join(update)
            + "\n  END IF;\n  RETURN NEW;\nEND\n$$"
        )
        t = self.q(table)
        return [
            body,
            f"DROP TRIGGER IF EXISTS {self.q(fn)} ON {t}",
            (
                f"CREATE TRIGGER {self.q(fn)} BEFORE INSERT OR UPDATE ON {t} "
                f"FOR EACH ROW EXECUTE FUNCTION {self.q(fn)}()"
            ),
        ]

    def _drop_sync(self, table: str, tag: str) -> list[str]:
        fn = self.q(name_of("dm_sync", table, tag))
        return [
            f"DROP TRIGGER IF EXISTS {fn} ON {self.q(table)}",
            f"DROP FUNCTION IF EXISTS {fn}()",
        ]

    def drop_sync_triggers(self, table: str, pairs: Sequence[SyncPair], tag: str) -> Operation:
        create = self.sync_triggers(table, pairs, tag)
        return self.op(
            f"drop the sync trigger on {table}",
            self._drop_sync(table, tag),
            reverse=[create],
            lock=FN_LOCK,
        )

    # --- indexes and constraints ------------------------------------------------------------

    def create_index(
        self,
        table: str,
        name: str,
        columns: Sequence[str],
        *,
        unique: bool = False,
        where: str | None = None,
    ) -> list[Operation]:
        idx = self.q(name)
        cols = self._index_columns(columns)
        pred = f" WHERE {where}" if where else ""
        kind = "UNIQUE INDEX" if unique else "INDEX"
        drop = f"DROP INDEX CONCURRENTLY IF EXISTS {idx}"
        return [
            self.op(
                f"remove an invalid leftover of an interrupted build of {name}, if any",
                [drop],
                transactional=False,
                lock="SHARE UPDATE EXCLUSIVE (CONCURRENTLY)",
            ),
            self.op(
                f"build {name} on {table} ({', '.join(columns)}) without blocking writes",
                [f"CREATE {kind} CONCURRENTLY {idx} ON {self.q(table)} ({cols}){pred}"],
                transactional=False,
                reverse=[self.op(f"drop index {name}", [drop], transactional=False)],
                lock="SHARE UPDATE EXCLUSIVE (CONCURRENTLY): reads and writes continue",
            ),
        ]

    def drop_index(self, table: str | None, name: str, recreate: str | None) -> Operation:
        reverse = []
        if recreate:
            reverse = [self.op(f"rebuild {name}", [recreate], transactional=False)]
        return self.op(
            f"drop index {name} without blocking writes",
            [f"DROP INDEX CONCURRENTLY IF EXISTS {self.q(name)}"],
            transactional=False,
            reverse=reverse,
            destructive=True,
            lock="SHARE UPDATE EXCLUSIVE (CONCURRENTLY)",
        )

    def _not_valid(self, table: str, name: str, definition: str, what: str) -> list[Operation]:
        t, n = self.q(table), self.q(name)
        drop = f"ALTER TABLE {t} DROP CONSTRAINT IF EXISTS {n}"
        return [
            self.op(
                f"add {what} {name} NOT VALID (new rows checked at once, no scan)",
                [drop, f"ALTER TABLE {t} ADD CONSTRAINT {n} {definition} NOT VALID"],
                reverse=[self.op(f"drop {name}", [drop])],
                lock=AX_BRIEF,
            ),
            self.op(
                f"validate {name} (scans existing rows; reads and writes continue)",
                [f"ALTER TABLE {t} VALIDATE CONSTRAINT {n}"],
                lock="SHARE UPDATE EXCLUSIVE: reads and writes continue",
            ),
        ]

    def set_not_null(self, table: str, column: str, type_: str = "") -> list[Operation]:
        t, c = self.q(table), self.q(column)
        check = name_of(table, column, "not_null")
        ops = self._not_valid(table, check, f"CHECK ({c} IS NOT NULL)", "CHECK")
        ops.append(
            self.op(
                f"SET NOT NULL on {column} (proved by the validated CHECK: no scan), drop the CHECK",
                [
                    f"ALTER TABLE {t} ALTER COLUMN {c} SET NOT NULL",
                    f"ALTER TABLE {t} DROP CONSTRAINT IF EXISTS {self.q(check)}",
                ],
                reverse=[
                    self.op(
                        f"{column} nullable again",
                        [f"ALTER TABLE {t} ALTER COLUMN {c} DROP NOT NULL"],
                    )
                ],
                lock=AX_BRIEF,
            )
        )
        return ops

    def add_unique(self, table: str, name: str, columns: Sequence[str]) -> list[Operation]:
        t, n = self.q(table), self.q(name)
        ops = self.create_index(table, name, columns, unique=True)
        ops.append(
            self.op(
                f"attach the unique index as constraint {name}",
                [f"ALTER TABLE {t} ADD CONSTRAINT {n} UNIQUE USING INDEX {n}"],
                reverse=[
                    self.op(
                        f"detach {name} (the index stays until its own reverse)",
                        [
                            f"ALTER TABLE {t} DROP CONSTRAINT IF EXISTS {n}",
                        ],
                    )
                ],
                lock=AX_BRIEF,
                rerunnable=False,
            )
        )
        return ops

    def add_foreign_key(
        self,
        table: str,
        name: str,
        columns: Sequence[str],
        ref_table: str,
        ref_columns: Sequence[str],
        on_delete: str | None,
    ) -> list[Operation]:
        definition = self._foreign_key(columns, ref_table, ref_columns, on_delete)
        return self._not_valid(table, name, definition, "foreign key")

    def add_check(self, table: str, name: str, expression: str) -> list[Operation]:
        return self._not_valid(table, name, f"CHECK ({expression})", "CHECK")

    # --- tables -------------------------------------------------------------------------------

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
        fn = self.q(name_of("dm_sync", source, tag))
        tt = self.q(target)
        match = " AND ".join(f"{self.q(tk)} = NEW.{self.q(sk)}" for sk, tk in key_map)
        lines = [
            "CREATE OR REPLACE FUNCTION " + fn + "() RETURNS trigger LANGUAGE plpgsql AS $$",
            "BEGIN",
            "  -- a write made by the twin trigger on the other table: do not echo it back",
            "  IF pg_trigger_depth() > 1 THEN RETURN NULL; END IF;",
        ]
        if delete:
            old_match = " AND ".join(f"{self.q(tk)} = OLD.{self.q(sk)}" for sk, tk in key_map)
            lines.append(
                f"  IF TG_OP = 'DELETE' THEN DELETE FROM {tt} WHERE {old_match}; RETURN OLD; END IF;"
            )
        sets = ", ".join(f"{self.q(tc)} = NEW.{self.q(sc)}" for sc, tc in column_map)
        if upsert:
            tcols = [tk for _, tk in key_map] + [tc for _, tc in column_map]
            vals = [f"NEW.{self.q(sk)}" for sk, _ in key_map] + [
                f"NEW.{self.q(sc)}" for sc, _ in column_map
            ]
            excl = ", ".join(f"{self.q(tc)} = EXCLUDED.{self.q(tc)}" for _, tc in column_map)
            lines.append(
                f"  INSERT INTO {tt} ({', '.join(self.q(c) for c in tcols)}) "
                f"VALUES ({', '.join(vals)})\n"
                f"    ON CONFLICT ({', '.join(self.q(tk) for _, tk in key_map)}) DO UPDATE SET {excl};"
            )
        else:
            lines.append(f"  UPDATE {tt} SET {sets} WHERE {match};")
        lines += ["  RETURN NEW;", "END", "$$"]
        events = "INSERT OR UPDATE OR DELETE" if delete else "INSERT OR UPDATE"
        st = self.q(source)
        drop = [f"DROP TRIGGER IF EXISTS {fn} ON {st}", f"DROP FUNCTION IF EXISTS {fn}()"]
        return self.op(
            f"trigger copying writes on {source} to {target}",
            [
                "\n".join(lines),
                f"DROP TRIGGER IF EXISTS {fn} ON {st}",
                f"CREATE TRIGGER {fn} AFTER {events} ON {st} FOR EACH ROW EXECUTE FUNCTION {fn}()",
            ],
            reverse=[self.op(f"drop the trigger on {source}", drop)],
            lock=FN_LOCK,
        )
