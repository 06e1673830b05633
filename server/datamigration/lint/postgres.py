"""PostgreSQL checker: parses each statement with pglast and applies the rules in file context.

Context is what separates a useful linter from a grep: whether we are inside a transaction,
which tables this file created (no traffic yet), whether lock_timeout was set, whether an
ACCESS EXCLUSIVE lock is already held, and what the columns' old types are. Each statement is
parsed on its own so one syntax error never hides the rest of the file.

This module keeps that context and the statements that read or change it; the handlers with
more to say live beside it: ALTER TABLE in `pg_alter`, DROP / TRUNCATE / RENAME in `pg_drops`,
and the column-type findings every column declaration gets in `pg_hygiene`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import pglast
from pglast import ast
from pglast.enums import ConstrType as CT
from pglast.enums import ObjectType, TransactionStmtKind, VariableSetKind

from datamigration.lint import pg_drops
from datamigration.lint import pg_fixes as fx
from datamigration.lint.base import Emitter, linter_for
from datamigration.lint.model import Finding, LintOptions, Statement
from datamigration.lint.pg_alter import check_alter_table
from datamigration.lint.pg_hygiene import column_hygiene
from datamigration.lint.pgtypes import (
    PgType,
    pg_type,
    q,
    rel,
    rel_key,
    sql,
)

AE = "ACCESS EXCLUSIVE"
_TX_BEGIN = {TransactionStmtKind.TRANS_STMT_BEGIN, TransactionStmtKind.TRANS_STMT_START}
_TX_END = {
    TransactionStmtKind.TRANS_STMT_COMMIT,
    TransactionStmtKind.TRANS_STMT_ROLLBACK,
    TransactionStmtKind.TRANS_STMT_COMMIT_PREPARED,
    TransactionStmtKind.TRANS_STMT_ROLLBACK_PREPARED,
    TransactionStmtKind.TRANS_STMT_PREPARE,
}
MAX_IDENT = 63
_LONG_WORD = re.compile(r'[\w$"]{64,}')


@dataclass
class _Tx:
    """State of the transaction in progress (explicit BEGIN or assumed by the framework)."""

    active: bool = False
    explicit_begin: Statement | None = None
    ae_holder: str = ""  # table whose ACCESS EXCLUSIVE lock is held until COMMIT
    ae_line: int = 0
    has_ddl: bool = False
    not_valid: set[tuple[str, str]] = field(default_factory=set)
    backfills: list[tuple[Statement, str]] = field(default_factory=list)


class PgChecker(Emitter):
    def __init__(self, file: str, options: LintOptions) -> None:
        super().__init__(file, options)
        self.tx = _Tx(active=options.assume_in_transaction)
        self.lock_timeout = False
        self.statement_timeout = False
        self.warned_lock_timeout = False
        self.warned_statement_timeout = False
        self.utc = False
        self.columns: dict[str, dict[str, PgType]] = {}  # types known from this file
        self.indexes: dict[str, list[tuple[str, ...]]] = {}
        self.fks: list[tuple[Statement, str, list[str]]] = []
        self.not_null_checks: dict[tuple[str, str], str] = {}  # (table, check name) -> column
        self.proven_not_null: set[tuple[str, str]] = set()  # validated CHECK (col IS NOT NULL)
        for table, cols in (options.column_types or {}).items():
            self.columns.setdefault(table.lower(), {}).update(cols)

    # -- driver ---------------------------------------------------------------------------

    def check(self, statements: list[Statement]) -> list[Finding]:
        for stmt in statements:
            try:
                nodes = pglast.parse_sql(stmt.text)
            except pglast.parser.ParseError as exc:
                self.emit(
                    "parse-error",
                    stmt,
                    f"cannot parse statement: {exc}",
                    "Fix the syntax or pass the right --dialect.",
                )
                continue
            except Exception as exc:  # noqa: BLE001 - any parser failure is a finding, not a crash
                self.emit("parse-error", stmt, f"cannot parse statement: {exc!r}")
                continue
            if _LONG_WORD.search(stmt.text):
                self._long_identifiers(stmt)
            for raw in nodes:
                self.statement(stmt, raw.stmt)
        self.finish(statements)
        return self.findings

    def finish(self, statements: list[Statement]) -> None:
        self._flush_backfills()
        if self.tx.explicit_begin is not None:
            self.emit(
                "pg-uncommitted-transaction",
                self.tx.explicit_begin,
                "BEGIN without COMMIT: the changes are rolled back when the session ends.",
                "COMMIT;",
            )
        for stmt, table, cols in self.fks:
            covered = self._index_covers(table, cols)
            if covered is False:
                self.emit(
                    "pg-foreign-key-without-index",
                    stmt,
                    f"foreign key on {table} ({', '.join(cols)}) has no index with these "
                    "leading columns: deletes on the referenced table scan "
                    f"{table}.",
                    fx.OUTSIDE_TX + "\n" + fx.foreign_key_index(table, cols),
                    table=table,
                )

    def _index_covers(self, table: str, cols: list[str]) -> bool | None:
        key = table.lower()
        known = list(self.indexes.get(key, []))
        live = self.options.table_indexes
        if live is not None and key in {k.lower() for k in live}:
            known += [tuple(c) for k, v in live.items() if k.lower() == key for c in v]
        elif not self.is_new(table):
            return None  # an existing table whose indexes we cannot see
        want = tuple(c.lower() for c in cols)
        return any(tuple(c.lower() for c in idx[: len(want)]) == want for idx in known)

    # -- per statement --------------------------------------------------------------------

    def statement(self, stmt: Statement, node: ast.Node) -> None:
        if isinstance(node, ast.TransactionStmt):
            self._transaction(stmt, node)
            return
        if isinstance(node, ast.VariableSetStmt):
            self._set(node)
            return
        if self.tx.active and self.tx.ae_holder and not isinstance(node, ast.VariableShowStmt):
            self.emit(
                "pg-statements-after-access-exclusive",
                stmt,
                f"runs while the ACCESS EXCLUSIVE lock on {self.tx.ae_holder} (taken at "
                f"line {self.tx.ae_line}) is still held: {self.tx.ae_holder} stays "
                "unreadable until COMMIT.",
                "COMMIT;  -- end the transaction right after the statement that takes "
                "ACCESS EXCLUSIVE, then run this one\n" + stmt.text.rstrip(";") + ";",
                table=self.tx.ae_holder,
            )
        handler = getattr(self, "_" + type(node).__name__, None)
        if handler is not None:
            handler(stmt, node)

    def _transaction(self, stmt: Statement, node: ast.TransactionStmt) -> None:
        if node.kind in _TX_BEGIN:
            if self.tx.active:
                self.emit(
                    "pg-transaction-nesting",
                    stmt,
                    "BEGIN inside a transaction"
                    + (
                        " (the framework already wraps this migration)"
                        if self.options.assume_in_transaction
                        else ""
                    )
                    + ": the inner COMMIT ends the outer transaction early.",
                    "-- remove this BEGIN and its COMMIT (or turn off the framework's "
                    "transaction for this migration)",
                )
            self._flush_backfills()
            self.tx = _Tx(active=True, explicit_begin=stmt)
        elif node.kind in _TX_END:
            self._flush_backfills()
            self.tx = _Tx(active=False)

    def _set(self, node: ast.VariableSetStmt) -> None:
        if node.kind == VariableSetKind.VAR_RESET_ALL:
            self.lock_timeout = self.statement_timeout = False
            return
        name = (node.name or "").lower()
        value = ""
        if node.args:
            val = getattr(node.args[0], "val", None)
            value = str(getattr(val, "sval", None) or getattr(val, "ival", ""))
        enabled = node.kind == VariableSetKind.VAR_SET_VALUE and value not in ("0", "")
        if name == "lock_timeout":
            self.lock_timeout = enabled
        elif name == "statement_timeout":
            self.statement_timeout = enabled
        elif name == "timezone":
            self.utc = value.upper() in ("UTC", "GMT", "ETC/UTC", "Z", "+00", "0")

    # -- lock bookkeeping -----------------------------------------------------------------

    def took_lock(self, stmt: Statement, table: str, lock: str, *, slow: bool) -> None:
        """Record a lock taken on an existing table: timeout warnings and the AE holder."""
        if self.is_new(table):
            return
        self.tx.has_ddl = True
        if not self.lock_timeout and not self.warned_lock_timeout:
            self.warned_lock_timeout = True
            self.emit(
                "pg-missing-lock-timeout",
                stmt,
                f"takes {lock} on {table} with no lock_timeout set earlier in the file: "
                "while it waits, every query on the table queues behind it.",
                fx.LOCK_TIMEOUT
                + "  -- before the first DDL; retry on SQLSTATE 55P03\n"
                + stmt.text.rstrip(";")
                + ";",
                table=table,
            )
        if not self.statement_timeout and not self.warned_statement_timeout:
            self.warned_statement_timeout = True
            self.emit(
                "pg-missing-statement-timeout",
                stmt,
                f"slow operation on {table} with no statement_timeout set earlier.",
                "SET statement_timeout = '15min';  -- a bound you accept\n"
                + stmt.text.rstrip(";")
                + ";",
                table=table,
            )
        if lock == AE and self.tx.active and not self.tx.ae_holder:
            self.tx.ae_holder, self.tx.ae_line = table, stmt.line

    def not_rerunnable(self, stmt: Statement, what: str, table: str = "") -> None:
        if self.tx.active:
            return
        self.emit(
            "pg-not-rerunnable",
            stmt,
            f"{what}: outside a transaction a failed run cannot simply be repeated.",
            "-- add IF [NOT] EXISTS, or wrap the file in BEGIN; ... COMMIT;",
            table=table,
        )

    def _long_identifiers(self, stmt: Statement) -> None:
        """Names over 63 bytes, read from the tokens: the parser has already truncated them."""
        raw = stmt.text.encode()
        for tok in pglast.scan(stmt.text):
            if tok.name != "IDENT" or tok.end - tok.start < MAX_IDENT:
                continue
            name = raw[tok.start : tok.end + 1].decode(errors="replace").strip('"')
            size = len(name.encode())
            if size > MAX_IDENT:
                cut = name.encode()[:MAX_IDENT].decode(errors="ignore")
                self.emit(
                    "pg-identifier-too-long",
                    stmt,
                    f"identifier {name[:30]}... is {size} "
                    f"bytes; PostgreSQL silently truncates it to {MAX_IDENT} bytes.",
                    f"-- use a name of at most {MAX_IDENT} bytes, e.g. {q(cut)}",
                )

    # -- CREATE TABLE / INDEX / TYPE --------------------------------------------------------

    def _CreateStmt(self, stmt: Statement, node: ast.CreateStmt) -> None:
        table = rel(node.relation)
        key = rel_key(node.relation)
        if not node.if_not_exists:
            self.not_rerunnable(stmt, "CREATE TABLE without IF NOT EXISTS", table)
        self.created_table(key)
        cols = self.columns.setdefault(key.lower(), {})
        for elt in node.tableElts or ():
            if isinstance(elt, ast.ColumnDef):
                t = pg_type(elt.typeName)
                cols[elt.colname.lower()] = t
                column_hygiene(self, stmt, table, elt.colname, t)
                for con in elt.constraints or ():
                    self._table_constraint(stmt, key, con, [elt.colname])
            elif isinstance(elt, ast.Constraint):
                self._table_constraint(stmt, key, elt, None)

    def _table_constraint(
        self, stmt: Statement, key: str, con: ast.Constraint, column: list[str] | None
    ) -> None:
        """Index coverage and foreign keys declared inside CREATE TABLE."""
        if con.contype in (CT.CONSTR_PRIMARY, CT.CONSTR_UNIQUE):
            cols = column or [s.sval for s in con.keys or ()]
            self.indexes.setdefault(key.lower(), []).append(tuple(cols))
        elif con.contype == CT.CONSTR_FOREIGN:
            cols = column or [s.sval for s in con.fk_attrs or ()]
            self.fks.append((stmt, key, cols))
        elif con.contype == CT.CONSTR_EXCLUSION:
            pass

    def _CreateTableAsStmt(self, stmt: Statement, node: ast.CreateTableAsStmt) -> None:
        if node.into and node.into.rel:
            self.created_table(rel_key(node.into.rel))

    def _IndexStmt(self, stmt: Statement, node: ast.IndexStmt) -> None:
        table = rel(node.relation)
        key = rel_key(node.relation)
        cols = tuple(p.name for p in node.indexParams or () if getattr(p, "name", None))
        if cols and not node.whereClause:
            self.indexes.setdefault(key.lower(), []).append(cols)
        if node.concurrent:
            if self.tx.active:
                self.emit(
                    "pg-concurrently-in-transaction",
                    stmt,
                    "CREATE INDEX CONCURRENTLY cannot run inside a transaction block.",
                    fx.run_alone(stmt.text),
                    table=table,
                )
            elif node.unique and not self.is_new(key):
                cols_sql = ", ".join(q(c) for c in cols) or "<indexed expressions>"
                self.emit(
                    "pg-precheck-existing-data",
                    stmt,
                    f"a unique index on {table} fails on existing duplicates and leaves "
                    "an INVALID index.",
                    f"SELECT {cols_sql}, count(*) FROM {table} GROUP BY {cols_sql} HAVING "
                    f"count(*) > 1;  -- must return no rows\n{stmt.text.rstrip(';')};",
                    table=table,
                )
            if not node.if_not_exists:
                self.not_rerunnable(
                    stmt,
                    "CREATE INDEX CONCURRENTLY without IF NOT EXISTS "
                    "(a failed build leaves an INVALID index)",
                    table,
                )
            return
        if self.is_new(key):
            return
        self.emit(
            "pg-create-index-nonconcurrent",
            stmt,
            f"CREATE INDEX on {table} takes a SHARE lock: writes to {table} are blocked "
            "for the whole build.",
            fx.create_index_concurrently(node),
            table=table,
        )
        if not node.if_not_exists:
            self.not_rerunnable(stmt, "CREATE INDEX without IF NOT EXISTS", table)
        self.took_lock(stmt, key, "SHARE", slow=True)

    def _CreateEnumStmt(self, stmt: Statement, node: ast.CreateEnumStmt) -> None:
        name = ".".join(s.sval for s in node.typeName)
        self.emit(
            "pg-create-enum",
            stmt,
            f"enum {name}: values can be added but never removed or reordered.",
            "-- a lookup table with a foreign key, or text + CHECK",
        )

    def _CreateDomainStmt(self, stmt: Statement, node: ast.CreateDomainStmt) -> None:
        if any(c.contype == CT.CONSTR_CHECK for c in node.constraints or ()):
            name = ".".join(s.sval for s in node.domainname)
            self.emit(
                "pg-domain-check-constraint",
                stmt,
                f"domain {name} has a CHECK "
                "constraint: changing it later scans every table that uses it.",
                "-- put the CHECK on the table columns instead (NOT VALID + VALIDATE)",
            )

    def _AlterDomainStmt(self, stmt: Statement, node: ast.AlterDomainStmt) -> None:
        if node.subtype == "C":
            name = ".".join(s.sval for s in node.typeName)
            self.emit(
                "pg-domain-check-constraint",
                stmt,
                f"adding a constraint to domain {name} scans every column that uses it under lock.",
                f"ALTER DOMAIN {name} ADD {sql(node.def_)} NOT VALID;\n"
                f"-- next transaction: ALTER DOMAIN {name} VALIDATE CONSTRAINT "
                f"{q(node.def_.conname or '<name>')};",
            )

    def _AlterEnumStmt(self, stmt: Statement, node: ast.AlterEnumStmt) -> None:
        name = ".".join(s.sval for s in node.typeName)
        if node.oldVal:
            self.emit(
                "pg-enum-rename-value",
                stmt,
                f"renaming value {node.oldVal!r} of {name} breaks clients that still write it.",
                f"ALTER TYPE {name} ADD VALUE IF NOT EXISTS '{node.newVal}' AFTER "
                f"'{node.oldVal}';\n-- make the application accept both, backfill rows, "
                "then stop writing the old value",
            )
        elif node.newVal and not node.newValNeighbor:
            self.emit(
                "pg-enum-add-value-unordered",
                stmt,
                f"ADD VALUE {node.newVal!r} appends "
                f"to the end of {name}; ORDER BY on the enum follows declaration order.",
                f"ALTER TYPE {name} ADD VALUE IF NOT EXISTS '{node.newVal}' BEFORE "
                "'<existing value>';",
            )

    # -- DROP, TRUNCATE, RENAME: handlers in `pg_drops` ----------------------------------------

    _DropStmt = pg_drops.drop
    _DropdbStmt = pg_drops.drop_database
    _TruncateStmt = pg_drops.truncate
    _RenameStmt = pg_drops.rename

    # -- maintenance ----------------------------------------------------------------------

    def _ReindexStmt(self, stmt: Statement, node: ast.ReindexStmt) -> None:
        concurrent = any(p.defname == "concurrently" for p in node.params or ())
        if concurrent:
            if self.tx.active:
                self.emit(
                    "pg-concurrently-in-transaction",
                    stmt,
                    "REINDEX CONCURRENTLY cannot run inside a transaction block.",
                    fx.run_alone(stmt.text),
                )
            return
        target = rel(node.relation) if node.relation else (node.name or "")
        what = node.kind.name.replace("REINDEX_OBJECT_", "")
        self.took_lock(stmt, target, "SHARE", slow=True)
        self.emit(
            "pg-reindex-nonconcurrent",
            stmt,
            f"REINDEX {what} {target} blocks writes while it rebuilds.",
            fx.OUTSIDE_TX + f"\nREINDEX {what} CONCURRENTLY {target};",
            table=target,
        )

    def _VacuumStmt(self, stmt: Statement, node: ast.VacuumStmt) -> None:
        if any(o.defname == "full" for o in node.options or ()):
            names = ", ".join(rel(r.relation) for r in node.rels or () if r.relation) or "(all)"
            self.emit(
                "pg-vacuum-full",
                stmt,
                f"VACUUM FULL {names} rewrites under ACCESS EXCLUSIVE.",
                f"-- pg_repack --table {names}   (online), or: VACUUM {names};",
                table=names,
            )

    def _ClusterStmt(self, stmt: Statement, node: ast.ClusterStmt) -> None:
        target = rel(node.relation) if node.relation else "(all)"
        self.emit(
            "pg-cluster",
            stmt,
            f"CLUSTER {target} rewrites under ACCESS EXCLUSIVE.",
            f"-- pg_repack --table {target} --order-by <columns>   (online)",
            table=target,
        )

    # -- data changes ---------------------------------------------------------------------

    def _backfill(self, stmt: Statement, node: ast.Node) -> None:
        key = rel_key(node.relation)
        if not self.tx.active or self.is_new(key):
            return
        self.tx.backfills.append((stmt, rel(node.relation)))

    _UpdateStmt = _backfill
    _DeleteStmt = _backfill

    def _InsertStmt(self, stmt: Statement, node: ast.InsertStmt) -> None:
        sel = node.selectStmt
        if isinstance(sel, ast.SelectStmt) and sel.fromClause:
            self._backfill(stmt, node)

    def _flush_backfills(self) -> None:
        if self.tx.has_ddl:
            for stmt, table in self.tx.backfills:
                self.emit(
                    "pg-backfill-in-ddl-transaction",
                    stmt,
                    f"data change on {table} in the "
                    "same transaction as DDL: the DDL locks stay held for the whole "
                    "backfill.",
                    f"-- move to its own step, in batches of about 1000 rows, "
                    f"autocommit per batch:\n-- {stmt.text.splitlines()[0][:120]} ... "
                    "WHERE <key> > :last_key ORDER BY <key> LIMIT 1000",
                    table=table,
                )
        self.tx.backfills = []

    # -- ALTER TABLE ----------------------------------------------------------------------

    def _AlterTableStmt(self, stmt: Statement, node: ast.AlterTableStmt) -> None:
        if (
            node.objtype not in (ObjectType.OBJECT_TABLE, ObjectType.OBJECT_MATVIEW)
            or not node.relation
        ):
            return
        check_alter_table(self, stmt, node)


@linter_for("postgres")
def lint_postgres(statements: list[Statement], file: str, options: LintOptions) -> list[Finding]:
    return PgChecker(file, options).check(statements)
