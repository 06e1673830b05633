"""MCP face of the executor: execute, rollback, rehearse, run_status.

Thin: `execute` and `rollback` prepare the selection in a worker thread (loads the plan by id +
hash, reads the run state on the target), confirm the exact Action with the user (elicitation
when the client supports it, otherwise a confirm token; a dry run needs none), then run it in a
worker thread with progress notifications per step and backfill batch.
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

from datamigration.mcp.confirm import confirm
from datamigration.mcp.tooling import tool

log = logging.getLogger(__name__)


class ExecuteOutput(TypedDict):
    plan_id: str
    plan_hash: str
    database: str
    mode: str
    scope: str
    dry_run: bool
    steps: list[dict[str, Any]]
    remaining: list[str] | None
    final_validation: dict[str, Any] | None
    backup: dict[str, Any] | None
    notes: list[str]
    log: str
    truncated: bool


class RunStatusOutput(TypedDict):
    plan_id: str | None
    plan_hash: str | None
    summary: str | None
    source: str | None
    run: dict[str, Any] | None
    steps: list[dict[str, Any]]
    checkpoints: list[dict[str, Any]]
    events: list[dict[str, Any]]
    runs: list[dict[str, Any]]
    database_error: str | None
    interrupted: bool
    throttle: dict[str, Any] | None
    pace: dict[str, Any] | None
    samples: list[dict[str, Any]]
    truncated: bool


class RehearsalOutput(TypedDict):
    plan_id: str
    plan_hash: str
    previous_hash: str | None
    recorded: bool
    rehearsal: dict[str, Any]


def _shape(out: dict[str, Any]) -> ExecuteOutput:
    from datamigration.execute.service import jsonable_result

    out = jsonable_result(out)
    notes = list(out.get("notes") or [])
    if out.get("note"):
        notes.append(out["note"])
    return ExecuteOutput(
        plan_id=out["plan_id"],
        plan_hash=out["plan_hash"],
        database=out["database"],
        mode=out["mode"],
        scope=out["scope"],
        dry_run=out["dry_run"],
        steps=out["steps"],
        remaining=out.get("remaining"),
        final_validation=out.get("final_validation"),
        backup=out.get("backup"),
        notes=notes,
        log=out["log"],
        truncated=False,
    )


def _stop(runtime: Any, plan_id: str, plan_hash: str) -> ExecuteOutput:
    """The manual stop: the running step's watch sees the stop file at its next batch."""
    from datamigration.plan.store import load_plan
    from datamigration.redact import redact_url
    from datamigration.safety.watch import request_stop

    plan = load_plan(runtime.workspace, plan_id, plan_hash)  # a mistyped hash is refused
    path = request_stop(runtime.workspace.state_dir, plan.id, "stop asked through MCP")
    return ExecuteOutput(plan_id=plan.id, plan_hash=plan.hash, database=redact_url(plan.database),
                         mode="stop", scope="running step", dry_run=False, steps=[],
                         remaining=None, final_validation=None,
                         notes=[(f"stop requested ({runtime.workspace.relative(path)}): the running "
                                "step stops at its next batch and is rolled back as the plan says")],
                         log="", truncated=False)  # fmt: skip


