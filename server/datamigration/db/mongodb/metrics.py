"""What a MongoDB server says about its load: `serverStatus` (connections, operation counters,
assertions) and `dbStats` (size). A wire-compatible server without these commands reports
nothing rather than zeros."""

from __future__ import annotations

from typing import Any

from datamigration.db.metrics import LONG_TRANSACTION_S
from datamigration.errors import DatabaseError


class MongoMetrics:
    """The monitoring part of the MongoDB backend (mixed into `MongoBackend`)."""

    db: Any
    client: Any
    _call: Any  # MongoBackend._call: a driver call with our errors

    def metrics_counters(self, long_transaction_s: float = LONG_TRANSACTION_S) -> dict[str, Any]:
        out: dict[str, Any] = {}
        try:
            status = self._call("serverStatus", self.client.admin.command, "serverStatus")
        except DatabaseError:
            status = {}
        conns = status.get("connections") if isinstance(status, dict) else None
        if isinstance(conns, dict) and isinstance(conns.get("current"), int):
            out["connections"] = conns["current"]
            if isinstance(conns.get("available"), int):
                out["max_connections"] = conns["current"] + conns["available"]
        ops = status.get("opcounters") if isinstance(status, dict) else None
        if isinstance(ops, dict) and ops:
            out["commits"] = sum(int(v) for v in ops.values() if isinstance(v, int))
        asserts = status.get("asserts") if isinstance(status, dict) else None
        if isinstance(asserts, dict) and isinstance(asserts.get("user"), int):
            out["rollbacks"] = int(asserts["user"])  # failed operations (duplicate key, ...)
        try:
            stats = self._call("dbStats", self.db.command, "dbStats")
            size = int(stats.get("dataSize", 0)) + int(stats.get("indexSize", 0))
            out["database_size_bytes"] = size
        except (DatabaseError, TypeError, ValueError):
            pass
        return out
