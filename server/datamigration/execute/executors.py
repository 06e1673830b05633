"""Which executor runs a plan: the SQL one (runner.Executor) or its MongoDB subclass.

Both the service (real runs) and the rehearsal (runs on a copy) ask here, so the choice has one
home below both of them.
"""

from __future__ import annotations

from datamigration.execute.runner import Executor
from datamigration.plan.dialects import dialect_class
from datamigration.plan.model import Plan


def executor_class(plan: Plan) -> type[Executor]:
    """The SQL executor, or its MongoDB subclass (document operations, state documents)."""
    if dialect_class(plan.dialect).documents:
        from datamigration.execute.mongo_runner import MongoExecutor  # loads the MongoDB driver

        return MongoExecutor
    return Executor
