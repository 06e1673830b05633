"""MCP face of the sync engine: `sync` with action start, status or stop.

Thin: builds a `move.sync.SyncRequest`, confirms start and stop with the user (elicitation or
a confirm token), then either hands the run to the background daemon (`detach`, the default:
a sync runs until stopped) or runs it in a worker thread until it has caught up, with a
progress notification per second showing applied changes, apply rate and lag.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

import anyio.to_thread
from mcp.server import MCPServer
from mcp.server.mcpserver import Context
from pydantic import Field
from typing_extensions import TypedDict

from datamigration.errors import UserInputError
from datamigration.mcp.confirm import confirm
from datamigration.mcp.tooling import progress_notifier, tool


class SyncOutput(TypedDict):
    action: str
    result: dict[str, Any]


def _start(runtime: Any, ctx: Context, request: Any, detach: bool) -> Any:
    from datamigration.move.sync.control import spawn
    from datamigration.move.sync.runner import start_sync

    if detach:
        return spawn(request, runtime.workspace)
    notify = progress_notifier(ctx)
    last = [0.0]

    def progress(event: str, data: dict[str, Any]) -> None:
        import time

        if event == "batch" and time.monotonic() - last[0] < 1.0:
            return
        last[0] = time.monotonic()
        lag = (data.get("lag") or {}).get("seconds")
        notify(f"{event}: {data.get('applied', '')} applied, {data.get('rate', '')}/s, lag {lag} s")

    return start_sync(request, progress=progress, stop_when=lambda s: s["idle"])


def register(server: MCPServer, runtime: Any) -> None:
    @tool(server, read_only=False, destructive=True, title="CDC sync")
    async def sync(
        action: Literal["start", "status", "stop"],
        ctx: Context,
        run: Annotated[str | None, Field(description="a-z0-9_")] = None,
        source: str | None = None,
        target: str | None = None,
        tables: list[str] | None = None,
        mapping_file: str | None = None,
        events_file: Annotated[str | None, Field(description="Debezium JSON lines")] = None,
        detach: bool = True,
        confirm_token: str | None = None,
    ) -> SyncOutput:
        """CDC into a target. start: capture, snapshot copy, apply (detach: background, else
        until caught up); status: lag, rate; stop: end, drop capture. start/stop confirmed."""
        from datamigration.confirmation import Action
        from datamigration.move.request import load_mapping
        from datamigration.move.sync.control import stop_sync, sync_status
        from datamigration.move.sync.request import SyncRequest, sync_action

        ws = runtime.workspace
        if action == "status":
            answer = sync_status(ws, run, target=target, source=source)
            return SyncOutput(action=action, result=answer)
        if action == "stop":
            if not run:
                raise UserInputError("name the run to stop", hint="sync action=stop run=NAME")
            stop = Action("sync_stop", f"stop sync run {run}, drop its capture", {"run": run})
            await confirm(ctx, runtime, stop, confirm_token)
            answer = await anyio.to_thread.run_sync(
                lambda: stop_sync(ws, run, target=target, source=source)
            )
            return SyncOutput(action=action, result=answer)
        if not (source and target and tables):
            raise UserInputError("start needs source, target and tables",
                                 hint="sync action=start source=... target=... tables=[...]")  # fmt: skip
        request = SyncRequest(
            source, target, tuple(tables), run=run, workspace=str(ws.root),
            mapping=load_mapping(ws, mapping_file) if mapping_file else None,
            events_file=str(ws.resolve(events_file)) if events_file else None,
        )  # fmt: skip
        await confirm(ctx, runtime, sync_action(request, ws), confirm_token)
        answer = await anyio.to_thread.run_sync(lambda: _start(runtime, ctx, request, detach))
        return SyncOutput(action=action, result=answer)
