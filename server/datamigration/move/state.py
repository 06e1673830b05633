"""Run state of a copy: the run header, the fingerprint, and finding a run to resume.

The state lives in a small table (a collection on MongoDB) on the target, `_datamigration_copy`
by default (`db.bulk.CopyStateStore`): one row per partition (table, key range, rows,
checksum, status, attempts) and a header row (part -1) with the fingerprint of the settings
and the planned target schema, the redacted source and target, and the tables. A resumed run
must present the same fingerprint, so a changed mapping or table list never skips work
silently. At the end of a run its rows are deleted, and the table too once empty.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import secrets
from collections.abc import Sequence
from typing import Any

from datamigration.move.request import CopyRequest, ResumeRefusedError
from datamigration.move.schema import TablePlan

HEADER = -1


def new_run_id() -> str:
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%d%H%M%S")
    return f"copy-{stamp}-{secrets.token_hex(3)}"


def fingerprint(request: CopyRequest, plans: Sequence[TablePlan]) -> str:
    body = {
        "settings": request.settings(),
        "tables": [
            {
                "table": p.name,
                "key": list(p.key),
                "columns": list(p.columns),
                "types": list(p.types),
            }
            for p in plans
        ],
    }
    text = json.dumps(body, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def header(run_id: str, fp: str, info: dict[str, Any], status: str = "running") -> dict[str, Any]:
    return {
        "run_id": run_id,
        "tbl": "",
        "part": HEADER,
        "status": status,
        "fingerprint": fp,
        "info": info,
    }


def find_run(
    records: Sequence[dict[str, Any]], request: CopyRequest, source: str, target: str
) -> str | None:
    """The run to resume: the one named, else the last unfinished run of the same source,
    target and tables."""
    heads = [r for r in records if r["part"] == HEADER]
    if request.run_id:
        if not any(h["run_id"] == request.run_id for h in heads):
            known = ", ".join(sorted(h["run_id"] for h in heads)) or "none"
            raise ResumeRefusedError(
                f"no unfinished copy run {request.run_id} on the target (unfinished runs: {known})",
                hint="Resume without a run id to take the last unfinished run of these tables.",
            )
        return request.run_id
    same = [
        h
        for h in heads
        if (h.get("info") or {}).get("source") == source
        and (h.get("info") or {}).get("target") == target
        and (h.get("info") or {}).get("tables") == list(request.tables)
    ]
    same.sort(key=lambda h: (h.get("info") or {}).get("started", ""))
    return same[-1]["run_id"] if same else None


def check_fingerprint(head: dict[str, Any], fp: str) -> None:
    if head.get("fingerprint") != fp:
        raise ResumeRefusedError(
            f"run {head['run_id']} was started with other settings or another target schema "
            "(its fingerprint differs): resuming it would skip or repeat work",
            run_id=head["run_id"],
        )
