"""The functions both faces call: prepare a selection, show it, confirm it, run it; run status.

The CLI (`datamigration execute|rollback|run-status`) and the MCP tools (`execute`, `rollback`,
`run_status`) differ only in how they confirm (`--yes` vs `confirm(ctx, ...)`), so the work is
split in two: `prepare` loads the reviewed plan (id + hash), connects, reads the run state and
selects the steps, which yields the exact `Action` to confirm; `Prepared.run` then does it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from datamigration.confirmation import Action
from datamigration.db.base import connect
from datamigration.errors import DataMigrationError, UserInputError
from datamigration.execute.executors import executor_class
from datamigration.execute.mongo_state import MongoRunStore
from datamigration.execute.rehearse import prepare_rehearsal, record_in_plan, rehearse
from datamigration.execute.runner import Executor, RunOptions
from datamigration.execute.selection import Selection, applied, select_rollback, select_steps
from datamigration.execute.state import RunLog, RunStore, local_runs, steps_from_log
from datamigration.plan.model import Plan
from datamigration.plan.store import list_plans, load_plan, plans_dir, read_plan_file
from datamigration.redact import redact_url
from datamigration.safety import alerts
from datamigration.safety import performance as perf
from datamigration.safety.captures import capture_report
from datamigration.safety.monitor import run_samples
from datamigration.safety.pace import pace_status
from datamigration.safety.throttle import throttle_status
from datamigration.workspace.root import Workspace


def target_url(plan: Plan, db: str | None) -> str:
    """The database to run against: the one given, else the one the plan was made for."""
    if db:
        return db
    if "***" in plan.database or not plan.database:
        raise UserInputError(
            f"plan {plan.id} was made for {plan.database or 'an unnamed database'}, whose "
            "password is not stored with the plan",
            hint="Pass the database: --db URL (or a connection name from datamigration.toml); "
            "keep the password in an environment variable referenced as ${VAR}.",
        )
    return plan.database.split(" (", 1)[0] if " (" in plan.database else plan.database


def _load(workspace: Workspace, plan_id: str, plan_hash: str | None) -> Plan:

    return load_plan(workspace, plan_id, plan_hash)


@dataclass
class Prepared:
    executor: Executor
    selection: Selection
    dry_run: bool

    def action(self) -> Action:
        """The selection's action; an override of the backup check is part of what the user
        confirms (a token for the run with a backup does not confirm one without)."""
        action = self.selection.action()
        reason = self.executor.options.without_backup
        if reason and self.selection.mode == "execute":
            return Action(action.kind, f"{action.summary}. WITHOUT A VERIFIED BACKUP (reason: "
                          f"{reason})", action.payload | {"without_backup": reason})  # fmt: skip
        return action

    @property
    def needs_confirmation(self) -> bool:
        return not self.dry_run and self.selection.mutating

    def run(self) -> dict[str, Any]:
        try:
            if self.dry_run:
                out = self.executor.dry_run(self.selection)
            elif not self.selection.steps:
                states = self.selection.states
                remaining = [s.id for s in self.executor.plan.steps
                             if s.id not in states or states[s.id].status != "done"]  # fmt: skip
                out = {"dry_run": False, "mode": self.selection.mode, "scope": self.selection.scope,
                       "steps": [], "remaining": remaining,
                       "note": "nothing to do: the selected steps are already done"}  # fmt: skip
            else:
                queries = self._performance_before()
                try:
                    out = self.executor.run(self.selection)
                except DataMigrationError as exc:
                    exc.data.setdefault("run_report", self._report().get("report"))
                    raise
                if queries and not out.get("remaining"):
                    self._performance_after(out, queries)
                out["notes"] = [*(out.get("notes") or []), *self._alert_final(out)]
                report = self._report()
                shown = [f"run report: {report['report']}"] if report.get("report") else []
                out["notes"] = [*(out.get("notes") or []), *shown, *report.get("notes", [])]
            out.update(self._header())
            return out
        finally:
            self.executor.close()

    def _alert_final(self, out: dict[str, Any]) -> list[str]:
        """The post-migration validation failed: an alert (the story stays where it is)."""
        final, plan = out.get("final_validation"), self.executor.plan
        if not isinstance(final, dict) or final.get("passed") is not False:
            return []
        why = final.get("summary") or final.get("error") or "failed"
        return alerts.warn(self.executor.workspace, f"Migration {plan.id}: the post-migration "
                           f"validation FAILED: {why}", story=plan.story,
                           extra={"validation": "failed"})  # fmt: skip

    def _performance_before(self) -> list[str]:
        """The representative reads (safety/performance.py), measured now when this run
        starts the plan's first step; [] when none are configured."""
        ex = self.executor
        queries = perf.queries_of(ex.workspace.config, ex.plan)
        first = ex.plan.steps[0] if ex.plan.steps else None
        chosen = {s.id for s in self.selection.steps}
        if (
            queries
            and first
            and first.id in chosen
            and not applied(self.selection.states, first.id)
        ):
            perf.record_before(ex.workspace.state_dir, ex.plan.id, ex.backend, queries,
                               perf.PerfPolicy.from_config(ex.workspace.config))  # fmt: skip
        return queries

    def _performance_after(self, out: dict[str, Any], queries: list[str]) -> None:
        """After the last step: the same reads compared with before; a regression is a failed
        check (an alert), reported with the final validation and in the run report."""
        ex = self.executor
        result = perf.check_after(ex.workspace.state_dir, ex.plan.id, ex.backend, queries,
                                  perf.PerfPolicy.from_config(ex.workspace.config))  # fmt: skip
        ex.log.write("performance_check", passed=result["passed"], summary=result["summary"],
                     regressions=result.get("regressions", []))  # fmt: skip
        out["performance"] = result
        if isinstance(out.get("final_validation"), dict):
            out["final_validation"]["performance"] = result
        notes = [f"performance check: {result['summary']}"]
        if result["passed"] is False:
            notes += alerts.warn(ex.workspace, f"Migration {ex.plan.id}: performance check "
                                 f"after the last step FAILED: {result['summary']}",
                                 story=ex.plan.story, extra={"performance": "regressed"})  # fmt: skip
        out["notes"] = [*(out.get("notes") or []), *notes]

    def _report(self) -> dict[str, Any]:
        """The run report (safety/report.py) at the end of every run, whatever its outcome;
        a report that cannot be written is a note, never the run's failure."""
        from datamigration.safety.report import write_run_report

        ex = self.executor
        if not ex.options.announce:  # rehearsals write no report
            return {}
        try:
            return write_run_report(ex.workspace, ex.options.log_name or ex.plan.id)
        except (DataMigrationError, OSError, ValueError) as exc:
            return {"notes": [f"run report not written: {exc}"]}

    def close(self) -> None:
        self.executor.close()

    def _header(self) -> dict[str, Any]:
        plan = self.executor.plan
        return {
            "plan_id": plan.id,
            "plan_hash": plan.hash,
            "database": redact_url(self.executor.url),
            "log": self.executor.workspace.relative(self.executor.log.path),
        }


