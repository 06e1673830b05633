"""Rows the target refused: set aside with their key, the error and the row, never dropped.

Each partition writes its own JSONL file under `.datamigration/rejects/<run_id>/`, rewritten
when the partition is retried, so a resumed run never counts a refusal twice and workers on
other processes or machines never share a file.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from datamigration.db.contracts import jsonable
from datamigration.redact import redact_text


def rejects_dir(state_dir: Path, run_id: str) -> Path:
    return state_dir / "rejects" / run_id


def reject_path(state_dir: Path, run_id: str, table: str, index: int) -> Path:
    """One partition's rejects file."""
    return rejects_dir(state_dir, run_id) / f"{table}.{index}.jsonl"


class RejectFile:
    def __init__(self, state_dir: Path, run_id: str, table: str, index: int) -> None:
        self.path = reject_path(state_dir, run_id, table, index)
        self.count = 0
        if self.path.exists():
            self.path.unlink()

    def add(
        self, key: Sequence[Any], error: str, columns: Sequence[str], row: Sequence[Any]
    ) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        entry = {
            "key": jsonable(list(key)),
            "error": redact_text(error),
            "row": {c: jsonable(v) for c, v in zip(columns, row, strict=True)},
        }
        with self.path.open("a", encoding="utf-8") as fh:
            fh.write(json.dumps(entry, default=str) + "\n")
        self.count += 1


def read_rejects(state_dir: Path, run_id: str, limit: int = 20) -> tuple[int, list[dict[str, Any]]]:
    """(how many rows were refused in the run, the first `limit` of them)."""
    folder = rejects_dir(state_dir, run_id)
    total, first = 0, []
    for path in sorted(folder.glob("*.jsonl")) if folder.is_dir() else []:
        for line in path.read_text(encoding="utf-8").splitlines():
            total += 1
            if len(first) < limit:
                first.append(json.loads(line) | {"table": path.name.rsplit(".", 2)[0]})
    return total, first
