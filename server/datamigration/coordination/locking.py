"""AgileFlow's lock-file convention, made safe against crashed holders and racing waiters.

A writer owns `<file>.lock` by creating it exclusively (O_CREAT|O_EXCL) with its pid inside; it
removes the file when done. AgileFlow's own scripts do the same, so our writers and theirs exclude
each other. Two things AgileFlow gets wrong are handled here:

* A holder killed with SIGKILL leaves its lock behind. A lock whose pid is dead (or a zombie) is
  stale. Several waiters may notice that at once, so removal happens under a kernel lock
  (`flock` on the lock's directory, released by the kernel if the breaker dies too) and only after
  re-checking that the file is still the same dead-pid file; a waiter never deletes a fresh lock
  another waiter just created.
* AgileFlow writes without the lock after 5 seconds. We never do: a wait that runs out raises
  LockTimeoutError naming the holder, and nothing is written.
"""

from __future__ import annotations

import contextlib
import errno
import os
import random
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Self

from datamigration.errors import LockTimeoutError

try:  # POSIX only; elsewhere stale-lock breaking falls back to the re-check alone.
    import fcntl
except ImportError:  # pragma: no cover
    fcntl = None  # type: ignore[assignment]

DEFAULT_TIMEOUT = 15.0
#: A lock file that is still empty (holder died between create and write) is stale after this.
EMPTY_LOCK_GRACE = 2.0


@dataclass(frozen=True)
class LockInfo:
    """What a lock file says about its holder."""

    pid: int | None
    alive: bool
    age_seconds: float


def pid_alive(pid: int) -> bool:
    """True when `pid` names a running process; zombies (killed, not yet reaped) count as dead."""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # exists, owned by another user
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as fh:
            state = fh.read().rsplit(")", 1)[-1].split()[0]
        return state not in ("Z", "X")
    except (OSError, IndexError):
        return True


def _read_pid(fd: int) -> int | None:
    raw = os.read(fd, 64).decode("ascii", errors="replace").strip()
    token = raw.split()[0] if raw else ""
    return int(token) if token.isdigit() else None


def inspect_lock(lock_path: Path) -> LockInfo | None:
    """The lock's holder and whether it lives; None when there is no lock file."""
    try:
        fd = os.open(lock_path, os.O_RDONLY)
    except FileNotFoundError:
        return None
    try:
        pid = _read_pid(fd)
        age = time.time() - os.fstat(fd).st_mtime
    finally:
        os.close(fd)
    return LockInfo(pid=pid, alive=pid_alive(pid) if pid is not None else True, age_seconds=age)


class FileLock:
    """`with FileLock(path_of_protected_file):` holds `<file>.lock` for the block.

    Not re-entrant: a second FileLock on the same file in the same process waits (and times out)
    like any other waiter, which is what protects threads of one server process from each other.
    """

    def __init__(self, target: Path, timeout: float = DEFAULT_TIMEOUT) -> None:
        self.target = Path(target)
        self.lock_path = self.target.with_name(self.target.name + ".lock")
        self.timeout = timeout
        self._held = False
        self._ino: int | None = None

    # -- acquire / release -------------------------------------------------------------------

    def acquire(self) -> None:
        deadline = time.monotonic() + self.timeout
        delay = 0.0005
        while True:
            if self._try_create():
                return
            info = inspect_lock(self.lock_path)
            if info is not None and self._is_stale(info):
                self._break_stale()
                continue
            if time.monotonic() >= deadline:
                raise self._timeout_error(info)
            time.sleep(delay * (0.5 + random.random()))
            delay = min(delay * 2, 0.01)

    def release(self) -> None:
        if not self._held:
            return
        self._held = False
        try:
            # Only remove the file we created: if something else replaced it, leave it alone.
            if self._ino is None or os.stat(self.lock_path).st_ino == self._ino:
                os.unlink(self.lock_path)
        except FileNotFoundError:
            pass

    def __enter__(self) -> Self:
        self.acquire()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()

    # -- internals ---------------------------------------------------------------------------

    def _try_create(self) -> bool:
        self.lock_path.parent.mkdir(parents=True, exist_ok=True)
        try:
            fd = os.open(self.lock_path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:
            return False
        try:
            os.write(fd, f"{os.getpid()}\n".encode("ascii"))
            self._ino = os.fstat(fd).st_ino
        finally:
            os.close(fd)
        self._held = True
        return True

    @staticmethod
    def _is_stale(info: LockInfo) -> bool:
        if info.pid is None:
            return info.age_seconds > EMPTY_LOCK_GRACE
        return not info.alive

    def _break_stale(self) -> None:
        """Remove the lock only if, under the breaker guard, it is still the same stale file."""
        with _directory_guard(self.lock_path.parent):
            try:
                fd = os.open(self.lock_path, os.O_RDONLY)
            except FileNotFoundError:
                return
            try:
                pid = _read_pid(fd)
                st = os.fstat(fd)
                stale = self._is_stale(
                    LockInfo(
                        pid=pid,
                        alive=pid_alive(pid) if pid is not None else True,
                        age_seconds=time.time() - st.st_mtime,
                    )
                )
                if not stale:
                    return
                with contextlib.suppress(FileNotFoundError):
                    if os.stat(self.lock_path).st_ino == st.st_ino:
                        os.unlink(self.lock_path)
            finally:
                os.close(fd)

    def _timeout_error(self, info: LockInfo | None) -> LockTimeoutError:
        holder = f"process {info.pid}" if info and info.pid else "another process"
        return LockTimeoutError(
            f"could not lock {self.target.name}: {holder} has held {self.lock_path} "
            f"for more than {self.timeout:g}s; nothing was written",
            hint=(
                f"Wait for {holder} to finish and retry. If no such process is running, "
                f"delete {self.lock_path} and retry."
            ),
            path=str(self.lock_path),
            holder_pid=info.pid if info else None,
        )


@contextlib.contextmanager
def _directory_guard(directory: Path) -> Iterator[None]:
    """Kernel-held exclusive lock on a directory: serializes stale-lock breakers, dies with them."""
    if fcntl is None:  # pragma: no cover
        yield
        return
    fd = os.open(directory, os.O_RDONLY)
    try:
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX)
                break
            except OSError as exc:  # pragma: no cover - EINTR
                if exc.errno != errno.EINTR:
                    raise
        yield
    finally:
        os.close(fd)  # closing drops the flock
