"""The agent bus: AgileFlow's append-only JSONL log that agents use to talk to each other.

Writers append one JSON object per line while holding `log.jsonl.lock` (the same lock-file
convention as status.json), in a single write, so a line is never torn or interleaved. Readers
are lenient the way the files in the wild require: `at`/`timestamp` for `ts`, `story_id` for
`story`, `message` for `text`, and malformed lines are skipped (counted, never rewritten or lost).
Past a size bound the log rotates: all but the newest lines move to the month's archive, which is
written (and synced) before the log shrinks, so a crash can duplicate a line but never lose one.

Every message we write carries its own `id`, so another agent reading the line can answer it by
that id. Questions addressed to us are `question` messages with `to` naming us, or (as
AgileFlow's agents write them) whose text starts with our name, `"AG-DATAMIGRATION: ..."`; open
ones are those without an answer: a message of type `answer` whose `re` names the question's id
(its own `id` field, else a hash of its line, for lines written by tools that set none).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import secrets
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from typing_extensions import TypedDict

from datamigration import AGENT_NAME
from datamigration.atomic import atomic_write
from datamigration.coordination.locking import FileLock
from datamigration.coordination.paths import CoordinationPaths, coordination_paths
from datamigration.coordination.schema_check import validate_or_raise
from datamigration.errors import ConflictError, FileFormatError, NotFoundError, UserInputError
from datamigration.redact import redact_text
from datamigration.safeload import check_depth
from datamigration.workspace.root import Workspace

KNOWN_TYPES = (
    "status", "blocked", "unblock", "finding", "request", "question", "answer", "assign",
    "reassign", "handoff", "warning", "phase_handoff", "status-reverted", "research-request",
    "research-complete", "adr-created", "story-created", "pr-opened", "pr-merged",
)  # fmt: skip
#: Rotate past this many lines or bytes (AgileFlow rotates past 1000 lines, keeping 100).
MAX_LINES = 1000
MAX_BYTES = 1_000_000
KEEP_LINES = 100
#: Below this size the log cannot be over either bound, so appends skip the line count.
_CHECK_FROM_BYTES = 64 * 1024
MAX_TEXT = 8000
DEFAULT_LIMIT = 50

_TYPE_RE = re.compile(r"^[a-z][a-z0-9_-]{0,39}$")
_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:@/-]{0,63}$")
_REPLY_KEYS = ("re", "in_reply_to", "reply_to")
#: `AG-DATAMIGRATION: ...` or `@AG-DATAMIGRATION, ...`: how AgileFlow's agents address a question.
_ADDRESS_RE = re.compile(r"^\s*@?([A-Za-z0-9][A-Za-z0-9_.-]{0,63})\s*[:,]")


def new_id() -> str:
    """A fresh message id (`m-` + 12 hex digits, the shape of the ids derived from a line's hash)."""
    return "m-" + secrets.token_hex(6)


def now_iso() -> str:
    """UTC timestamp as JavaScript's toISOString() writes it, so AgileFlow's tools parse it."""
    now = datetime.now(UTC)
    return now.strftime("%Y-%m-%dT%H:%M:%S.") + f"{now.microsecond // 1000:03d}Z"


#: A message as tools and the CLI show it: AgileFlow's own keys (`from`, a Python keyword, is
#: why the functional form), anything else a line carried under `extra`.
BusMessageDict = TypedDict(
    "BusMessageDict",
    {
        "id": str,
        "ts": str | None,
        "from": str | None,
        "to": str | None,
        "type": str | None,
        "story": str | None,
        "text": str | None,
        "extra": dict[str, Any],
    },
)


@dataclass(frozen=True)
class BusMessage:
    """One bus line, normalized; `raw` keeps the line's own keys for anything else."""

    id: str
    ts: str | None
    sender: str | None
    to: str | None
    type: str | None
    story: str | None
    text: str | None
    line: int
    raw: Mapping[str, Any] = field(compare=False)

    @property
    def reply_to(self) -> str | None:
        for key in _REPLY_KEYS:
            value = self.raw.get(key)
            if isinstance(value, str):
                return value
        return None

    def addressed_to(self, agent: str) -> bool:
        """`to` names the agent, or the text opens with its name (`AG-DATAMIGRATION: ...`)."""
        if (self.to or "").lower() == agent.lower():
            return True
        found = _ADDRESS_RE.match(self.text or "")
        return found is not None and found.group(1).lower() == agent.lower()

    def to_dict(self) -> BusMessageDict:
        known = {"ts", "at", "timestamp", "from", "to", "type", "story", "story_id", "text",
                 "message", "id"}  # fmt: skip
        return {
            "id": self.id,
            "ts": self.ts,
            "from": self.sender,
            "to": self.to,
            "type": self.type,
            "story": self.story,
            "text": self.text,
            "extra": {k: v for k, v in self.raw.items() if k not in known},
        }


@dataclass(frozen=True)
class BusPage:
    path: Path
    messages: tuple[BusMessage, ...]
    matched: int
    truncated: bool
    malformed_lines: int


@dataclass(frozen=True)
class RotateResult:
    rotated: bool
    archived_lines: int
    kept_lines: int
    archive: Path | None


# -- reading -----------------------------------------------------------------------------------


def parse_line(line: str, number: int) -> BusMessage | None:
    """A normalized message, or None for a blank or malformed line."""
    stripped = line.strip()
    if not stripped:
        return None
    try:
        raw = json.loads(stripped)
    except (ValueError, RecursionError):
        return None
    if not isinstance(raw, dict) or not _shallow(raw):
        return None

    def pick(*keys: str) -> Any:
        for key in keys:
            if raw.get(key) is not None:
                return raw[key]
        return None

    ts = pick("ts", "at", "timestamp")
    mid = raw.get("id") if isinstance(raw.get("id"), str) else None
    return BusMessage(
        id=mid or "m-" + hashlib.sha1(stripped.encode("utf-8")).hexdigest()[:12],
        ts=_as_text(ts),
        sender=_as_text(raw.get("from")),
        to=_as_text(raw.get("to")),
        type=_as_text(raw.get("type")),
        story=_as_text(pick("story", "story_id")),
        text=_as_text(pick("text", "message")),
        line=number,
        raw=raw,
    )


def _shallow(raw: dict[str, Any]) -> bool:
    """A line nested past MAX_DEPTH counts as malformed: readers and answers recurse into it."""
    try:
        check_depth(raw, source="bus line", hint="")
    except FileFormatError:
        return False
    return True


def _as_text(value: Any) -> str | None:
    if value is None:
        return None
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)


