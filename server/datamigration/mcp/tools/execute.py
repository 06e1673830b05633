"""MCP face of the executor: execute, rollback, rehearse, run_status.

Thin: `execute` and `rollback` prepare the selection in a worker thread (loads the plan by id +
hash, reads the run state on the target), confirm the exact Action with the user (elicitation
when the client supports it, otherwise a confirm token; a dry run needs none), then run it in a
worker thread with progress notifications per step and backfill batch.
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
    abandoned_captures: list[dict[str, Any]]
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
                         remaining=None, final_validation=None, backup=None,
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

        notify = progress_notifier(ctx)

        def progress(event: str, data: dict[str, Any]) -> None:
            if event == "batch":
                message = f"{data['step']}: batch {data['batch']}, {data['rows']} rows"
            elif event == "throttle":  # "s03: paused: replication lag 12 s > 5 s"
                why = f": {data['reason']}" if data.get("reason") else ""
                message = f"{data['step']}: {data['state']}{why}"
            else:
                message = f"{data.get('step')}: {event.replace('_', ' ')}"
            notify(message)

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
        plan_id: Annotated[str, Field(description="from plan_migration")],
        plan_hash: Annotated[str, Field(description="the reviewed plan's hash (12+ characters)")],
        ctx: Context,
        step: Annotated[str | None, Field(description="only this step, e.g. s02")] = None,
        phase: Annotated[
            str | None, Field(description="the rest of this phase, e.g. expand")
        ] = None,
        all_steps: Annotated[bool, Field(description="every remaining step")] = False,
        dry_run: Annotated[bool, Field(description="show what would run; change nothing")] = False,
        db: Annotated[
            str | None,
            Field(description="default: the plan's"),
        ] = None,
        confirm_token: str | None = None,
        batch_size: Annotated[
            int | None,
            Field(
                description="rows per backfill batch (default: plan's)",
                ge=1,
                le=1_000_000,
            ),
        ] = None,
        max_lag_seconds: Annotated[
            float | None,
            Field(
                description="pause a backfill while standby lag exceeds this",
                gt=0,
            ),
        ] = None,
        without_backup: Annotated[
            str | None,
            Field(description="why a data-losing step may run with no backup"),
        ] = None,
        now: Annotated[bool, Field(description="ignore maintenance windows")] = False,
    ) -> ExecuteOutput:
        """Run the next step, a `step`, a `phase` or `all_steps` of a reviewed plan; needs
        confirmation; the same call resumes after a crash. Then validates: the story goes to
        in-review only on a pass. Show a dry_run first. Data-losing steps need a verified
        `backup`."""
        return await _run(
            ctx, "execute", plan_id, plan_hash, db, step, phase, all_steps, dry_run, confirm_token,
            batch_size=batch_size, max_lag_s=max_lag_seconds, without_backup=without_backup, now=now,
        )  # fmt: skip

    @tool(server, read_only=False, destructive=True, title="Roll back plan steps")
    async def rollback(
        plan_id: Annotated[str, Field(description="from plan_migration")],
        plan_hash: Annotated[str, Field(description="the reviewed plan's hash")],
        ctx: Context,
        step: Annotated[str | None, Field(description="must be the latest applied")] = None,
        all_steps: Annotated[bool, Field(description="every applied step, last first")] = False,
        dry_run: Annotated[bool, Field(description="show what would run; change nothing")] = False,
        db: Annotated[
            str | None,
            Field(description="default: the plan's"),
        ] = None,
        confirm_token: str | None = None,
        stop: Annotated[bool, Field(description="instead stop the running step")] = False,
    ) -> ExecuteOutput:
        """Undo the latest applied step, a named one, or all in reverse; needs confirmation. A
        step that dropped data cannot be undone (restore the backup)."""
        if stop:
            return await anyio.to_thread.run_sync(lambda: _stop(runtime, plan_id, plan_hash))
        return await _run(
            ctx, "rollback", plan_id, plan_hash, db, step, None, all_steps, dry_run, confirm_token
        )

    @tool(server, read_only=False, destructive=True, title="Rehearse a plan on staging")
    async def rehearse(
        plan_id: Annotated[str, Field(description="from plan_migration")],
        plan_hash: Annotated[str, Field(description="the reviewed plan's hash")],
        ctx: Context,
        staging: Annotated[
            str | None,
            Field(description="changed; omit for a throwaway copy of `db`"),
        ] = None,
        db: Annotated[str | None, Field(description="copied when no staging")] = None,
        sample_rows: Annotated[
            int,
            Field(
                description="rows per table in a throwaway copy",
                ge=1,
            ),
        ] = 10_000,
        record: Annotated[bool, Field(description="write timings into the plan")] = True,
        confirm_token: str | None = None,
    ) -> RehearsalOutput:
        """Time a reviewed plan's steps and rollbacks on staging or a throwaway copy; needs
        confirmation. Recording timings gives the plan a new hash: execute with that one."""
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
            str | None, Field(description="omit to list runs with a local log")
        ] = None,
        db: Annotated[
            str | None,
            Field(description="default: the plan's"),
        ] = None,
    ) -> RunStatusOutput:
        """A run on the target: step statuses, backfill checkpoints, latest events.
        `interrupted`: nothing runs a step marked running; resume with the same execute call."""
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
            abandoned_captures=(out.get("captures") or {}).get("abandoned", []),
            truncated=bool(out.get("events_truncated")),
        )
