"""Read, write and edit files inside the workspace (the seed's Read, Write and Edit).

Every path goes through `Workspace.resolve`, so `..`, absolute paths elsewhere, symlinks that
leave the root and prefix tricks are refused before a byte is read or written. Writes are atomic
(temporary file in the same directory, fsync, rename): a crash or a full disk leaves the old
file intact, and a reader never sees half a file. Reads are paged by line and capped, and refuse
binary or huge files with a hint instead of flooding the model's context.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from datamigration.atomic import atomic_write
from datamigration.errors import (
    ConfirmationRequiredError,
    ConflictError,
    FileFormatError,
    NotFoundError,
    PathOutsideWorkspaceError,
    UserInputError,
)
from datamigration.workspace.root import CONFIG_NAME, Workspace, is_within
from datamigration.workspace.walk import BINARY_SNIFF_BYTES, looks_binary

#: Files larger than this are refused by `read` and `edit` (use grep to find the lines you need).
MAX_FILE_BYTES = 20 * 1024 * 1024
#: Characters returned by one `read` before it stops and says `truncated`.
MAX_READ_CHARS = 100_000
#: Lines returned by one `read` when no limit is given.
DEFAULT_READ_LINES = 2000
#: A single line longer than this is cut (minified files would otherwise eat the whole budget).
MAX_LINE_CHARS = 2000

#: Directories inside the workspace that the write tools never touch (VCS internals: a write
#: there could change hooks or config that later commands execute). `git~1` is the 8.3 short
#: name Windows gives `.git`. Compared with `comparable_name`, never as typed.
PROTECTED_DIRS = frozenset({".git", ".hg", ".svn", "git~1"})
#: Files (relative to the root) whose change needs the user's confirmation: the workspace config
#: holds the `run` allow-list, and a model that could edit it freely could allow itself anything.
CONFIRM_FILES = frozenset({CONFIG_NAME})

#: Code points that macOS (HFS+) ignores in names, so `.g\u200cit` is `.git` there (git's own
#: `is_hfs_dotgit` skips the same ones).
_IGNORABLE = dict.fromkeys(
    map(
        ord,
        "\u200b\u200c\u200d\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u206a\u206b"
        "\u206c\u206d\u206e\u206f\ufeff",
    )
)


class BinaryFileError(FileFormatError):
    """The file is binary; the text tools do not read or edit it."""


class FileTooLargeError(UserInputError):
    """The file exceeds the size the text tools handle."""


@dataclass(frozen=True)
class ReadResult:
    path: str
    content: str
    start_line: int
    end_line: int
    total_lines: int
    truncated: bool


@dataclass(frozen=True)
class WriteResult:
    path: str
    bytes_written: int
    created: bool


@dataclass(frozen=True)
class EditResult:
    path: str
    replacements: int
    bytes_written: int


def read_file(
    workspace: Workspace, path: str, *, offset: int = 1, limit: int | None = None
) -> ReadResult:
    """Lines `offset`.. (1-based) of a text file, at most `limit` lines and MAX_READ_CHARS.

    `truncated` is true when the file has lines after the ones returned, whatever the reason
    (limit reached, character cap reached) — call again with `offset = end_line + 1`.
    """
    if offset < 1:
        raise UserInputError(f"offset must be 1 or more, got {offset}", hint="Lines count from 1.")
    if limit is not None and limit < 1:
        raise UserInputError(f"limit must be 1 or more, got {limit}")
    target = _existing_file(workspace, path)
    _check_size(target, path)
    want = limit if limit is not None else DEFAULT_READ_LINES
    out: list[str] = []
    used = 0
    total = 0
    last = offset - 1
    stopped = False
    with target.open("rb") as fh:
        head = fh.read(BINARY_SNIFF_BYTES)
        if looks_binary(head):
            raise _binary(path)
        fh.seek(0)
        for raw in fh:
            total += 1
            if total < offset or stopped:
                continue
            line = raw.decode("utf-8", errors="replace")
            if len(line) > MAX_LINE_CHARS:
                line = line[:MAX_LINE_CHARS] + " [line cut]\n"
            if len(out) >= want or (out and used + len(line) > MAX_READ_CHARS):
                stopped = True
                continue
            out.append(line)
            used += len(line)
            last = total
    if offset > max(total, 1):
        raise UserInputError(
            f"offset {offset} is past the end of {path} ({total} lines)",
            hint="Use an offset between 1 and the number of lines.",
        )
    return ReadResult(
        path=workspace.relative(target),
        content="".join(out),
        start_line=offset,
        end_line=last,
        total_lines=total,
        truncated=last < total,
    )


def change_needs_confirmation(workspace: Workspace, path: str) -> str | None:
    """Why writing `path` needs the user's confirmation, or None when it does not."""
    target = workspace.resolve(path)
    parts = target.relative_to(workspace.root).parts
    if len(parts) == 1 and comparable_name(parts[0]) in {comparable_name(n) for n in CONFIRM_FILES}:
        return f"{parts[0]} holds the workspace policy (the run allow-list)"
    return None


