"""ALTER TABLE on PostgreSQL: the statement with the most ways to take a long lock.

Every subcommand is judged on its own (ADD COLUMN, ALTER TYPE, SET NOT NULL, ADD CONSTRAINT,
...), but they share one lock: the strongest one taken by any subcommand, held until COMMIT.
Tables created earlier in the same file are exempt from lock and breaking-change rules, since
nobody reads them yet; column hygiene still applies.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from pglast import ast
from pglast.enums import AlterTableType as AT
from pglast.enums import ConstrType as CT

from datamigration.lint import pg_fixes as fx
from datamigration.lint.model import Statement
from datamigration.lint.pg_hygiene import column_hygiene
from datamigration.lint.pgtypes import (
    MAYBE_IN_PLACE_TARGETS,
    SERIALS,
    default_volatility,
    pg_type,
    q,
    rel,
    rel_key,
    rewrites,
    sql,
)

if TYPE_CHECKING:
    from datamigration.lint.postgres import PgChecker

AE = "ACCESS EXCLUSIVE"
SRE = "SHARE ROW EXCLUSIVE"
_STRENGTH = {"": 0, "SHARE UPDATE EXCLUSIVE": 1, SRE: 2, AE: 3}
_WEAK = {
    AT.AT_ValidateConstraint,
    AT.AT_SetStatistics,
    AT.AT_ClusterOn,
    AT.AT_DropCluster,
    AT.AT_SetRelOptions,
    AT.AT_ResetRelOptions,
    AT.AT_AttachPartition,
    AT.AT_DetachPartitionFinalize,
}
_REWRITE = {
    AT.AT_SetTableSpace: "SET TABLESPACE",
    AT.AT_SetLogged: "SET LOGGED",
    AT.AT_SetUnLogged: "SET UNLOGGED",
    AT.AT_SetAccessMethod: "SET ACCESS METHOD",
}


def _is_not_null_check(con: ast.Constraint) -> str | None:
    """The column of a `CHECK (col IS NOT NULL)` constraint, else None."""
    e = con.raw_expr
    if (
        isinstance(e, ast.NullTest)
        and int(e.nulltesttype) == 1
        and isinstance(e.arg, ast.ColumnRef)
    ):
        last = e.arg.fields[-1]
        return getattr(last, "sval", None)
    return None


class _Alter:
    """Judges one ALTER TABLE statement."""

    def __init__(self, c: PgChecker, stmt: Statement, node: ast.AlterTableStmt) -> None:
        self.c, self.stmt, self.node = c, stmt, node
        self.table = rel(node.relation)
        self.key = rel_key(node.relation)
        self.new = c.is_new(self.key)
        self.lock = ""
        self.slow = False

    def emit(self, rule_id: str, message: str, fix: str = "", **kw) -> None:
        self.c.emit(rule_id, self.stmt, message, fix, table=self.table, **kw)

    def take(self, lock: str, slow: bool = False) -> None:
        if _STRENGTH[lock] > _STRENGTH[self.lock]:
            self.lock = lock
        self.slow = self.slow or slow

    def run(self) -> None:
        for cmd in self.node.cmds:
            st = cmd.subtype
            self.take("SHARE UPDATE EXCLUSIVE" if st in _WEAK else AE)
            handler = getattr(self, st.name, None)
            if handler is not None:
                handler(cmd)
            elif st in _REWRITE and not self.new:
                self.take(AE, slow=True)
                self.emit(
                    "pg-alter-table-rewrite",
                    f"{_REWRITE[st]} rewrites {self.table} under ACCESS EXCLUSIVE.",
                    "-- copy into a new table in batches with "
                    "a sync trigger and swap names, or pg_repack",
                )
        if self.new:
            return
        if not all(
            c.missing_ok and c.subtype in (AT.AT_AddColumn, AT.AT_DropColumn)
            for c in self.node.cmds
        ):
            self.c.not_rerunnable(
                self.stmt, "ALTER TABLE without IF [NOT] EXISTS on every subcommand", self.table
            )
        self.c.tx.has_ddl = True
        if _STRENGTH[self.lock] >= _STRENGTH[SRE]:
            self.c.took_lock(self.stmt, self.key, self.lock, slow=self.slow)

    # -- subcommands (named after pglast's AlterTableType members) ------------------------

    def AT_AddColumn(self, cmd: ast.AlterTableCmd) -> None:
        cd: ast.ColumnDef = cmd.def_
        col = cd.colname
        t = pg_type(cd.typeName)
        self.c.columns.setdefault(self.key.lower(), {})[col.lower()] = t
        column_hygiene(self.c, self.stmt, self.table, col, t)
        cons = list(cd.constraints or ())
        kinds = {con.contype for con in cons}
        default = next((con.raw_expr for con in cons if con.contype == CT.CONSTR_DEFAULT), None)
        not_null = cd.is_not_null or CT.CONSTR_NOTNULL in kinds
        for con in cons:
            if con.contype == CT.CONSTR_FOREIGN:
                self.c.fks.append((self.stmt, self.key, [col]))
            if con.contype in (CT.CONSTR_PRIMARY, CT.CONSTR_UNIQUE):
                self.c.indexes.setdefault(self.key.lower(), []).append((col,))
        if self.new:
            return
        if t.name in SERIALS or CT.CONSTR_IDENTITY in kinds:
            seq = f"{self.table.split('.')[-1].strip(chr(34))}_{col}_seq"
            self.take(AE, slow=True)
            kind = t.name if t.name in SERIALS else "identity"
            self.emit(
                "pg-add-column-serial",
                f"adding {col} ({kind}) fills every row of "
                f"{self.table}: table rewrite under ACCESS EXCLUSIVE.",
                f"CREATE SEQUENCE IF NOT EXISTS {q(seq)} AS bigint;\n"
                + fx.add_column_then_backfill(self.table, cd, f"nextval('{seq}')", not_null)
                + f"\nALTER SEQUENCE {q(seq)} OWNED BY {self.table}.{q(col)};",
            )
            return
        if CT.CONSTR_GENERATED in kinds:
            gen = next(con for con in cons if con.contype == CT.CONSTR_GENERATED)
            expr = sql(gen.raw_expr)
            self.take(AE, slow=True)
            self.emit(
                "pg-add-column-stored-generated",
                f"stored generated column {col} is "
                f"computed for every row of {self.table}: table rewrite under ACCESS "
                "EXCLUSIVE.",
                fx.add_column_then_backfill(self.table, cd, None, False)
                + f"\n-- keep it in sync: a BEFORE INSERT OR UPDATE trigger setting "
                f"NEW.{q(col)} := {expr}\n-- backfill in batches: UPDATE {self.table} SET "
                f"{q(col)} = {expr} WHERE ... LIMIT 1000",
            )
            return
        if default is not None:
            verdict, fname = default_volatility(default)
            old_pg = self.c.options.pg_version < 11
            if verdict != "safe" or old_pg:
                self.take(AE, slow=True)
                reason = (
                    "before PostgreSQL 11 any default rewrites the table"
                    if old_pg and verdict == "safe"
                    else f"{fname}() is volatile, so every existing row is rewritten"
                    if verdict == "volatile"
                    else f"{fname}() may be volatile; if it is, every row is rewritten"
                )
                self.emit(
                    "pg-add-column-volatile-default",
                    f"ADD COLUMN {col} DEFAULT {sql(default)} on {self.table}: {reason} "
                    "under ACCESS EXCLUSIVE.",
                    fx.add_column_then_backfill(self.table, cd, sql(default), not_null),
                    severity=None if verdict == "volatile" or old_pg else "warning",
                )
                return
        if not_null and default is None:
            self.emit(
                "pg-add-column-required",
                f"ADD COLUMN {col} NOT NULL without a default "
                f"fails when {self.table} has rows and breaks inserts from running "
                "clients.",
                fx.add_column_required(self.table, cd),
            )
        for con in cons:
            self._inline_constraint(cd, con)

    def _inline_constraint(self, cd: ast.ColumnDef, con: ast.Constraint) -> None:
        col = cd.colname
        plain = ast.ColumnDef(colname=col, typeName=cd.typeName, is_local=True)
        add = f"ALTER TABLE {self.table} ADD COLUMN IF NOT EXISTS {sql(plain)};\n"
        if con.contype == CT.CONSTR_FOREIGN:
            con = _with_cols(con, fk_attrs=[col])
            self.take(SRE, slow=True)
            self.emit(
                "pg-add-foreign-key",
                f"REFERENCES on new column {col} validates "
                f"{self.table} under SHARE ROW EXCLUSIVE on both tables.",
                add + fx.constraint_not_valid(self.table, con, [col]),
            )
        elif con.contype == CT.CONSTR_CHECK:
            self.take(AE, slow=True)
            self.emit(
                "pg-add-check-constraint",
                f"CHECK on new column {col} scans {self.table} under ACCESS EXCLUSIVE.",
                add + fx.constraint_not_valid(self.table, con),
            )
        elif con.contype in (CT.CONSTR_UNIQUE, CT.CONSTR_PRIMARY):
            primary = con.contype == CT.CONSTR_PRIMARY
            con = _with_cols(con, keys=[col])
            self.take(AE, slow=True)
            self.emit(
                "pg-add-primary-key" if primary else "pg-add-unique-constraint",
                f"{'PRIMARY KEY' if primary else 'UNIQUE'} on new column {col} builds an "
                f"index on {self.table} under ACCESS EXCLUSIVE.",
                add + fx.unique_via_index(self.table, con, primary),
            )

    def AT_AlterColumnType(self, cmd: ast.AlterTableCmd) -> None:
        col = cmd.name
        cd: ast.ColumnDef = cmd.def_
        new_t = pg_type(cd.typeName)
        known = self.c.columns.setdefault(self.key.lower(), {})
        old = known.get(col.lower())
        known[col.lower()] = new_t
        if new_t.name == "json":
            column_hygiene(self.c, self.stmt, self.table, col, new_t)
        if self.new:
            return
        using = cd.raw_default
        severity = None
        if using is not None:
            why = "the USING expression is evaluated for every row"
        elif old is not None:
            if not rewrites(old, new_t, utc=self.c.utc):
                return  # binary-coercible: PostgreSQL changes only the catalog
            why = f"{old} -> {new_t} is not binary-coercible"
        elif new_t.name in MAYBE_IN_PLACE_TARGETS:
            why = (
                f"the old type is not known here; {new_t} avoids a rewrite only from a "
                "binary-coercible type (e.g. a shorter varchar, text, a numeric of lower "
                "precision)"
            )
            severity = "warning"
        else:
            why = f"changing to {new_t} rewrites every row"
        self.take(AE, slow=True)
        self.emit(
            "pg-change-column-type",
            f"ALTER COLUMN {col} TYPE {sql(cd.typeName)} on "
            f"{self.table}: {why}; table and indexes are rewritten under ACCESS "
            "EXCLUSIVE.",
            fx.expand_contract_type(
                self.table, col, sql(cd.typeName), sql(using) if using is not None else None
            ),
            severity=severity,
        )

    def AT_SetNotNull(self, cmd: ast.AlterTableCmd) -> None:
        if self.new:
            return
        col = cmd.name
        if (
            self.key.lower(),
            col.lower(),
        ) in self.c.proven_not_null and self.c.options.pg_version >= 12:
            return  # a validated CHECK (col IS NOT NULL) lets PostgreSQL skip the scan
        self.take(AE, slow=True)
        self.emit(
            "pg-set-not-null",
            f"SET NOT NULL on {self.table}.{col} scans the whole table under ACCESS EXCLUSIVE.",
            fx.set_not_null(self.table, col, self.c.options.pg_version),
        )

    def AT_DropNotNull(self, cmd: ast.AlterTableCmd) -> None:
        if self.new:
            return
        self.emit(
            "pg-drop-not-null",
            f"DROP NOT NULL on {self.table}.{cmd.name}: readers may now receive NULL.",
            "-- make every reader tolerate NULL and deploy first, "
            f"then:\n{self.stmt.text.rstrip(';')};",
        )

    def AT_AddConstraint(self, cmd: ast.AlterTableCmd) -> None:
        con: ast.Constraint = cmd.def_
        kind = con.contype
        if kind == CT.CONSTR_FOREIGN:
            self.c.fks.append((self.stmt, self.key, [s.sval for s in con.fk_attrs or ()]))
        if kind in (CT.CONSTR_PRIMARY, CT.CONSTR_UNIQUE) and con.keys:
            self.c.indexes.setdefault(self.key.lower(), []).append(tuple(s.sval for s in con.keys))
        if kind == CT.CONSTR_CHECK:
            col = _is_not_null_check(con)
            if col and con.conname:
                self.c.not_null_checks[(self.key.lower(), con.conname.lower())] = col.lower()
            if col and not con.skip_validation:
                self.c.proven_not_null.add((self.key.lower(), col.lower()))
        if self.new:
            return
        if con.skip_validation:
            self.take(AE if kind == CT.CONSTR_CHECK else SRE)
            if self.c.tx.active:
                self.c.tx.not_valid.add((self.key.lower(), (con.conname or "").lower()))
            return
        if kind == CT.CONSTR_CHECK:
            self.take(AE, slow=True)
            self.emit(
                "pg-add-check-constraint",
                f"CHECK constraint {con.conname or ''} scans {self.table} under ACCESS EXCLUSIVE.",
                fx.constraint_not_valid(self.table, con),
            )
        elif kind == CT.CONSTR_FOREIGN:
            cols = [s.sval for s in con.fk_attrs or ()]
            self.take(SRE, slow=True)
            self.emit(
                "pg-add-foreign-key",
                f"FOREIGN KEY on {self.table} ({', '.join(cols)}) "
                f"scans {self.table} while blocking writes to it and to "
                f"{rel(con.pktable)}.",
                fx.constraint_not_valid(self.table, con, cols),
            )
        elif kind in (CT.CONSTR_UNIQUE, CT.CONSTR_PRIMARY):
            if con.indexname:
                return  # USING INDEX: the index was built (concurrently) beforehand
            primary = kind == CT.CONSTR_PRIMARY
            self.take(AE, slow=True)
            self.emit(
                "pg-add-primary-key" if primary else "pg-add-unique-constraint",
                f"{'PRIMARY KEY' if primary else 'UNIQUE'} on {self.table} builds its "
                "index under ACCESS EXCLUSIVE and fails half-way on duplicates.",
                fx.unique_via_index(self.table, con, primary),
            )
        elif kind == CT.CONSTR_EXCLUSION:
            self.take(AE, slow=True)
            self.emit(
                "pg-add-exclusion-constraint",
                f"EXCLUDE constraint on {self.table} "
                "builds its index under ACCESS EXCLUSIVE and cannot be added NOT VALID.",
                f"-- no online path: create {self.table}_new with the constraint, copy "
                "rows in batches with a sync trigger, swap names in one short "
                f"transaction; or run in a maintenance window:\n{fx.LOCK_TIMEOUT}\n"
                f"{self.stmt.text.rstrip(';')};",
            )

    def AT_ValidateConstraint(self, cmd: ast.AlterTableCmd) -> None:
        name = (cmd.name or "").lower()
        col = self.c.not_null_checks.get((self.key.lower(), name))
        if col:
            self.c.proven_not_null.add((self.key.lower(), col))
        if (self.key.lower(), name) in self.c.tx.not_valid and not self.new:
            self.emit(
                "pg-validate-in-same-transaction",
                f"VALIDATE CONSTRAINT {cmd.name} runs "
                "in the transaction that added it NOT VALID: the ADD's lock is still held "
                "during the scan.",
                f"COMMIT;\n{self.stmt.text.rstrip(';')};",
            )

    def AT_DropColumn(self, cmd: ast.AlterTableCmd) -> None:
        if self.new:
            return
        self.emit(
            "pg-drop-column",
            f"DROP COLUMN {self.table}.{cmd.name}: clients that still "
            "use it fail and the data is gone.",
            fx.drop_later(
                f"{self.table}.{cmd.name}",
                f"ALTER TABLE {self.table} DROP COLUMN IF EXISTS {q(cmd.name)};",
            ),
        )

    def AT_DetachPartition(self, cmd: ast.AlterTableCmd) -> None:
        part = rel(cmd.def_.name)
        if cmd.def_.concurrent:
            self.take("SHARE UPDATE EXCLUSIVE")
            if self.c.tx.active:
                self.emit(
                    "pg-concurrently-in-transaction",
                    "DETACH PARTITION CONCURRENTLY cannot run inside a transaction block.",
                    fx.run_alone(self.stmt.text),
                )
            return
        if self.new:
            return
        self.emit(
            "pg-detach-partition-nonconcurrent",
            f"DETACH PARTITION {part} takes ACCESS EXCLUSIVE on {self.table}.",
            f"{fx.OUTSIDE_TX}\n{fx.LOCK_TIMEOUT}\nALTER TABLE {self.table} DETACH "
            f"PARTITION {part} CONCURRENTLY;",
        )


def _with_cols(con: ast.Constraint, **cols: list[str]) -> ast.Constraint:
    import copy

    new = copy.deepcopy(con)
    for attr, names in cols.items():
        if not getattr(new, attr, None):
            setattr(new, attr, tuple(ast.String(sval=n) for n in names))
    return new


def check_alter_table(c: PgChecker, stmt: Statement, node: ast.AlterTableStmt) -> None:
    _Alter(c, stmt, node).run()
