"""The SQL side of lock tracing: which relations a migration statement names, whether it may
run against a scratch copy at all, and how to point its schema-qualified names at the copy.

Parsing is pglast's (PostgreSQL's own parser). Names are rewritten in the parse tree, never
in the text, and the tree is deparsed only when something changed, so a statement the
deparser would render differently still runs as written whenever it names no schema.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pglast
from pglast import ast
from pglast.enums import DropBehavior, ObjectType, ReindexObjectType, VariableSetKind
from pglast.stream import RawStream
from pglast.visitors import Visitor

SYSTEM = ("pg_catalog", "information_schema")
_RELATION_OBJECTS = {
    ObjectType.OBJECT_TABLE,
    ObjectType.OBJECT_INDEX,
    ObjectType.OBJECT_SEQUENCE,
    ObjectType.OBJECT_VIEW,
    ObjectType.OBJECT_MATVIEW,
    ObjectType.OBJECT_FOREIGN_TABLE,
}
_KEPT_SETTINGS = {
    "search_path",
    "lock_timeout",
    "statement_timeout",
    "role",
    "session_authorization",
}
_CONCURRENTLY = re.compile(r"\bCONCURRENTLY\b", re.IGNORECASE)


def quote_ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


@dataclass
class Ref:
    schema: str | None
    name: str
    set_schema: Callable[[str], None]


@dataclass
class Plan:
    index: int
    text: str
    tree: Any = None
    refs: list[Ref] = field(default_factory=list)
    skip: str = ""
    reads_only: bool = False


class _RangeVars(Visitor):
    def __init__(self) -> None:
        self.found: list[ast.RangeVar] = []

    def visit_RangeVar(self, ancestors: Any, node: ast.RangeVar) -> None:
        self.found.append(node)


def _name_list_ref(holder: Any, attr: str, i: int | None, parts: tuple, trailing: int) -> Ref:
    """A relation named by a list of String nodes (DROP, COMMENT ON): rewrite in place."""
    names = [p.sval for p in parts]
    rel = names[: len(names) - trailing]

    def set_schema(schema: str) -> None:
        current = getattr(holder, attr)
        seq = list(current) if i is not None else None
        target = list(seq[i] if seq is not None else current)
        pos = len(target) - trailing - 2
        if pos >= 0:
            target[pos] = ast.String(sval=schema)
        else:
            target.insert(0, ast.String(sval=schema))
        if seq is not None:
            seq[i] = tuple(target)
            setattr(holder, attr, tuple(seq))
        else:
            setattr(holder, attr, tuple(target))

    return Ref(rel[-2] if len(rel) >= 2 else None, rel[-1], set_schema)


def _skip_reason(stmt: Any, text: str) -> str:
    if _CONCURRENTLY.search(text):
        return "cannot run inside a transaction block (traced as a no-op)"
    if isinstance(stmt, ast.TransactionStmt):
        return "transaction control: the trace runs everything in its own transaction"
    if isinstance(stmt, ast.VacuumStmt) and (stmt.is_vacuumcmd or not stmt.rels):
        return "VACUUM, or ANALYZE of every table: not run by the trace"
    if isinstance(stmt, ast.ClusterStmt) and stmt.relation is None:
        return "CLUSTER of every table: not run by the trace"
    if isinstance(stmt, ast.ReindexStmt) and stmt.kind not in (
        ReindexObjectType.REINDEX_OBJECT_INDEX,
        ReindexObjectType.REINDEX_OBJECT_TABLE,
    ):
        return "REINDEX of a schema or database would reach the real tables: not run"
    if isinstance(stmt, ast.VariableSetStmt) and (
        stmt.kind == VariableSetKind.VAR_RESET_ALL or (stmt.name or "") in _KEPT_SETTINGS
    ):
        return "session setting: the trace keeps its own search_path, role and timeouts"
    if isinstance(stmt, ast.AlterDomainStmt | ast.AlterTableMoveAllStmt):
        return "reaches the real tables through a shared object: not run"
    if (
        isinstance(stmt, ast.DropStmt)
        and stmt.behavior == DropBehavior.DROP_CASCADE
        and stmt.removeType not in _RELATION_OBJECTS
    ):
        return "DROP ... CASCADE of a shared object would reach the real tables: not run"
    return ""


def plan_statement(index: int, text: str) -> Plan:
    plan = Plan(index, text)
    try:
        raws = pglast.parse_sql(text)
    except pglast.parser.ParseError:
        plan.skip = "does not parse: not run"
        return plan
    if len(raws) != 1:
        plan.skip = "not exactly one statement: not run"
        return plan
    plan.tree = raws[0]
    stmt = raws[0].stmt
    plan.skip = _skip_reason(stmt, text)
    plan.reads_only = isinstance(stmt, ast.SelectStmt | ast.ExplainStmt) and not _writes(stmt)
    visitor = _RangeVars()
    visitor(raws[0])
    for rv in visitor.found:
        plan.refs.append(
            Ref(rv.schemaname, rv.relname, lambda s, rv=rv: setattr(rv, "schemaname", s))
        )
    if isinstance(stmt, ast.DropStmt) and stmt.removeType in _RELATION_OBJECTS:
        for i, parts in enumerate(stmt.objects or ()):
            plan.refs.append(_name_list_ref(stmt, "objects", i, parts, 0))
    if isinstance(stmt, ast.CommentStmt) and isinstance(stmt.object, tuple):
        trailing = 1 if stmt.objtype == ObjectType.OBJECT_COLUMN else 0
        if stmt.objtype in _RELATION_OBJECTS or trailing:
            plan.refs.append(_name_list_ref(stmt, "object", None, stmt.object, trailing))
    return plan


def _writes(stmt: Any) -> bool:
    """A SELECT that locks rows or writes through a CTE is not a plain read."""
    if getattr(stmt, "lockingClause", None) or getattr(stmt, "intoClause", None):
        return True
    for cte in getattr(getattr(stmt, "withClause", None), "ctes", None) or ():
        if not isinstance(cte.ctequery, ast.SelectStmt):
            return True
    return False


def deparse(plan: Plan) -> str:
    return RawStream()(plan.tree)