def prepare(
    workspace: Workspace,
    plan_id: str,
    plan_hash: str | None,
    *,
    mode: str = "execute",
    db: str | None = None,
    step: str | None = None,
    phase: str | None = None,
    all_steps: bool = False,
    dry_run: bool = False,
    options: RunOptions | None = None,
) -> Prepared:
    plan = _load(workspace, plan_id, plan_hash)
    executor = executor_class(plan)(workspace, plan, target_url(plan, db), options)
    try:
        states = executor.states()
        if mode == "rollback":
            if phase:
                raise UserInputError("rollback takes --step or --all, not --phase")
            selection = select_rollback(plan, states, step=step, all_steps=all_steps)
        else:
            selection = select_steps(plan, states, step=step, phase=phase, all_steps=all_steps)
            if not dry_run:
                executor.backup_gate(selection)  # refused before anything is confirmed
    except BaseException:
        executor.close()
        raise
    return Prepared(executor, selection, dry_run)


def run_status(
    workspace: Workspace, plan_id: str | None = None, *, db: str | None = None, events: int = 20
) -> dict[str, Any]:
    """Where runs stand: per step status and backfill checkpoints (from the target database when
    it can be reached, else from the local log), plus the latest events, and the change
    captures sync runs abandoned on that database (`captures`; with no plan, on `db`)."""

    if plan_id is None:
        return _all_runs(workspace, db)
    series = run_samples(workspace, plan_id)
    if not (plans_dir(workspace) / f"{plan_id}.json").is_file() and series["samples"]:
        return {"plan_id": plan_id, "summary": "a monitor run (no plan)", "source": "local log",
                "steps": [], **series}  # fmt: skip
    data = read_plan_file(plans_dir(workspace) / f"{plan_id}.json")
    plan = Plan.from_dict(data)
    run_log = RunLog(workspace.state_dir, plan.id)
    log_events, cut = run_log.read(events)
    out: dict[str, Any] = {
        "plan_id": plan.id,
        "plan_hash": plan.hash,
        "title": plan.title,
        "events": log_events,
        "events_truncated": cut,
        # the backfill throttle's latest decision ("paused: replication lag 12 s > 5 s")
        "throttle": throttle_status(recent := run_log.read(1000)[0]),
        # the pace the latency budget settled on (batch size, pause, budget)
        "pace": pace_status(recent),
        "source": "local log",
        **series,
    }
    logged = _step_states(workspace, plan, db, run_log, out)
    out["steps"] = [
        {
            "step": s.id,
            "title": s.title,
            "phase": s.phase,
            "destructive": s.destructive,
            **logged.get(s.id, {"status": "pending"}),
        }
        for s in plan.steps
    ]
    out["summary"] = _summary(out)
    return out


