"""The harness rule: a story reaches in-review only when its recorded validation passed.

A model under time pressure will happily claim "done"; the server does not take its word. The
gate reads the story's AgileFlow `test_status`, which only `status.record_validation` (called by
the validation engine with a real result) sets: the generic story update refuses to touch it. An
override is possible, but only with a stated reason, and that reason is posted on the bus as a
`warning` so every other agent and person sees it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from datamigration.errors import HarnessRuleError, UserInputError

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
