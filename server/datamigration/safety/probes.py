"""How the safety engine reads strain off a database: probe latency and replication lag.

The dialect's part (which statement to time, which catalog view shows the standbys) is a
backend method (`Backend.probe_latency_ms`, `Backend.replication_standbys`); here is what the
engine makes of it. The throttle compares these against its limits and pauses a backfill;
the latency budget (safety/pace.py) also times a commit (`CommitProbe`).
"""

from __future__ import annotations

import contextlib
import time
import uuid
from dataclasses import dataclass
from typing import Self

from datamigration.db.base import Backend
from datamigration.db.errors import QueryTimeoutError, is_lock_timeout
from datamigration.errors import DatabaseError, DataMigrationError


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


#: the commit probe's table: its own, one row, created when a paced job starts and dropped when
#: it ends (a leftover from a killed run is recognizable by this prefix and safe to drop)
COMMIT_PROBE_PREFIX = "datamigration_pace_"


class CommitProbe:
    """A timed one-row write and commit, on a connection of its own.

    Why a write: an application's writes wait for their commit to be made durable (PostgreSQL's
    WAL flush, InnoDB's redo log), and a backfill's batches fill that same log, so the writes
    slow down while every read stays fast. A read probe never waits for a flush, so the latency
    budget needs a commit to see what the application's writes feel. Why a table of its own and
    not a temporary one: a transaction that touched only temporary tables writes no log to
    flush, so its commit would never wait either. Portable SQL (as the run state's tables).
    """

    def __init__(self, backend: Backend, timeout_ms: int) -> None:
        self.backend = backend
        self.timeout_ms = int(timeout_ms)
        self.table = f"{COMMIT_PROBE_PREFIX}{uuid.uuid4().hex[:12]}"

    def __enter__(self) -> Self:
        self.backend.execute(
            [
                f"CREATE TABLE {self.table} (id integer PRIMARY KEY, n bigint NOT NULL)",
                f"INSERT INTO {self.table} (id, n) VALUES (1, 0)",
            ]
        )
        return self

    def __exit__(self, *exc: object) -> None:
        with contextlib.suppress(DataMigrationError):  # the run's outcome matters more
            self.backend.execute([f"DROP TABLE IF EXISTS {self.table}"])

    def time_ms(self) -> float:
        """Wall time of one committed one-row update; a probe that waited out its timeout (for
        a lock, for the server) returns the time it waited: that wait is the reading."""
        started = time.perf_counter()
        try:
            self.backend.execute(
                [f"UPDATE {self.table} SET n = n + 1 WHERE id = 1"],
                timeout_ms=self.timeout_ms, lock_timeout_ms=self.timeout_ms,
            )  # fmt: skip
        except DatabaseError as exc:
            if not (is_lock_timeout(exc) or isinstance(exc, QueryTimeoutError)):
                raise
        return (time.perf_counter() - started) * 1000.0
