"""PostgreSQL backups: `pg_dump` in its custom format (chosen tables or the whole database),
restored with `pg_restore` into a scratch database on the same server.

The password reaches both tools through PGPASSWORD in their environment, never their command
line (which every user of the machine can read in `ps`)."""

from __future__ import annotations

import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from datamigration.db.backup import BackupSupport, Dump, find_tool, run_tool, tool_version

DUMP_FILE = "database.dump"
#: TOC entries of a chosen-tables dump that may name objects outside it
_ELSEWHERE = (" FK CONSTRAINT ", " TRIGGER ")


def _pattern(table: str) -> str:
    """A pg_dump -t pattern matching exactly this table (quoted: no wildcards, case kept)."""
    schema, dot, name = table.rpartition(".")
    quoted = '"' + name.replace('"', '""') + '"'
    return f'"{schema}".{quoted}' if dot else quoted


class PostgresBackup(BackupSupport):
    """The backup methods of the PostgreSQL backend (see db/backup.py for the contract)."""

    url: Any

    def _tool_env(self) -> dict[str, str]:
        env = {}
        if self.url.password:
            env["PGPASSWORD"] = self.url.password
        sslmode = self.url.params.get("sslmode")
        if sslmode:
            env["PGSSLMODE"] = sslmode
        return env

    def _tool_args(self) -> list[str]:
        u = self.url
        return ["-h", u.host or "localhost", "-p", str(u.port or 5432),
                "-U", u.username or "postgres", "--no-password"]  # fmt: skip

    def dump_backup(
        self, directory: Path, tables: Sequence[str] | None, *, tools: str | None = None
    ) -> Dump:
        pg_dump = find_tool("pg_dump", folder=tools)
        chosen = [a for t in tables or () for a in ("-t", _pattern(t))]
        strict = ["--strict-names"] if chosen else []
        run_tool(
            [pg_dump, "--format=custom", "--no-owner", "--no-privileges", *strict, *chosen,
             *self._tool_args(), "-d", self.url.database or "", "-f", str(directory / DUMP_FILE)],
            env=self._tool_env(), action="pg_dump", secrets=[self.url.password],
        )  # fmt: skip
        return Dump((DUMP_FILE,), "pg_dump custom", {"pg_dump": tool_version(pg_dump)})

    def restore_backup(self, directory: Path, dump: Dump, name: str, *,
                       tools: str | None = None) -> str:  # fmt: skip
        pg_restore = find_tool("pg_restore", folder=tools)
        self._on_maintenance_db(
            f"CREATE DATABASE {self.quote_identifier(name)}",
            "create the restore-test database",
        )
        try:
            with tempfile.TemporaryDirectory(prefix="dm-restore-") as private:
                listing = self._without_references(pg_restore, directory / dump.files[0],
                                                   Path(private)) if dump.partial else []  # fmt: skip
                run_tool(
                    [pg_restore, "--no-owner", "--no-privileges", "--exit-on-error", *listing,
                     *self._tool_args(), "-d", name, str(directory / dump.files[0])],
                    env=self._tool_env(), action="pg_restore", secrets=[self.url.password],
                )  # fmt: skip
        except BaseException:
            self.drop_throwaway(name)
            raise
        return self.url.with_database(name).url

    def _without_references(self, pg_restore: str, dump: Path, folder: Path) -> list[str]:
        """`-L list` restoring everything but foreign keys and triggers: a dump of chosen
        tables may reference tables and trigger functions it does not hold (pg_dump -t takes
        neither), which the scratch database lacks; the data, keys and other constraints are
        what the restore test proves."""
        toc = folder / "toc.txt"
        run_tool([pg_restore, "--list", str(dump)], stdout=toc, action="pg_restore --list")
        kept = folder / "restore.list"
        kept.write_text("".join(line for line in toc.read_text(encoding="utf-8").splitlines(True)
                                if not any(k in line for k in _ELSEWHERE)), encoding="utf-8")  # fmt: skip
        return ["-L", str(kept)]
