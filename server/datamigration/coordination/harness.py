"""The harness rule: a story reaches in-review only when its recorded validation passed.

A model under time pressure will happily claim "done"; the server does not take its word. The
gate reads the story's AgileFlow `test_status`, which only `record_validation` (called by the
validation engine with a real result) sets: the generic story update refuses to touch it. An
override is possible, but only with a stated reason, and that reason is posted on the bus as a
`warning` so every other agent and person sees it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from datamigration.errors import HarnessRuleError, UserInputError
from datamigration.workspace.root import Workspace

REVIEW = "in_review"
PASSING = "passing"
#: Fields that only a validation run may write.
VALIDATION_FIELDS = ("test_status", "test_results")


def check_review_gate(
    story_id: str, story: Mapping[str, Any], target: str, override_reason: str | None
) -> str | None:
    """None when the move is allowed outright; the cleaned reason when it is overridden.

    Raises HarnessRuleError when the target is in-review and the story's test_status is not
    passing and no reason was given; UserInputError for an empty reason.
    """
    if target != REVIEW or story.get("test_status") == PASSING:
        return None
    if override_reason is None:
        raise HarnessRuleError(
            f"{story_id} cannot move to in-review: its recorded test_status is "
            f"{story.get('test_status') or 'not set'}, not passing",
            story=story_id,
            test_status=story.get("test_status"),
        )
    reason = override_reason.strip()
    if not reason:
        raise UserInputError(
            "an override of the harness rule needs a non-empty reason",
            hint="Say why the story may go to review without a passing validation; "
            "the reason is posted on the bus as a warning.",
        )
    return reason


@dataclass(frozen=True)
class ValidationRecord:
    story_id: str
    test_status: str
    test_results: dict[str, Any]


def record_validation(
    workspace: Workspace,
    story_id: str,
    passed: bool,
    summary: str,
    report_path: str | None = None,
    *,
    command: str | None = None,
    passed_count: int | None = None,
    failed_count: int | None = None,
) -> ValidationRecord:
    """Store a validation outcome on a story (AgileFlow's test_status / test_results).

    Written under the status.json lock like every other change, then announced on the bus as a
    `finding`. `report_path` must lie inside the workspace; it is stored relative to the root.
    """
    from datamigration.coordination import status as status_mod

    if not isinstance(summary, str) or not summary.strip():
        raise UserInputError("a validation summary is required", hint="Say what was checked.")
    results: dict[str, Any] = {"last_run": status_mod.now_iso()}
    if command:
        results["command"] = command
    if passed_count is not None:
        results["passed"] = passed_count
    if failed_count is not None:
        results["failed"] = failed_count
    results["exit_code"] = 0 if passed else 1
    results["output_summary"] = summary.strip()
    if report_path:
        results["report"] = workspace.relative(workspace.resolve(report_path))
    test_status = PASSING if passed else "failing"
    status_mod.write_validation(workspace, story_id, test_status, results)
    return ValidationRecord(story_id, test_status, results)
