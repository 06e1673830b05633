"""MCP face of the safety engine's live checks: monitor and health_check.

Thin: `monitor` calls `safety.monitor.monitor` in a worker thread with a progress notification
per sample; `health_check` calls `safety.health.health_check`. The manual stop of a running step
is the `stop` argument of the rollback tool.
"""

from __future__ import annotations

import logging
from typing import Annotated, Any

import anyio.from_thread
import anyio.to_thread
from mcp.server import MCPServer
from mcp.server.mcpserver import Context
from pydantic import Field
from typing_extensions import TypedDict

from datamigration.mcp.tooling import tool

log = logging.getLogger(__name__)


class MonitorOutput(TypedDict):
    run: str
    database: str
    samples_file: str
    samples: int
    baseline: dict[str, Any]
    latest: dict[str, Any]
    summary: dict[str, Any]
    unavailable: list[str]


class HealthOutput(TypedDict):
    safe: bool
    database: str
    reasons: list[str]
    checks: list[dict[str, Any]]
    window: dict[str, Any]
    unavailable: list[str]


def register(server: MCPServer, runtime: Any) -> None:
    @tool(server, read_only=True, title="Monitor a database")
    async def monitor(
        db: str,
        ctx: Context,
        seconds: Annotated[float, Field(gt=0, le=600)] = 60,
        interval: Annotated[float, Field(gt=0)] = 1,
        queries: Annotated[list[str] | None, Field(description="read queries to time")] = None,
        prometheus: Annotated[str | None, Field(description="app metrics URL")] = None,
        run: str | None = None,
    ) -> MonitorOutput:
        """Baseline, then samples: latency, errors, throughput, connections, locks, lag, disk,
        app metrics; run_status shows them."""
        from datamigration.execute.service import jsonable_result
        from datamigration.safety.monitor import monitor as engine

        done = {"n": 0}

        def progress(sample: dict[str, Any]) -> None:
            done["n"] += 1
            p99 = (sample.get("latency_ms") or {}).get("p99")
            try:
                anyio.from_thread.run(ctx.report_progress, done["n"], None, f"p99 {p99} ms")
            except Exception as exc:  # noqa: BLE001 - progress is best effort, never fatal
                log.debug("progress notification failed: %s", type(exc).__name__)

        out = jsonable_result(await anyio.to_thread.run_sync(
            lambda: engine(runtime.workspace, db, seconds=seconds, interval=interval,
                           queries=queries or (), prometheus=prometheus, run=run,
                           on_sample=progress)))  # fmt: skip
        return MonitorOutput(**{k: out[k] for k in MonitorOutput.__annotations__})  # type: ignore[typeddict-item]

    @tool(server, read_only=True, title="Is it safe to start now?")
    async def health_check(
        db: str,
        heavy: Annotated[bool, Field(description="Heavy work: windows apply")] = True,
    ) -> HealthOutput:
        """Why not: load, lag, long transactions, locks, abandoned slots, disk, backup age,
        maintenance windows."""
        from datamigration.execute.service import jsonable_result
        from datamigration.safety.health import health_check as engine

        out = jsonable_result(await anyio.to_thread.run_sync(
            lambda: engine(runtime.workspace, db, heavy=heavy)))  # fmt: skip
        return HealthOutput(**{k: out[k] for k in HealthOutput.__annotations__})  # type: ignore[typeddict-item]
