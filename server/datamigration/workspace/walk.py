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
    """A regular file found by the walker: its real path and its workspace-relative name."""

    path: Path
    rel: str


def looks_binary(head: bytes) -> bool:
    """A NUL byte in the first block means binary, as git and GNU grep decide."""
    return b"\x00" in head[:BINARY_SNIFF_BYTES]


def file_looks_binary(path: Path) -> bool:
    with path.open("rb") as fh:
        return looks_binary(fh.read(BINARY_SNIFF_BYTES))


def walk_files(
    workspace: Workspace,
    start: Path,
    *,
    max_depth: int | None = None,
    skip_dirs: frozenset[str] = SKIP_DIRS,
) -> Iterator[WalkedFile]:
    """Regular files under `start` (already resolved inside the root), in sorted order.

    `max_depth` counts directory levels below `start` (0 = only files directly in `start`).
    """
    root = workspace.root
    start_depth = len(start.relative_to(root).parts)
    for dirpath, dirnames, filenames in os.walk(start, followlinks=False):
        here = Path(dirpath)
        depth = len(here.relative_to(root).parts) - start_depth
        keep = []
        for name in sorted(dirnames):
            if name in skip_dirs or (here / name).is_symlink():
                continue
            keep.append(name)
        dirnames[:] = keep if max_depth is None or depth < max_depth else []
        for name in sorted(filenames):
            full = here / name
            if full.is_symlink():
                try:
                    target = full.resolve()
                except (RuntimeError, OSError):
                    continue  # a symlink loop is not a file
                if not is_within(target, root) or not target.is_file():
                    continue
            elif not full.is_file():
                continue  # sockets, fifos, devices: never opened
            yield WalkedFile(path=full, rel=full.relative_to(root).as_posix())


_NUMBER = re.compile(r"(\d+)")


def natural_key(text: str) -> tuple[object, ...]:
    """Sort key where `V10` comes after `V9` (migration versions are numbers, not strings)."""
    return tuple(int(p) if p.isdigit() else p.lower() for p in _NUMBER.split(text))
