"""The runners of a `move_table` plan's sync steps: ``sync_start``, ``sync_catch_up``,
``cutover`` (``shadow_reads`` is the shadow engine's runner).

Why thin: the sync itself runs in a background process (`move.sync.runner`), the cutover in
`move.sync.cutover`; the executor only starts, waits, switches and reverses, with the plan's
parameters, so what runs is what was reviewed. The run name comes from the plan (derived from
table and target), so a re-run of a step finds the same sync run: `sync_start` of a run that
is already going reports it instead of starting a second one.
"""

from __future__ import annotations

import time
from typing import Any

from datamigration.errors import ConflictError, DataMigrationError
from datamigration.execute.operations import OperationRunner, RunContext, runs
from datamigration.plan.model import Operation, Step

#: how often a waiting step looks at the sync's status (and reports its progress)
POLL_S = 0.5


def _mapping(ctx: RunContext, op: Operation) -> dict[str, Any] | None:
    from datamigration.move.request import load_mapping

    path = op.params.get("mapping")
    return load_mapping(ctx.workspace, str(path)) if path else None


def _tables(op: Operation, mapping: dict[str, Any] | None) -> tuple[str, ...]:
    """The plan's tables, then the tables its mapping embeds in their documents: a change to
    an `orders` row must be captured (and paused at the cutover) to reach its user's
    document."""
    tables = [str(t) for t in op.params.get("tables") or ()]

    def walk(spec: dict[str, Any]) -> None:
        for e in spec.get("embed") or []:
            if isinstance(e, dict) and isinstance(e.get("table"), str):
                tables.append(e["table"])
                walk(e)

    for c in (mapping or {}).get("collections") or []:
        if isinstance(c, dict) and c.get("root") in tables:
            walk(c)
    return tuple(dict.fromkeys(tables))


@runs("sync_start")
class SyncStartRunner(OperationRunner):
    """Start capture + snapshot + streaming in a background process (`move.sync.control.
    spawn`); reverse: stop it and remove the capture from the source."""

    def run(self, ctx: RunContext, step: Step, op: Operation) -> dict[str, Any]:
        from datamigration.move.sync.control import spawn
        from datamigration.move.sync.request import SyncRequest
        from datamigration.move.sync.switch import sync_status

        p = op.params
        try:
            status = sync_status(str(p["run"]), ctx.workspace, target=str(p["target"]),
                                 source=ctx.url)  # fmt: skip
        except DataMigrationError:
            status = {}
        if status.get("status") == "running" and status.get("alive"):
            return {"sync": {"run": p["run"], "already": "running"}}
        mapping = _mapping(ctx, op)
        request = SyncRequest(
            source=ctx.url,
            target=str(p["target"]),
            tables=_tables(op, mapping),
            run=str(p["run"]),
            workspace=str(ctx.workspace.root),
            mapping=mapping,
            method=str(p.get("method") or "auto"),
        )
        started = spawn(request, ctx.workspace)
        ctx.progress("sync_started", run=p["run"], pid=started.get("pid"))
        return {"sync": {"run": p["run"], "started": started}}

    def reverse(self, ctx: RunContext, step: Step, op: Operation) -> dict[str, Any]:
        from datamigration.move.sync.control import stop_sync

        out = stop_sync(ctx.workspace, str(op.params["run"]), teardown=True,
                        target=str(op.params["target"]), source=ctx.url)  # fmt: skip
        return {"sync": out}


@runs("sync_catch_up")
class SyncCatchUpRunner(OperationRunner):
    """Wait for the snapshot to finish (`until: snapshot`) or the lag to fall under its bound
    (`until: lag`), reporting lag and apply rate; refuse when the sync failed or the time is
    up. Nothing to reverse: waiting changes nothing."""

    def run(self, ctx: RunContext, step: Step, op: Operation) -> dict[str, Any]:
        from datamigration.move.sync.switch import lag_seconds, sync_status

        p = op.params
        run, until = str(p["run"]), str(p.get("until") or "lag")
        bound = float(p.get("lag_max_s") or 5.0)
        deadline = time.monotonic() + float(p.get("timeout_s") or 3600)
        while True:
            status = sync_status(run, ctx.workspace, target=str(p["target"]), source=ctx.url)
            state = str(status.get("status") or "")
            if state == "running" and not status.get("alive"):
                state = "failed"  # the row says running, but no process applies it
            lag = lag_seconds(status)
            ctx.progress("sync_lag", run=run, status=state, lag_seconds=lag,
                         applied=status.get("applied"), apply_rate=status.get("apply_rate"))  # fmt: skip
            if state in ("failed", "stopped"):
                raise ConflictError(
                    f"sync {run} is {state} ({status.get('error') or 'see sync status'})",
                    hint=f"Look at sync status {run}; roll the plan back to its prepare step, "
                    "fix the cause, and run it again.",
                    run=run,
                    status=state,
                )
            if _reached(until, status, lag, bound):
                return {"sync": {"run": run, "until": until, "lag_seconds": lag,
                                 "applied": status.get("applied"), "status": state}}  # fmt: skip
            if time.monotonic() > deadline:
                raise ConflictError(
                    f"sync {run} did not reach {until} in {p.get('timeout_s')} s "
                    f"(lag {lag} s, status {state})",
                    hint="Run the step again to keep waiting; the sync goes on meanwhile.",
                    run=run,
                )
            ctx.options.sleep(POLL_S)

    def reverse(self, ctx: RunContext, step: Step, op: Operation) -> dict[str, Any]:
        return {"note": "waiting changed nothing"}


def _reached(until: str, status: dict[str, Any], lag: float | None, bound: float) -> bool:
    snapshot_done = bool(status.get("snapshot_done"))
    if until == "snapshot":
        return snapshot_done
    return snapshot_done and lag is not None and lag <= bound


@runs("cutover")
class CutoverRunner(OperationRunner):
    """The cutover of the plan's sync run; reverse: the rollback after cutover."""

    def run(self, ctx: RunContext, step: Step, op: Operation) -> dict[str, Any]:
        from datamigration.move.sync.cutover import cutover

        return {"cutover": cutover(self._request(ctx, op), progress=_progress(ctx))}

    def reverse(self, ctx: RunContext, step: Step, op: Operation) -> dict[str, Any]:
        from datamigration.move.sync.cutover import rollback_cutover

        return {"rollback": rollback_cutover(self._request(ctx, op), progress=_progress(ctx))}

    def _request(self, ctx: RunContext, op: Operation) -> Any:
        from datamigration.move.sync.cutover import CutoverRequest

        p = op.params
        mapping = _mapping(ctx, op)
        return CutoverRequest(
            run=str(p["run"]),
            workspace=str(ctx.workspace.root),
            lag_max_s=float(p.get("lag_max_s") or 5.0),
            pause_max_ms=int(p.get("pause_max_ms") or 1_000),
            write_pause=str(p.get("write_pause") or "lock"),
            flag=p.get("flag"),
            pause_flag=p.get("pause_flag"),
            flags_file=p.get("flags_file"),
            source=ctx.url,
            target=str(p["target"]),
            tables=_tables(op, mapping),
            mapping=mapping,
            story=ctx.plan.story,
        )


def _progress(ctx: RunContext) -> Any:
    return lambda event, data: ctx.progress(f"cutover_{event}", **data)
