"""The runner of ``shadow_reads`` operations: the shadow-traffic pattern's compare step.

The step reads a sample of keys through the old path and the new one (old column vs new
column of an expand-contract, in the plan's own database) with `validate.shadow`, writes the
report under the docs tree, and fails when the gate fails (more mismatches than allowed, or
fewer reads than required), so the switch and contract steps after it cannot start. It only
reads: its reverse has nothing to undo.
"""

from __future__ import annotations

from typing import Any

from datamigration.execute.operations import OperationRunner, RunContext, runs
from datamigration.plan.model import Operation, Step


@runs("shadow_reads")
class ShadowReadsRunner(OperationRunner):
    def log_fields(self, op: Operation) -> dict[str, Any]:
        return {"pairs": list(op.params.get("pairs") or ()), "tables": op.params.get("tables")}

    def run(self, ctx: RunContext, step: Step, op: Operation) -> dict[str, Any]:
        from datamigration.validate.shadow.run import move_reads, require_passed, shadow_pairs

        params = {**op.params, "name": f"{ctx.plan.id}-{op.id}"}
        if op.params.get("target"):  # a move_table plan: the source against the target
            result = move_reads(ctx.workspace, ctx.url, params)
        else:
            result = shadow_pairs(ctx.workspace, ctx.url, op.params.get("pairs") or (), params)
        keep = ("passed", "verdict", "reads", "mismatches", "mismatch_rate", "examples",
                "report_json")  # fmt: skip
        summary = [{k: r.get(k) for k in keep} for r in result["reports"]]
        ctx.progress("shadow_reads", step=step.id, reports=summary)
        for r in result["reports"]:
            require_passed(r, step=step.id, operation=op.id)
        return {"shadow_reads": summary}

    def reverse(self, ctx: RunContext, step: Step, op: Operation) -> dict[str, Any]:
        return {"instructions": "shadow reads only read: nothing to undo"}
