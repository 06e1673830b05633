"""Reading status.json: the exact text, parsed and schema-checked, as a `StatusFile`.

A malformed board is reported with file, line and problem and never modified. Stories are
schema-checked one at a time with a cache keyed by their text, because writers re-read and
re-check the whole file under the lock on every change (see `status`).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from datamigration.coordination import jsontext
from datamigration.coordination.schema_check import first_error
from datamigration.coordination.vocabulary import vocabulary_of
from datamigration.errors import FileFormatError
from datamigration.safeload import check_depth, too_deep


@dataclass(frozen=True)
class StatusFile:
    """A parsed status.json (or the empty board when the file does not exist yet)."""

    path: Path
    exists: bool
    data: dict[str, Any]

    @property
    def shape(self) -> str:
        stories = self.data.get("stories")
        return "array" if isinstance(stories, list) else "object"

    def stories(self) -> list[dict[str, Any]]:
        """Every story as a dict that carries its `id` first, in file order."""
        raw = self.data.get("stories") or {}
        if isinstance(raw, list):
            return [dict(s) for s in raw if isinstance(s, dict) and isinstance(s.get("id"), str)]
        return [{"id": key, **{k: v for k, v in s.items() if k != "id"}} for key, s in raw.items()]

    def raw_stories(self) -> list[dict[str, Any]]:
        """The story objects as stored (no copies), for cheap scans."""
        raw = self.data.get("stories") or {}
        values = raw if isinstance(raw, list) else raw.values()
        return [s for s in values if isinstance(s, dict)]

    def find(self, story_id: str) -> dict[str, Any] | None:
        raw = self.data.get("stories") or {}
        if isinstance(raw, dict):
            story = raw.get(story_id)
            if not isinstance(story, dict):
                return None
            return {"id": story_id, **{k: v for k, v in story.items() if k != "id"}}
        index = story_index(raw, story_id)
        return dict(raw[index]) if index is not None else None

    @property
    def vocabulary(self) -> str:
        return vocabulary_of(self.raw_stories())


def parse_status_text(path: Path, text: str) -> dict[str, Any]:
    """Parse and schema-check; any problem is a FileFormatError with file, line and problem."""
    try:
        data = json.loads(text)
    except RecursionError:
        raise too_deep(str(path), "Restore the file; it was not modified.") from None
    except json.JSONDecodeError as exc:
        raise FileFormatError(
            f"{path}:{exc.lineno}: not valid JSON: {exc.msg} (column {exc.colno})",
            hint="Fix the JSON at that line; the file was not modified.",
            path=str(path),
            line=exc.lineno,
            problem=f"{exc.msg} (column {exc.colno})",
        ) from None
    if not isinstance(data, dict):
        raise FileFormatError(
            f"{path}:1: status.json must hold a JSON object, found {type(data).__name__}",
            hint='Start from {"updated": "...", "stories": {}}; the file was not modified.',
            path=str(path),
            line=1,
            problem="top level is not an object",
        )

    check_depth(data, source=str(path), hint="Restore the file; it was not modified.")
    _check_schema(path, text, data)
    return data


_story_verdicts: dict[str, tuple[list[str | int], str] | None] = {}


def _check_schema(path: Path, text: str, data: dict[str, Any]) -> None:
    """status.schema.json, applied to the shell and then story by story.

    Stories are checked one at a time with a per-process cache keyed by their content, so a
    board with thousands of stories costs one check per changed story, not one per story per
    write (jsonschema is slow on large documents and writers hold the lock meanwhile).
    """
    stories = data.get("stories")
    shell = dict(data)
    if isinstance(stories, dict | list):
        shell["stories"] = type(stories)()
    found = first_error(shell, "status")
    if found is None and isinstance(stories, dict | list):
        definition = "storyWithId" if isinstance(stories, list) else "story"
        member = jsontext.parse_container(text, jsontext.skip_ws(text, 0)).get("stories")
        assert member is not None
        for m in jsontext.parse_container(text, member.value_start).members:
            # The story's own text is the cache key: cheap to slice, changes with the story.
            cache_key = definition + text[m.value_start : m.value_end]
            if cache_key not in _story_verdicts:
                if len(_story_verdicts) > 50_000:
                    _story_verdicts.clear()
                story = json.loads(text[m.value_start : m.value_end])
                _story_verdicts[cache_key] = first_error(story, "status", definition)
            verdict = _story_verdicts[cache_key]
            if verdict is not None:
                sub_path, problem = verdict
                key = int(m.key) if isinstance(stories, list) else m.key
                found = (["stories", key, *sub_path], f"stories/{m.key}/{problem}")
                break
    if found is None:
        return
    json_path, problem = found
    pos = jsontext.locate(text, json_path)
    line = jsontext.line_of(text, pos) if pos is not None else None
    where = f"{path}:{line}" if line else str(path)
    raise FileFormatError(
        f"{where}: {problem}",
        hint="Fix that entry of status.json; the file was not modified.",
        path=str(path),
        line=line,
        problem=problem,
    )


def read_status_text(path: Path) -> str:
    """The file's exact text (no newline translation, so CRLF files stay CRLF)."""
    data = path.read_bytes()
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise FileFormatError(
            f"{path}:{line}: not UTF-8 text ({exc.reason} at byte {exc.start})",
            hint="Save status.json as UTF-8; the file was not modified.",
            path=str(path),
            line=line,
            problem=f"invalid UTF-8: {exc.reason}",
        ) from None


def story_index(stories: list[Any], story_id: str) -> int | None:
    """The index of the story in an array-shaped board (the last one when repeated), else None."""
    found = None
    for i, s in enumerate(stories):
        if isinstance(s, dict) and s.get("id") == story_id:
            found = i
    return found