def parse_time(value: str | None) -> datetime | None:
    """Lenient: ISO-8601 (with or without Z / offset / time) or epoch seconds/milliseconds."""
    if value is None:
        return None
    text = value.strip()
    if re.fullmatch(r"\d{9,13}(\.\d+)?", text):
        number = float(text)
        return datetime.fromtimestamp(number / 1000 if number > 1e11 else number, UTC)
    try:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        try:
            parsed = datetime.combine(date.fromisoformat(text), datetime.min.time())
        except ValueError:
            return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def parse_since(value: str) -> datetime:
    """`--since`: an ISO timestamp or date, or a relative age like 30m, 6h, 2d, 1w."""
    m = re.fullmatch(r"\s*(\d+)\s*([smhdw])\s*", value)
    if m:
        seconds = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}[m.group(2)]
        return datetime.now(UTC) - timedelta(seconds=int(m.group(1)) * seconds)
    parsed = parse_time(value)
    if parsed is None:
        raise UserInputError(
            f"cannot read --since {value!r}",
            hint="Use an ISO-8601 time (2025-06-01T12:00:00Z), a date, or an age like 30m, 6h, 2d.",
        )
    return parsed


def iter_messages(path: Path) -> tuple[list[BusMessage], int]:
    """All well-formed messages of one file, and how many lines were malformed."""
    if not path.is_file():
        return [], 0
    messages: list[BusMessage] = []
    malformed = 0
    with path.open("r", encoding="utf-8", errors="replace", newline="") as fh:
        for number, line in enumerate(fh, start=1):
            if not line.strip():
                continue
            msg = parse_line(line, number)
            if msg is None:
                malformed += 1
            else:
                messages.append(msg)
    return messages, malformed


def _recent_archives(paths: CoordinationPaths, months: int) -> list[Path]:
    if not paths.bus_archive_dir.is_dir():
        return []
    found = sorted(paths.bus_archive_dir.glob("*-archive.jsonl"))
    return found[-months:] if months else found


