"""The planner's dialect classes by the backends' dialect names: the one place that knows them
all, so the rest of plan/ and execute/ ask a class (`dialect_class(plan.dialect).documents`)
instead of comparing a dialect's name.
"""

from __future__ import annotations

from datamigration.plan.model import DEFAULT_LOCK_TIMEOUT_MS
from datamigration.plan.ops_base import Dialect, UnsupportedChangeError
from datamigration.plan.ops_mongodb import MongoDocuments
from datamigration.plan.ops_mysql import MySQL
from datamigration.plan.ops_postgres import Postgres
from datamigration.plan.ops_sqlite import SQLite

#: dialect name (``postgresql``, ``mysql``, ``sqlite``, ``mongodb``) -> its planner class
DIALECT_CLASSES: dict[str, type[Dialect]] = {
    cls.name: cls for cls in (Postgres, MySQL, SQLite, MongoDocuments)
}


def dialect_class(name: str) -> type[Dialect]:
    """The planner class of dialect `name`; refused for a database the planner does not plan."""
    cls = DIALECT_CLASSES.get(name)
    if cls is None:
        raise UnsupportedChangeError(
            f"no zero-downtime planning for {name} databases",
            hint="Plan against PostgreSQL, MySQL/MariaDB, SQLite or MongoDB. On MongoDB only "
            "in-place collection changes are planned; moving a table or collection between "
            "databases (move_table) arrives with the copy/CDC engine.",
        )
    return cls


def dialect_for(name: str, lock_timeout_ms: int = DEFAULT_LOCK_TIMEOUT_MS) -> Dialect:
    """The planner's dialect object for a database of dialect `name`."""
    return dialect_class(name)(lock_timeout_ms)
