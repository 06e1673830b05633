"""SQLite's plan of a read: `EXPLAIN QUERY PLAN` through the read-only query path. SQLite gives
no cost; its lines say SCAN (a full scan, unless USING an index) or SEARCH (through an index)."""

from __future__ import annotations

import re
from typing import Any

from datamigration.db.sqlite.connection import SQLiteConnection

_LINE = re.compile(r"^(SCAN|SEARCH)\s+(?:TABLE\s+)?(\S+)(.*)$")
_INDEX = re.compile(r"USING (?:COVERING )?INDEX (\S+)|USING (INTEGER PRIMARY KEY)")


def read_plan(details: list[str]) -> dict[str, Any]:
    scans = []
    for line in details:
        m = _LINE.match(line.strip())
        if m is None:
            continue
        idx = _INDEX.search(m.group(3))
        indexed = m.group(1) == "SEARCH" or idx is not None
        scans.append({"table": m.group(2), "method": "index" if indexed else "seq",
                      "index": (idx.group(1) or idx.group(2)) if idx else None})  # fmt: skip
    return {"cost": None, "scans": scans}


class SQLiteExplain(SQLiteConnection):
    """`explain_read` of the SQLite backend."""

    def explain_read(self, sql: str, timeout_ms: int | None = None) -> dict[str, Any] | None:
        result = self.query(f"EXPLAIN QUERY PLAN {sql}", timeout_ms=timeout_ms)
        return read_plan([str(row[-1]) for row in result.rows])
