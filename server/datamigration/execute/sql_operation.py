"""The runner of ``sql`` operations: the plan's statements, with the lock-timeout ladder,
retries with backoff and jitter, and the "done" mark committed with them where DDL is
transactional (a crash then leaves neither).

Why its own module: this is where a statement of a reviewed plan meets the database, so it is
where the lock rules live (execute/retry.py) and where a concurrent index build that left an
invalid index behind is retried (execute/indexes.py).
"""

from __future__ import annotations

from typing import Any

from datamigration.execute.indexes import build_index, concurrent_index_name
from datamigration.execute.operations import OperationRunner, RunContext, runs
from datamigration.execute.retry import RetryLog, with_lock_retry
from datamigration.execute.state import RunStore
from datamigration.plan.model import Operation, Step


@runs("sql")
class SqlRunner(OperationRunner):
    """Statements sent as the plan holds them; marks itself done (with the statements when
    the database commits DDL in a transaction)."""

    def marks_done(self, op: Operation) -> bool:
        return False

    def run(self, ctx: RunContext, step: Step, op: Operation) -> dict[str, Any]:
        return run_sql(ctx, step, op, mark=True)

    def reverse(self, ctx: RunContext, step: Step, op: Operation) -> dict[str, Any]:
        return run_sql(ctx, step, op, mark=False)


def run_sql(ctx: RunContext, step: Step, op: Operation, *, mark: bool) -> dict[str, Any]:
    """Run one SQL operation; `mark` commits its "done" checkpoint (not for a rollback)."""
    assert isinstance(ctx.store, RunStore)
    store, backend = ctx.store, ctx.backend
    log = RetryLog()
    ladder, limit = ctx.options.lock_ladder, op.lock_timeout_ms
    # exactly the retries the plan states (the planner counted the ladder's rungs in)
    retries = op.retries if limit else 0
    retry = {"retries": retries, "backoff": ctx.options.backoff,
             "sleep": ctx.options.sleep, "log": log}  # fmt: skip

    def lock_timeout() -> int | None:
        """This attempt's rung of the ladder (log.attempts is set before each call)."""
        if not limit:
            return None
        log.timeouts_ms.append(ladder.timeout_ms(log.attempts, limit))
        return log.timeouts_ms[-1]

    def yield_autovacuum(attempt: int, pause_ms: float) -> None:
        """After a lock timeout: an autovacuum on the plan's tables would hold the lock up
        to deadlock_timeout (1 s) with the application queued behind us; cancel it."""
        cancelled = backend.cancel_autovacuum(ctx.plan.tables)
        if cancelled:
            ctx.log.write("autovacuum_cancelled", step=step.id, operation=op.id,
                          pids=cancelled, attempt=attempt)  # fmt: skip

    ddl_retry = {**retry, "on_retry": yield_autovacuum}
    done = store.done_statements(step.id, op.id) if mark else []

    indexes = []
    if not op.transactional:
        for stmt in op.statements:
            if backend.concurrent_index and concurrent_index_name(stmt):
                indexes.append(
                    build_index(backend, stmt, lock_timeout_ms=op.lock_timeout_ms, **retry)
                )
            else:
                with_lock_retry(
                    lambda stmt=stmt: backend.execute(
                        [stmt], autocommit=True, lock_timeout_ms=lock_timeout()
                    ),
                    what=f"{op.id}",
                    **ddl_retry,
                )
        if mark:
            backend.execute(done)
    elif backend.transactional_ddl:
        # the statements and the "done" mark commit together: a crash leaves neither
        batch: list[Any] = [(s, ()) for s in op.statements] + done
        with_lock_retry(
            lambda: backend.execute(batch, lock_timeout_ms=lock_timeout()),
            what=op.id,
            **ddl_retry,
        )
    else:
        with_lock_retry(
            lambda: backend.execute(list(op.statements), lock_timeout_ms=lock_timeout()),
            what=op.id,
            **ddl_retry,
        )
        if mark:
            backend.execute(done)
    out: dict[str, Any] = {"statements": len(op.statements), **log.to_dict()}
    if indexes:
        out["indexes"] = indexes
    return out