def _all_runs(workspace: Workspace, db: str | None = None) -> dict[str, Any]:
    """Every plan with a local run log (and its last event), plus every plan in the workspace;
    with `db`, the change captures sync runs abandoned on it (`captures`)."""
    runs = local_runs(workspace.state_dir)
    known = {p["id"]: p for p in list_plans(workspace)}
    extra: dict[str, Any] = {}
    if db:
        try:
            with connect(db, workspace) as backend:
                extra["captures"] = capture_report(backend)
        except DataMigrationError as exc:
            extra["database_error"] = exc.message
    return {
        **extra,
        "runs": [
            {
                "plan_id": r,
                "hash": known.get(r, {}).get("hash", ""),
                "title": known.get(r, {}).get("title", ""),
                "last_event": (RunLog(workspace.state_dir, r).read(1)[0] or [None])[0],
            }
            for r in runs
        ],
        "plans": list(known.values()),
    }


def _step_states(
    workspace: Workspace, plan: Plan, db: str | None, run_log: RunLog, out: dict[str, Any]
) -> dict[str, dict[str, Any]]:
    """Each step's recorded state by step id, from the target database's run store (adding
    `run`, `checkpoints`, `interrupted`, `source` and `database` to `out`), or from the local
    log when the target cannot be reached (adding `database_error`)."""
    try:
        url = target_url(plan, db)
        with connect(url, workspace) as backend:
            store: Any = (MongoRunStore if backend.documents else RunStore)(
                backend, plan.id, plan.hash
            )
            if store.exists():
                states = store.steps()
                out["run"] = store.run()
                out["checkpoints"] = [c.to_dict() for c in store.checkpoints()]
                if any(st.status in ("running", "rolling_back") for st in states.values()):
                    out["interrupted"] = (not store.locked_by_other() if backend.documents
                                          else _nobody_runs(backend, plan.id))  # fmt: skip
            else:
                states, out["run"], out["checkpoints"] = {}, None, []
            out["source"] = "target database"
            out["database"] = redact_url(url)
            out["captures"] = capture_report(backend)  # abandoned sync captures there
        return {
            k: {n: v for n, v in st.to_dict().items() if n != "step"} for k, st in states.items()
        }
    except DataMigrationError as exc:
        # Unreachable: the local log still knows which steps ran here; never say "pending".
        logged = steps_from_log(run_log.read(1_000_000)[0])
        out["database_error"] = exc.message
        return logged


def _summary(out: dict[str, Any]) -> str:
    """`3/5 steps done`, with where that comes from and what to do about an interrupted run."""
    done = sum(1 for s in out["steps"] if s["status"] == "done")
    summary = f"{done}/{len(out['steps'])} steps done"
    if "database_error" in out:
        summary += (
            " according to the local log (.datamigration/runs/): the target database could not "
            "be reached, so runs recorded from other machines are not shown"
        )
    if out.get("interrupted"):
        summary += (
            "; a run was interrupted (no executor holds the plan): run the same command "
            "again to resume from the checkpoint"
        )
    return summary


def jsonable_result(data: Mapping[str, Any]) -> dict[str, Any]:
    """Tuples to lists and keys to text: what JSON and the MCP output schema carry."""
    import json

    return json.loads(json.dumps(data, default=str))


def rehearsal_action(workspace: Workspace, plan_id: str, plan_hash: str | None,
                     staging: str | None) -> tuple[Plan, Action]:  # fmt: skip
    """Load the reviewed plan and the Action that confirms its rehearsal."""
    plan = _load(workspace, plan_id, plan_hash)
    return plan, prepare_rehearsal(plan, staging)


def rehearse_plan(
    workspace: Workspace,
    plan: Plan,
    *,
    staging: str | None,
    db: str | None,
    sample_rows: int = 10_000,
    batch_size: int | None = None,
    record: bool = True,
    progress: Any = None,
) -> dict[str, Any]:
    """Rehearse (staging, or a throwaway copy of `db` / the plan's database) and record it."""
    source = None if staging else target_url(plan, db)
    result = rehearse(workspace, plan, staging=staging, source=source, sample_rows=sample_rows,
                      batch_size=batch_size, progress=progress)  # fmt: skip
    out: dict[str, Any] = {"plan_id": plan.id, "rehearsal": result, "plan_hash": plan.hash,
                           "recorded": False}  # fmt: skip
    if record:
        updated = record_in_plan(workspace, plan, result)
        out.update(plan_hash=updated.hash, previous_hash=plan.hash, recorded=True)
    return out


def _nobody_runs(backend: Any, plan_id: str) -> bool:
    """True when no executor holds the plan's lock, so a `running` step was interrupted."""

    name = f"datamigration:{plan_id}"
    if not backend.try_session_lock(name):
        return False
    backend.release_session_lock(name)
    return True
