"""One runner per operation kind, registered once (the way alembic's
``Operations.implementation_for`` binds an operation to the code that runs it).

Why a registry: an operation of a reviewed plan says what it is by its ``kind`` (``sql``,
``backfill``, ``manual``, ``validate``, ``flag``, ``document``; later ``copy`` and ``cdc``),
and the plan JSON must not change, so the kind stays a string in the plan. The executor looks
the kind up here instead of walking an ``if op.kind ==`` chain, and a new kind (the move
engines' copy and change capture) is one new module with one ``@runs("copy")`` class. Which
kinds an executor accepts is the executor's (``Executor.kinds``): a MongoDB plan has no SQL.

A runner gets the executor as its `RunContext` (the loop, the lock and the state calls stay
the executor's); the two small runners that every database shares (manual, validate) live here.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, ClassVar, Protocol

from datamigration.db.base import Backend
from datamigration.errors import UserInputError, ValidationFailedError
from datamigration.execute.mongo_state import MongoRunStore
from datamigration.execute.options import RunOptions
from datamigration.execute.state import RunLog, RunStore
from datamigration.plan.model import Operation, Plan, Step
from datamigration.safety.throttle import Throttle, ThrottlePolicy
from datamigration.workspace.root import Workspace


class RunContext(Protocol):
    """What a runner may use of the executor that runs it."""

    workspace: Workspace
    plan: Plan
    url: str
    backend: Backend
    store: RunStore | MongoRunStore
    options: RunOptions
    log: RunLog
    #: the running step's watch (rollback triggers evaluated while it runs), or None
    watch: Any

    def progress(self, event: str, **data: Any) -> None: ...

    def validate(self, rules: Sequence[Any], name: str) -> dict[str, Any]: ...

    def rules_before(self, step: Step) -> list[dict[str, Any]]: ...

    def backfill_policy(self, step: Step) -> ThrottlePolicy: ...

    def throttle(
        self,
        policy: ThrottlePolicy,
        table: str | None = None,
        on_event: Callable[[dict[str, Any]], None] | None = None,
    ) -> Throttle: ...


class OperationRunner:
    """Runs one kind of operation forward (`run`) and, where it can, backward (`reverse`)."""

    kind: ClassVar[str] = ""

    def resumes(self, op: Operation) -> bool:
        """Whether the operation picks up at its own checkpoint (a batched one) instead of
        being skipped once it is marked done."""
        return False

    def marks_done(self, op: Operation) -> bool:
        """Whether the executor records the operation done after `run` (False when the
        runner commits its own mark, or keeps a checkpoint)."""
        return not self.resumes(op)

    def log_fields(self, op: Operation) -> dict[str, Any]:
        """What the local run log records of the operation when it starts."""
        return {"statements": list(op.statements)}

    def run(self, ctx: RunContext, step: Step, op: Operation) -> dict[str, Any]:
        raise NotImplementedError

    def reverse(self, ctx: RunContext, step: Step, op: Operation) -> dict[str, Any]:
        """Run the operation as part of a rollback (no "done" mark: the step is undone)."""
        raise UserInputError(f"rollback operation {op.id} has kind {op.kind!r}, which cannot run")


_RUNNERS: dict[str, OperationRunner] = {}


def runs(kind: str) -> Callable[[type[OperationRunner]], type[OperationRunner]]:
    """Class decorator: the runner of operations of `kind` (one per kind)."""

    def register(cls: type[OperationRunner]) -> type[OperationRunner]:
        if kind in _RUNNERS:
            raise ValueError(f"operation kind {kind!r} already has a runner")
        cls.kind = kind
        _RUNNERS[kind] = cls()
        return cls

    return register


def runner_for(kind: str) -> OperationRunner | None:
    return _RUNNERS.get(kind)


def registered_kinds() -> tuple[str, ...]:
    return tuple(_RUNNERS)


@runs("manual")
class ManualRunner(OperationRunner):
    """An application change the executor cannot do: the confirmation of the step is the
    operator saying it is done."""

    def run(self, ctx: RunContext, step: Step, op: Operation) -> dict[str, Any]:
        return {"confirmed": True, "instructions": op.params.get("instructions", op.description)}

    def reverse(self, ctx: RunContext, step: Step, op: Operation) -> dict[str, Any]:
        return {"instructions": op.params.get("instructions", op.description)}


@runs("validate")
class ValidateRunner(OperationRunner):
    """The plan's validation rules as an operation: the step stops when one fails."""

    def run(self, ctx: RunContext, step: Step, op: Operation) -> dict[str, Any]:
        result = ctx.validate(op.params.get("rules", ()), f"{ctx.plan.id}-{op.id}")
        result.pop("run")
        if not result["passed"]:
            raise ValidationFailedError(
                f"operation {op.id} (validation) failed: {result['summary']}",
                hint="Fix the data or roll back the step.",
                step=step.id,
                validation=result,
            )
        return {"validation": result}
