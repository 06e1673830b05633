"""Atomic file writes, one helper for the whole package: a reader sees the old file or the new one,
never half of it, and a crash or a full disk leaves the old file as it was.

Plans and their hash history (plan/store.py), the coordination files and flag files
(coordination/, safety/flags.py) and the files the assistant writes in a workspace
(workspace/files.py) all go through `atomic_write`: the data goes to a temporary file in the same
directory, is fsynced, and is renamed over the target; the directory is fsynced after the rename
so the rename itself survives a power cut. What differs between callers is passed in: whether
missing parent directories are created (the workspace creates its own, checking each one stays
inside the root), the mode of a file that does not exist yet, and a check that runs just before
the rename (the workspace re-checks that no directory was swapped for a symlink meanwhile).
Export files, too large to hold in memory, are streamed through `atomic_stream`, the same
temporary-file-then-rename in the form of a file object (move/files/export.py).
"""

from __future__ import annotations

import contextlib
import os
import secrets
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import BinaryIO

#: Bytes of the target's name kept in the temporary file's name: the whole name may be 255 bytes
#: (NAME_MAX), and the temporary name adds a dot, the pid, a random part and `.tmp` to it.
TEMP_NAME_BYTES = 200


def atomic_write(
    path: Path,
    data: bytes | str,
    *,
    parents: bool = True,
    new_mode: int = 0o644,
    before_replace: Callable[[], None] | None = None,
) -> None:
    """Write `data` (str as UTF-8) to `path` through a temporary file, fsync, rename over it.

    An existing file keeps its permission bits; a new one gets `new_mode` (less the umask).
    `parents` creates missing parent directories first. `before_replace` runs after the data is
    on disk and before the rename; whatever it raises aborts the write, as any failure does,
    with the temporary file removed and the old file untouched.
    """
    raw = data.encode("utf-8") if isinstance(data, str) else data
    if parents:
        path.parent.mkdir(parents=True, exist_ok=True)
    try:
        keep: int | None = os.stat(path).st_mode & 0o7777
    except FileNotFoundError:
        keep = None
    with _replacing(path, new_mode if keep is None else 0o600, keep, before_replace) as fh:
        fh.write(raw)


def atomic_stream(
    path: Path, *, new_mode: int = 0o644
) -> contextlib.AbstractContextManager[BinaryIO]:
    """A binary file to stream a large output into (an export file); on leaving the block it
    is fsynced and renamed over `path`. Whatever is raised inside the block (a full disk
    included) removes the temporary file and leaves `path` as it was."""
    return _replacing(path, new_mode)


@contextlib.contextmanager
def _replacing(
    path: Path,
    mode: int,
    keep: int | None = None,
    before_replace: Callable[[], None] | None = None,
) -> Iterator[BinaryIO]:
    """The one temporary-file-then-rename: a new temporary file created with `mode`, written in
    the block, fsynced, given the permission bits `keep` (when set), checked by
    `before_replace`, renamed over `path`, the directory fsynced. Any failure, in the block or
    after it, removes the temporary file and leaves `path` untouched."""
    tmp, fd = _create_temp(path, mode)
    try:
        with os.fdopen(fd, "wb") as fh:
            yield fh
            fh.flush()
            os.fsync(fh.fileno())
        if keep is not None:
            os.chmod(tmp, keep)
        if before_replace is not None:
            before_replace()
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    _fsync_dir(path.parent)


def _create_temp(path: Path, mode: int) -> tuple[Path, int]:
    """A new temporary file beside `path`, created exclusively (a leftover or a concurrent
    writer's file is never reused), named `.<name>.<pid>.<random>.tmp` within NAME_MAX."""
    short = os.fsencode(path.name)[:TEMP_NAME_BYTES].decode("utf-8", errors="ignore")
    while True:
        tmp = path.with_name(f".{short}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
        try:
            return tmp, os.open(tmp, os.O_CREAT | os.O_EXCL | os.O_WRONLY, mode)
        except FileExistsError:  # pragma: no cover - 32 random bits collided
            continue


def _fsync_dir(directory: Path) -> None:
    """Make a rename in `directory` durable; a file system that cannot fsync a directory
    (some network and Windows file systems) keeps the rename without the guarantee."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
