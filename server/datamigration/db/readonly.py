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

from datamigration.db.contracts import QueryResult, elapsed_ms, jsonable
from datamigration.db.errors import QueryRefusedError

MAX_ROWS_LIMIT = 10_000
#: one value (text, JSON) in an answer; longer ones are cut and marked with CUT_MARK
MAX_VALUE_BYTES = 8_000
#: a whole answer's rows as JSON: about 16k tokens, under the 25k a model client accepts
MAX_RESULT_BYTES = 64_000
CUT_MARK = "… [cut; whole value "
_BATCH = 100


def refused(label: str, why: str, *, hint: str | None = None, **data: Any) -> QueryRefusedError:
    """The refusal of a statement that was not sent (nothing ran)."""
    return QueryRefusedError(
        f"query refused on {label}: {why}",
        hint=hint
        or "The query path runs one read-only statement (SELECT, WITH ... SELECT, VALUES, "
        "SHOW, EXPLAIN) and always rolls back; changes go through a plan and the executor.",
        **data,
    )


def clamp_rows(max_rows: int) -> int:
    return max(1, min(int(max_rows), MAX_ROWS_LIMIT))


def fetch_capped(
    cursor: Any,
    columns: Sequence[str],
    max_rows: int,
    started: float,
    *,
    max_value_bytes: int = MAX_VALUE_BYTES,
    max_bytes: int = MAX_RESULT_BYTES,
    skip: int = 0,
) -> QueryResult:
    """Fetch at most max_rows rows and about max_bytes of JSON, never the rest, after passing
    over the first `skip` rows (a page's offset: passed rows are read and dropped, so they
    count against no cap and the next page starts where this one stopped).

    Rows are pulled in small batches from a streaming cursor, so memory holds one batch and the
    kept rows; one row past a cap says the answer was `truncated`. A value over max_value_bytes
    is cut (and said so in `warnings`); the first row is kept even when it alone is over
    max_bytes, so an answer is never empty only because of its size.
    """
    while skip > 0:
        passed = cursor.fetchmany(min(_BATCH * 10, skip))
        if not passed:
            break
        skip -= len(passed)
    rows: list[tuple[Any, ...]] = []
    size, cut, truncated = 0, 0, False
    while not truncated:
        batch = cursor.fetchmany(min(_BATCH, max_rows + 1 - len(rows)))
        if not batch:
            break
        for raw in batch:
            if len(rows) >= max_rows:
                truncated = True
                break
            pairs = [capped_value(v, max_value_bytes) for v in raw]
            row = tuple(v for v, _ in pairs)
            cut += sum(1 for _, was_cut in pairs if was_cut)
            size += len(json.dumps(row, default=str, ensure_ascii=False).encode())
            if rows and size > max_bytes:
                truncated = True
                break
            rows.append(row)
    warnings: tuple[str, ...] = ()
    if cut:
        warnings = (f"{cut} value(s) longer than {max_value_bytes} bytes were cut",)
    return QueryResult(
        columns=tuple(columns),
        rows=tuple(rows),
        truncated=truncated or bool(cut),
        row_count=len(rows),
        elapsed_ms=elapsed_ms(started),
        warnings=warnings,
    )


class CutText(str):
    """A value a backend already cut before it reached Python (PostgreSQL cuts on the server),
    ending with CUT_MARK and its whole size like the values `capped_value` cuts."""

    __slots__ = ()


def cut_text(head: bytes, size: int) -> CutText:
    """`head` (at most MAX_VALUE_BYTES bytes of a value of `size` bytes), marked as cut."""
    return CutText(f"{head[:MAX_VALUE_BYTES].decode(errors='ignore')}{CUT_MARK}{size} bytes]")


def capped_value(value: Any, max_value_bytes: int = MAX_VALUE_BYTES) -> tuple[Any, bool]:
    """`jsonable(value)` and whether it was cut: text (and nested JSON, then given as its text)
    over max_value_bytes keeps its first max_value_bytes bytes and says the whole size."""
    if isinstance(value, CutText):
        return str(value), True
    value = jsonable(value)
    if isinstance(value, dict | list):
        text = json.dumps(value, default=str, ensure_ascii=False)
        if len(text.encode()) <= max_value_bytes:
            return value, False
        value = text
    if not isinstance(value, str) or len(value) * 4 <= max_value_bytes:
        return value, False
    data = value.encode()
    if len(data) <= max_value_bytes:
        return value, False
    head = data[:max_value_bytes].decode(errors="ignore")
    return f"{head}{CUT_MARK}{len(data)} bytes]", True


def now() -> float:
    return time.perf_counter()


def mysql_guard(sql: str) -> str | None:
    """Why a MySQL/MariaDB statement must not even be sent, or None (see `db.mysql.guard`)."""
    from datamigration.db.mysql.guard import mysql_guard as guard

    return guard(sql)
