"""The keyset backfill loop: batches of `batch_size` rows, each committed with its checkpoint.

One batch = one short transaction holding the batch's UPDATE (or INSERT ... SELECT) and the
UPDATE of the checkpoint row, so the checkpoint is never ahead of or behind the data. A crash
(even SIGKILL) loses at most the batch in flight, which rolls back; the next run starts after
the last committed key. Batches are rendered by `datamigration.plan.backfill` (the code the plan
was reviewed with), bounded by a key read just before the batch, so no batch grows with the
table. Before each batch the throttle checks probe latency and replication lag; after each
batch the pacer (safety/pace.py) is given one probe reading and sets the next batch's size and
the pause after this one, to keep probe p99 within the latency budget; a batch that hits the lock timeout (rows locked by the application) is retried with backoff and jitter.
An insert batch that fails otherwise (a row the target's constraints refuse) stops the run with
the refused rows' keys named (execute/refused.py).
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, replace
from typing import Any

from datamigration.db.base import Backend, connect
from datamigration.db.contracts import Statement
from datamigration.db.errors import is_lock_timeout
from datamigration.errors import DatabaseError, DataMigrationError
from datamigration.execute.operations import OperationRunner, RunContext, runs
from datamigration.execute.refused import refused_error
from datamigration.execute.retry import Backoff, RetryLog, with_lock_retry
from datamigration.execute.state import RunStore
from datamigration.plan.backfill import batch_sql, boundary_sql
from datamigration.plan.model import BackfillSpec, Operation, Step
from datamigration.safety.pace import PacePolicy, Pacer
from datamigration.safety.probes import CommitProbe
from datamigration.safety.throttle import Throttle


@dataclass(frozen=True)
class BackfillResult:
    operation: str
    rows: int
    batches: int
    resumed_from: tuple[Any, ...] | None
    last_key: tuple[Any, ...] | None
    seconds: float
    rows_per_second: float | None
    already_done: bool
    throttle: dict[str, Any]
    retries: dict[str, Any]
    #: the pace the latency budget settled on (safety/pace.py), None at a fixed pace
    pace: dict[str, Any] | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "operation": self.operation,
            "rows": self.rows,
            "batches": self.batches,
            "resumed_from": list(self.resumed_from) if self.resumed_from is not None else None,
            "last_key": list(self.last_key) if self.last_key is not None else None,
            "seconds": round(self.seconds, 3),
            "rows_per_second": round(self.rows_per_second, 1) if self.rows_per_second else None,
            "already_done": self.already_done,
            "throttle": self.throttle,
            "retries": self.retries,
            "pace": self.pace,
        }


def run_backfill(
    backend: Backend,
    store: RunStore,
    step_id: str,
    op: Operation,
    throttle: Throttle,
    *,
    backoff: Backoff | None = None,
    sleep: Callable[[float], None] = time.sleep,
    on_batch: Callable[[dict[str, Any]], None] | None = None,
    batch_size: int | None = None,
    pace: PacePolicy | None = None,
    on_pace: Callable[[dict[str, Any]], None] | None = None,
    probe_during: SideProbe | None = None,
) -> BackfillResult:
    """Run (or resume) one backfill operation to the end of its table; with `pace` (an enabled
    policy) batch size and pause follow the latency budget, `on_pace` told of every cut;
    `probe_during` times probes on a connection of its own while each batch runs (the latency
    an application's queries and commits see then) and adds its readings to the baseline."""
    spec = op.backfill
    if spec is None:
        raise ValueError(f"operation {op.id} has no backfill spec")
    if batch_size:
        spec = replace(spec, batch_size=int(batch_size))
    cp = store.start_checkpoint(step_id, op.id)
    if cp.finished:
        return BackfillResult(op.id, 0, 0, cp.last_key, cp.last_key, 0.0, None, True, {}, {})
    started = time.perf_counter()
    after = cp.last_key
    resumed_from = after
    rows = batches = 0
    retries = RetryLog()
    batch = _Batch(backend, store, step_id, op, spec, backoff, sleep, retries)
    throttle.calibrate()
    pacer = Pacer(spec.batch_size, pace) if pace is not None and pace.enabled else None
    if pacer is not None:
        side = probe_during.baseline(len(throttle.baseline_samples)) if probe_during else []
        pacer.calibrate(throttle.baseline_samples + side)
    size, pause_ms, during, took = spec.batch_size, 0.0, None, 0.0
    while True:
        reading = throttle.before_batch()
        if pacer is not None and batches:  # the probes during the last batch and after it
            seen = max(reading, _result(during))
            size, pause_ms = _paced(pacer, seen, size, took, on_pace)
        if size != batch.spec.batch_size:
            batch = replace(batch, spec=replace(spec, batch_size=size))
        during = probe_during.start() if pacer is not None and probe_during else None
        began = time.perf_counter()
        moved, mark, final = batch.run(after)
        took = time.perf_counter() - began
        rows += moved
        batches += 1
        after = mark
        if on_batch is not None:
            on_batch({"operation": op.id, "batch": batches, "rows": rows,
                      "last_key": list(mark) if mark is not None else None,
                      "estimated_rows": spec.estimated_rows, "final": final,
                      "batch_size": size})  # fmt: skip
        if final:
            break
        if pacer is None:
            throttle.after_batch()
        else:
            throttle.pause(pause_ms)
    seconds = time.perf_counter() - started
    return BackfillResult(
        operation=op.id,
        rows=rows,
        batches=batches,
        resumed_from=resumed_from,
        last_key=after,
        seconds=seconds,
        rows_per_second=rows / seconds if seconds > 0 else None,
        already_done=False,
        throttle=throttle.stats.to_dict(),
        retries=retries.to_dict(),
        pace=pacer.settled() | {"rows_per_second": round(rows / seconds, 1) if seconds else None}
        if pacer is not None
        else None,
    )


def _result(during: Future[float] | None) -> float:
    """The probe timed while the last batch ran (0 without one, or when it failed)."""
    if during is None:
        return 0.0
    try:
        return during.result()
    except Exception:  # noqa: BLE001 - a failed side probe is no reading; the throttle's counts
        return 0.0


@dataclass
class SideProbe:
    """Probes on a connection of their own: the table's read (the throttle's probe statement)
    and, where the database has a commit to wait for, a one-row write committed in the probe's
    own table (`CommitProbe`: the application's writes wait on the log flush a batch fills,
    which no read sees). A reading is the slower of the two."""

    backend: Backend
    sql: str
    timeout_ms: int
    commit: CommitProbe | None
    pool: ThreadPoolExecutor

    def reading(self) -> float:
        read = self.backend.probe_latency_ms(self.sql, timeout_ms=self.timeout_ms)
        return max(read, self.commit.time_ms() if self.commit is not None else 0.0)

    def start(self) -> Future[float]:
        """A reading timed while the batch that starts now runs."""
        return self.pool.submit(self.reading)

    def baseline(self, count: int) -> list[float]:
        """Readings before the first batch: with the throttle's, the budget's baseline."""
        return [self.reading() for _ in range(max(1, count))]


@contextlib.contextmanager
def side_probe(
    ctx: RunContext, sql: str, timeout_ms: int, *, commit: bool = True
) -> Iterator[SideProbe | None]:
    """The side probe, or None where the database cannot be reached twice, or cannot bound a
    probe's lock wait (an embedded file database, whose readers queue behind the writer: the
    probe would time the batch, not the latency an application sees), so the pacer reads
    between batches. The commit probe's table is created here and dropped on the way out."""
    if not ctx.backend.lock_timeout:
        yield None
        return
    try:
        backend = connect(ctx.url, ctx.workspace)
    except Exception:  # noqa: BLE001 - pacing still works on the probes between batches
        yield None
        return
    with contextlib.ExitStack() as stack:
        stack.enter_context(backend)
        writes: CommitProbe | None = None
        try:
            writes = stack.enter_context(CommitProbe(backend, timeout_ms)) if commit else None
        except DataMigrationError as exc:  # no right to create a table: reads only
            ctx.log.write("pace_note", state="no_commit_probe", reason=str(exc)[:200])
        pool = stack.enter_context(ThreadPoolExecutor(1, thread_name_prefix="pace-probe"))
        yield SideProbe(backend, sql, timeout_ms, writes, pool)


def _paced(
    pacer: Pacer,
    reading: float,
    size: int,
    seconds: float,
    on_pace: Callable[[dict[str, Any]], None] | None,
) -> tuple[int, float]:
    """The pacer's answer to one reading (and to the last batch's size and time): the next
    batch's size and the pause after it."""
    step = pacer.observe(reading, size=size, seconds=seconds)
    if step.change == "decrease" and on_pace is not None:
        on_pace({"state": "slower", "reading_ms": step.reading_ms, "budget_ms":
                 round(pacer.budget_ms, 3), "batch_size": step.batch_size,
                 "pause_ms": step.pause_ms})  # fmt: skip
    return step.batch_size, step.pause_ms


@dataclass(frozen=True)
class _Batch:
    """One batch of a backfill: its rows and its checkpoint in one transaction."""

    backend: Backend
    store: RunStore
    step_id: str
    op: Operation
    spec: BackfillSpec
    backoff: Backoff | None
    sleep: Callable[[float], None]
    retries: RetryLog

    def run(self, after: Any) -> tuple[int, Any, bool]:
        """Move the rows after key `after` up to the next boundary key (read now), retrying on
        lock timeouts. Returns the rows moved, the checkpoint key and whether it was the last."""
        spec, op = self.spec, self.op
        found = self.backend.fetch(boundary_sql(spec, after))
        upto = tuple(found[0]) if found else None
        sql = batch_sql(spec, after, upto)
        final = upto is None
        mark = upto if upto is not None else after

        def checkpoint(counts: list[int]) -> Statement:
            moved = max(counts[0], 0)
            return self.store.advance_statement(self.step_id, op.id, mark, moved, finished=final)

        refused: DatabaseError | None = None
        try:
            batch = with_lock_retry(
                lambda: self.backend.execute(
                    [(sql, ()), checkpoint], lock_timeout_ms=op.lock_timeout_ms
                ),
                retries=op.retries,
                backoff=self.backoff,
                sleep=self.sleep,
                log=self.retries,
                what=f"backfill batch of {spec.table}",
            )
        except DatabaseError as exc:
            if spec.mode != "insert" or is_lock_timeout(exc):
                raise
            refused = exc  # a row the target refuses: named below, outside this handler
        if refused is not None:
            raise refused_error(self.backend, spec, after, upto, refused)
        return max(batch.rowcounts[0], 0), mark, final


@runs("backfill")
class BackfillRunner(OperationRunner):
    """A keyset backfill: never skipped as done, it resumes at its own checkpoint."""

    def resumes(self, op: Operation) -> bool:
        return True

    def run(self, ctx: RunContext, step: Step, op: Operation) -> dict[str, Any]:
        spec = op.backfill
        assert spec is not None and isinstance(ctx.store, RunStore)

        def on_throttle(info: dict[str, Any]) -> None:
            ctx.log.write("throttle", step=step.id, operation=op.id, **info)
            ctx.progress("throttle", step=step.id, operation=op.id, **info)

        watch = ctx.watch
        sleep = ctx.options.sleep if watch is None else watch.sleep

        def on_batch(info: dict[str, Any]) -> None:
            ctx.log.write("batch", step=step.id, **info)
            ctx.progress("batch", step=step.id, **info)
            if watch is not None:  # a trigger that fired stops the backfill after this batch
                watch.rows = info["rows"]
                if not info["final"]:
                    watch.check()

        def on_pace(info: dict[str, Any]) -> None:
            ctx.log.write("pace", step=step.id, operation=op.id, **info)

        throttle = ctx.throttle(ctx.backfill_policy(step), spec.table, on_event=on_throttle)
        throttle.sleep = sleep  # a pause ends early when a trigger fires
        pace = _pace_policy(ctx)
        with contextlib.ExitStack() as stack:
            probe = None
            if pace.enabled:
                timeout = throttle.policy.probe_timeout_ms
                probe = stack.enter_context(
                    side_probe(ctx, throttle.probe_sql, timeout, commit=pace.commit_probe)
                )
            result = run_backfill(ctx.backend, ctx.store, step.id, op, throttle,
                                  backoff=ctx.options.backoff, sleep=sleep, on_batch=on_batch,
                                  batch_size=ctx.options.batch_size, pace=pace,
                                  on_pace=on_pace, probe_during=probe)  # fmt: skip
        if result.pace is not None:  # the pace it settled on, for run-status
            ctx.log.write("pace", step=step.id, operation=op.id, state="settled", **result.pace)
        return result.to_dict()


def _pace_policy(ctx: RunContext) -> PacePolicy:
    """The latency budget: defaults, `[safety]` of datamigration.toml, the run's overrides; a
    fixed pause asked for by the run (`batch_pause_ms`) is the least the pacer pauses."""
    policy = PacePolicy.build(ctx.workspace.config, ctx.options.safety)
    if ctx.options.batch_pause_ms:
        policy = replace(policy, min_pause_ms=float(ctx.options.batch_pause_ms))
    return policy