def comparable_name(name: str) -> str:
    """A path component as the file systems the workspace may live on see it.

    macOS and Windows compare names case-insensitively, Windows drops trailing dots and spaces
    and reads `name:stream` as a stream of `name`, and HFS+ ignores some invisible code points:
    `.GIT`, `.git.`, `.git ` and `.git::$INDEX_ALLOCATION` all open `.git` somewhere. Guards
    compare this form so every spelling of a protected name is caught, on any file system.
    """
    return name.translate(_IGNORABLE).split(":", 1)[0].rstrip(" .").casefold()


def write_file(
    workspace: Workspace, path: str, content: str, *, confirmed: bool = False
) -> WriteResult:
    """Create or replace a text file atomically; parent directories are created inside the root."""
    target = _writable_target(workspace, path)
    _require_confirmation(workspace, path, confirmed)
    if target.is_dir():
        raise ConflictError(f"{path} is a directory", hint="Give the path of a file.")
    created = not target.exists()
    data = content.encode("utf-8")
    _make_parents(workspace, target.parent)
    atomic_write_bytes(workspace, target, data)
    return WriteResult(path=workspace.relative(target), bytes_written=len(data), created=created)


def edit_file(
    workspace: Workspace,
    path: str,
    old: str,
    new: str,
    *,
    replace_all: bool = False,
    confirmed: bool = False,
) -> EditResult:
    """Replace the exact text `old` with `new`; more than one match needs `replace_all`.

    Refusing an ambiguous match is the point: the caller must add surrounding text until the
    match is unique, so an edit never lands on the wrong occurrence.
    """
    if old == "":
        raise UserInputError(
            "old text is empty", hint="Give the exact text to replace (use write to create a file)."
        )
    if old == new:
        raise UserInputError("old and new text are identical; nothing to change")
    target = _existing_file(workspace, path)
    _check_protected(workspace, target, path)
    _require_confirmation(workspace, path, confirmed)
    _check_size(target, path)
    raw = target.read_bytes()
    if looks_binary(raw):
        raise _binary(path)
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise FileFormatError(
            f"{path} is not valid UTF-8 (byte {exc.start}); refusing to edit it",
            hint="Edit only UTF-8 text files; re-encode the file first.",
            path=path,
        ) from exc
    count = text.count(old)
    if count == 0:
        raise NotFoundError(
            f"the old text was not found in {path}",
            hint="Read the file and copy the exact text, including whitespace and indentation.",
            path=path,
        )
    if count > 1 and not replace_all:
        lines = _match_lines(text, old)
        raise ConflictError(
            f"the old text occurs {count} times in {path} (lines {', '.join(map(str, lines))})",
            hint="Include more surrounding text so the match is unique, or set replace_all.",
            path=path,
            occurrences=count,
            lines=lines,
        )
    updated = text.replace(old, new) if replace_all else text.replace(old, new, 1)
    data = updated.encode("utf-8")
    atomic_write_bytes(workspace, target, data)
    return EditResult(path=workspace.relative(target), replacements=count, bytes_written=len(data))


