"""Story statuses: the two AgileFlow vocabularies, their canonical form and the legal moves.

Two status vocabularies exist in the wild (the commands write `in-progress / in-review / done`,
newer code `in_progress / in_review / completed / archived`). Everything here works on the
canonical (underscore) form; `spell` turns a status back into the spelling a file already uses.
Kept apart from the file handling in `status` so the rules of the board read on one page.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from datamigration.errors import UserInputError

CANONICAL = ("ready", "in_progress", "in_review", "blocked", "completed", "archived")
ALIASES = {
    "ready": "ready", "pending": "ready", "todo": "ready",
    "in_progress": "in_progress", "in-progress": "in_progress",
    "in_review": "in_review", "in-review": "in_review",
    "blocked": "blocked",
    "completed": "completed", "done": "completed",
    "archived": "archived",
}  # fmt: skip
HYPHEN_SPELLING = {"in_progress": "in-progress", "in_review": "in-review", "completed": "done"}
TRANSITIONS = {
    "ready": ("in_progress", "blocked"),
    "in_progress": ("in_review", "blocked", "ready"),
    "in_review": ("completed", "in_progress", "blocked"),
    "blocked": ("ready", "in_progress", "in_review"),
    "completed": ("archived", "in_progress"),
    "archived": (),
}
NEW_STORY_STATUSES = ("ready", "in_progress", "blocked")
_HYPHEN_MARKS = {"in-progress", "in-review", "done"}
_UNDERSCORE_MARKS = {"in_progress", "in_review", "completed"}


def canonical_status(value: Any) -> str | None:
    """The canonical status for any spelling we know, else None."""
    if not isinstance(value, str):
        return None
    return ALIASES.get(value.strip().lower().replace(" ", "_"))


#: Every spelling we accept, in both AgileFlow vocabularies, for hints.
VALID_STATUSES_TEXT = (
    "ready, in-progress, blocked, in-review, done (commands' spelling) or ready, in_progress, "
    "in_review, blocked, completed, archived (newer spelling; pending is read as ready)"
)


def requested_status(value: str) -> str:
    found = canonical_status(value)
    if found is None:
        raise UserInputError(
            f"unknown status {value!r}", hint=f"Use one of: {VALID_STATUSES_TEXT}."
        )
    return found


def allowed_from(recorded: Any) -> tuple[str, ...]:
    """The statuses a story may move to from the status recorded in the file.

    A story without a status counts as ready. A recorded status we do not know (`wip`, a typo)
    allows only the move back to ready: guessing what it meant could skip the review gate.
    """
    if recorded is None:
        return TRANSITIONS["ready"]
    current = canonical_status(recorded)
    if current is None:
        return ("ready",)
    return TRANSITIONS[current]


def spell(status: str, vocabulary: str) -> str:
    return HYPHEN_SPELLING.get(status, status) if vocabulary == "hyphen" else status


def vocabulary_of(stories: list[dict[str, Any]], story: Mapping[str, Any] | None = None) -> str:
    """'hyphen' or 'underscore': the story's own spelling, else the file's majority."""
    own = story.get("status") if story else None
    if own in _HYPHEN_MARKS:
        return "hyphen"
    if own in _UNDERSCORE_MARKS:
        return "underscore"
    hyphen = sum(1 for s in stories if s.get("status") in _HYPHEN_MARKS)
    underscore = sum(1 for s in stories if s.get("status") in _UNDERSCORE_MARKS)
    return "underscore" if underscore > hyphen else "hyphen"
