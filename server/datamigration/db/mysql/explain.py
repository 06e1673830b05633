"""MySQL/MariaDB's plan of a read: `EXPLAIN FORMAT=JSON` through the read-only query path."""

from __future__ import annotations

import json
from typing import Any

from datamigration.db.mysql.connection import MySQLConnection


def read_plan(document: Any) -> dict[str, Any]:
    """`cost` and `scans` from EXPLAIN's JSON: MySQL's `query_block.cost_info.query_cost`
    (MariaDB gives `cost` or none); each `table` with its `access_type` (ALL = a full scan)."""
    doc = json.loads(document) if isinstance(document, str) else document
    block = doc.get("query_block") or {}
    cost = (block.get("cost_info") or {}).get("query_cost", block.get("cost"))
    scans: list[dict[str, Any]] = []

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            if "table_name" in node and "access_type" in node:
                full = node["access_type"] == "ALL"
                scans.append({"table": node["table_name"], "method": "seq" if full else "index",
                              "index": None if full else node.get("key")})  # fmt: skip
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(block)
    return {"cost": float(cost) if cost is not None else None, "scans": scans}


class MySQLExplain(MySQLConnection):
    """`explain_read` of the MySQL/MariaDB backend."""

    def explain_read(self, sql: str, timeout_ms: int | None = None) -> dict[str, Any] | None:
        result = self.query(f"EXPLAIN FORMAT=JSON {sql}", max_rows=1, timeout_ms=timeout_ms)
        return read_plan(result.rows[0][0])
