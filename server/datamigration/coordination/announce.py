"""Bus announcements of a new plan and of a validation verdict, worded as AgileFlow's agents do.

Other agents follow a migration on the bus: AgileFlow's own data-migration agent posts `status`
messages such as "Migration plan created for user_profiles: dual-write approach, zero-downtime"
and "Data validation complete: 100% record match". The planner and the validation engine call
these functions (the layer both the CLI and the MCP tools use), so both faces post the same line.

Announcing is a courtesy to the team, not part of the work: a bus that cannot be written (its
lock held too long, a malformed path) never undoes a stored plan or a written report; the
problem comes back as a note instead.
"""

from __future__ import annotations

from typing import Any

from datamigration.coordination import bus
from datamigration.errors import DataMigrationError
from datamigration.workspace.root import Workspace


def _post(workspace: Workspace, text: str, story: str | None, **extra: Any) -> str | None:
    try:
        bus.post(workspace, "status", text, story=story, extra=extra)
    except DataMigrationError as exc:
        return f"bus: {exc.message}"
    except OSError as exc:  # a read-only or full disk: the plan or report already stands
        return f"bus: {exc.strerror or exc}"
    return None


def _downtime(seconds: float | None) -> str:
    if not seconds:
        return "zero-downtime"
    return f"about {seconds:.0f} s of blocking time"


def plan_created(workspace: Workspace, plan: Any) -> str | None:
    """`status`: "Migration plan created for <table>: <pattern> approach, zero-downtime (...)"."""
    subject = plan.spec.table or plan.title or plan.spec.kind
    pattern = plan.pattern.replace("_", "-")
    text = (
        f"Migration plan created for {subject}: {pattern} approach, "
        f"{_downtime(plan.estimates.downtime_seconds)} (plan {plan.id}, {len(plan.steps)} steps: "
        f"{plan.title})"
    )
    return _post(workspace, text, plan.story, plan=plan.id, plan_hash=plan.hash[:12])


def validation_text(subject: str, passed: bool, summary: str) -> str:
    """The one wording of a validation verdict, for the story's record and the bus."""
    verdict = "passed" if passed else "FAILED"
    return f"Data validation complete for {subject}: {verdict}. {summary}"


def validation_done(
    workspace: Workspace, name: str, passed: bool, summary: str, report: str | None
) -> str | None:
    """`status` for a validation run that names no story (a story's run is posted when the
    verdict is recorded on it, see status.write_validation)."""
    extra = {"test_status": "passing" if passed else "failing", "report": report}
    return _post(workspace, validation_text(name, passed, summary), None, **extra)


def post_status(workspace: Workspace, text: str, story: str | None, **extra: Any) -> str | None:
    """Any engine's `status` line (the copy's start, table and finish messages)."""
    return _post(workspace, text, story, **extra)