def atomic_write_bytes(workspace: Workspace, target: Path, data: bytes) -> None:
    """Write `data` to a temporary file next to `target`, fsync, then rename over it.

    The parent directory is checked again after the temporary file exists, so a directory
    swapped for a symlink between resolving and writing is caught before the rename. An
    existing file keeps its permission bits; a new one is private to its owner (0600), as the
    temporary file it was always created from. Parents are made by `_make_parents`, which
    checks each one, never by the write.
    """
    parent = target.parent

    def still_inside() -> None:
        if not is_within(Path(os.path.realpath(parent)), workspace.root) or target.is_symlink():
            raise PathOutsideWorkspaceError(
                f"{parent} changed while writing and now leaves the workspace; nothing written"
            )

    atomic_write(target, data, parents=False, new_mode=0o600, before_replace=still_inside)


def _existing_file(workspace: Workspace, path: str) -> Path:
    target = workspace.resolve(path)
    if not target.exists():
        raise NotFoundError(
            f"{path} does not exist",
            hint="Check the path with glob; paths are relative to the root.",
        )
    if target.is_dir():
        raise UserInputError(f"{path} is a directory", hint="Use glob to list a directory.")
    if not target.is_file():
        raise UserInputError(f"{path} is not a regular file")
    return target


def _writable_target(workspace: Workspace, path: str) -> Path:
    target = workspace.resolve(path)
    if target == workspace.root:
        raise UserInputError("cannot write to the workspace root itself", hint="Name a file.")
    _check_protected(workspace, target, path)
    return target


def _check_protected(workspace: Workspace, target: Path, path: str) -> None:
    parts = target.relative_to(workspace.root).parts
    if any(comparable_name(part) in PROTECTED_DIRS for part in parts):
        raise PathOutsideWorkspaceError(
            f"{path} is inside version-control internals; the workspace tools do not write there",
            hint="Use git itself (through run, with confirmation) to change repository internals.",
            path=path,
        )


def _make_parents(workspace: Workspace, directory: Path) -> None:
    """mkdir -p, but every directory created is re-checked to be inside the root."""
    missing: list[Path] = []
    d = directory
    while not d.exists():
        missing.append(d)
        d = d.parent
    for d in reversed(missing):
        d.mkdir(exist_ok=True)
        if not is_within(Path(os.path.realpath(d)), workspace.root):
            raise PathOutsideWorkspaceError(f"{d} leaves the workspace; nothing written")


def _require_confirmation(workspace: Workspace, path: str, confirmed: bool) -> None:
    reason = change_needs_confirmation(workspace, path)
    if reason and not confirmed:
        raise ConfirmationRequiredError(
            f"changing {path} needs confirmation: {reason}",
            hint="Ask the user; confirm to proceed (CLI: --yes).",
            path=path,
            reason=reason,
        )


def _check_size(target: Path, path: str) -> None:
    size = target.stat().st_size
    if size > MAX_FILE_BYTES:
        raise FileTooLargeError(
            f"{path} is {size / 1_048_576:.1f} MiB, above the {MAX_FILE_BYTES // 1_048_576} MiB "
            "limit of the text tools",
            hint="Use grep to find the lines you need, or run a command like `head` on it.",
            path=path,
            size=size,
        )


def _binary(path: str) -> BinaryFileError:
    return BinaryFileError(
        f"{path} looks binary (it contains NUL bytes); the text tools do not read or edit it",
        hint="Only text files can be read or edited; inspect binaries with run (e.g. `file`).",
        path=path,
    )


def _match_lines(text: str, needle: str, limit: int = 20) -> list[int]:
    lines: list[int] = []
    start = 0
    while len(lines) < limit:
        i = text.find(needle, start)
        if i < 0:
            break
        lines.append(text.count("\n", 0, i) + 1)
        start = i + 1
    return lines
