"""Durations from measured sizes and a measured backfill rate, and the downtime estimate.

The backfill rate is measured, not guessed, when the table has rows: one sample batch
(`SAMPLE_ROWS` rows rewritten in place, `SET key = key`) is timed by the backend inside one
transaction that always ends in ROLLBACK (`measure_in_rolled_back_transaction`), so nothing is
committed. Its row locks last milliseconds and are bounded by the lock and statement timeouts.
With no rows (or no database), or when the sample cannot take its locks in time (a busy
table), a default rate is used and the plan says so.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from datamigration.errors import DatabaseError, LockTimeoutError
from datamigration.plan.dialects import dialect_class
from datamigration.plan.model import Operation, Plan, Step
from datamigration.plan.sqltext import quote

DEFAULT_ROWS_PER_SECOND = 5_000.0
SAMPLE_ROWS = 1_000
INDEX_BYTES_PER_SECOND = 50_000_000.0
VALIDATE_SPEEDUP = 10.0  # a validation scan reads; a backfill rewrites
DDL_SECONDS = 1.0
SAMPLE_LOCK_TIMEOUT_MS = 500
SAMPLE_TIMEOUT_MS = 10_000


@dataclass(frozen=True)
class Rate:
    rows_per_second: float
    source: str


def measure_rate(backend: Any, table: str, key: tuple[str, ...], rows: int | None) -> Rate:
    """Time one sample batch of `SAMPLE_ROWS` rows in a transaction that is rolled back."""
    if not rows:
        return Rate(DEFAULT_ROWS_PER_SECOND, f"default: {table} is empty, nothing to measure")
    d = backend.dialect
    k = quote(key[0], d)
    n = min(SAMPLE_ROWS, rows)
    t = quote(table, d)
    if dialect_class(d).update_order_limit:
        update = f"UPDATE {t} SET {k} = {k} ORDER BY {k} LIMIT {n}"
    else:
        update = (
            f"UPDATE {t} SET {k} = {k} WHERE {k} IN (SELECT {k} FROM {t} ORDER BY {k} LIMIT {n})"
        )
    try:
        seconds = backend.measure_in_rolled_back_transaction(
            [update], lock_timeout_ms=SAMPLE_LOCK_TIMEOUT_MS, timeout_ms=SAMPLE_TIMEOUT_MS
        )
    except (DatabaseError, LockTimeoutError) as exc:
        return Rate(
            DEFAULT_ROWS_PER_SECOND,
            f"default: the sample batch on {table} could not run ({exc.message}); "
            "re-plan when the table is less busy to measure the rate",
        )
    seconds = max(seconds, 1e-4)
    rate = n / seconds
    return Rate(
        round(rate, 1),
        f"measured: {n} rows rewritten in {seconds * 1000:.0f} ms (rolled back) on {table}",
    )


def op_seconds(
    op: Operation, rows: Mapping[str, int], sizes: Mapping[str, int], rate: float
) -> float:
    if op.kind == "backfill" and op.backfill is not None:
        n = op.backfill.estimated_rows or rows.get(op.backfill.table, 0)
        return round(n / rate, 2)
    if op.kind == "document" and op.params.get("batch_size"):
        n = op.params.get("estimated_documents") or rows.get(op.params.get("collection", ""), 0)
        return round(n / rate, 2)
    if op.kind == "copy":
        return round(float(op.params.get("estimated_rows") or 0) / rate, 2)
    if op.kind != "sql":
        return 0.0
    total = 0.0
    for s in op.statements:
        up = s.upper()
        table = _table_in(s, rows)
        if "CREATE" in up and "INDEX" in up or " ADD INDEX" in up or " ADD UNIQUE INDEX" in up:
            total += max(DDL_SECONDS, sizes.get(table, 0) / INDEX_BYTES_PER_SECOND)
        elif "VALIDATE CONSTRAINT" in up:
            total += max(DDL_SECONDS, rows.get(table, 0) / (rate * VALIDATE_SPEEDUP))
        else:
            total += 0.05 if up.startswith(("DROP TRIGGER", "DROP FUNCTION")) else DDL_SECONDS
    return round(total, 2)


def _table_in(statement: str, rows: Mapping[str, int]) -> str:
    words = statement.replace("(", " ").replace('"', "").replace("`", "").split()
    return next((w for w in words if w in rows), "")


def step_seconds(
    step: Step, rows: Mapping[str, int], sizes: Mapping[str, int], rate: float
) -> float:
    return round(sum(op_seconds(o, rows, sizes, rate) for o in step.operations), 2)


def downtime(plan_steps: list[Step], dialect: str, lock_timeout_ms: int) -> tuple[float, str]:
    """Expected downtime: none when every DDL waits at most the lock timeout."""
    d = dialect_class(dialect)
    unbounded = [
        s.title
        for s in plan_steps
        for o in s.operations
        if o.kind == "sql" and o.lock_timeout_ms is None and d.ddl_lock_timeout
    ]
    if unbounded:
        return 0.0, (
            "no planned downtime, but these steps run without a lock timeout: "
            + "; ".join(unbounded)
        )
    if d.downtime_note:
        return 0.0, d.downtime_note
    return 0.0, (
        f"none planned: every DDL statement waits at most {lock_timeout_ms} ms for its lock "
        "(then retries with backoff) and holds it only for a metadata change; backfills and "
        "index builds run without blocking reads or writes"
    )


def plan_total(plan: Plan) -> float:
    return round(sum(s.estimate_seconds for s in plan.steps), 2)
