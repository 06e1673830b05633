"""Render one batch of a keyset backfill: the executor's loop and the plan share this code.

Protocol (the executor's loop; `after` starts as None, meaning "from the first row"):

1. ``boundary_sql(spec, after)`` returns the key of the last row of the next batch: the
   `batch_size`-th key after `after`. When it returns no row, fewer than `batch_size` rows
   remain: run ``batch_sql(spec, after, None)`` (to the end of the table) and stop.
2. Otherwise run ``batch_sql(spec, after, upto)`` in its own transaction (autocommit per batch),
   record `upto` durably as the resume point, set ``after = upto`` and repeat.

Each batch touches only rows in ``(after, upto]`` that still need work (`spec.where`), so a
batch re-run after a crash changes nothing it already did. Key values are rendered as literals
so the statement that runs is the one a person can read in the log.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from datamigration.db.dialect import dialect_of
from datamigration.plan.model import BackfillSpec
from datamigration.plan.sqltext import quote, quote_all, row_literal, row_value


def _range(
    spec: BackfillSpec, after: Sequence[Any] | None, upto: Sequence[Any] | None, prefix: str = ""
) -> list[str]:
    d = spec.dialect
    cols = _prefixed_row(spec.key_columns, prefix, d) if prefix else row_value(spec.key_columns, d)
    parts = []
    if after is not None:
        parts.append(f"{cols} > {row_literal(list(after), d)}")
    if upto is not None:
        parts.append(f"{cols} <= {row_literal(list(upto), d)}")
    return parts


def _prefixed_row(keys: Sequence[str], alias: str, dialect: str) -> str:
    names = [f"{alias}{quote(k, dialect)}" for k in keys]
    return names[0] if len(names) == 1 else "(" + ", ".join(names) + ")"


def boundary_sql(spec: BackfillSpec, after: Sequence[Any] | None) -> str:
    """The query for the last key of the next batch (no row: the rest is one short batch)."""
    d = spec.dialect
    keys = quote_all(spec.key_columns, d)
    cond = _range(spec, after, None)
    where = f" WHERE {' AND '.join(cond)}" if cond else ""
    return (
        f"SELECT {keys} FROM {quote(spec.table, d)}{where} ORDER BY {keys} "
        f"LIMIT 1 OFFSET {spec.batch_size - 1}"
    )


def batch_sql(spec: BackfillSpec, after: Sequence[Any] | None, upto: Sequence[Any] | None) -> str:
    """The statement of one batch: rows with key in (after, upto] that still need work."""
    d = spec.dialect
    if spec.mode == "update":
        cond = _range(spec, after, upto)
        if spec.where:
            cond.append(f"({spec.where})")
        where = f" WHERE {' AND '.join(cond)}" if cond else ""
        return f"UPDATE {quote(spec.table, d)} SET {spec.set_expression}{where}"
    if spec.mode == "insert":
        alias = "src."
        cond = _range(spec, after, upto, prefix=alias)
        if spec.where:
            cond.append(f"({spec.where})")
        where = f" WHERE {' AND '.join(cond)}" if cond else ""
        target = quote(spec.target_table or "", d)
        verb, tail = "INSERT INTO", ""
        if spec.conflict_columns:
            conflict = [quote(c, d) for c in spec.conflict_columns]
            verb, tail = dialect_of(d).insert_skipping_duplicates(target, conflict)
        return (
            f"{verb} {target} ({quote_all(spec.insert_columns, d)}) "
            f"SELECT {', '.join(spec.select_expressions)} FROM {quote(spec.table, d)} AS src"
            f"{where}{tail}"
        )
    raise ValueError(f"unknown backfill mode {spec.mode!r}")


def keys_sql(spec: BackfillSpec, after: Sequence[Any] | None, upto: Sequence[Any] | None) -> str:
    """The keys of the rows one batch would touch, in key order (to name the rows a failed
    insert batch holds)."""
    d = spec.dialect
    keys = ", ".join(f"src.{quote(k, d)}" for k in spec.key_columns)
    cond = _range(spec, after, upto, prefix="src.")
    if spec.where:
        cond.append(f"({spec.where})")
    where = f" WHERE {' AND '.join(cond)}" if cond else ""
    return f"SELECT {keys} FROM {quote(spec.table, d)} AS src{where} ORDER BY {keys}"


def sample_statement(spec: BackfillSpec) -> str:
    """The first batch as it will run when the first boundary key is K (for review)."""
    return batch_sql(spec, None, ["K"] * len(spec.key_columns)).replace("'K'", ":upto")