def read(
    workspace: Workspace,
    *,
    since: str | None = None,
    sender: str | None = None,
    to: str | None = None,
    type: str | None = None,
    story: str | None = None,
    limit: int | None = DEFAULT_LIMIT,
    archives: int = 0,
) -> BusPage:
    """The newest `limit` messages matching every given filter (names compare case-blind).

    `archives` also reads that many of the newest monthly archives, oldest first.
    """
    paths = coordination_paths(workspace)
    since_at = parse_since(since) if since else None
    if limit is not None and limit < 1:
        raise UserInputError("limit must be at least 1", hint="Pass --limit 1 or more.")
    messages: list[BusMessage] = []
    malformed = 0
    for path in [*_recent_archives(paths, archives), paths.bus] if archives else [paths.bus]:
        found, bad = iter_messages(path)
        messages.extend(found)
        malformed += bad

    def keep(m: BusMessage) -> bool:
        if sender and (m.sender or "").lower() != sender.lower():
            return False
        if to and (m.to or "").lower() != to.lower():
            return False
        if type and (m.type or "").lower() != type.lower():
            return False
        if story and (m.story or "").lower() != story.lower():
            return False
        if since_at is not None:
            at = parse_time(m.ts)
            if at is None or at < since_at:
                return False
        return True

    matched = [m for m in messages if keep(m)]
    shown = matched[-limit:] if limit else matched
    return BusPage(paths.bus, tuple(shown), len(matched), len(shown) < len(matched), malformed)


# -- writing -----------------------------------------------------------------------------------


def build_message(
    type: str,
    text: str,
    *,
    to: str | None = None,
    story: str | None = None,
    extra: Mapping[str, Any] | None = None,
    sender: str = AGENT_NAME,
) -> dict[str, Any]:
    """A canonical message (`ts, id, from, to, type, story, text` + extras), checked and redacted.

    The `id` is written into the line itself: the id a poster gets back is the one every other
    reader sees, so an answer's `re` can name it.
    """
    if not _TYPE_RE.match(type or ""):
        raise UserInputError(
            f"bad message type {type!r}",
            hint=f"Use a lowercase word such as: {', '.join(KNOWN_TYPES[:8])}, ...",
        )
    if not isinstance(text, str) or not text.strip():
        raise UserInputError("message text is empty", hint="Say what happened in --text.")
    if len(text) > MAX_TEXT:
        raise UserInputError(
            f"message text is {len(text)} characters; the bus takes at most {MAX_TEXT}",
            hint="Post a short summary and put the details in a file (a report or an ADR).",
        )
    for label, value in (("to", to), ("from", sender)):
        if value is not None and not _NAME_RE.match(value):
            raise UserInputError(f"bad agent name {value!r} for {label!r}",
                                 hint="Use an agent id such as AG-DATABASE or ALL.")  # fmt: skip
    if story is not None and not _NAME_RE.match(story):
        raise UserInputError(f"bad story id {story!r}", hint="Use an id such as US-0042.")
    msg: dict[str, Any] = {"ts": now_iso(), "id": new_id(), "from": sender}
    if to:
        msg["to"] = to
    msg["type"] = type
    if story:
        msg["story"] = story
    msg["text"] = redact_text(text.strip())
    for key, value in (extra or {}).items():
        if key in msg or value is None:
            continue
        msg[key] = redact_text(value) if isinstance(value, str) else value
    validate_or_raise(msg, "bus-message", source="bus message")
    return msg


def post(
    workspace: Workspace,
    type: str,
    text: str,
    *,
    to: str | None = None,
    story: str | None = None,
    extra: Mapping[str, Any] | None = None,
    sender: str = AGENT_NAME,
) -> BusMessage:
    """Append one message under the bus lock; rotate afterwards when past the size bound."""
    msg = build_message(type, text, to=to, story=story, extra=extra, sender=sender)
    paths = coordination_paths(workspace)
    with FileLock(paths.bus, paths.lock_timeout):
        return _append_locked(paths, msg)


