"""status.json: AgileFlow's story board, read in both vocabularies and edited in place.

The board's rules (the two status vocabularies, transitions) live in `vocabulary`, reading and
checking the file in `status_file`; this module holds the operations (list, get, create, update,
record a validation) and the in-place write. A status is written in the spelling the file
already uses: the story's own spelling, else the file's majority, else hyphens (what
AgileFlow's commands write, and our new files).

Every write holds `status.json.lock`, re-reads the file under it, splices only the changed
story's fields and the top-level `updated` timestamp (when the file has one; it is not added
otherwise) into the original text, re-checks the result, and renames a temp file over the
original. Every other byte (key order, indentation, escapes, unknown keys, trailing newline)
survives. Every status change is then posted on the bus as a `status` message.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from datamigration.atomic import atomic_write
from datamigration.coordination import bus, jsontext
from datamigration.coordination.announce import validation_text
from datamigration.coordination.bus import now_iso
from datamigration.coordination.harness import PASSING, VALIDATION_FIELDS, check_review_gate
from datamigration.coordination.locking import FileLock
from datamigration.coordination.paths import coordination_paths
from datamigration.coordination.schema_check import first_error
from datamigration.coordination.status_file import (
    StatusFile,
    parse_status_text,
    read_status_text,
    story_index,
)
from datamigration.coordination.vocabulary import (
    NEW_STORY_STATUSES,
    VALID_STATUSES_TEXT,
    allowed_from,
    canonical_status,
    requested_status,
    spell,
    vocabulary_of,
)
from datamigration.errors import ConflictError, NotFoundError, UserInputError
from datamigration.redact import redact_text
from datamigration.safeload import check_depth
from datamigration.workspace.root import Workspace

_STORY_ID = re.compile(r"^[A-Za-z][A-Za-z0-9]*-[A-Za-z0-9][A-Za-z0-9._-]{0,58}$")
_TOUCH_KEYS = ("last_update", "updated", "updated_at")
_PROTECTED = ("id", "status", *VALIDATION_FIELDS)


# -- reading -------------------------------------------------------------------------------------


def load(workspace: Workspace) -> StatusFile:
    path = coordination_paths(workspace).status
    if not path.is_file():
        return StatusFile(path, False, {"stories": {}})
    return StatusFile(path, True, parse_status_text(path, read_status_text(path)))


def list_stories(
    workspace: Workspace,
    *,
    status: str | None = None,
    owner: str | None = None,
    epic: str | None = None,
) -> tuple[StatusFile, list[dict[str, Any]]]:
    board = load(workspace)
    wanted = requested_status(status) if status else None
    stories = [
        s
        for s in board.stories()
        if (wanted is None or canonical_status(s.get("status")) == wanted)
        and (owner is None or str(s.get("owner", "")).lower() == owner.lower())
        and (epic is None or str(s.get("epic", "")).lower() == epic.lower())
    ]
    return board, stories


def get_story(workspace: Workspace, story_id: str) -> dict[str, Any]:
    board = load(workspace)
    story = board.find(story_id)
    if story is None:
        raise NotFoundError(
            f"no story {story_id!r} in {board.path.name}",
            hint="List stories with `datamigration status` (tool status_get) or create one "
            "with `datamigration status new`.",
            story=story_id,
        )
    return story


# -- writing -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class StoryChange:
    story_id: str
    path: Path
    changed: bool
    created: bool
    previous_status: str | None
    status: str | None
    fields: tuple[str, ...]
    override_reason: str | None
    story: dict[str, Any] = field(compare=False)


#: Given (story before or None, board) return the fields to set, in order ({} = nothing to do).
Planner = Callable[[dict[str, Any] | None, StatusFile], dict[str, Any]]


def _mutate(
    workspace: Workspace, story_id: str, planner: Planner, *, create: bool
) -> tuple[dict[str, Any] | None, dict[str, Any], bool, Path]:
    """Under the lock: read, plan, splice, verify, rename. Returns (before, after, written, path)."""
    paths = coordination_paths(workspace)
    path = paths.status
    with FileLock(path, paths.lock_timeout):
        if path.is_file():
            text = read_status_text(path)
        elif create:
            text = json.dumps({"updated": now_iso(), "stories": {}}, indent=2) + "\n"
        else:
            raise NotFoundError(
                f"{workspace.relative(path)} does not exist yet",
                hint="Create the first story with `datamigration status new STORY --title ...`.",
            )
        board = StatusFile(path, True, parse_status_text(path, text))
        before = board.find(story_id)
        changes = planner(before, board)
        if not changes:
            return before, before or {}, False, path
        _check_story(board, story_id, {"id": story_id, **(before or {}), **changes})
        new_text, expected = _splice(text, board, story_id, changes)
        if json.loads(new_text) != expected:  # pragma: no cover - a bug guard
            raise RuntimeError(f"status.json edit for {story_id} did not round-trip; not written")
        atomic_write(path, new_text)
    after = StatusFile(path, True, expected).find(story_id) or {}
    return before, after, True, path


def _splice(
    text: str, board: StatusFile, story_id: str, changes: dict[str, Any]
) -> tuple[str, dict[str, Any]]:
    """The edited text and the data it must parse to (copies only along the changed path)."""
    stamp = now_iso()
    expected = dict(board.data)
    ed = jsontext.Editor(text)
    root = jsontext.parse_container(text, jsontext.skip_ws(text, 0))
    updated = root.get("updated")
    if updated is not None and isinstance(board.data.get("updated"), str):
        ed.replace_value(updated, stamp)
        expected["updated"] = stamp
    stories_m = root.get("stories")
    if stories_m is None:
        ed.add_members(root, [("stories", {story_id: changes})])
        expected["stories"] = {story_id: changes}
        return ed.apply(), expected
    container = jsontext.parse_container(text, stories_m.value_start)
    stories = board.data["stories"]
    if isinstance(stories, list):
        expected["stories"] = new_list = list(stories)
        index = story_index(stories, story_id)
        if index is None:
            element = {"id": story_id, **changes}
            ed.add_elements(container, [element])
            new_list.append(element)
        else:
            _set_fields(ed, text, container.members[index], changes)
            new_list[index] = {**stories[index], **changes}
    else:
        expected["stories"] = new_map = dict(stories)
        member = container.get(story_id)
        if member is None:
            ed.add_members(container, [(story_id, changes)])
            new_map[story_id] = changes
        else:
            _set_fields(ed, text, member, changes)
            new_map[story_id] = {**stories[story_id], **changes}
    return ed.apply(), expected


def _check_story(board: StatusFile, story_id: str, story: dict[str, Any]) -> None:
    """The story as it will be written must still match the schema (bad field types refused)."""
    definition = "storyWithId" if board.shape == "array" else "story"
    found = first_error(story, "status", definition)
    if found is not None:
        raise UserInputError(
            f"{story_id}: {found[1]}",
            hint="Give that field a value of the type AgileFlow uses (see status.schema.json).",
            story=story_id,
        )


def _set_fields(ed: jsontext.Editor, text: str, member: jsontext.Member, changes: dict) -> None:
    story = jsontext.parse_container(text, member.value_start)
    new: list[tuple[str, Any]] = []
    for key, value in changes.items():
        existing = story.get(key)
        if existing is None:
            new.append((key, value))
        else:
            ed.replace_value(existing, value)
    ed.add_members(story, new)


def _touch_key(story: Mapping[str, Any]) -> str:
    return next((k for k in _TOUCH_KEYS if k in story), "updated")


def _check_story_id(story_id: str) -> None:
    if not isinstance(story_id, str) or not _STORY_ID.match(story_id):
        raise UserInputError(
            f"bad story id {story_id!r}",
            hint="Use AgileFlow's form: a prefix, a dash and a number, e.g. US-0042 or EP-0001.",
        )


def _check_fields(fields: Mapping[str, Any]) -> dict[str, Any]:
    check_depth(fields, source="fields", hint="Story fields are short JSON values.")
    out: dict[str, Any] = {}
    for key, value in fields.items():
        if not isinstance(key, str) or not key.strip():
            raise UserInputError("field names must be non-empty strings", hint="Name each field.")
        if key in _PROTECTED:
            hint = {
                "status": "Pass the status separately (status=...), so transitions are checked.",
                "id": "A story's id cannot change; create a new story instead.",
            }.get(key, "Only a validation run records test results (record_validation).")
            raise UserInputError(f"field {key!r} cannot be set here", hint=hint)
        try:
            json.dumps(value)
        except (TypeError, ValueError):
            raise UserInputError(
                f"field {key!r} is not JSON data", hint="Use JSON values."
            ) from None
        out[key] = _redacted(value)
    return out


def _redacted(value: Any) -> Any:
    """`value` with a password in any of its strings masked: status.json is shared and kept."""
    if isinstance(value, str):
        return redact_text(value)
    if isinstance(value, list):
        return [_redacted(v) for v in value]
    if isinstance(value, dict):
        return {k: _redacted(v) for k, v in value.items()}
    return value


def update_story(
    workspace: Workspace,
    story_id: str,
    *,
    status: str | None = None,
    fields: Mapping[str, Any] | None = None,
    override_reason: str | None = None,
    note: str | None = None,
) -> StoryChange:
    """Change a story's status (transition + harness rule checked) and/or other fields."""
    target = requested_status(status) if status else None
    extra = _check_fields(fields or {})
    outcome: dict[str, Any] = {"override": None}

    def planner(before: dict[str, Any] | None, board: StatusFile) -> dict[str, Any]:
        if before is None:
            raise NotFoundError(
                f"no story {story_id!r} in {board.path.name}",
                hint="Create it with `datamigration status new` (tool status_update cannot create).",
                story=story_id,
            )
        changes = {k: v for k, v in extra.items() if before.get(k) != v}
        recorded = before.get("status")
        current = canonical_status(recorded)
        if target is not None and target != current:
            allowed = allowed_from(recorded)
            if recorded is not None and current is None and target not in allowed:
                raise ConflictError(
                    f"{story_id} has the unknown status {recorded!r} in {board.path.name}; "
                    f"it cannot move to {status}",
                    hint=f"Valid statuses: {VALID_STATUSES_TEXT}. Move it to ready first "
                    "(status_update with status ready), or correct the file.",
                    story=story_id,
                )
            if target not in allowed:
                raise ConflictError(
                    f"{story_id} cannot go from {recorded} to {status}",
                    hint="Allowed from here: "
                    + (", ".join(spell(a, vocabulary_of(board.raw_stories(), before)) for a in allowed)
                       or "nothing (archived stories stay archived)"),
                    story=story_id,
                )  # fmt: skip
            outcome["override"] = check_review_gate(story_id, before, target, override_reason)
            changes["status"] = spell(target, vocabulary_of(board.raw_stories(), before))
            if target == "in_progress" and not before.get("started_at"):
                changes["started_at"] = now_iso()
            if target == "completed":
                changes["completed_at"] = now_iso()
        if changes:
            changes[_touch_key(before)] = now_iso()
        return changes

    before, after, written, path = _mutate(workspace, story_id, planner, create=False)
    change = _change(path, story_id, before, after, written, outcome["override"])
    _announce(workspace, change, note)
    return change


