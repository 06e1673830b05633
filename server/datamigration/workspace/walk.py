"""One safe way to walk the workspace tree, shared by glob, grep and migration detection.

Walking is where symlink escapes hide: `os.walk(followlinks=True)` or `Path.glob` on a pattern
that names a symlinked directory happily leaves the root. This walker never descends into a
symlinked directory (so it cannot leave the root or loop), yields a symlinked file only when its
target is inside the root, and prunes the directories nobody wants searched (VCS internals,
virtual environments, dependency caches).
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from datamigration.workspace.root import Workspace, is_within

#: Directories that are never searched: VCS internals, virtualenvs, dependency and tool caches.
SKIP_DIRS = frozenset(
    {
        ".git",
        ".hg",
        ".svn",
        ".venv",
        "venv",
        ".tox",
        ".nox",
        "node_modules",
        "__pycache__",
        ".mypy_cache",
        ".pytest_cache",
        ".ruff_cache",
        ".idea",
    }
)

#: How many leading bytes decide whether a file is binary (same idea as git and grep).
BINARY_SNIFF_BYTES = 8192


@dataclass(frozen=True)
class WalkedFile:
    """A regular file found by the walker.

    `path` is absolute, `rel` is relative to the workspace root and `under` relative to the
    directory the walk started from (all with forward slashes, as plain strings: building a
    Path per file costs more than reading a small file).
    """

    path: str
    rel: str
    under: str


def looks_binary(head: bytes) -> bool:
    """A NUL byte in the first block means binary, as git and GNU grep decide."""
    return b"\x00" in head[:BINARY_SNIFF_BYTES]


def walk_files(
    workspace: Workspace,
    start: Path,
    *,
    max_depth: int | None = None,
    skip_dirs: frozenset[str] = SKIP_DIRS,
) -> Iterator[WalkedFile]:
    """Regular files under `start` (already resolved inside the root), depth first, sorted.

    `max_depth` counts directory levels below `start` (0 = only files directly in `start`).
    Files of a directory come before its subdirectories.
    """
    root = workspace.root
    start_rel = start.relative_to(root).as_posix()
    start_rel = "" if start_rel == "." else start_rel
    # (absolute dir, path relative to start, depth below start)
    stack: list[tuple[str, str, int]] = [(str(start), "", 0)]
    while stack:
        directory, under_dir, depth = stack.pop()
        try:
            with os.scandir(directory) as it:
                entries = sorted(it, key=lambda e: e.name)
        except OSError:
            continue  # unreadable or vanished: nothing to report from it
        subdirs = []
        for entry in entries:
            under = f"{under_dir}/{entry.name}" if under_dir else entry.name
            try:
                if entry.is_symlink():
                    if entry.is_dir():
                        continue  # never descend a symlinked directory
                    target = Path(entry.path).resolve()
                    if not is_within(target, root) or not target.is_file():
                        continue
                elif entry.is_dir(follow_symlinks=False):
                    if entry.name not in skip_dirs and (max_depth is None or depth < max_depth):
                        subdirs.append((entry.path, under, depth + 1))
                    continue
                elif not entry.is_file(follow_symlinks=False):
                    continue  # sockets, fifos, devices: never opened
            except (OSError, RuntimeError):
                continue  # a symlink loop or a file that vanished is not a file
            rel = f"{start_rel}/{under}" if start_rel else under
            yield WalkedFile(path=entry.path, rel=rel, under=under)
        stack.extend(reversed(subdirs))


_NUMBER = re.compile(r"(\d+)")


def natural_key(text: str) -> tuple[object, ...]:
    """Sort key where `V10` comes after `V9` (migration versions are numbers, not strings)."""
    return tuple(int(p) if p.isdigit() else p.lower() for p in _NUMBER.split(text))
