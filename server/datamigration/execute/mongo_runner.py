"""The executor for MongoDB plans: the same loop, steps, gates, confirmations, lock and
rollbacks as SQL plans (runner.Executor), with document operations instead of statements.

Why a subclass at all: three things depend on the database and nothing else does. The run
state lives in `_datamigration_runs` with a leased lock (execute/mongo_state.py); the plan's
operations are ``document``, ``manual`` and ``validate`` ones (the document runner is
execute/document_operation.py); and the throttle probes a collection with a small read.
"""

from __future__ import annotations

from typing import Any

from datamigration.execute import document_operation  # noqa: F401 - registers its runner
from datamigration.execute.mongo_state import MongoRunStore
from datamigration.execute.runner import Executor
from datamigration.execute.state import RunStore
from datamigration.plan.model import Step


class MongoExecutor(Executor):
    """Runs selections of one MongoDB plan (see the module docstring)."""

    kinds = ("document", "manual", "validate")
    refusal = "which MongoDB plans do not run"
    refusal_hint = (
        "Re-plan the change: MongoDB plans hold document, manual and validate operations."
    )

    def _open_store(self) -> RunStore | MongoRunStore:
        return MongoRunStore(self.backend, self.plan.id, self.plan.hash)

    def _probe(self, table: str | None) -> dict[str, Any]:
        """A small read of the collection (the state collection without one), timed."""
        collection = table or "_datamigration_runs"
        return {"probe": lambda: self.backend.probe_latency_ms(collection)}

    def _gate_table(self, step: Step) -> str | None:
        """The health gate probes the first collection the step writes."""
        colls = [o.params.get("collection") for o in step.operations if o.kind == "document"]
        return colls[0] if colls else None