def new_story(
    workspace: Workspace,
    story_id: str,
    title: str,
    *,
    status: str = "ready",
    fields: Mapping[str, Any] | None = None,
) -> StoryChange:
    """Add a story (creating status.json when there is none); an existing id is refused."""
    _check_story_id(story_id)
    if not isinstance(title, str) or not title.strip():
        raise UserInputError("a story needs a title", hint="Pass --title 'what the story does'.")
    target = requested_status(status)
    if target not in NEW_STORY_STATUSES:
        raise UserInputError(
            f"a new story cannot start as {status}",
            hint="Start it as ready, in-progress or blocked; in-review needs a passing validation.",
        )
    extra = _check_fields(fields or {})

    def planner(before: dict[str, Any] | None, board: StatusFile) -> dict[str, Any]:
        if before is not None:
            raise ConflictError(
                f"story {story_id} already exists in {board.path.name}",
                hint="Pick the next free id, or update the existing story.",
                story=story_id,
            )
        story: dict[str, Any] = {"title": redact_text(title.strip())}
        story["status"] = spell(target, board.vocabulary)
        story.update({k: v for k, v in extra.items() if k not in story})
        if target == "in_progress":
            story["started_at"] = now_iso()
        story["updated"] = now_iso()
        return story

    _, after, written, path = _mutate(workspace, story_id, planner, create=True)
    change = _change(path, story_id, None, after, written, None, created=True)
    bus.post(
        workspace,
        "story-created",
        f"{story_id} created: {title.strip()}",
        story=story_id,
        extra={"status": after.get("status")},
    )
    return change


