"""MariaDB / MySQL backups: `mariadb-dump` (or `mysqldump`, whichever is on PATH) into a gzip
SQL file, restored with the `mariadb` (or `mysql`) client into a scratch database.

The password goes to both tools in a `[client]` option file created 0600 in a private temporary
folder (`--defaults-extra-file`), never on their command line; the folder is removed after."""

from __future__ import annotations

import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from datamigration.db.backup import (
    BackupSupport,
    Dump,
    find_tool,
    mysql_defaults_file,
    run_tool,
    tool_version,
)

DUMP_FILE = "database.sql.gz"


class MySQLBackup(BackupSupport):
    """The backup methods of the MariaDB/MySQL backend (see db/backup.py for the contract)."""

    url: Any

    def _tool_args(self, defaults: Path) -> list[str]:
        u = self.url
        return [f"--defaults-extra-file={defaults}", "-h", u.host or "127.0.0.1",
                "-P", str(u.port or 3306), "-u", u.username or "root"]  # fmt: skip

    def dump_backup(
        self, directory: Path, tables: Sequence[str] | None, *, tools: str | None = None
    ) -> Dump:
        dump = find_tool("mariadb-dump", "mysqldump", folder=tools)
        with tempfile.TemporaryDirectory(prefix="dm-backup-") as private:
            defaults = mysql_defaults_file(Path(private), self.url.password)
            run_tool(
                [dump, *self._tool_args(defaults), "--single-transaction", "--quick",
                 "--routines", "--triggers", "--hex-blob", "--default-character-set=utf8mb4",
                 "--skip-comments", self.url.database or "",
                 *[t.rpartition(".")[2] for t in tables or ()]],
                stdout=directory / DUMP_FILE, action=Path(dump).name,
                secrets=[self.url.password],
            )  # fmt: skip
        return Dump((DUMP_FILE,), "sql.gz", {Path(dump).name: tool_version(dump)})

    def restore_backup(self, directory: Path, dump: Dump, name: str, *,
                       tools: str | None = None) -> str:  # fmt: skip
        client = find_tool("mariadb", "mysql", folder=tools)
        self._server_statement(f"CREATE DATABASE {self.quote_identifier(name)}",
                               "create the restore-test database")  # fmt: skip
        try:
            with tempfile.TemporaryDirectory(prefix="dm-backup-") as private:
                defaults = mysql_defaults_file(Path(private), self.url.password)
                run_tool([client, *self._tool_args(defaults), name],
                         stdin=directory / dump.files[0], action=Path(client).name,
                         secrets=[self.url.password])  # fmt: skip
        except BaseException:
            self.drop_restored(name)
            raise
        return self.url.with_database(name).url

    def drop_restored(self, name: str) -> None:
        self._server_statement(f"DROP DATABASE IF EXISTS {self.quote_identifier(name)}",
                               "drop the restore-test database")  # fmt: skip

    def _server_statement(self, statement: str, action: str) -> None:
        """CREATE / DROP DATABASE on this connection (they act on the server)."""

        def run() -> None:
            with self.conn.cursor() as cur:
                cur.execute(statement)

        self._guard(action, run)
