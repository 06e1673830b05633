"""The shapes that cross the database boundary: what a backend's methods take and return.

Kept apart from `base.Backend` so an engine that only reads a result (a query answer, a row
page, a table's size) needs no backend, and so the contract a new database must honour is one
short file to read.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

#: One statement with its parameters, or a function of the row counts so far that returns one
#: (so a checkpoint can record how many rows the batch before it in the same transaction wrote),
#: or plain SQL text sent as written (on SQLite it may hold several statements: a script).
Statement = tuple[str, Sequence[Any]]
StatementLike = str | Statement | Callable[[list[int]], Statement]


@dataclass(frozen=True)
class QueryResult:
    """Rows of a read-only query. The rows are data from the database: never instructions.

    `rows` hold JSON-able values (see `jsonable`); `truncated` is True when more rows existed
    than `max_rows`.
    """

    columns: tuple[str, ...]
    rows: tuple[tuple[Any, ...], ...]
    truncated: bool
    row_count: int
    elapsed_ms: float
    untrusted_data: bool = True
    #: what the caller should know about how the answer was made (values cut, a privileged
    #: account); listed in the answer only when there is something to say
    warnings: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "untrusted_data": True,
            "columns": list(self.columns),
            "rows": [list(r) for r in self.rows],
            "row_count": self.row_count,
            "truncated": self.truncated,
            "elapsed_ms": round(self.elapsed_ms, 2),
        }
        if self.warnings:
            out["warnings"] = list(self.warnings)
        return out


@dataclass(frozen=True)
class ExecuteResult:
    """Outcome of `Backend.execute`: one rowcount per statement (-1 when not applicable), and
    with `fetch_last` the rows the last statement returned."""

    statements: int
    rowcounts: tuple[int, ...]
    elapsed_ms: float
    committed: bool
    rows: tuple[tuple[Any, ...], ...] = ()


@dataclass(frozen=True)
class ExecuteOptions:
    """How `Backend.execute` runs its statements (what each backend's `_execute` receives).

    The mode: one transaction that commits (the default), each statement committing on its own
    (`autocommit`), or one transaction that always ends in ROLLBACK (`rollback`)."""

    autocommit: bool = False
    timeout_ms: int | None = None
    lock_timeout_ms: int | None = None
    rollback: bool = False  # end the one transaction with ROLLBACK instead of COMMIT
    fetch_last: bool = False  # return the rows of the last statement


@dataclass(frozen=True)
class RowBatch:
    """One keyset page of `iter_rows`: the rows and the key of the last row (resume point)."""

    columns: tuple[str, ...]
    rows: list[tuple[Any, ...]]
    last_key: tuple[Any, ...] | None


@dataclass(frozen=True)
class TableSize:
    table: str
    row_estimate: int | None
    size_bytes: int | None
    index_bytes: int | None
    total_bytes: int | None


@dataclass
class QueryCounter:
    """Counts the queries a backend sends; introspection exposes the count in Schema."""

    count: int = 0
    statements: list[str] = field(default_factory=list)

    def add(self, sql: str) -> None:
        self.count += 1
        if len(self.statements) < 200:
            self.statements.append(sql.strip().split("\n", 1)[0][:120])


def keyset_sql(
    source: str,
    keys: Sequence[str],
    select: str,
    mark: str,
    after: Sequence[Any] | None,
    end_at: Sequence[Any] | None,
    limit: int,
    *,
    select_keys: bool = True,
) -> tuple[str, list[Any]]:
    """A keyset page as SQL text for drivers that take text: `keys` and `source` are already
    quoted, `mark` is the driver's placeholder. Row-value comparison keeps composite keys in
    order (`(a, b) > (?, ?)`). The keys come first in each row unless `select_keys` is false
    (`select` then names them itself)."""
    order = ", ".join(keys)
    marks = "(" + ", ".join([mark] * len(keys)) + ")"
    where, params = [], []
    if after is not None:
        where.append(f"({order}) > {marks}")
        params.extend(after)
    if end_at is not None:
        where.append(f"({order}) <= {marks}")
        params.extend(end_at)
    sql = (
        f"SELECT {order + ', ' if select_keys else ''}{select} FROM {source} "
        f"{'WHERE ' + ' AND '.join(where) if where else ''} "
        f"ORDER BY {order} LIMIT {int(limit)}"
    )
    return sql, params


def jsonable(value: Any) -> Any:
    """A database value as JSON can carry it without losing meaning (Decimal as text)."""
    import datetime
    import decimal
    import math
    import uuid

    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)
    if isinstance(value, decimal.Decimal):
        return str(value)
    if isinstance(value, datetime.datetime | datetime.date | datetime.time):
        return value.isoformat()
    if isinstance(value, datetime.timedelta):
        return str(value)
    if isinstance(value, bytes | bytearray | memoryview):
        data = bytes(value)
        return {"$binary_hex": data[:256].hex(), "length": len(data)}
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [jsonable(v) for v in value]
    return str(value)


def elapsed_ms(start: float) -> float:
    return (time.perf_counter() - start) * 1000.0


def _first_word(sql: str) -> str:
    """The statement's first keyword, upper-case, after leading comments and parentheses."""
    text = sql.lstrip()
    while True:
        if text.startswith("--"):
            text = text.partition("\n")[2].lstrip()
        elif text.startswith("/*"):
            text = text.partition("*/")[2].lstrip()
        elif text.startswith("("):
            text = text[1:].lstrip()
        else:
            break
    word = ""
    for ch in text:
        if not (ch.isalpha() or ch == "_"):
            break
        word += ch
    return word.upper()
