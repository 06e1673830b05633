"""What MariaDB/MySQL says about its load: SHOW GLOBAL STATUS counters, the InnoDB transaction
and lock views, and the schema's size. The engine side is `datamigration.safety.metrics`."""

from __future__ import annotations

from typing import Any

from datamigration.db.metrics import LONG_TRANSACTION_S
from datamigration.db.mysql.connection import MySQLConnection
from datamigration.errors import DatabaseError

#: SHOW GLOBAL STATUS variable -> our counter name
_STATUS = {
    "Handler_commit": "commits",
    "Handler_rollback": "rollbacks",
    "Innodb_deadlocks": "deadlocks",  # MariaDB; MySQL keeps it in innodb_metrics only
    "Threads_connected": "connections",
    "Innodb_row_lock_current_waits": "lock_waits",
}


class MySQLMetrics(MySQLConnection):
    """The monitoring SQL of the MariaDB/MySQL backend."""

    live_metrics = True

    def metrics_counters(self, long_transaction_s: float = LONG_TRANSACTION_S) -> dict[str, Any]:
        names = ", ".join(f"'{k}'" for k in _STATUS)
        out: dict[str, Any] = {
            _STATUS[str(k)]: int(v)
            for k, v in self.fetch(f"SHOW GLOBAL STATUS WHERE Variable_name IN ({names})")
            if str(v).isdigit()
        }
        (maxc,) = self.fetch("SELECT @@max_connections")[0]
        size = self.fetch(
            "SELECT COALESCE(SUM(DATA_LENGTH + INDEX_LENGTH), 0) FROM information_schema.TABLES "
            "WHERE TABLE_SCHEMA = DATABASE()"
        )
        out.update(max_connections=int(maxc), database_size_bytes=int(size[0][0]))
        try:
            oldest, long_ = self.fetch(
                "SELECT COALESCE(MAX(TIMESTAMPDIFF(MICROSECOND, trx_started, NOW(6))), 0) / 1e6, "
                "COALESCE(SUM(trx_started < NOW(6) - INTERVAL %s SECOND), 0) "
                "FROM information_schema.INNODB_TRX",
                (float(long_transaction_s),),
            )[0]
            out.update(oldest_transaction_s=float(oldest), long_transactions=int(long_))
        except DatabaseError:  # the role may not see INNODB_TRX (needs PROCESS)
            pass
        return out

    def session_id(self) -> Any:
        return self.fetch("SELECT CONNECTION_ID()")[0][0]

    def cancel_session(self, session: Any) -> bool:
        self.fetch(f"KILL QUERY {int(session)}")
        return True

    def data_directory(self) -> str | None:
        rows = self.fetch("SELECT @@datadir")
        return str(rows[0][0]) if rows and rows[0][0] else None
