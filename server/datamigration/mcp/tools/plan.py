"""MCP face of the planner: `plan_migration` (change spec → reviewed, hashed plan).

Thin: checks the spec, runs the planner in a worker thread (it inspects and measures the
database) and returns the plan summary with its id and hash — the two values `execute` needs.
Writes plan files under the docs tree and `.datamigration/plans/`, never the database (the rate
sample runs in a transaction that is rolled back), so it is not destructive. The change-spec
schema is the MCP resource schema://change-spec (a client cannot open the package's files). A
plan.md too long for one answer is cut at a line and `next` says how to `read` the rest.
"""

from __future__ import annotations

from typing import Annotated, Any

import anyio.to_thread
from mcp.server import MCPServer
from pydantic import Field
from typing_extensions import TypedDict

from datamigration.mcp.answers import fit_list
from datamigration.mcp.tooling import tool

MAX_STEPS = 100


class StepSummary(TypedDict):
    id: str
    phase: str
    title: str
    estimate_seconds: float
    destructive: bool
    statements: list[str]


class PlanOutput(TypedDict):
    plan_id: str
    plan_hash: str
    title: str
    pattern: str
    pattern_reason: str
    estimate_seconds: float
    downtime_seconds: float
    rate_source: str
    steps: list[StepSummary]
    warnings: list[str]
    lint_open: list[dict[str, Any]]
    files: list[str]
    plan_md: str
    truncated: bool
    next: str | None


def register(server: MCPServer, runtime: Any) -> None:
    @tool(
        server,
        read_only=False,
        destructive=False,
        idempotent=False,
        title="Plan a zero-downtime migration",
    )
    async def plan_migration(
        spec: Annotated[
            dict[str, Any],
            Field(
                description="change spec: `kind` (e.g. rename_column) and its fields (table, "
                "column, new_name...); all kinds: resource schema://change-spec"
            ),
        ],
        db: str,
        pattern: Annotated[
            str | None,
            Field(description="override: expand_contract, shadow_traffic or feature_flags"),
        ] = None,
        story: str | None = None,
        framework: Annotated[
            str | None, Field(description="flyway, alembic or raw (default: detected)")
        ] = None,
    ) -> PlanOutput:
        """Turn a change spec into a zero-downtime plan; writes plan.json, plan.md and migration
        files. Times one sample UPDATE on the target, always rolled back. Show the user plan_md,
        then execute with plan_id and plan_hash."""
        from datamigration.plan.linting import open_findings
        from datamigration.plan.planner import plan_migration as run
        from datamigration.plan.spec import parse_spec

        parsed = parse_spec(spec, "spec")
        result = await anyio.to_thread.run_sync(
            lambda: run(
                runtime.workspace, parsed, db, pattern=pattern, story=story, framework=framework
            )
        )
        p = result.plan
        steps = [
            StepSummary(
                id=s.id,
                phase=s.phase,
                title=s.title,
                estimate_seconds=s.estimate_seconds,
                destructive=s.destructive,
                statements=[x for o in s.operations for x in o.statements][:20],
            )
            for s in p.steps
        ]
        out = PlanOutput(
            plan_id=p.id,
            plan_hash=p.hash,
            title=p.title,
            pattern=p.pattern,
            pattern_reason=p.pattern_reason,
            estimate_seconds=p.estimates.total_seconds,
            downtime_seconds=p.estimates.downtime_seconds,
            rate_source=p.estimates.rate_source,
            steps=steps[:MAX_STEPS],
            warnings=list(p.warnings),
            lint_open=[dict(f) for f in open_findings(p)],
            files=list(result.files),
            plan_md=result.plan_md,
            truncated=len(steps) > MAX_STEPS,
            next=None,
        )
        return _fit_plan_md(out)


def _fit_plan_md(out: PlanOutput) -> PlanOutput:
    """Keep the head of plan_md that fits the answer; `next` names the file and line to read."""
    lines = out["plan_md"].split("\n")
    out["plan_md"] = lines  # type: ignore[typeddict-item]  # fitted as lines, joined below
    kept = fit_list(out, "plan_md")  # type: ignore[arg-type]
    out["plan_md"] = "\n".join(lines[:kept])
    if kept < len(lines):
        md_path = next((f for f in out["files"] if f.endswith("plan.md")), "plan.md")
        out["truncated"] = True
        out["next"] = f"call read with path={md_path!r} offset={kept + 1}"
    return out
