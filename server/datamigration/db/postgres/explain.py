"""PostgreSQL's plan of a read: `EXPLAIN (FORMAT JSON)` through the read-only query path (its
guard lets EXPLAIN without ANALYZE pass, so nothing is executed)."""

from __future__ import annotations

import json
from typing import Any

from datamigration.db.postgres.connection import PostgresConnection

#: plan nodes that read a table through an index
_INDEX_NODES = frozenset({"Index Scan", "Index Only Scan", "Bitmap Heap Scan"})


def read_plan(document: Any) -> dict[str, Any]:
    """`cost` and `scans` from EXPLAIN's JSON (a list holding one {"Plan": ...})."""
    doc = json.loads(document) if isinstance(document, str) else document
    top = doc[0]["Plan"]
    scans: list[dict[str, Any]] = []

    def walk(node: dict[str, Any]) -> None:
        kind = node.get("Node Type")
        if kind == "Seq Scan":
            scans.append({"table": node.get("Relation Name"), "method": "seq", "index": None})
        elif kind in _INDEX_NODES:
            scans.append({"table": node.get("Relation Name"), "method": "index",
                          "index": node.get("Index Name")})  # fmt: skip
        for child in node.get("Plans") or ():
            walk(child)

    walk(top)
    return {"cost": float(top.get("Total Cost") or 0.0), "scans": scans}


class PostgresExplain(PostgresConnection):
    """`explain_read` of the PostgreSQL backend."""

    def explain_read(self, sql: str, timeout_ms: int | None = None) -> dict[str, Any] | None:
        result = self.query(f"EXPLAIN (FORMAT JSON) {sql}", max_rows=1, timeout_ms=timeout_ms)
        return read_plan(result.rows[0][0])
