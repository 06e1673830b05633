"""How the safety engine reads strain off a database: probe latency and replication lag.

The dialect's part (which statement to time, which catalog view shows the standbys) is a
backend method (`Backend.probe_latency_ms`, `Backend.replication_standbys`); here is what the
engine makes of it. The throttle compares these against its limits and pauses a backfill.
"""

from __future__ import annotations

from dataclasses import dataclass

from datamigration.db.base import Backend


@dataclass(frozen=True)
class ReplicationLag:
    """How far the connected standbys are behind (the worst of them)."""

    #: replay lag in seconds as the primary measures it; 0 for a standby that has replayed
    #: everything written; None when the role may not see it
    seconds: float | None
    #: WAL written on the primary but not yet replayed on the standby
    bytes: int | None
    standbys: int


def replication_lag(backend: Backend) -> ReplicationLag | None:
    """The largest replay lag of the connected standbys; None without standbys (or on a
    database that reports none)."""
    found = backend.replication_standbys()
    if found is None:
        return None
    count, seconds, lag_bytes = found
    return ReplicationLag(
        seconds=float(seconds) if seconds is not None else None,
        bytes=max(int(lag_bytes), 0) if lag_bytes is not None else None,
        standbys=int(count),
    )
