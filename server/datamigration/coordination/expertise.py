"""The expertise file: what AG-DATAMIGRATION knows about this codebase, and what it learned.

AgileFlow's experts load a YAML file first (`domain`, `last_updated`, `version`, files, patterns,
conventions, a migration checklist, and dated `learnings`). We validate it against
`expertise.schema.json` and point at the line of any problem. `learn` appends one dated learning
by splicing text into the file, so people's comments and layout survive, and keeps the file
under 200 lines (AgileFlow's own warning threshold) by moving the oldest learnings to a sibling
archive file. A file older than 30 days, or over the bound, is reported as a warning.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from datamigration.atomic import atomic_write
from datamigration.coordination.locking import FileLock
from datamigration.coordination.paths import coordination_paths
from datamigration.coordination.schema_check import first_error
from datamigration.errors import FileFormatError, NotFoundError, UserInputError
from datamigration.redact import redact_text
from datamigration.safeload import check_depth, too_deep
from datamigration.workspace.root import Workspace

MAX_LINES = 200
STALE_DAYS = 30
_DEPTH_HINT = "The expertise file is a few levels deep (see expertise.schema.json); fix it."
#: libyaml when present (10x faster); marks and results are the same as the pure loader.
_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


@dataclass(frozen=True)
class Expertise:
    path: Path
    data: dict[str, Any]
    line_count: int
    warnings: tuple[str, ...]
    #: False when `data` is the packaged default because the workspace has no file yet.
    exists: bool = True


@dataclass(frozen=True)
class Learned:
    path: Path
    learning: dict[str, Any]
    line_count: int
    archived: int
    archive_path: Path | None


def archive_path_for(path: Path) -> Path:
    return path.with_name(f"{path.stem}-learnings-archive{path.suffix}")


# -- reading and checking --------------------------------------------------------------------------


def _plain(value: Any) -> Any:
    """YAML dates become ISO strings, so the data is JSON (as the schema and tools expect)."""
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


def _node_line(text: str, json_path: Sequence[str | int]) -> int | None:
    """The line of the YAML node at a JSON path (1-based), or the nearest parent's."""
    try:
        node = yaml.compose(text, Loader=_LOADER)
    except yaml.YAMLError:
        return None
    line = node.start_mark.line + 1 if node is not None else None
    for part in json_path:
        if isinstance(node, yaml.MappingNode):
            nxt = next((v for k, v in node.value if k.value == str(part)), None)
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int):
            nxt = node.value[part] if part < len(node.value) else None
        else:
            nxt = None
        if nxt is None:
            break
        node = nxt
        line = node.start_mark.line + 1
    return line


def parse_expertise(path: Path, text: str) -> dict[str, Any]:
    """YAML → checked data; problems are FileFormatErrors naming file, line and problem."""
    try:
        raw = check_depth(yaml.load(text, Loader=_LOADER), source=str(path), hint=_DEPTH_HINT)
    except RecursionError:
        raise too_deep(str(path), _DEPTH_HINT) from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark is not None else None
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise FileFormatError(
            f"{path}:{line}: not valid YAML: {problem}",
            hint="Fix the YAML at that line; the file was not modified.",
            path=str(path),
            line=line,
            problem=problem,
        ) from None
    if not isinstance(raw, dict):
        raise FileFormatError(
            f"{path}:1: the expertise file must be a YAML mapping (domain, version, ...)",
            hint="Start it with `domain: datamigration`; the file was not modified.",
            path=str(path),
            line=1,
            problem="top level is not a mapping",
        )
    data = _plain(raw)
    found = first_error(data, "expertise")
    if found is not None:
        json_path, problem = found
        line = _node_line(text, json_path)
        raise FileFormatError(
            f"{path}:{line}: {problem}",
            hint="Fix that entry (see expertise.schema.json); the file was not modified.",
            path=str(path),
            line=line,
            problem=problem,
        )
    return data


