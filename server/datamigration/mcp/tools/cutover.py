"""MCP face of the cutover: `cutover` (and, with rollback, the way back).

Thin: builds a `move.sync.cutover.CutoverRequest`, confirms the exact action with the user
(elicitation or a confirm token), then runs `cutover` or `rollback_cutover` in a worker thread
with a progress notification per phase, lag reading and drain step.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

import anyio.to_thread
from mcp.server import MCPServer
from mcp.server.mcpserver import Context
from pydantic import Field
from typing_extensions import TypedDict

from datamigration.mcp.confirm import confirm
from datamigration.mcp.tooling import progress_notifier, tool


class CutoverOutput(TypedDict):
    run: str
    flag: str
    write_pause_ms: float | None
    diff: dict[str, Any]
    way_back: dict[str, Any]
    notes: list[str]


def register(server: MCPServer, runtime: Any) -> None:
    @tool(server, read_only=False, destructive=True, title="Cut a sync run over")
    async def cutover(
        run: str,
        ctx: Context,
        rollback: bool = False,
        lag_max_s: Annotated[float, Field(gt=0, le=3600)] = 5.0,
        pause_max_ms: Annotated[int, Field(ge=10, le=600_000)] = 1000,
        write_pause: Literal["lock", "flag"] = "lock",
        flag: str | None = None,
        confirm_token: str | None = None,
    ) -> CutoverOutput:
        """Cut sync run over: lag under bound, pause writes, drain, diff (else nothing flips),
        flip flag, way back. rollback undoes it. Needs confirmation."""
        from datamigration.move.sync.cutover import (
            CutoverRequest,
            cutover_action,
            rollback_cutover,
        )
        from datamigration.move.sync.cutover import cutover as run_cutover

        req = CutoverRequest(run=run, workspace=str(runtime.workspace.root), lag_max_s=lag_max_s,
                             pause_max_ms=pause_max_ms, write_pause=write_pause,
                             flag=flag).checked()  # fmt: skip
        await confirm(ctx, runtime, cutover_action(req, rollback=rollback), confirm_token)
        notify = progress_notifier(ctx)

        def progress(event: str, data: dict[str, Any]) -> None:
            notify(f"{event}: " + ", ".join(f"{k}={v}" for k, v in data.items()))

        do = rollback_cutover if rollback else run_cutover
        r = await anyio.to_thread.run_sync(lambda: do(req, progress=progress))
        return CutoverOutput(run=r["run"], flag=r.get("flag") or "",
                             write_pause_ms=r.get("write_pause_ms"), diff=r.get("diff") or {},
                             way_back=r.get("way_back") or {"replayed": r.get("replayed")},
                             notes=list(r.get("notes") or []))  # fmt: skip
