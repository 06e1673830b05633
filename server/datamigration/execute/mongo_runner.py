"""The executor for MongoDB plans: the same steps, gates, confirmations and rollbacks as SQL plans,
with document operations instead of statements and the run state in `_datamigration_runs`.

Everything that does not depend on the database (step selection, gates, validation with the
validation engine, the story and bus notes, the local run log, dry runs) is the SQL executor's
own code (runner.Executor); this subclass swaps what does: the state store and lock
(execute/mongo_state.py), and how an operation runs. A ``document`` operation goes to
``backend.apply_document_operation`` exactly as the plan holds it; a batched one (a backfill,
a keyset $set/$unset) runs batch by batch, each followed by its checkpoint, throttled on the
latency of a small probe read like SQL backfills, and resumes after the last ``_id`` done.
A ``count_mismatches`` operation is the validation gate of a field copy: the step fails unless
no document differs from the transform of its old field.
"""

from __future__ import annotations

import time
from dataclasses import replace
from typing import Any

from datamigration.db.mongo_ops import is_batched
from datamigration.errors import (
    ConflictError,
    DataMigrationError,
    UserInputError,
    ValidationFailedError,
)
from datamigration.execute.mongo_state import MongoRunStore
from datamigration.execute.runner import Executor, StepGateError
from datamigration.plan.model import Operation, Step
from datamigration.safety.throttle import Throttle, ThrottlePolicy


