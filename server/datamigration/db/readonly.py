"""Shared parts of the read-only query path: refusals, capped fetching, statement counting.

The database is what enforces read-only (a read-only transaction, one statement per protocol
message, a low-privilege role where possible, a statement timeout, always rolled back). This
module holds what every backend does around that: build the refusal error with a clear message,
fetch at most `max_rows` rows and say whether more existed, and count statements with the
dialect's own parser as an early, friendlier refusal (never as the only line of defence).
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from typing import Any

from datamigration.db.base import QueryResult, elapsed_ms, jsonable
from datamigration.db.errors import QueryRefusedError

MAX_ROWS_LIMIT = 10_000


def refused(label: str, why: str, *, hint: str | None = None, **data: Any) -> QueryRefusedError:
    """The refusal of a statement that was not sent (say so: nothing ran)."""
    return QueryRefusedError(
        f"query refused on {label}: {why}",
        hint=hint
        or "The query path runs one read-only statement (SELECT, WITH ... SELECT, VALUES, "
        "SHOW, EXPLAIN) and always rolls back; changes go through a plan and the executor.",
        **data,
    )


def clamp_rows(max_rows: int) -> int:
    return max(1, min(int(max_rows), MAX_ROWS_LIMIT))


#: Most bytes one value may carry in a result; a longer text is cut and marked (see `Truncated`).
MAX_VALUE_BYTES = 64 * 1024
#: Most bytes (as JSON text) all rows of one result may carry; rows past it are not fetched.
MAX_RESULT_BYTES = 2 * 1024 * 1024
#: Rows fetched per round trip: memory stays bounded by this batch, never by the result size.
FETCH_BATCH = 500


class Truncated(str):
    """A value cut to the per-value cap; the text ends with a marker naming the full size."""

    __slots__ = ()


def truncated_text(prefix: bytes | str, size: int) -> Truncated:
    """`prefix` (already at most MAX_VALUE_BYTES) marked as cut from a value of `size` bytes."""
    if isinstance(prefix, bytes):
        prefix = prefix.decode("utf-8", errors="ignore")
    return Truncated(f"{prefix}…[truncated: {size} bytes in all]")


def cap_value(value: Any, max_value_bytes: int = MAX_VALUE_BYTES) -> tuple[Any, int]:
    """A JSON-able value cut to `max_value_bytes`, and its approximate size as JSON text.

    Texts are cut on a character boundary; nested values (arrays, documents) that are too
    long become their JSON text, cut and marked, so one value never carries megabytes.
    """
    value = jsonable(value)
    if isinstance(value, Truncated):
        return value, len(value) + 2
    if isinstance(value, str):
        size = len(value.encode("utf-8")) if len(value) * 4 > max_value_bytes else len(value)
        if size > max_value_bytes:
            data = value.encode("utf-8")
            return truncated_text(data[:max_value_bytes], len(data)), max_value_bytes + 40
        return value, size + 2
    if isinstance(value, dict | list):
        text = json.dumps(value, ensure_ascii=False, default=str)
        if len(text) > max_value_bytes:
            data = text.encode("utf-8")
            return truncated_text(data[:max_value_bytes], len(data)), max_value_bytes + 40
        return value, len(text)
    return value, 8


def fetch_capped(
    cursor: Any,
    columns: Sequence[str],
    max_rows: int,
    started: float,
    *,
    max_value_bytes: int = MAX_VALUE_BYTES,
    max_result_bytes: int = MAX_RESULT_BYTES,
) -> QueryResult:
    """Fetch at most max_rows rows (one more to learn whether more existed) in batches, cut
    each value to `max_value_bytes` and stop before the rows pass `max_result_bytes`.

    Memory stays bounded by one batch and the caps, whatever the statement produces; with a
    server-side cursor (PostgreSQL) the database never sends the rest at all. `truncated` is
    True when rows were left out or a value was cut.
    """
    rows: list[tuple[Any, ...]] = []
    total = 2
    truncated = False
    cut_values = 0
    while not truncated:
        want = min(FETCH_BATCH, max_rows + 1 - len(rows))
        batch = cursor.fetchmany(want)
        for raw in batch:
            if len(rows) == max_rows:
                truncated = True
                break
            row, size = [], 2
            for value in raw:
                capped, length = cap_value(value, max_value_bytes)
                cut_values += isinstance(capped, Truncated)
                row.append(capped)
                size += length + 1
            if rows and total + size > max_result_bytes:
                truncated = True
                break
            rows.append(tuple(row))
            total += size
        if len(batch) < want:
            break
    return QueryResult(
        columns=tuple(columns),
        rows=tuple(rows),
        truncated=truncated or cut_values > 0,
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
