"""MCP face of the cutover: `cutover` (and, with rollback, the way back).

Thin: builds a `move.sync.cutover.CutoverRequest`, confirms the exact action with the user
(elicitation or a confirm token), then runs `cutover` or `rollback_cutover` in a worker thread
with a progress notification per phase, lag reading and drain step.
"""

from __future__ import annotations

from typing import Any

import anyio.to_thread
from mcp.server import MCPServer
from mcp.server.mcpserver import Context
from typing_extensions import TypedDict

from datamigration.mcp.confirm import confirm
from datamigration.mcp.tooling import progress_notifier, tool


class CutoverOutput(TypedDict):
    run: str
    write_pause_ms: float | None
    detail: dict[str, Any]


def register(server: MCPServer, runtime: Any) -> None:
    @tool(server, read_only=False, destructive=True, title="Cutover")
    async def cutover(
        run: str,
        ctx: Context,
        rollback: bool = False,
        lag_max_s: float = 5.0,
        pause_max_ms: int = 1000,
        confirm_token: str | None = None,
    ) -> CutoverOutput:
        """Cut a sync run over (pause writes, drain, diff, flip flag, way back); rollback
        undoes it. Confirmed."""
        from datamigration.move.sync.cutover import (
            CutoverRequest,
            cutover_action,
            rollback_cutover,
        )
        from datamigration.move.sync.cutover import cutover as run_cutover

        req = CutoverRequest(run=run, workspace=str(runtime.workspace.root), lag_max_s=lag_max_s,
                             pause_max_ms=pause_max_ms).checked()  # fmt: skip
        await confirm(ctx, runtime, cutover_action(req, rollback=rollback), confirm_token)
        notify = progress_notifier(ctx)

        def progress(event: str, data: dict[str, Any]) -> None:
            notify(f"{event}: " + ", ".join(f"{k}={v}" for k, v in data.items()))

        do = rollback_cutover if rollback else run_cutover
        r = await anyio.to_thread.run_sync(lambda: do(req, progress=progress))
        detail = {k: v for k, v in r.items() if k not in ("run", "write_pause_ms")}
        return CutoverOutput(run=r["run"], write_pause_ms=r.get("write_pause_ms"), detail=detail)
