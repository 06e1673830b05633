"""What the safety engine reads from PostgreSQL to tell strain: the standbys' replay lag.

The engine side (what counts as too far behind, pausing) is `datamigration.safety.probes`;
this is only the dialect's SQL.
"""

from __future__ import annotations

from datamigration.db.postgres.connection import PostgresConnection


class PostgresProbes(PostgresConnection):
    """The probe SQL of the PostgreSQL backend."""

    def replication_standbys(self) -> tuple[int, float | None, int | None] | None:
        """`replay_lag` in pg_stat_replication keeps growing while a standby's replay is stuck
        (paused, or blocked by a conflicting query) as long as the standby sends replies: on
        every WAL message it receives, and every wal_receiver_status_interval (10 s by default)
        when idle. A standby that has replayed everything written counts as 0 s: PostgreSQL
        keeps showing the lag measured at the catch-up until the standby's next reply, which
        would hold a caught-up backfill that long. A role without the privilege to see the
        columns gets NULLs, which read as "unknown"."""
        rows = self.fetch(
            "SELECT count(*), max(CASE WHEN replay_lsn >= pg_current_wal_lsn() THEN 0 ELSE "
            "EXTRACT(EPOCH FROM COALESCE(replay_lag, write_lag, flush_lag)) END), "
            "max(pg_wal_lsn_diff(pg_current_wal_lsn(), replay_lsn)) FROM pg_stat_replication",
        )
        if not rows or not rows[0][0]:
            return None
        count, seconds, lag_bytes = rows[0]
        return int(count), seconds, lag_bytes
