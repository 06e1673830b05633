"""Shared parts of the read-only query path: refusals, capped fetching, statement counting.

The database is what enforces read-only (a read-only transaction, one statement per protocol
message, a low-privilege role where possible, a statement timeout, always rolled back). This
module holds what every backend does around that: build the refusal error with a clear message,
fetch at most `max_rows` rows and say whether more existed, and count statements with the
dialect's own parser as an early, friendlier refusal (never as the only line of defence).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

from datamigration.db.base import QueryResult, elapsed_ms, jsonable
from datamigration.db.errors import QueryRefusedError

MAX_ROWS_LIMIT = 10_000


def refused(label: str, why: str, **data: Any) -> QueryRefusedError:
    return QueryRefusedError(
        f"query refused on {label}: {why}",
        hint="The query path runs one read-only statement (SELECT, WITH ... SELECT, VALUES, "
        "SHOW, EXPLAIN) and always rolls back; changes go through a plan and the executor.",
        **data,
    )


def clamp_rows(max_rows: int) -> int:
    return max(1, min(int(max_rows), MAX_ROWS_LIMIT))


def fetch_capped(cursor: Any, columns: Sequence[str], max_rows: int, started: float) -> QueryResult:
    """Fetch max_rows + 1 rows to learn whether the result was truncated, never the rest."""
    rows = cursor.fetchmany(max_rows + 1)
    truncated = len(rows) > max_rows
    rows = rows[:max_rows]
    return QueryResult(
        columns=tuple(columns),
        rows=tuple(tuple(jsonable(v) for v in row) for row in rows),
        truncated=truncated,
        row_count=len(rows),
        elapsed_ms=elapsed_ms(started),
    )


def count_postgres_statements(sql: str) -> int | None:
    """Statements in `sql` by PostgreSQL's own parser (pglast); None when it does not parse
    (the server then reports the syntax error itself)."""
    try:
        import pglast
    except ImportError:  # pragma: no cover - pglast is a dependency
        return None
    try:
        return len(pglast.parser.split(sql, with_parser=True))
    except Exception:  # noqa: BLE001 - any parse failure: let the server say why
        return None


def postgres_calls(sql: str) -> set[str]:
    """Lower-case names of every function called anywhere in the statement (pglast AST)."""
    try:
        import pglast
        from pglast import ast
        from pglast.visitors import Visitor
    except ImportError:  # pragma: no cover
        return set()

    found: set[str] = set()

    class Calls(Visitor):
        def visit_FuncCall(self, ancestors, node):
            parts = [getattr(p, "sval", "") for p in node.funcname or ()]
            if parts:
                found.add(parts[-1].lower())

    try:
        tree = pglast.parse_sql(sql)
    except Exception:  # noqa: BLE001
        return set()
    Calls()(tree)
    _ = ast
    return found


def now() -> float:
    return time.perf_counter()


_MYSQL_QUERY_STARTS = {"SELECT", "WITH", "SHOW", "DESCRIBE", "DESC", "VALUES", "TABLE", "L_PAREN"}


def mysql_guard(sql: str) -> str | None:
    """Why a MySQL/MariaDB statement must not even be sent, or None.

    The server enforces the read-only transaction, but three things escape it for a privileged
    user: ``KILL``, ``SELECT ... INTO OUTFILE/DUMPFILE`` (writes a file on the server) and
    ``SELECT ... INTO @var``. They are refused here, on sqlglot's MySQL tokens (comments and
    quoted text are tokens of their own, so they cannot hide or fake a keyword). Connecting as
    a user with only SELECT grants closes the same gaps in the server itself.
    """
    try:
        import sqlglot

        tokens = sqlglot.tokenize(sql, read="mysql")
    except Exception:  # noqa: BLE001 - the server will report the syntax error itself
        return None
    if not tokens:
        return "empty statement"
    first = tokens[0].token_type.name
    if first not in _MYSQL_QUERY_STARTS:
        return f"{tokens[0].text.upper()} is not a query"
    if any(t.token_type.name == "INTO" for t in tokens):
        return "SELECT ... INTO writes a file or variables"
    return None
