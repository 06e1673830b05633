"""Name the rows a copy refuses: when a batch of an insert backfill fails, find its bad keys.

Why: a table rebuild copies rows into a table with stricter constraints (NOT NULL, CHECK,
FOREIGN KEY, a type). A row that breaks one makes its whole batch fail and roll back — nothing
is dropped silently — but the database's message names the constraint, not the row. So the
batch's key range is bisected with trial inserts that always end in ROLLBACK (the database
checks each for real and keeps nothing), down to the single rows that fail, and the error names
their keys. Bounded: at most `MAX_NAMED` keys and `MAX_TRIALS` trial batches.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from datamigration.db.base import Backend
from datamigration.errors import DatabaseError, ValidationFailedError
from datamigration.plan.backfill import batch_sql, keys_sql
from datamigration.plan.model import BackfillSpec

MAX_NAMED = 5
MAX_TRIALS = 200


class RowsRefusedError(ValidationFailedError):
    """Rows of the source break the target's constraints; the copy stopped before them."""


def refused_rows(
    backend: Backend,
    spec: BackfillSpec,
    after: Sequence[Any] | None,
    upto: Sequence[Any] | None,
) -> list[tuple[tuple[Any, ...], str]]:
    """(key, the database's message) of up to `MAX_NAMED` rows in (after, upto] whose insert
    fails on its own."""
    keys = [tuple(r) for r in backend.fetch(keys_sql(spec, after, upto))]
    found: list[tuple[tuple[Any, ...], str]] = []
    trials = 0

    def fails(lo: int, hi: int) -> str | None:
        nonlocal trials
        trials += 1
        start = keys[lo - 1] if lo > 0 else after
        try:
            backend.execute([batch_sql(spec, start, keys[hi])], rollback=True)
        except DatabaseError as exc:  # "<action> failed on <database>: <what the database said>"
            return re.sub(r"^.*? failed on \S+: ", "", exc.message)
        return None

    def search(lo: int, hi: int) -> None:
        if len(found) >= MAX_NAMED or trials >= MAX_TRIALS:
            return
        why = fails(lo, hi)
        if why is None:
            return
        if lo == hi:
            found.append((keys[lo], why))
            return
        mid = (lo + hi) // 2
        search(lo, mid)
        search(mid + 1, hi)

    if keys:
        search(0, len(keys) - 1)
    return found


def refused_error(
    backend: Backend,
    spec: BackfillSpec,
    after: Sequence[Any] | None,
    upto: Sequence[Any] | None,
    cause: DatabaseError,
) -> RowsRefusedError:
    """The error that stops an insert backfill whose batch failed, naming the refused rows."""
    rows = refused_rows(backend, spec, after, upto)
    target = spec.target_table or spec.table
    named = (
        "; ".join(f"{_key(spec, k)}: {why}" for k, why in rows)
        or f"no single row fails on its own now ({cause.message})"
    )
    return RowsRefusedError(
        f"{spec.table} has rows that {target} refuses, so the copy stopped before them "
        f"(nothing was skipped, nothing swapped): {named}",
        hint=f"Fix these rows in {spec.table} (an update reaches {target} through the mirror "
        "triggers) and run the step again: it resumes at this batch. Or roll the plan back.",
        table=spec.table,
        target=target,
        keys=[list(k) for k, _ in rows],
        cause=cause.message,
    )


def _key(spec: BackfillSpec, key: tuple[Any, ...]) -> str:
    return ", ".join(f"{c}={v!r}" for c, v in zip(spec.key_columns, key, strict=False))