def _warnings(data: dict[str, Any], lines: int) -> tuple[str, ...]:
    out = []
    if lines > MAX_LINES:
        out.append(f"the file has {lines} lines (over {MAX_LINES}); learnings should be archived")
    stamp = str(data.get("last_updated", ""))
    try:
        when = date.fromisoformat(stamp[:10])
    except ValueError:
        out.append(f"last_updated {stamp!r} is not a date")
    else:
        age = (datetime.now(UTC).date() - when).days
        if age > STALE_DAYS:
            out.append(f"last_updated is {age} days old (over {STALE_DAYS}); review the file")
    return tuple(out)


def _read(path: Path) -> str:
    try:
        return path.read_bytes().decode("utf-8")
    except UnicodeDecodeError as exc:
        raise FileFormatError(
            f"{path}: not UTF-8 text",
            hint="Save the file as UTF-8.",
            path=str(path),
            line=None,
            problem=exc.reason,
        ) from None


def packaged_default() -> str:
    """The expertise the plugin ships (`expertise/datamigration.yaml`, packaged verbatim)."""
    return resources.files("datamigration").joinpath("data", "expertise.yaml").read_text("utf-8")


def load(workspace: Workspace, *, default_when_missing: bool = False) -> Expertise:
    """The workspace's expertise file, checked.

    A new workspace has none, yet the agent is told to load expertise before anything else:
    with `default_when_missing` it gets the packaged default (`exists` False, a warning saying
    so) instead of an error; the first `learn` writes that default to the workspace.
    """
    path = coordination_paths(workspace).expertise
    if not path.is_file() and default_when_missing:
        text = packaged_default()
        note = (
            f"no expertise file yet at {workspace.relative(path)}: this is the packaged default; "
            "the first learning (expertise_learn) creates the file from it"
        )
        data = parse_expertise(Path("datamigration/data/expertise.yaml"), text)
        return Expertise(path, data, text.count("\n"), (note,), exists=False)
    if not path.is_file():
        raise NotFoundError(
            f"no expertise file at {workspace.relative(path)}",
            hint="Create it with domain, last_updated and version (AgileFlow's format), or run "
            "`datamigration expertise learn` to start one.",
            path=str(path),
        )
    text = _read(path)
    data = parse_expertise(path, text)
    lines = text.count("\n") + (0 if text.endswith("\n") or not text else 1)
    return Expertise(path, data, lines, _warnings(data, lines))


# -- learning ----------------------------------------------------------------------------------


def _dump_items(items: list[dict[str, Any]], indent: str) -> str:
    text = yaml.safe_dump(items, sort_keys=False, allow_unicode=True, width=100)
    return "".join(indent + line if line.strip() else line for line in text.splitlines(True))


def _top(node: yaml.Node, key: str) -> tuple[yaml.Node, yaml.Node] | None:
    return next(((k, v) for k, v in node.value if k.value == key), None)


def _line_start(text: str, index: int) -> int:
    return text.rfind("\n", 0, index) + 1


def _next_line(text: str, index: int) -> int:
    nl = text.find("\n", index)
    return len(text) if nl < 0 else nl + 1


def _last_end(node: yaml.Node) -> int:
    """Where the node's last scalar ends (a block mapping's own end mark runs to the next key)."""
    while (
        isinstance(node, yaml.MappingNode | yaml.SequenceNode)
        and node.value
        and (not node.flow_style)
    ):
        last = node.value[-1]
        node = last[1] if isinstance(last, tuple) else last
    return node.end_mark.index


def _after(text: str, index: int) -> int:
    """Start of the line after the one `index` ends (block scalars already end past a newline)."""
    return index if index > 0 and text[index - 1] == "\n" else _next_line(text, index)


