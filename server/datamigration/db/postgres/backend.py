"""The PostgreSQL backend: its capabilities and names, assembled from the concerns of this
package and registered for its URL schemes."""

from __future__ import annotations

from typing import Any

from datamigration.db.base import register_backend
from datamigration.db.postgres.backup import PostgresBackup
from datamigration.db.postgres.bulk import PostgresBulk
from datamigration.db.postgres.capture import PostgresCaptureSupport
from datamigration.db.postgres.executor import PostgresExecutor
from datamigration.db.postgres.explain import PostgresExplain
from datamigration.db.postgres.introspect import PostgresIntrospection
from datamigration.db.postgres.metrics import PostgresMetrics
from datamigration.db.postgres.pause import PostgresPause
from datamigration.db.postgres.probes import PostgresProbes
from datamigration.db.postgres.query import PostgresQuery


@register_backend
class PostgresBackend(
    PostgresCaptureSupport,
    PostgresBulk,
    PostgresQuery,
    PostgresIntrospection,
    PostgresExecutor,
    PostgresProbes,
    PostgresMetrics,
    PostgresExplain,
    PostgresBackup,
    PostgresPause,
):
    """PostgreSQL through psycopg 3; one connection, autocommit, explicit transactions."""

    schemes = ("postgresql", "postgres", "postgresql+psycopg")
    transactional_ddl = True
    concurrent_index = True
    logical_decoding = True
    server_side_cursors = True
    copy = True
    returning = True
    not_valid_constraints = True
    lock_timeout = True
    sequences = True
    enum_types = True
    replica_identity = True

    @classmethod
    def segment_reader(cls, url: Any, timeout_ms: int, *, gentle: bool = False) -> Any:
        """The validator's read-only connection (see `segments`)."""
        from datamigration.db.postgres.segments import PostgresReader

        return PostgresReader(url, timeout_ms, gentle=gentle)
