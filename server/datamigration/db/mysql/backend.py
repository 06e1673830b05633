"""The MariaDB/MySQL backend: its capabilities and names, assembled from the concerns of this
package and registered for its URL schemes."""

from __future__ import annotations

from typing import Any

from datamigration.db.base import register_backend
from datamigration.db.mysql.backup import MySQLBackup
from datamigration.db.mysql.binlog_capture import MySQLCaptureSupport
from datamigration.db.mysql.bulk import MySQLBulk
from datamigration.db.mysql.executor import MySQLExecutor
from datamigration.db.mysql.explain import MySQLExplain
from datamigration.db.mysql.introspect import MySQLIntrospection
from datamigration.db.mysql.metrics import MySQLMetrics
from datamigration.db.mysql.pause import MySQLPause
from datamigration.db.mysql.query import MySQLQuery


@register_backend
class MySQLBackend(
    MySQLCaptureSupport,
    MySQLBulk,
    MySQLQuery,
    MySQLIntrospection,
    MySQLExecutor,
    MySQLMetrics,
    MySQLExplain,
    MySQLBackup,
    MySQLPause,
):
    """MariaDB and MySQL. `is_mariadb` decides the few statements that differ.

    Change capture: from the row binlog (`binlog_capture`) where the server writes one
    (log_bin=ON, binlog_format=ROW), since the application's writes then pay nothing more;
    otherwise row triggers writing to a change table (`trigger_capture`), which works on any
    server but adds a JSON insert to each captured write."""

    schemes = ("mysql", "mariadb", "mysql+pymysql", "mariadb+pymysql")
    online_ddl = True
    lock_timeout = True  # lock_wait_timeout
    sequences = True  # MariaDB 10.3+

    @classmethod
    def segment_reader(cls, url: Any, timeout_ms: int, *, gentle: bool = False) -> Any:
        """The validator's read-only connection (see `segments`)."""
        from datamigration.db.mysql.segments import MySQLReader

        return MySQLReader(url, timeout_ms, gentle=gentle)
