"""DROP, TRUNCATE and RENAME on PostgreSQL: statements that take away what running clients use.

A dropped or renamed table or column breaks every client that still names it, and each of these
statements takes ACCESS EXCLUSIVE on an existing table. The fixes are the slow, safe forms:
drop later (after the code stopped using it), rename through a view or a copied column, drop
indexes CONCURRENTLY. Tables created earlier in the same file are exempt: nobody uses them yet.
The functions are `PgChecker`'s handlers for these statements (see `postgres`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from pglast import ast
from pglast.enums import DropBehavior, ObjectType

from datamigration.lint import pg_fixes as fx
from datamigration.lint.model import Statement
from datamigration.lint.pgtypes import q, rel, rel_key

if TYPE_CHECKING:
    from datamigration.lint.postgres import PgChecker

AE = "ACCESS EXCLUSIVE"


def drop(c: PgChecker, stmt: Statement, node: ast.DropStmt) -> None:
    """DROP INDEX / TABLE / TYPE / VIEW / ...: the lock it takes and whether a rerun fails."""
    if node.removeType == ObjectType.OBJECT_INDEX:
        if node.concurrent:
            if c.tx.active:
                c.emit(
                    "pg-concurrently-in-transaction",
                    stmt,
                    "DROP INDEX CONCURRENTLY cannot run inside a transaction block.",
                    fx.run_alone(stmt.text),
                )
            elif not node.missing_ok:
                c.not_rerunnable(stmt, "DROP INDEX without IF EXISTS")
            return
        c.emit(
            "pg-drop-index-nonconcurrent",
            stmt,
            "DROP INDEX takes ACCESS EXCLUSIVE on the table: every query on it waits.",
            fx.drop_index_concurrently(node),
        )
        if not node.missing_ok:
            c.not_rerunnable(stmt, "DROP INDEX without IF EXISTS")
        c.tx.has_ddl = True
        if not c.lock_timeout and not c.warned_lock_timeout:
            c.took_lock(stmt, "<index's table>", AE, slow=False)
        return
    if node.removeType == ObjectType.OBJECT_TABLE:
        for obj in node.objects:
            table = ".".join(s.sval for s in obj)
            if c.is_new(table):
                continue
            c.emit(
                "pg-drop-table",
                stmt,
                f"DROP TABLE {table}: clients that still use it fail and the data is gone.",
                fx.drop_later(table, f"DROP TABLE IF EXISTS {'.'.join(q(s.sval) for s in obj)};"),
                table=table,
            )
            c.took_lock(stmt, table, AE, slow=False)
        if not node.missing_ok:
            c.not_rerunnable(stmt, "DROP TABLE without IF EXISTS")
    elif not node.missing_ok and node.removeType in (
        ObjectType.OBJECT_TYPE,
        ObjectType.OBJECT_VIEW,
        ObjectType.OBJECT_SEQUENCE,
        ObjectType.OBJECT_FUNCTION,
        ObjectType.OBJECT_SCHEMA,
    ):
        c.not_rerunnable(stmt, "DROP without IF EXISTS")


def drop_database(c: PgChecker, stmt: Statement, node: ast.DropdbStmt) -> None:
    c.emit(
        "pg-drop-database",
        stmt,
        f"DROP DATABASE {node.dbname}.",
        "-- never in a migration; by hand, after a verified backup",
    )


def truncate(c: PgChecker, stmt: Statement, node: ast.TruncateStmt) -> None:
    if node.behavior == DropBehavior.DROP_CASCADE:
        names = ", ".join(rel(r) for r in node.relations)
        c.emit(
            "pg-truncate-cascade",
            stmt,
            f"TRUNCATE {names} CASCADE also empties every table that references them.",
            f"TRUNCATE {names} RESTRICT;",
        )
    for r in node.relations:
        c.took_lock(stmt, rel_key(r), AE, slow=False)


def rename(c: PgChecker, stmt: Statement, node: ast.RenameStmt) -> None:
    """RENAME of a column or table that running clients still use by the old name."""
    if node.relation is None:
        return
    table, key = rel(node.relation), rel_key(node.relation)
    if c.is_new(key):
        if node.renameType == ObjectType.OBJECT_TABLE:
            c.created_table(node.newname)
        return
    if node.renameType == ObjectType.OBJECT_COLUMN:
        c.emit(
            "pg-rename-column",
            stmt,
            f"renaming {table}.{node.subname} to {node.newname} breaks running clients.",
            fx.rename_column(table, node.subname, node.newname, _type_of(c, key, node.subname)),
            table=table,
        )
    elif node.renameType == ObjectType.OBJECT_TABLE:
        c.emit(
            "pg-rename-table",
            stmt,
            f"renaming {table} to {node.newname} breaks running clients.",
            fx.rename_table(table, node.newname),
            table=table,
        )
    else:
        return
    c.not_rerunnable(stmt, "RENAME", table)
    c.took_lock(stmt, key, AE, slow=False)


def _type_of(c: PgChecker, key: str, col: str) -> str | None:
    t = c.columns.get(key.lower(), {}).get(col.lower())
    return str(t) if t is not None else None