def _splice_learning(text: str, entry: dict[str, Any], today: str) -> str:
    root = yaml.compose(text, Loader=_LOADER)
    edits: list[tuple[int, int, str]] = []
    stamp = _top(root, "last_updated")
    if stamp is not None:
        edits.append((stamp[1].start_mark.index, stamp[1].end_mark.index, today))
    found = _top(root, "learnings")
    if (
        found is not None
        and isinstance(found[1], yaml.SequenceNode)
        and found[1].value
        and (not found[1].flow_style)
    ):
        seq = found[1]
        indent = " " * seq.start_mark.column
        at = _after(text, _last_end(seq.value[-1]))
        insert = _dump_items([entry], indent)
        if at == len(text) and not text.endswith("\n"):
            insert = "\n" + insert
        edits.append((at, at, insert))
    elif found is not None:
        key, value = found
        current = list(_plain(yaml.load(text, Loader=_LOADER)).get("learnings") or [])
        block = ":\n" + _dump_items([*current, entry], "").rstrip("\n")
        key_line_end = text.find("\n", key.end_mark.index)
        end = max(value.end_mark.index, len(text) if key_line_end < 0 else key_line_end)
        edits.append((key.end_mark.index, end, block))
    else:
        tail = "" if text.endswith("\n") or not text else "\n"
        edits.append((len(text), len(text), tail + "learnings:\n" + _dump_items([entry], "")))
    for start, end, new in sorted(edits, reverse=True):
        text = text[:start] + new + text[end:]
    return text


def _trim(text: str, keep_at_least: int = 1) -> tuple[str, list[dict[str, Any]]]:
    """Drop the oldest learnings until the file fits MAX_LINES; return them for the archive."""
    root = yaml.compose(text, Loader=_LOADER)
    found = _top(root, "learnings")
    if found is None or not isinstance(found[1], yaml.SequenceNode) or found[1].flow_style:
        return text, []
    items = found[1].value
    lines = text.count("\n")
    starts = [_line_start(text, item.start_mark.index) for item in items]
    end_of_seq = _after(text, _last_end(items[-1])) if items else 0
    cut = 0
    while lines > MAX_LINES and cut < len(items) - keep_at_least:
        nxt = starts[cut + 1] if cut + 1 < len(items) else end_of_seq
        lines -= text.count("\n", starts[cut], nxt)
        cut += 1
    if cut == 0:
        return text, []
    removed = _plain(yaml.load(text, Loader=_LOADER))["learnings"][:cut]
    return text[: starts[0]] + text[starts[cut] :], removed


def learn(workspace: Workspace, context: str, insight: str, files: Sequence[str] = ()) -> Learned:
    """Append a dated learning (creating the file when missing); archive the oldest past 200."""
    if not insight or not insight.strip():
        raise UserInputError("a learning needs an insight", hint="Say what was learned.")
    if not context or not context.strip():
        raise UserInputError("a learning needs a context", hint="Say when it applies.")
    affected = [workspace.relative(workspace.resolve(f)) for f in files if f and f.strip()]
    today = datetime.now(UTC).date().isoformat()
    entry: dict[str, Any] = {
        "date": date.fromisoformat(today),
        "context": redact_text(" ".join(context.split())),
        "insight": redact_text(" ".join(insight.split())),
    }
    if affected:
        entry["files_affected"] = affected
    paths = coordination_paths(workspace)
    path = paths.expertise
    archive = archive_path_for(path)
    with FileLock(path, paths.lock_timeout):
        text = _read(path) if path.is_file() else packaged_default()
        before = parse_expertise(path, text)
        new_text = _splice_learning(text, entry, today)
        new_text, removed = _trim(new_text)
        after = parse_expertise(path, new_text)
        expected = {**before, "last_updated": today}
        expected["learnings"] = [*(before.get("learnings") or []), _plain(entry)][len(removed) :]
        if after != expected:  # pragma: no cover - a bug guard
            raise RuntimeError("expertise edit did not round-trip; nothing was written")
        if removed:
            _append_archive(archive, path, removed)
        atomic_write(path, new_text)
    return Learned(
        path, _plain(entry), new_text.count("\n"), len(removed), archive if removed else None
    )


def _append_archive(archive: Path, source: Path, items: list[dict[str, Any]]) -> None:
    existing = (
        _read(archive)
        if archive.is_file()
        else (f"# Learnings archived from {source.name} to keep it under {MAX_LINES} lines.\n")
    )
    if not existing.endswith("\n"):
        existing += "\n"
    atomic_write(archive, existing + _dump_items(items, ""))
