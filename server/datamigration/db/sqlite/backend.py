"""The SQLite backend: its capabilities and names, assembled from the concerns of this package
and registered for sqlite:// URLs."""

from __future__ import annotations

from typing import Any

from datamigration.db.base import register_backend
from datamigration.db.sqlite.backup import SQLiteBackup
from datamigration.db.sqlite.bulk import SQLiteBulk
from datamigration.db.sqlite.executor import SQLiteExecutor
from datamigration.db.sqlite.explain import SQLiteExplain
from datamigration.db.sqlite.introspect import SQLiteIntrospection
from datamigration.db.sqlite.metrics import SQLiteMetrics
from datamigration.db.sqlite.pause import SQLitePause
from datamigration.db.sqlite.query import SQLiteQuery
from datamigration.db.trigger_capture import TriggerCaptureSupport


@register_backend
class SQLiteBackend(
    TriggerCaptureSupport,
    SQLiteBulk,
    SQLiteQuery,
    SQLiteIntrospection,
    SQLiteExecutor,
    SQLiteMetrics,
    SQLiteExplain,
    SQLiteBackup,
    SQLitePause,
):
    """A SQLite file. Writable connection for the executor, a separate read-only one for query."""

    schemes = ("sqlite",)
    transactional_ddl = True
    returning = True

    @classmethod
    def segment_reader(cls, url: Any, timeout_ms: int, *, gentle: bool = False) -> Any:
        """The validator's read-only connection (see `segments`)."""
        from datamigration.db.sqlite.segments import SQLiteReader

        return SQLiteReader(url, timeout_ms, gentle=gentle)
