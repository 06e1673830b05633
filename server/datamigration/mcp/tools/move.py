"""MCP face of the move engine: `copy_data`.

Thin: builds a `move.CopyRequest`, confirms the exact copy with the user (elicitation or a
confirm token; a dry run needs none and returns the plan of work: tables, target DDL,
partitions, conversions), then runs `move.run_copy` in a worker thread with a progress
notification per partition and table.
"""

from __future__ import annotations

from typing import Annotated, Any

import anyio.to_thread
from mcp.server import MCPServer
from mcp.server.mcpserver import Context
from pydantic import Field
from typing_extensions import TypedDict

from datamigration.mcp.confirm import confirm
from datamigration.mcp.tooling import progress_notifier, tool

MAX_LISTED = 50


class CopyOutput(TypedDict):
    dry_run: bool
    run_id: str | None
    source: str
    target: str
    tables: list[dict[str, Any]]
    conversions: list[dict[str, Any]]
    rows_copied: int
    rejected: int
    rejects: list[dict[str, Any]]
    validation: list[dict[str, Any]]
    passed: bool | None
    report_json: str | None
    report_markdown: str | None
    notes: list[str]
    truncated: bool


def _shape(r: dict[str, Any]) -> CopyOutput:
    tables = r.get("tables") or []
    return CopyOutput(
        dry_run=bool(r.get("dry_run")),
        run_id=r.get("run_id"),
        source=r["source"],
        target=r["target"],
        tables=tables[:MAX_LISTED],
        conversions=(r.get("conversions") or [])[:MAX_LISTED],
        rows_copied=int(r.get("rows_copied") or 0),
        rejected=int(r.get("rejected") or 0),
        rejects=(r.get("rejects") or [])[:10],
        validation=r.get("validation") or [],
        passed=r.get("passed"),
        report_json=r.get("report_json"),
        report_markdown=r.get("report_markdown"),
        notes=list(r.get("notes") or []),
        truncated=len(tables) > MAX_LISTED,
    )


def register(server: MCPServer, runtime: Any) -> None:
    @tool(server, read_only=False, destructive=True, title="Copy tables between databases")
    async def copy_data(
        source: str,
        target: str,
        tables: Annotated[list[str], Field(min_length=1)],
        ctx: Context,
        dry_run: bool = False,
        resume: bool = False,
        run_id: str | None = None,
        accept_conversions: bool = False,
        truncate: bool = False,
        strict: bool = False,
        workers: Annotated[int, Field(ge=1, le=64)] = 4,
        batch_size: Annotated[int, Field(ge=1, le=1_000_000)] = 10_000,
        mapping_file: str | None = None,
        cluster: Annotated[
            str | None, Field(description="Dask: tcp://host:8786 or local:N")
        ] = None,
        story: str | None = None,
        confirm_token: str | None = None,
    ) -> CopyOutput:
        """Copy tables: lossless target schema (lossy types stop unless accept_conversions),
        resumable, validated; needs confirmation. dry_run first; truncate empties target tables
        with rows; strict stops at a refused row."""
        from datamigration.move import CopyRequest, run_copy
        from datamigration.move.request import copy_action, load_mapping

        ws = runtime.workspace
        request = CopyRequest(
            source=source,
            target=target,
            tables=tuple(tables),
            workspace=str(ws.root),
            mapping=load_mapping(ws, mapping_file) if mapping_file else None,
            workers=workers,
            batch_size=batch_size,
            cluster=cluster,
            resume=resume or bool(run_id),
            run_id=run_id,
            dry_run=dry_run,
            accept_conversions=accept_conversions,
            truncate=truncate,
            strict=strict,
            story=story,
        )
        if not dry_run:
            await confirm(ctx, runtime, copy_action(request, ws), confirm_token)
        notify = progress_notifier(ctx)

        def progress(event: str, data: dict[str, Any]) -> None:
            if event == "partition":
                message = f"{data['table']}: partition {data['index']} ({data['rows']} rows)"
            else:
                message = f"{event.replace('_', ' ')} {data.get('table') or data.get('run_id', '')}"
            notify(message)

        return _shape(await anyio.to_thread.run_sync(lambda: run_copy(request, progress=progress)))
