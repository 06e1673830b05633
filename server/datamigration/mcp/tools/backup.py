"""MCP face of backups: one `backup` tool that takes, verifies or lists (one tool keeps
tools/list small). Thin: it calls `safety/backup/take.py` or `manifest.list_backups`, the same
functions as `datamigration backup` and `datamigration backups`.

Taking a backup changes nothing of the source: it reads it, writes files under the workspace and
a scratch database that is dropped again, so it needs no confirmation.
"""

from __future__ import annotations

from typing import Annotated, Any

import anyio.to_thread
from mcp.server import MCPServer
from pydantic import Field
from typing_extensions import TypedDict

from datamigration.errors import UserInputError
from datamigration.mcp.tooling import tool

MAX_LISTED = 50


class BackupOutput(TypedDict):
    backup: dict[str, Any] | None
    backups: list[dict[str, Any]] | None
    total: int | None
    truncated: bool


def register(server: MCPServer, runtime: Any) -> None:
    @tool(server, read_only=False, destructive=False, title="Back up and restore-test")
    async def backup(
        db: str | None = None,
        tables: Annotated[list[str] | None, Field(description="Only these")] = None,
        verify: Annotated[str | None, Field(description="backup id to check again")] = None,
        list_all: bool = False,
    ) -> BackupOutput:
        """Back up `db`, restore it into a scratch database and compare (`verified`: what
        execute needs before a data-losing step). `verify` an id again; `list_all` backups."""
        from datamigration.safety.backup.manifest import list_backups
        from datamigration.safety.backup.take import take_backup, verify_backup

        ws = runtime.workspace
        if list_all:
            out = list_backups(ws, limit=MAX_LISTED)
            return BackupOutput(backup=None, backups=out["backups"], total=out["total"],
                                truncated=out["truncated"])  # fmt: skip
        if verify:
            done = await anyio.to_thread.run_sync(lambda: verify_backup(ws, verify, db))
        elif db:
            done = await anyio.to_thread.run_sync(lambda: take_backup(ws, db, tables))
        else:
            raise UserInputError("which database? give db, or verify with a backup id",
                                 hint="Call backup with db (and tables), or list_all=true.")  # fmt: skip
        return BackupOutput(backup=done, backups=None, total=None, truncated=False)
