"""The backup contract every backend meets: dump to files, restore them into a scratch database.

Why here: how a database is dumped (pg_dump, mariadb-dump, SQLite's online backup API, a
pymongo export) is dialect work, so it lives in each database's package (`db/<db>/backup.py`)
behind the three methods below; the safety engine (`safety/backup/`) only calls them, checks the
files and compares the restored copy with the source. This module also holds what the external
tools share: finding a tool on PATH (or where `[backup] tools` in datamigration.toml points)
with a hint naming its Debian package, and running it with the password in the environment or
a 0600 defaults file, never on its command line.
"""

from __future__ import annotations

import gzip
import os
import shutil
import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from datamigration.errors import DatabaseError, UserInputError

#: where each external tool comes from on Debian/Ubuntu (the hint when it is missing)
TOOL_PACKAGES = {
    "pg_dump": "postgresql-client",
    "pg_restore": "postgresql-client",
    "mariadb-dump": "mariadb-client",
    "mysqldump": "mariadb-client (or mysql-client)",
    "mariadb": "mariadb-client",
    "mysql": "mariadb-client (or mysql-client)",
}
#: environment variable naming a folder that holds the dump tools (checked before PATH)
TOOLS_ENV = "DATAMIGRATION_BACKUP_TOOLS"
CHUNK = 1 << 20


class DumpToolMissingError(UserInputError):
    """A dump or restore tool is not installed (or not on PATH)."""


@dataclass(frozen=True)
class Dump:
    """What a backend wrote: the files (names inside the backup folder), the format, and the
    versions of the tools that made them."""

    files: tuple[str, ...]
    format: str
    tools: Mapping[str, str] = field(default_factory=dict)
    #: True when only chosen tables were dumped (their references may point outside the dump)
    partial: bool = False


class BackupSupport:
    """The backup methods of `Backend` (see `db/<db>/backup.py` for each database)."""

    def dump_backup(self, directory: Path, tables: Sequence[str] | None, *,
                    tools: str | None = None) -> Dump:  # fmt: skip
        """Write a backup of `tables` (None: the whole database) into `directory`; `tools`
        names a folder holding the dump tools (else PATH)."""
        raise self._unsupported("backups")

    def restore_backup(self, directory: Path, dump: Dump, name: str, *,
                       tools: str | None = None) -> str:  # fmt: skip
        """Restore `dump` into a new scratch database `name` on the same server (or beside
        the file); returns its URL. A damaged dump raises; the half-made scratch is dropped."""
        raise self._unsupported("backups")

    def drop_restored(self, name: str) -> None:
        """Remove the scratch database `restore_backup` made (safe to call twice)."""
        self.drop_throwaway(name)

    def check_restored(self, url: str) -> str | None:
        """The database's own integrity check of the restored copy: None when it holds, else
        what it found (SQLite's `PRAGMA integrity_check`; nothing to check elsewhere)."""
        return None


def find_tool(*names: str, folder: str | None = None) -> str:
    """The first of `names` found (a folder from `[backup] tools` or DATAMIGRATION_BACKUP_TOOLS,
    then PATH); a clear error naming the package to install when none is."""
    folders = [folder or "", os.environ.get(TOOLS_ENV, "")]
    for name in names:
        for where in [f for f in folders if f]:
            candidate = Path(where) / name
            if candidate.is_file() and os.access(candidate, os.X_OK):
                return str(candidate)
        found = shutil.which(name)
        if found:
            return found
    packages = sorted({TOOL_PACKAGES.get(n, n) for n in names})
    raise DumpToolMissingError(
        f"{' or '.join(names)} is not installed or not on PATH, so this backup cannot be made",
        hint=f"Install it (Debian/Ubuntu: apt-get install {' '.join(packages)}), or point at "
        f'the folder that holds it with `tools = "/path/to/bin"` under [backup] in '
        f"datamigration.toml (or the {TOOLS_ENV} environment variable).",
        tools=list(names),
    )


def tool_version(path: str) -> str:
    """`<tool> --version`, first line (recorded in the manifest)."""
    try:
        out = subprocess.run([path, "--version"], capture_output=True, timeout=30, check=False)
    except OSError as exc:
        return f"unknown ({exc.strerror})"
    return out.stdout.decode("utf-8", "replace").strip().splitlines()[0] if out.stdout else ""


def run_tool(
    argv: Sequence[str],
    *,
    env: Mapping[str, str] | None = None,
    stdin: Path | None = None,
    stdout: Path | None = None,
    action: str,
    secrets: Sequence[str | None] = (),
    timeout: float = 3600,
) -> None:
    """Run a dump/restore tool; `stdin` is streamed into it and its output into `stdout`
    (both gzip-compressed when their name ends in .gz). Its last lines of stderr become the
    error (redacted). `env` adds to this process's environment: that is where passwords go."""
    import tempfile

    from datamigration.redact import redact_text

    full_env = dict(os.environ) | dict(env or {})
    with tempfile.TemporaryFile() as err:
        proc = subprocess.Popen(list(argv), stdin=subprocess.PIPE if stdin else subprocess.DEVNULL,
                                stdout=subprocess.PIPE if stdout else subprocess.DEVNULL,
                                stderr=err, env=full_env)  # fmt: skip
        try:
            if stdin is not None:
                _feed(proc, stdin)
            if stdout is not None:
                _drain(proc, stdout)
            code = proc.wait(timeout=timeout)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        err.seek(0)
        text = err.read().decode("utf-8", "replace").strip()
    if code != 0:
        last = [ln for ln in text.splitlines() if ln.strip()][-3:] or ["no message"]
        raise DatabaseError(
            f"{action} failed ({Path(argv[0]).name} exited {code}): "
            + redact_text(" | ".join(last), [s for s in secrets if s]),
            hint="Read the tool's message; a damaged or truncated dump cannot be restored "
            "(take a new backup).",
            exit_status=code,
        )


def _open_read(path: Path) -> Any:
    return gzip.open(path, "rb") if path.suffix == ".gz" else path.open("rb")


def _feed(proc: subprocess.Popen[bytes], source: Path) -> None:
    assert proc.stdin is not None
    try:
        with _open_read(source) as fh:
            while chunk := fh.read(CHUNK):
                proc.stdin.write(chunk)
    except BrokenPipeError:
        pass  # the tool stopped reading (it failed): its exit status says why
    except (OSError, EOFError) as exc:  # a truncated or damaged gzip stream
        proc.kill()
        raise DatabaseError(
            f"reading {source.name} failed: {exc}",
            hint="The dump file is damaged or truncated; take a new backup.",
        ) from None
    finally:
        try:
            proc.stdin.close()
        except BrokenPipeError:
            pass


def _drain(proc: subprocess.Popen[bytes], target: Path) -> None:
    assert proc.stdout is not None
    with gzip.open(target, "wb") if target.suffix == ".gz" else target.open("wb") as out:
        while chunk := proc.stdout.read(CHUNK):
            out.write(chunk)


def mysql_defaults_file(folder: Path, password: str | None) -> Path:
    """A `[client]` option file readable only by this user, holding the password, for
    `--defaults-extra-file` (MySQL and MariaDB tools read it; the password stays off argv)."""
    path = folder / "client.cnf"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    value = (password or "").replace("\\", "\\\\").replace('"', '\\"')
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(f'[client]\npassword="{value}"\n' if password else "[client]\n")
    return path