def _append_locked(paths: CoordinationPaths, msg: Mapping[str, Any]) -> BusMessage:
    line = json.dumps(msg, ensure_ascii=False, separators=(",", ":"))
    data = (line + "\n").encode("utf-8")
    paths.bus.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(paths.bus, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        size = os.fstat(fd).st_size
        if size and not _ends_with_newline(paths.bus, size):
            # A foreign writer left a partial last line; never glue ours onto it.
            data = b"\n" + data
        view = memoryview(data)
        while view:
            written = os.write(fd, view)
            view = view[written:]
        size = os.fstat(fd).st_size
    finally:
        os.close(fd)
    if size >= _CHECK_FROM_BYTES:
        _rotate_locked(paths, force=False, keep=KEEP_LINES)
    parsed = parse_line(line, 0)
    assert parsed is not None
    return parsed


def _ends_with_newline(path: Path, size: int) -> bool:
    with path.open("rb") as fh:
        fh.seek(size - 1)
        return fh.read(1) == b"\n"


def rotate(workspace: Workspace, *, force: bool = False, keep: int = KEEP_LINES) -> RotateResult:
    """Move all but the newest `keep` lines to this month's archive (when past a bound, or forced)."""
    if keep < 0:
        raise UserInputError("keep must be 0 or more", hint="Pass --keep 0 or more.")
    paths = coordination_paths(workspace)
    with FileLock(paths.bus, paths.lock_timeout):
        return _rotate_locked(paths, force=force, keep=keep)


def _rotate_locked(paths: CoordinationPaths, *, force: bool, keep: int) -> RotateResult:
    if not paths.bus.is_file():
        return RotateResult(False, 0, 0, None)
    data = paths.bus.read_bytes()
    lines = data.splitlines(keepends=True)
    if lines and not lines[-1].endswith(b"\n"):
        lines[-1] += b"\n"
    over = len(lines) > MAX_LINES or len(data) > MAX_BYTES
    if not (force or over) or len(lines) <= keep:
        return RotateResult(False, 0, len(lines), None)
    cut = len(lines) - keep
    archive = paths.bus_archive(datetime.now(UTC).strftime("%Y-%m"))
    archive.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(archive, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, b"".join(lines[:cut]))
        os.fsync(fd)
    finally:
        os.close(fd)
    atomic_write(paths.bus, b"".join(lines[cut:]))
    return RotateResult(True, cut, keep, archive)


# -- questions and answers -----------------------------------------------------------------------


def _conversation(paths: CoordinationPaths) -> list[BusMessage]:
    """The current log plus the two newest archives: where open questions can still be."""
    messages: list[BusMessage] = []
    for path in [*_recent_archives(paths, 2), paths.bus]:
        messages.extend(iter_messages(path)[0])
    return messages


def _answered(messages: Iterable[BusMessage]) -> set[str]:
    return {m.reply_to for m in messages if (m.type or "").lower() == "answer" and m.reply_to}


def _open_questions(messages: Iterable[BusMessage], agent: str) -> list[BusMessage]:
    messages = list(messages)
    answered = _answered(messages)
    return [
        m
        for m in messages
        if (m.type or "").lower() == "question" and m.addressed_to(agent) and m.id not in answered
    ]


def questions(workspace: Workspace, agent: str = AGENT_NAME) -> list[BusMessage]:
    """Questions addressed to `agent` (by `to` or by a text prefix) with no answer yet, oldest
    first."""
    return _open_questions(_conversation(coordination_paths(workspace)), agent)


def answer(
    workspace: Workspace, question_id: str, text: str, *, sender: str = AGENT_NAME
) -> BusMessage:
    """Post the answer to one open question (checked and appended under the bus lock)."""
    paths = coordination_paths(workspace)
    with FileLock(paths.bus, paths.lock_timeout):
        messages = _conversation(paths)
        question = next(
            (m for m in messages if m.id == question_id and (m.type or "") == "question"), None
        )
        if question is None:
            raise NotFoundError(
                f"no question with id {question_id!r} on the bus",
                hint="List open questions with `datamigration bus questions` (tool bus_questions).",
            )
        if question.id in _answered(messages):
            raise ConflictError(
                f"question {question_id} was already answered",
                hint="Read the thread with `datamigration bus --story ...`; post a new message "
                "instead of a second answer.",
            )
        msg = build_message(
            "answer",
            text,
            to=question.sender if question.sender and _NAME_RE.match(question.sender) else None,
            story=question.story if question.story and _NAME_RE.match(question.story) else None,
            extra={"re": question.id},
            sender=sender,
        )
        return _append_locked(paths, msg)