def register(server: MCPServer, runtime: Any) -> None:
    async def _run(
        ctx: Context,
        mode: str,
        plan_id: str,
        plan_hash: str,
        db: str | None,
        step: str | None,
        phase: str | None,
        all_steps: bool,
        dry_run: bool,
        confirm_token: str | None,
        batch_size: int | None = None,
        max_lag_s: float | None = None,
        without_backup: str | None = None,
        now: bool = False,
    ) -> ExecuteOutput:
        from datamigration.execute.runner import RunOptions
        from datamigration.execute.service import prepare

        done = {"n": 0}

        def progress(event: str, data: dict[str, Any]) -> None:
            done["n"] += 1
            if event == "batch":
                message = f"{data['step']}: batch {data['batch']}, {data['rows']} rows"
            elif event == "throttle":  # "s03: paused: replication lag 12 s > 5 s"
                why = f": {data['reason']}" if data.get("reason") else ""
                message = f"{data['step']}: {data['state']}{why}"
            else:
                message = f"{data.get('step')}: {event.replace('_', ' ')}"
            try:
                anyio.from_thread.run(ctx.report_progress, done["n"], None, message)
            except Exception as exc:  # noqa: BLE001 - progress is best effort, never fatal
                log.debug("progress notification failed: %s", type(exc).__name__)

        prepared = await anyio.to_thread.run_sync(
            lambda: prepare(
                runtime.workspace,
                plan_id,
                plan_hash,
                mode=mode,
                db=db,
                step=step,
                phase=phase,
                all_steps=all_steps,
                dry_run=dry_run,
                options=RunOptions(
                    progress=progress,
                    batch_size=batch_size,
                    max_lag_s=max_lag_s,
                    without_backup=without_backup,
                    now=now,
                ),
            )
        )
        try:
            if prepared.needs_confirmation:
                await confirm(ctx, runtime, prepared.action(), confirm_token)
        except BaseException:
            prepared.close()
            raise
        return _shape(await anyio.to_thread.run_sync(prepared.run))

    @tool(server, read_only=False, destructive=True, title="Execute plan steps")
    async def execute(
        plan_id: Annotated[str, Field(description="Id of a stored plan (from plan_migration)")],
        plan_hash: Annotated[
            str, Field(description="The reviewed plan's hash (full or its first 12+ characters)")
        ],
        ctx: Context,
        step: Annotated[str | None, Field(description="Run only this step (e.g. s02)")] = None,
        phase: Annotated[
            str | None, Field(description="Run the remaining steps of this phase (e.g. expand)")
        ] = None,
        all_steps: Annotated[bool, Field(description="Run every remaining step")] = False,
        dry_run: Annotated[
            bool, Field(description="Return exactly what would run; change nothing")
        ] = False,
        db: Annotated[
            str | None,
            Field(description="Target database (default: the plan's)"),
        ] = None,
        confirm_token: Annotated[
            str | None, Field(description="From a confirmation request")
        ] = None,
        batch_size: Annotated[
            int | None,
            Field(
                description="Rows per backfill batch instead of the plan's (smaller is gentler)",
                ge=1,
                le=1_000_000,
            ),
        ] = None,
        max_lag_seconds: Annotated[
            float | None,
            Field(
                description="Pause a backfill while standby lag exceeds this (default: plan's)",
                gt=0,
            ),
        ] = None,
        without_backup: Annotated[
            str | None,
            Field(description="Why a data-losing step may run without a backup"),
        ] = None,
        now: Annotated[bool, Field(description="Ignore maintenance windows")] = False,
    ) -> ExecuteOutput:
        """Run the next step, one `step`, a `phase` or `all_steps` of a reviewed plan (by id
        AND hash), confirmed by the user. After a crash the same call resumes. After the last
        step the validation runs; the story moves to in-review only if it passed. Use dry_run
        first to show the exact statements. Data-losing steps need a verified `backup`.
        """
        return await _run(
            ctx, "execute", plan_id, plan_hash, db, step, phase, all_steps, dry_run, confirm_token,
            batch_size=batch_size, max_lag_s=max_lag_seconds, without_backup=without_backup, now=now,
        )  # fmt: skip

    @tool(server, read_only=False, destructive=True, title="Roll back plan steps")
    async def rollback(
        plan_id: Annotated[str, Field(description="Id of a stored plan")],
        plan_hash: Annotated[str, Field(description="The reviewed plan's hash")],
        ctx: Context,
        step: Annotated[
            str | None, Field(description="Roll back this step (must be the latest applied)")
        ] = None,
        all_steps: Annotated[
            bool, Field(description="Roll back every applied step, last first")
        ] = False,
        dry_run: Annotated[
            bool, Field(description="Return exactly what would run; change nothing")
        ] = False,
        db: Annotated[
            str | None,
            Field(description="Target database (default: the plan's)"),
        ] = None,
        confirm_token: Annotated[
            str | None, Field(description="From a confirmation request")
        ] = None,
        stop: Annotated[bool, Field(description="Instead: stop the step running now")] = False,
    ) -> ExecuteOutput:
        """Undo the latest applied step, a named step, or all of them in reverse, with each
        step's reverse operations. A step that dropped data cannot be rolled back (restore the
        backup). Needs confirmation."""
        if stop:
            return await anyio.to_thread.run_sync(lambda: _stop(runtime, plan_id, plan_hash))
        return await _run(
            ctx, "rollback", plan_id, plan_hash, db, step, None, all_steps, dry_run, confirm_token
        )

    @tool(server, read_only=False, destructive=True, title="Rehearse a plan on staging")
    async def rehearse(
        plan_id: Annotated[str, Field(description="Id of a stored plan")],
        plan_hash: Annotated[str, Field(description="The reviewed plan's hash")],
        ctx: Context,
        staging: Annotated[
            str | None,
            Field(description="Staging database (changed); omit for a throwaway copy of `db`"),
        ] = None,
        db: Annotated[
            str | None, Field(description="Source to copy when no staging is given")
        ] = None,
        sample_rows: Annotated[
            int,
            Field(
                description="Rows (documents) per table in a throwaway copy",
                ge=1,
            ),
        ] = 10_000,
        record: Annotated[
            bool, Field(description="Write the timings into the plan (it gets a new hash)")
        ] = True,
        confirm_token: Annotated[
            str | None, Field(description="From a confirmation request")
        ] = None,
    ) -> RehearsalOutput:
        """Time a reviewed plan on staging or a throwaway copy: reversible steps, their
        rollback, the whole plan. Timings go into the plan, which gets a new hash: show it and
        execute with that hash. Needs confirmation."""
        from datamigration.execute.service import jsonable_result, rehearsal_action, rehearse_plan

        plan, action = await anyio.to_thread.run_sync(
            lambda: rehearsal_action(runtime.workspace, plan_id, plan_hash, staging)
        )
        await confirm(ctx, runtime, action, confirm_token)
        out = jsonable_result(
            await anyio.to_thread.run_sync(
                lambda: rehearse_plan(
                    runtime.workspace,
                    plan,
                    staging=staging,
                    db=db,
                    sample_rows=sample_rows,
                    record=record,
                )
            )
        )
        return RehearsalOutput(
            plan_id=out["plan_id"],
            plan_hash=out["plan_hash"],
            previous_hash=out.get("previous_hash"),
            recorded=out["recorded"],
            rehearsal=out["rehearsal"],
        )

    @tool(server, read_only=True, idempotent=True, title="Migration run status")
    async def run_status(
        plan_id: Annotated[
            str | None, Field(description="A plan id; omit to list the runs with a local log")
        ] = None,
        db: Annotated[
            str | None,
            Field(description="Target database (default: the plan's)"),
        ] = None,
    ) -> RunStatusOutput:
        """Where a run stands on the target: each step's status, each backfill's checkpoint and
        the latest events. `interrupted`: a step is marked running but no executor holds the
        plan; call execute again with the same arguments to resume."""
        from datamigration.execute.service import jsonable_result
        from datamigration.execute.service import run_status as status_of

        out = jsonable_result(
            await anyio.to_thread.run_sync(lambda: status_of(runtime.workspace, plan_id, db=db))
        )
        return RunStatusOutput(
            plan_id=out.get("plan_id"),
            plan_hash=out.get("plan_hash"),
            summary=out.get("summary"),
            source=out.get("source"),
            run=out.get("run"),
            steps=out.get("steps", []),
            checkpoints=out.get("checkpoints", []),
            events=out.get("events", []),
            runs=out.get("runs", []),
            database_error=out.get("database_error"),
            interrupted=bool(out.get("interrupted")),
            throttle=out.get("throttle"),
            pace=out.get("pace"),
            samples=out.get("samples", []),
            truncated=bool(out.get("events_truncated")),
        )
