"""SQLite backups: the online backup API (a consistent copy while the application writes),
restored by copying it back through the same API into a scratch file beside the database, and
checked with `PRAGMA integrity_check`. The whole file is copied even when tables are chosen:
it is one file, and a consistent one."""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from datamigration.db.backup import BackupSupport, Dump
from datamigration.errors import DatabaseError

DUMP_FILE = "database.sqlite3"


def _copy(source: str, target: str, action: str) -> None:
    """Page-by-page copy with sqlite3's backup API; a damaged source is a DatabaseError."""
    src = dst = None
    try:
        src = sqlite3.connect(f"file:{source}?mode=ro", uri=True)
        dst = sqlite3.connect(target)
        src.backup(dst)
    except sqlite3.Error as exc:
        raise DatabaseError(
            f"{action} failed: {exc}",
            hint="The file is damaged or truncated; take a new backup.",
        ) from None
    finally:
        for conn in (src, dst):
            if conn is not None:
                conn.close()


class SQLiteBackup(BackupSupport):
    """The backup methods of the SQLite backend (see db/backup.py for the contract)."""

    url: Any

    def dump_backup(
        self, directory: Path, tables: Sequence[str] | None, *, tools: str | None = None
    ) -> Dump:
        _copy(self.url.database or "", str(directory / DUMP_FILE), "the online backup")
        return Dump((DUMP_FILE,), "sqlite online backup",
                    {"sqlite": sqlite3.sqlite_version})  # fmt: skip

    def restore_backup(self, directory: Path, dump: Dump, name: str, *,
                       tools: str | None = None) -> str:  # fmt: skip
        target = Path(self.url.database or "").with_name(name + ".db")
        target.unlink(missing_ok=True)
        try:
            _copy(str(directory / dump.files[0]), str(target), "restoring the backup")
        except BaseException:
            target.unlink(missing_ok=True)
            raise
        return f"sqlite:///{target}"

    def drop_restored(self, name: str) -> None:
        Path(self.url.database or "").with_name(name + ".db").unlink(missing_ok=True)

    def check_restored(self, url: str) -> str | None:
        path = url.removeprefix("sqlite:///")
        try:
            conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        except sqlite3.Error as exc:
            return str(exc)
        try:
            rows = [r[0] for r in conn.execute("PRAGMA integrity_check")]
        except sqlite3.Error as exc:
            return str(exc)
        finally:
            conn.close()
        return None if rows == ["ok"] else "; ".join(rows[:5])
