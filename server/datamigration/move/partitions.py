"""Key-range partitions: the unit of work a local pool or a Dask worker runs on its own.

A table is cut at every `partition_rows`-th key of the source (one scan, `key_boundaries`);
partition i holds the rows with `lo < key <= hi`, the first open below and the last open above,
so rows inserted at either end while the plan was made are still covered. The ranges are
stored in the state table at the start of a run and read back on resume, so a resumed run
works on exactly the same ranges.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

from datamigration.db.bulk import jsonable_key
from datamigration.move.schema import TablePlan


@dataclass(frozen=True)
class Partition:
    """One key range of one table, with everything a worker needs besides the request."""

    run_id: str
    table: str
    index: int
    lo: tuple[Any, ...] | None
    hi: tuple[Any, ...] | None
    key: tuple[str, ...]
    columns: tuple[str, ...]
    types: tuple[str, ...]
    rows_estimate: int = 0
    attempts: int = 0
    #: a byte format both databases share (`Backend.raw_format`): the range is streamed as is
    raw: str | None = None

    def record(self, **fields: Any) -> dict[str, Any]:
        """Its row in the state table."""
        base = {
            "run_id": self.run_id,
            "tbl": self.table,
            "part": self.index,
            "lo": jsonable_key(self.lo),
            "hi": jsonable_key(self.hi),
            "attempts": self.attempts,
            "status": "pending",
        }
        base.update(fields)
        return base

    def describe(self) -> dict[str, Any]:
        return {
            "table": self.table,
            "index": self.index,
            "lo": jsonable_key(self.lo),
            "hi": jsonable_key(self.hi),
            "rows_estimate": self.rows_estimate,
        }


def cut(source: Any, plan: TablePlan, run_id: str, partition_rows: int) -> list[Partition]:
    """The partitions of one table, from boundaries read on the source."""
    bounds: Sequence[tuple[Any, ...]] = []
    if plan.rows > partition_rows:
        bounds = source.key_boundaries(plan.name, plan.key, partition_rows)
    edges: list[tuple[Any, ...] | None] = [None, *[tuple(b) for b in bounds], None]
    per = plan.rows // max(1, len(edges) - 1)
    return [
        Partition(
            run_id,
            plan.name,
            i,
            edges[i],
            edges[i + 1],
            plan.key,
            plan.columns,
            plan.types,
            per,
            raw=plan.raw,
        )
        for i in range(len(edges) - 1)
    ]


def from_record(rec: dict[str, Any], plan: TablePlan) -> Partition:
    """A partition read back from the state table (resume)."""
    lo = tuple(rec["lo"]) if rec.get("lo") is not None else None
    hi = tuple(rec["hi"]) if rec.get("hi") is not None else None
    return Partition(
        rec["run_id"],
        rec["tbl"],
        rec["part"],
        lo,
        hi,
        plan.key,
        plan.columns,
        plan.types,
        rec.get("rows") or 0,
        rec.get("attempts") or 0,
        raw=plan.raw,
    )


def largest_first(parts: Sequence[Partition], rows_by_table: dict[str, int]) -> list[Partition]:
    """Largest tables first (the long pole starts early), partitions in key order within."""
    return sorted(parts, key=lambda p: (-rows_by_table.get(p.table, 0), p.table, p.index))


def retried(p: Partition) -> Partition:
    return replace(p, attempts=p.attempts + 1)
