"""MCP face of shadow reads: `shadow_reads`.

Thin: builds a `validate.shadow.run.ShadowRequest`, runs it in a worker thread and answers
with the figures, the gate's verdict, up to 10 examples and the report's path. It only reads
the two databases (annotated read-only; its report goes under docs/validation/ like every
validation report).
"""

from __future__ import annotations

from typing import Annotated, Any

import anyio.to_thread
from mcp.server import MCPServer
from pydantic import Field
from typing_extensions import TypedDict

from datamigration.mcp.tooling import tool


class ShadowOutput(TypedDict):
    passed: bool
    verdict: str
    reads: int
    mismatches: int
    mismatch_rate: float
    examples: list[dict[str, Any]]
    skipped: list[dict[str, Any]]
    notes: list[str]
    report_json: str


def register(server: MCPServer, runtime: Any) -> None:
    @tool(server, read_only=True, title="Shadow reads")
    async def shadow_reads(
        source: str,
        target: str,
        tables: list[str] | None = None,
        mapping_file: str | None = None,
        sample: Annotated[int, Field(ge=1, le=1_000_000)] = 10_000,
        seed: int = 0,
        queries_file: Annotated[str | None, Field(description="SQL reads, ; separated")] = None,
        pg_stat_statements: Annotated[int, Field(ge=0, le=100)] = 0,
        max_mismatches: Annotated[int, Field(ge=0)] = 0,
        min_reads: Annotated[int, Field(ge=0)] = 0,
    ) -> ShadowOutput:
        """Replay sampled reads (by key; queries) on both sides, compare values; gate:
        max_mismatches over min_reads."""
        from datamigration.validate.shadow.run import ShadowRequest, shadow_reads
        from datamigration.validate.shadow.tally import Gate

        request = ShadowRequest(
            source=source,
            target=target,
            tables=tuple(tables or ()),
            mapping_file=mapping_file,
            sample=sample,
            seed=seed,
            queries_file=queries_file,
            pg_top=pg_stat_statements,
            gate=Gate(max_mismatches, min_reads),
        )
        r = await anyio.to_thread.run_sync(lambda: shadow_reads(runtime.workspace, request))
        return ShadowOutput(**{k: r[k] for k in ShadowOutput.__annotations__})  # type: ignore[typeddict-item]
