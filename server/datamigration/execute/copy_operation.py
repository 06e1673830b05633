"""The runner of ``copy`` operations: a `move_table` plan's copy step (the move engine).

The step copies the plan's table from the plan's database to the target the spec named,
through `move.run_copy`, resumable: a step re-run after a crash resumes the unfinished copy
(same source, target and table) instead of starting over, and a copy whose validation finds
a difference fails the step. Its reverse leaves the source untouched and says how to drop the
copy on the target by hand.
"""

from __future__ import annotations

from typing import Any

from datamigration.errors import ValidationFailedError
from datamigration.execute.operations import OperationRunner, RunContext, runs
from datamigration.plan.model import Operation, Step


@runs("copy")
class CopyRunner(OperationRunner):
    def run(self, ctx: RunContext, step: Step, op: Operation) -> dict[str, Any]:
        from datamigration.move import CopyRequest, run_copy

        request = CopyRequest(
            source=ctx.url,
            target=str(op.params["target"]),
            tables=tuple(op.params.get("tables") or ()),
            workspace=str(ctx.workspace.root),
            batch_size=int(op.params.get("batch_size") or 10_000),
            resume=True,
        )
        report = run_copy(request, progress=lambda e, d: ctx.progress(f"copy_{e}", **d))
        summary = {
            "run_id": report["run_id"],
            "rows_copied": report["rows_copied"],
            "rejected": report["rejected"],
            "report": report.get("report_json"),
            "validation": report["validation"],
        }
        if not report["passed"] or report["rejected"]:
            raise ValidationFailedError(
                f"operation {op.id} (copy) finished but the target differs from the source "
                f"({report['rejected']} rejected row(s)); see {report.get('report_json')}",
                hint="Fix the refused rows (the rejects file names them), then copy again "
                "with truncate (copy_data) and re-run the step.",
                step=step.id,
                copy=summary,
            )
        return {"copy": summary}

    def reverse(self, ctx: RunContext, step: Step, op: Operation) -> dict[str, Any]:
        target = op.params.get("target")
        return {"instructions": f"the source is unchanged; drop the copied tables on {target} "
                                "by hand if the move is abandoned"}  # fmt: skip
