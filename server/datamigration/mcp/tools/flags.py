"""MCP face of feature flags: flags_get, flags_rollout (confirmed), flags_rollback (kill switch).

Thin: each tool calls one function of `datamigration.safety.flags`. A rollout step changes what
users get, so it is confirmed (elicitation or confirm token) for the exact step (flag, from, to)
before the gate runs or anything is written. Rollback only ever restores the old behaviour, so it
runs at once: an emergency brake that waits for a confirmation round trip is a worse brake.
"""

from __future__ import annotations

from typing import Annotated, Any

import anyio.to_thread
from mcp.server import MCPServer
from mcp.server.mcpserver import Context
from pydantic import Field

from datamigration.confirmation import Action
from datamigration.mcp.confirm import confirm
from datamigration.mcp.shapes import answer_type
from datamigration.mcp.tooling import tool
from datamigration.safety.flag_gates import GateCheck
from datamigration.safety.flags import FlagList, FlagView, RollbackReport, RolloutReport

#: The engine's flag list, each flag validated as the engine's FlagView, at most MAX_FLAGS.
FlagsGetOutput = answer_type(
    "FlagsGetOutput", FlagList, {"flags": list[FlagView], "truncated": bool}
)


#: The engine's report, each gate check validated as the engine's GateCheck.
RolloutOutput = answer_type("RolloutOutput", RolloutReport, {"gate": list[GateCheck]})


MAX_FLAGS = 200


def register(server: MCPServer, runtime: Any) -> None:
    @tool(server, read_only=True, title="Feature flags and their rollout")
    def flags_get(
        flag: Annotated[str | None, Field(description="omit for all")] = None,
    ) -> FlagsGetOutput:
        """Feature flags (flagd JSON): state, variants, default and the new variant's rollout
        percent (null for targeting rules not ours)."""
        from datamigration.safety import flags as engine

        listed = engine.list_flags(runtime.workspace)
        items = listed["flags"]
        if flag is not None:
            items = [engine.get_flag(runtime.workspace, flag)]
        return {**listed, "flags": items[:MAX_FLAGS], "truncated": len(items) > MAX_FLAGS}

    @tool(server, read_only=False, destructive=False, idempotent=True, title="Roll out a flag")
    async def flags_rollout(
        ctx: Context,
        flag: str,
        percent: Annotated[int, Field(ge=1, le=100)],
        rules: Annotated[str | None, Field(description="gate: rules file that must pass")] = None,
        source: Annotated[str | None, Field(description="for the rules")] = None,
        target: Annotated[str | None, Field(description="for the rules")] = None,
        probe_db: Annotated[
            str | None, Field(description="gate: URL or connection name to health-probe")
        ] = None,
        probe_sql: Annotated[str, Field(description="probe query")] = "SELECT 1",
        max_p95_ms: Annotated[float, Field(gt=0)] = 250.0,
        max_error_rate: Annotated[float, Field(ge=0, le=1)] = 0.0,
        skip_steps: Annotated[bool, Field(description="allow skipping 1->10->100")] = False,
        ungated: Annotated[bool, Field(description="go up with no gate, on purpose")] = False,
        confirm_token: str | None = None,
    ) -> RolloutOutput:
        """Serve the new variant to `percent`% of keys (sticky); needs confirmation. Steps go
        1 -> 10 -> 100; going up from a live step needs a gate (`rules`, `probe_db`); a failed
        gate writes nothing."""
        from datamigration.safety import flags as engine

        ws = runtime.workspace
        plan = engine.plan_rollout(ws, flag, percent, allow_skip=skip_steps)
        await confirm(
            ctx, runtime, Action("flags_rollout", plan.summary(), plan.payload()), confirm_token
        )
        gate = engine.Gate(
            rules=rules,
            source=source,
            target=target,
            probe_url=probe_db,
            probe_sql=probe_sql,
            max_p95_ms=max_p95_ms,
            max_error_rate=max_error_rate,
        )
        return await anyio.to_thread.run_sync(
            lambda: engine.rollout(
                ws, flag, percent, gate=gate, ungated=ungated, allow_skip=skip_steps
            )
        )

    @tool(server, read_only=False, destructive=False, idempotent=True, title="Roll back a flag")
    def flags_rollback(
        flag: str,
    ) -> RollbackReport:
        """Kill switch: serve the old variant to everyone at once. No confirmation: it only
        restores the old behaviour."""
        from datamigration.safety import flags as engine

        return engine.rollback(runtime.workspace, flag)
