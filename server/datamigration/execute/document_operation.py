"""The runner of ``document`` operations (MongoDB plans).

A ``document`` operation goes to ``backend.apply_document_operation`` exactly as the plan holds
it; a batched one (a backfill, a keyset $set/$unset) runs batch by batch, each followed by its
checkpoint, throttled on the latency of a small probe read like SQL backfills, and resumes after
the last ``_id`` done. A ``count_mismatches`` operation is the validation gate of a field copy:
the step fails unless no document differs from the transform of its old field.
"""

from __future__ import annotations

import time
from typing import Any

from datamigration.documents.operations import is_batched
from datamigration.errors import ValidationFailedError
from datamigration.execute.mongo_state import MongoRunStore
from datamigration.execute.operations import OperationRunner, RunContext, runs
from datamigration.plan.model import Operation, Step


@runs("document")
class DocumentRunner(OperationRunner):
    """One document operation, or all the batches of a batched one."""

    def resumes(self, op: Operation) -> bool:
        return is_batched(op.params)

    def log_fields(self, op: Operation) -> dict[str, Any]:
        return {"document": dict(op.params)}

    def run(self, ctx: RunContext, step: Step, op: Operation) -> dict[str, Any]:
        if is_batched(op.params):
            return _run_batches(ctx, step, op)
        result = ctx.backend.apply_document_operation(dict(op.params))  # type: ignore[attr-defined]
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

    def reverse(self, ctx: RunContext, step: Step, op: Operation) -> dict[str, Any]:
        """Document reverses run like forward ones (batched ones resume from their own
        checkpoint)."""
        ctx.log.write("operation", step=step.id, operation=op.id, kind=op.kind,
                      document=dict(op.params), rollback=True)  # fmt: skip
        return self.run(ctx, step, op)


def _run_batches(ctx: RunContext, step: Step, op: Operation) -> dict[str, Any]:
    """Batch after batch from the checkpoint to the end of the collection."""
    store = ctx.store
    assert isinstance(store, MongoRunStore)
    params = dict(op.params)
    if ctx.options.batch_size:
        params["batch_size"] = int(ctx.options.batch_size)
    cp = store.start_checkpoint(step.id, op.id)
    if cp.finished:
        return {"documents": 0, "batches": 0, "already_done": True,
                "last_key": plain_key(cp.last_key)}  # fmt: skip
    throttle = ctx.throttle(ctx.backfill_policy(step), params["collection"])
    throttle.calibrate()
    started = time.perf_counter()
    after, resumed = cp.last_key, cp.last_key
    docs = modified = batches = 0
    while True:
        throttle.before_batch()
        r = ctx.backend.apply_document_operation(params, resume=after)  # type: ignore[attr-defined]
        after = tuple(r["last_key"]) if r.get("last_key") is not None else after
        docs += int(r.get("matched", 0))
        modified += int(r.get("modified", 0))
        batches += 1
        store.advance(step.id, op.id, after, int(r.get("matched", 0)),
                      finished=bool(r["finished"]))  # fmt: skip
        store.renew_lock()
        info = {"operation": op.id, "batch": batches, "rows": docs, "modified": modified,
                "last_key": plain_key(after), "final": bool(r["finished"]),
                "estimated_rows": params.get("estimated_documents")}  # fmt: skip
        ctx.log.write("batch", step=step.id, **info)
        ctx.progress("batch", step=step.id, **info)
        if r["finished"]:
            break
        throttle.after_batch()
    seconds = time.perf_counter() - started
    return {"documents": docs, "modified": modified, "batches": batches,
            "resumed_from": plain_key(resumed), "last_key": plain_key(after),
            "seconds": round(seconds, 3), "already_done": False,
            "throttle": throttle.stats.to_dict()}  # fmt: skip


def plain_key(key: Any) -> list[Any] | None:
    """A checkpoint key as JSON-able values (an ObjectId as its hex text)."""
    if key is None:
        return None
    return [v if isinstance(v, int | float | str) or v is None else str(v) for v in key]
