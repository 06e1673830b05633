"""The database layer: the only place that talks to database drivers.

`connect(url_or_name, workspace)` returns an open backend (PostgreSQL, MariaDB/MySQL, SQLite,
MongoDB) that introspects into the schema model of `db.model`, runs read-only queries enforced
by the database, and gives engines a generic execution path and a keyset row reader.
"""

from datamigration.db.base import (
    Backend,
    ExecuteResult,
    QueryResult,
    RowBatch,
    TableSize,
    backend_class,
    connect,
    register_backend,
)
from datamigration.db.urls import ConnectionURL, resolve

__all__ = [
    "Backend",
    "ConnectionURL",
    "ExecuteResult",
    "QueryResult",
    "RowBatch",
    "TableSize",
    "backend_class",
    "connect",
    "register_backend",
    "resolve",
]
