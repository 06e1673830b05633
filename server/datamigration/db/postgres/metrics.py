"""What PostgreSQL says about its load: pg_stat_database counters, pg_stat_activity gauges,
replication slots, pg_stat_statements totals and the data directory. Connections count the whole
server (max_connections is the server's); locks and transactions count this database's.

The engine side (rates, percentiles, verdicts) is `datamigration.safety.metrics`; this is only
the dialect's SQL. Readings the role may not see come back absent, never as zeros.
"""

from __future__ import annotations

from typing import Any

from datamigration.db.metrics import LONG_TRANSACTION_S
from datamigration.db.postgres.connection import PostgresConnection
from datamigration.errors import DatabaseError

_COUNTERS = (
    "SELECT d.xact_commit, d.xact_rollback, d.deadlocks, "
    "(SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'client backend'), "
    "current_setting('max_connections')::int, "
    "(SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND datid = d.datid), "
    "(SELECT count(DISTINCT b) FROM pg_stat_activity a, unnest(pg_blocking_pids(a.pid)) b "
    " WHERE a.datid = d.datid), "
    "(SELECT COALESCE(max(EXTRACT(EPOCH FROM clock_timestamp() - xact_start)), 0) "
    " FROM pg_stat_activity WHERE xact_start IS NOT NULL AND pid <> pg_backend_pid() "
    " AND datid = d.datid), "
    "(SELECT count(*) FROM pg_stat_activity WHERE pid <> pg_backend_pid() AND datid = d.datid "
    " AND xact_start < clock_timestamp() - make_interval(secs => %s)), "
    "pg_database_size(current_database()), "
    "CASE WHEN pg_is_in_recovery() THEN NULL "
    "ELSE pg_wal_lsn_diff(pg_current_wal_lsn(), '0/0')::bigint END "
    "FROM pg_stat_database d WHERE d.datname = current_database()"
)
_NAMES = (
    "commits", "rollbacks", "deadlocks", "connections", "max_connections", "lock_waits",
    "blocking_sessions", "oldest_transaction_s", "long_transactions", "database_size_bytes",
    "wal_bytes",
)  # fmt: skip


class PostgresMetrics(PostgresConnection):
    """The monitoring SQL of the PostgreSQL backend."""

    live_metrics = True

    def metrics_counters(self, long_transaction_s: float = LONG_TRANSACTION_S) -> dict[str, Any]:
        rows = self.fetch(_COUNTERS, (float(long_transaction_s),))
        if not rows:
            return {}
        return {k: _number(v) for k, v in zip(_NAMES, rows[0], strict=True) if v is not None}

    def replication_slots(self) -> list[dict[str, Any]]:
        rows = self.fetch(
            "SELECT slot_name, slot_type, active, database IS NULL OR database = "
            "current_database(), pg_wal_lsn_diff(COALESCE(confirmed_flush_lsn, restart_lsn), "
            "'0/0')::bigint, pg_wal_lsn_diff(pg_current_wal_lsn(), restart_lsn)::bigint "
            "FROM pg_replication_slots WHERE NOT pg_is_in_recovery() ORDER BY slot_name"
        )
        keys = ("name", "kind", "active", "here", "reached_bytes", "retained_bytes")
        return [dict(zip(keys, r, strict=True)) for r in rows]

    def statement_stats(self) -> dict[str, float] | None:
        # asked first, so a database without the view does not log a failed (rolled-back)
        # statement per sample, which would read as the application's errors
        if getattr(self, "_no_statements", False) or not self.fetch(
            "SELECT 1 FROM pg_extension WHERE extname = 'pg_stat_statements'"
        ):
            return None
        try:
            rows = self.fetch(
                "SELECT sum(calls), sum(total_exec_time) FROM pg_stat_statements "
                "WHERE dbid = (SELECT oid FROM pg_database WHERE datname = current_database())"
            )
        except DatabaseError:  # installed here but not preloaded by the server
            self._no_statements = True
            return None
        calls, total = rows[0] if rows else (None, None)
        return {"calls": float(calls or 0), "total_ms": float(total or 0)}

    def top_statements(self, limit: int) -> list[tuple[str, int]] | None:
        if self.statement_stats() is None:  # not installed, or not preloaded
            return None
        rows = self.fetch(
            "SELECT query, calls FROM pg_stat_statements WHERE dbid = (SELECT oid FROM "
            "pg_database WHERE datname = current_database()) "
            "ORDER BY calls DESC, queryid LIMIT %s",
            (int(limit),),
        )
        return [(str(q), int(c)) for q, c in rows]

    def flush_own_statistics(self) -> None:
        # PostgreSQL 15+ publishes a session's counters at most once a second unless asked
        if getattr(self, "_can_flush", None) is None:
            found = self.fetch("SELECT current_setting('server_version_num')::int >= 150000")
            self._can_flush = bool(found and found[0][0])
        if self._can_flush:
            self.fetch("SELECT pg_stat_force_next_flush()")

    def session_id(self) -> Any:
        return self.fetch("SELECT pg_backend_pid()")[0][0]

    def cancel_session(self, session: Any) -> bool:
        found = self.fetch("SELECT pg_cancel_backend(%s)", (int(session),))
        return bool(found and found[0][0])

    def data_directory(self) -> str | None:
        try:
            rows = self.fetch("SELECT current_setting('data_directory', true)")
        except DatabaseError:
            return None
        return str(rows[0][0]) if rows and rows[0][0] else None


def _number(value: Any) -> Any:
    """Decimals (EXTRACT, sums) as floats; counts stay integers."""
    return float(value) if type(value).__name__ == "Decimal" else value