def write_validation(
    workspace: Workspace, story_id: str, test_status: str, results: dict[str, Any]
) -> StoryChange:
    """Used by record_validation: sets test_status/test_results, posts a `status`."""

    def planner(before: dict[str, Any] | None, board: StatusFile) -> dict[str, Any]:
        if before is None:
            raise NotFoundError(
                f"no story {story_id!r} in {board.path.name}",
                hint="Record validations on an existing story (see `datamigration status`).",
                story=story_id,
            )
        return {"test_status": test_status, "test_results": results, _touch_key(before): now_iso()}

    before, after, written, path = _mutate(workspace, story_id, planner, create=False)
    change = _change(path, story_id, before, after, written, None)
    # A `status` message, as AgileFlow's agents announce a completed validation.
    bus.post(
        workspace,
        "status",
        validation_text(story_id, test_status == "passing", results.get("output_summary", "")),
        story=story_id,
        extra={"test_status": test_status, "report": results.get("report")},
    )
    return change


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
    if not isinstance(summary, str) or not summary.strip():
        raise UserInputError("a validation summary is required", hint="Say what was checked.")
    results: dict[str, Any] = {"last_run": now_iso()}
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
    write_validation(workspace, story_id, test_status, results)
    return ValidationRecord(story_id, test_status, results)


def _change(
    path: Path,
    story_id: str,
    before: dict[str, Any] | None,
    after: dict[str, Any],
    written: bool,
    override: str | None,
    *,
    created: bool = False,
) -> StoryChange:
    before = before or {}
    changed_fields = tuple(k for k in after if k != "id" and before.get(k) != after.get(k))
    return StoryChange(
        story_id=story_id,
        path=path,
        changed=written,
        created=created,
        previous_status=before.get("status"),
        status=after.get("status"),
        fields=changed_fields,
        override_reason=override,
        story=after,
    )


def _announce(workspace: Workspace, change: StoryChange, note: str | None) -> None:
    """A `warning` for an override (first), then the `status` message for a status change."""
    if not change.changed or change.previous_status == change.status:
        return
    if change.override_reason:
        bus.post(
            workspace,
            "warning",
            f"Harness rule overridden: {change.story_id} moved to {change.status} without a "
            f"passing validation. Reason: {change.override_reason}",
            story=change.story_id,
        )
    text = f"{change.story_id}: {change.previous_status} -> {change.status}"
    if note and note.strip():
        text += f" ({note.strip()})"
    bus.post(workspace, "status", text, story=change.story_id, extra={"status": change.status})