class MongoExecutor(Executor):
    """Runs selections of one MongoDB plan (see the module docstring)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.store = MongoRunStore(self.backend, self.plan.id, self.plan.hash)  # type: ignore[assignment]

    @property
    def mstore(self) -> MongoRunStore:
        assert isinstance(self.store, MongoRunStore)
        return self.store

    # --- lock ----------------------------------------------------------------------------------

    def _acquire(self) -> None:
        deadline = time.monotonic() + self.options.lock_wait_s
        while not self._locked and not self.mstore.try_lock():
            if time.monotonic() < deadline:
                time.sleep(0.2)
                continue
            raise ConflictError(
                f"another executor is running plan {self.plan.id} on this database",
                hint="Wait for it to finish (datamigration run-status shows progress); a crashed "
                "executor's lock is taken over once its lease (60 s) ran out, at once when it "
                "ran on this machine.",
                plan=self.plan.id,
            )
        self._locked = True
        before = self.store.begin()
        if before is not None and before.get("status") == "running":
            self.log.write("resume", owner=before.get("owner"))

    def close(self) -> None:
        try:
            if self._locked:
                self.mstore.release_lock()
                self._locked = False
        finally:
            super().close()

    # --- gates ---------------------------------------------------------------------------------

    def _throttle(self, collection: str, policy: ThrottlePolicy) -> Throttle:
        return Throttle(self.backend, policy=policy, sleep=self.options.sleep,
                        probe=lambda: self.backend.probe_latency_ms(collection))  # fmt: skip

    def _check_gates(self, step: Step) -> None:
        if "health_ok" in step.gates:
            colls = [o.params.get("collection") for o in step.operations if o.kind == "document"]
            throttle = self._throttle(colls[0] if colls else "_datamigration_runs",
                                      self.options.throttle or ThrottlePolicy())  # fmt: skip
            throttle.calibrate()
            reason = throttle.strained()
            if reason:
                raise StepGateError(f"step {step.id} is held: the database looks strained "
                                    f"({reason})", hint="Run the step again when the load is "
                                    "lower.", step=step.id)  # fmt: skip
            step = replace(step, gates=tuple(g for g in step.gates if g != "health_ok"))
        super()._check_gates(step)

    # --- operations ----------------------------------------------------------------------------

    def _run_operation(self, step: Step, op: Operation) -> dict[str, Any]:
        if op.kind not in ("document", "manual", "validate"):
            raise UserInputError(
                f"operation {op.id} is a {op.kind!r} operation, which MongoDB plans do not run",
                hint="Re-plan the change: MongoDB plans hold document, manual and validate "
                "operations.",
            )
        if not is_batched(op.params) and self._op_done(step, op):
            return {"operation": op.id, "kind": op.kind,
                    "skipped": "already done in an earlier run"}  # fmt: skip
        started = time.perf_counter()
        self.log.write("operation", step=step.id, operation=op.id, kind=op.kind,
                       document=dict(op.params) if op.kind == "document" else None)  # fmt: skip
        if op.kind == "manual":
            out: dict[str, Any] = {"confirmed": True,
                                   "instructions": op.params.get("instructions", op.description)}  # fmt: skip
        elif op.kind == "validate":
            result = self._validate(op.params.get("rules", ()), f"{self.plan.id}-{op.id}")
            result.pop("run")
            if not result["passed"]:
                raise ValidationFailedError(f"operation {op.id} (validation) failed: "
                                            f"{result['summary']}", hint="Fix the data or roll "
                                            "back the step.", step=step.id, validation=result)  # fmt: skip
            out = {"validation": result}
        else:
            out = self._run_document(step, op)
        if not is_batched(op.params):
            self.mstore.mark_done(step.id, op.id)
        out.update(operation=op.id, kind=op.kind, seconds=round(time.perf_counter() - started, 3))
        return out

    def _run_document(self, step: Step, op: Operation, *, rollback: bool = False) -> dict[str, Any]:
        if is_batched(op.params):
            return self._run_batches(step, op)
        result = self.backend.apply_document_operation(dict(op.params))
        if op.params.get("op") == "count_mismatches" and not result.get("passed"):
            raise ValidationFailedError(
                f"operation {op.id}: {result['mismatches']} of {result['checked']} document(s) of "
                f"{op.params.get('collection')} differ from the expected value ({op.description})",
                hint="Nothing was removed. Find why (documents written by an application version "
                "that does not write both fields?), fix them, and run the step again."
                + (
                    f" First offending _id: {result['sample'][:3]}." if result.get("sample") else ""
                ),
                step=step.id,
                check=result,
            )
        return {"document": result}

    def _run_batches(self, step: Step, op: Operation) -> dict[str, Any]:
        """Batch after batch from the checkpoint to the end of the collection."""
        params = dict(op.params)
        if self.options.batch_size:
            params["batch_size"] = int(self.options.batch_size)
        cp = self.store.start_checkpoint(step.id, op.id)
        if cp.finished:
            return {"documents": 0, "batches": 0, "already_done": True,
                    "last_key": _plain_key(cp.last_key)}  # fmt: skip
        policy = self.options.throttle or ThrottlePolicy.from_monitoring(
            dict(step.monitoring), pause_ms=self.options.batch_pause_ms or None
        )
        throttle = self._throttle(params["collection"], policy)
        throttle.calibrate()
        started = time.perf_counter()
        after, resumed = cp.last_key, cp.last_key
        docs = modified = batches = 0
        while True:
            throttle.before_batch()
            r = self.backend.apply_document_operation(params, resume=after)
            after = tuple(r["last_key"]) if r.get("last_key") is not None else after
            docs += int(r.get("matched", 0))
            modified += int(r.get("modified", 0))
            batches += 1
            self.mstore.advance(step.id, op.id, after, int(r.get("matched", 0)),
                                finished=bool(r["finished"]))  # fmt: skip
            self.mstore.renew_lock()
            info = {"operation": op.id, "batch": batches, "rows": docs, "modified": modified,
                    "last_key": _plain_key(after), "final": bool(r["finished"]),
                    "estimated_rows": params.get("estimated_documents")}  # fmt: skip
            self.log.write("batch", step=step.id, **info)
            self._progress("batch", step=step.id, **info)
            if r["finished"]:
                break
            throttle.after_batch()
        seconds = time.perf_counter() - started
        return {"documents": docs, "modified": modified, "batches": batches,
                "resumed_from": _plain_key(resumed), "last_key": _plain_key(after),
                "seconds": round(seconds, 3), "already_done": False,
                "throttle": throttle.stats.to_dict()}  # fmt: skip

    # --- rollback ------------------------------------------------------------------------------

    def _rollback_step(self, step: Step) -> dict[str, Any]:
        """Document reverses run here (batched ones resume from their own checkpoint); the
        bookkeeping (statuses, story, log) is the SQL executor's."""
        docs = [op for op in step.rollback if op.kind == "document"]
        if not docs:
            return super()._rollback_step(step)
        self.store.set_step(step.id, "rolling_back")
        outs = []
        try:
            for op in docs:
                self.log.write("operation", step=step.id, operation=op.id, kind=op.kind,
                               document=dict(op.params), rollback=True)  # fmt: skip
                outs.append(self._run_document(step, op) | {"operation": op.id})
        except BaseException as exc:
            detail = str(exc) if isinstance(exc, DataMigrationError) else type(exc).__name__
            self.store.set_step(step.id, "failed", detail=f"rollback failed: {detail}")
            self.log.write("rollback_failed", step=step.id, error=detail)
            raise
        rest = tuple(op for op in step.rollback if op.kind != "document")
        out = super()._rollback_step(replace(step, rollback=rest))
        out["operations"] = outs + list(out.get("operations", []))
        return out


def _plain_key(key: Any) -> list[Any] | None:
    """A checkpoint key as JSON-able values (an ObjectId as its hex text)."""
    if key is None:
        return None
    return [v if isinstance(v, int | float | str) or v is None else str(v) for v in key]
