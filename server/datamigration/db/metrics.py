"""What a database says about its own load, in one vocabulary for every backend.

The safety engine (`safety/metrics.py`, the monitor, the rollback-trigger watch, the health
check) asks a backend for these readings and makes rates, percentiles and verdicts out of them;
the dialect's part (which catalog view, which status counter) is a method of each database's
package (`db/postgres/metrics.py`, `db/mysql/metrics.py`, ...). A reading a database cannot give
is absent from the answer, never a made-up zero, so a report can say "not available".

Counter names (`metrics_counters`): cumulative `commits`, `rollbacks`, `deadlocks`; gauges
`connections`, `max_connections`, `lock_waits` (sessions waiting for a lock now),
`blocking_sessions`, `oldest_transaction_s`, `long_transactions` (open longer than
`long_transaction_s`), `database_size_bytes`; `wal_bytes` (the write position, for slot lag).
"""

from __future__ import annotations

from typing import Any, ClassVar

#: a transaction open longer than this counts as long (seconds)
LONG_TRANSACTION_S = 60.0


class MetricsSource:
    """The defaults: a database that reports nothing (the safety engine says so)."""

    #: the database serves counters cheap enough to sample while a step runs (a watch opens a
    #: second connection for them)
    live_metrics: ClassVar[bool] = False

    def metrics_counters(self, long_transaction_s: float = LONG_TRANSACTION_S) -> dict[str, Any]:
        """Cumulative counters and gauges by the names in the module docstring; those the
        database cannot give are left out."""
        return {}

    def replication_slots(self) -> list[dict[str, Any]]:
        """Slots holding changes for a consumer: `name`, `kind` (logical/physical), `active`,
        `here` (of this database, or physical), `reached_bytes` (the position the consumer
        confirmed), `retained_bytes` (WAL kept for it). Empty where there are none."""
        return []

    def statement_stats(self) -> dict[str, float] | None:
        """Cumulative `calls` and `total_ms` of every statement (pg_stat_statements), or None
        when the database keeps no such statistics."""
        return None

    def top_statements(self, limit: int) -> list[tuple[str, int]] | None:
        """The `limit` most called statements of this database as (text, calls), most called
        first (pg_stat_statements), or None when the database keeps no such statistics."""
        return None

    def flush_own_statistics(self) -> None:
        """Make this session's own counters visible to the next reading at once (a database
        that publishes them late would show the sampler's own rolled-back reads one sample
        later, as the application's errors)."""

    def session_id(self) -> Any:
        """This connection's id on the server (to cancel its running statement from another
        connection), or None where there is no such thing."""
        return None

    def cancel_session(self, session: Any) -> bool:
        """Cancel the statement session `session` is running (not the session itself); True
        when the server accepted."""
        return False

    def data_directory(self) -> str | None:
        """Where the database keeps its files on its host (to read the disk's free space when
        that host is this machine), or None when it does not say."""
        return None

    def explain_read(self, sql: str, timeout_ms: int | None = None) -> dict[str, Any] | None:
        """The plan the database chooses for the read `sql`, through the read-only query path:
        `cost` (the planner's total, None where the database gives none) and `scans` (each
        table read: `table`, `method` "seq" for a full scan or "index", `index`). None where
        the database cannot explain (the performance check then times the query only)."""
        return None
