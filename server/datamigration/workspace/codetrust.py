"""When a `run` command that executes workspace code may go without asking again.

`pytest`, `alembic history` or `npx prisma` run the project's own files (conftest.py, env.py,
revision scripts, node_modules/.bin). The model can change those files with `write` without
asking, so "pytest is allow-listed" meant "any code the model writes runs unconfirmed": a
conftest.py printed /proc/<ppid>/environ. The rule now: such a command runs without asking only
when the user confirmed this exact command line in this server session *and* the workspace is
byte-for-byte where it was then, judged by a snapshot of every file's path, size, mtime, ctime
and inode (ctime and inode cannot be set back by a program, unlike mtime).

A snapshot is a stat walk, no file is read: about 0.15 s for 10,000 files. Caches that the
tools rewrite on every run and that hold no code (.pytest_cache, .mypy_cache, ...), VCS objects
and our own state are left out; `.git/config` and `.git/hooks` stay in. A tree over MAX_FILES
files is not snapshotted at all, and then every such command asks.
"""

from __future__ import annotations

import hashlib
import os
import stat
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field

from datamigration.workspace.files import comparable_name
from datamigration.workspace.root import STATE_DIR, Workspace

MAX_FILES = 200_000
#: Directories left out of the snapshot: rewritten by every run and holding data, not code.
SKIP_DIRS = frozenset(
    {".hg", ".svn", STATE_DIR, ".pytest_cache", ".mypy_cache", ".ruff_cache", ".hypothesis"}
)
#: From `.git`, only what can make git or a hook run something.
GIT_KEEP = frozenset({"config", "hooks"})
#: Files that a confirmed run may leave changed without losing the confirmation: Python's
#: bytecode caches, rewritten whenever the source they cache changed.
_CACHE_DIR = "__pycache__"


@dataclass(frozen=True)
class Snapshot:
    """The state of the workspace's files; `digest` is None when the tree was too large."""

    digest: str | None
    files: int
    entries: dict[str, tuple[object, ...]] = field(default_factory=dict, repr=False, compare=False)


def take_snapshot(workspace: Workspace) -> Snapshot:
    """Stat every file under the root (symlinked directories are not followed)."""
    entries: dict[str, tuple[object, ...]] = {}
    stack = [("", str(workspace.root), False)]
    while stack:
        rel_dir, abs_dir, in_git = stack.pop()
        try:
            with os.scandir(abs_dir) as it:
                listing = list(it)
        except OSError:
            entries[rel_dir + "/"] = ("unreadable",)  # recorded, so a change is still seen
            continue
        for entry in listing:
            if in_git and comparable_name(entry.name) not in GIT_KEEP:
                continue
            rel = f"{rel_dir}/{entry.name}" if rel_dir else entry.name
            try:
                st = entry.stat(follow_symlinks=False)
            except OSError:
                continue
            if stat.S_ISDIR(st.st_mode):
                name = comparable_name(entry.name)
                if name not in SKIP_DIRS:
                    stack.append((rel, entry.path, name == ".git"))
                continue
            entries[rel] = (st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino, st.st_mode)
            if stat.S_ISLNK(st.st_mode):
                entries[rel] += (os.readlink(entry.path),)
            if len(entries) > MAX_FILES:
                return Snapshot(digest=None, files=len(entries))
    body = repr(sorted(entries.items())).encode("utf-8", "surrogateescape")
    return Snapshot(digest=hashlib.sha256(body).hexdigest(), files=len(entries), entries=entries)


def changed_paths(before: Snapshot, after: Snapshot) -> list[str]:
    """Paths added, removed or changed between two snapshots, sorted."""
    keys = before.entries.keys() | after.entries.keys()
    return sorted(k for k in keys if before.entries.get(k) != after.entries.get(k))


class CodeTrust:
    """What the user confirmed in this session: command line -> workspace snapshot at the time.

    Held in memory by the long-lived MCP server only: a CLI invocation starts with nothing, so
    `datamigration run -- pytest` needs --yes every time, and nothing on disk can forge trust.
    """

    def __init__(self) -> None:
        self._confirmed: dict[tuple[str, ...], Snapshot] = {}
        self._lock = threading.Lock()

    def why_not(self, argv: Sequence[str], now: Snapshot) -> str | None:
        """None when `argv` may run unasked in the state `now`; otherwise the reason to ask."""
        if now.digest is None:
            return f"the workspace has over {MAX_FILES:,} files, too many to check for changes"
        with self._lock:
            then = self._confirmed.get(tuple(argv))
        if then is None:
            return "this command line has not been confirmed in this session"
        if then.digest == now.digest:
            return None
        paths = changed_paths(then, now)
        shown = ", ".join(paths[:5]) + (f" (+{len(paths) - 5} more)" if len(paths) > 5 else "")
        return f"the workspace changed since it was confirmed: {shown}"

    def record(self, argv: Sequence[str], before: Snapshot, after: Snapshot) -> None:
        """Remember the state the user agreed to run `argv` in.

        That is `before`, the state at confirmation. Only when the run itself changed nothing but
        bytecode caches is `after` kept instead, so a second identical run does not ask again.
        A file written by someone else during the run is never adopted this way.
        """
        if before.digest is None:
            return
        paths = changed_paths(before, after)
        only_caches = after.digest is not None and all(
            _CACHE_DIR in p.split("/")[:-1] and p.endswith(".pyc") for p in paths
        )
        with self._lock:
            self._confirmed[tuple(argv)] = after if only_caches else before
