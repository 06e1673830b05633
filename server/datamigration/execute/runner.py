"""The executor: runs the steps of a stored, reviewed plan against its target database.

What runs is exactly the plan's Operation objects (loaded by id + content hash); the executor
never writes SQL of its own beyond its state tables and catalog look-ups. A call selects a step,
a phase or the rest of the plan (`selection.select_steps`), the adapter (CLI or MCP tool) confirms the
resulting `Action`, and `Executor.run` carries it out:

* one executor per plan (a session lock on the target that a crash releases);
* step statuses and backfill checkpoints in the state tables on the target (execute/state.py),
  so a run resumes where it stopped; a local event log under `.datamigration/runs/`;
* every DDL statement with `lock_timeout` and retries with backoff and jitter (execute/retry.py),
  concurrent index builds that drop an invalid index and retry (execute/indexes.py), keyset
  backfills throttled on probe latency and replication lag (execute/backfill.py, safety/throttle.py);
* gates before a step: a destructive (contract) step runs only after the validation rules of the
  steps before it passed (run here, recorded in the run row);
* each phase change posts on the bus and records the phase on the story in status.json; when
  the last step is done, the post-migration validation runs, its report is recorded on the story
  (`record_validation`), and the story is asked to move to in-review, which the harness rule
  allows only when that validation passed.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Any, Self

from datamigration.db.base import Backend, connect
from datamigration.errors import (
    ConflictError,
    DataMigrationError,
    UserInputError,
    ValidationFailedError,
)
from datamigration.execute import (  # noqa: F401 - importing a runner module registers it
    backfill,
    copy_operation,
    flag_operation,
    shadow_operation,
    sql_operation,
    sync_operations,
)
from datamigration.execute import story as story_mod
from datamigration.execute.mongo_state import MongoRunStore
from datamigration.execute.operations import OperationRunner, runner_for
from datamigration.execute.options import RunOptions
from datamigration.execute.selection import (
    Selection,
    applied,
)
from datamigration.execute.selection import done as step_done
from datamigration.execute.state import RunLog, RunStore, StepState
from datamigration.execute.watching import act_on_firing, check_window, watching
from datamigration.plan.model import Operation, Plan, Step
from datamigration.safety.backup.gate import check_before
from datamigration.safety.throttle import Throttle, ThrottlePolicy
from datamigration.safety.triggers import evaluate
from datamigration.safety.watch import TriggerFiredError, Watch, clear_stop
from datamigration.validate.rules import run_rules
from datamigration.workspace.root import Workspace


class StepGateError(ConflictError):
    """A step's gate does not hold (e.g. validation has not passed before a contract step)."""


class Executor:
    """Runs selections of one plan against one target database (see the module docstring).

    The loop, the lock, the gates and the state calls are this class's for every database;
    an operation runs through the runner registered for its kind (execute/operations.py).
    A subclass for another family of databases says which kinds it runs, which state store it
    keeps, and how its throttle probes the database."""

    #: the operation kinds this executor runs (each has a registered runner)
    kinds: tuple[str, ...] = ("sql", "backfill", "manual", "validate", "flag", "copy",
                              "sync_start", "sync_catch_up", "shadow_reads", "cutover")  # fmt: skip
    #: how the refusal of another kind reads
    refusal = "which this executor does not run"
    refusal_hint = "Re-plan with `plan_migration`: the planner writes only kinds that run."
    store: RunStore | MongoRunStore

    def __init__(
        self,
        workspace: Workspace,
        plan: Plan,
        url: str,
        options: RunOptions | None = None,
        *,
        backend: Backend | None = None,
    ) -> None:
        self.workspace = workspace
        self.plan = plan
        self.url = url
        self.options = options or RunOptions()
        self.backend = backend or connect(url, workspace)
        if self.options.one_core:
            self.backend.keep_to_one_core()
        self.store = self._open_store()
        self.log = RunLog(workspace.state_dir, self.options.log_name or plan.id)
        self._story = story_mod if self.options.announce else _Silent()
        self._locked = False
        #: the watch of the step running now (execute/watching.py), None between steps
        self.watch: Watch | None = None

    def _open_store(self) -> RunStore | MongoRunStore:
        """The run state on the target: the state tables of SQL databases."""
        return RunStore(self.backend, self.plan.id, self.plan.hash)

    # --- lifecycle -----------------------------------------------------------------------------

    def close(self) -> None:
        try:
            if self._locked:
                self.store.release_lock()
                self._locked = False
        finally:
            self.backend.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def states(self) -> dict[str, StepState]:
        return self.store.steps() if self.store.exists() else {}

    def progress(self, event: str, **data: Any) -> None:
        if self.options.progress is not None:
            self.options.progress(event, data)

    def _acquire(self) -> None:
        # A killed executor's session ends a moment after the kill (the server notices the
        # closed socket), so wait briefly for its lock before calling it a second executor.
        deadline = time.monotonic() + self.options.lock_wait_s
        while not self._locked and not self.store.try_lock():
            if time.monotonic() < deadline:
                time.sleep(0.2)
                continue
            raise ConflictError(
                f"another executor is running plan {self.plan.id} on this database",
                hint=self.store.lock_hint,
                plan=self.plan.id,
            )
        self._locked = True
        self.store.ensure()
        before = self.store.begin()
        if before is not None and before.get("status") == "running":
            self.log.write("resume", owner=before.get("owner"))

    # --- dry run -------------------------------------------------------------------------------

    def dry_run(self, selection: Selection) -> dict[str, Any]:
        """Exactly what would run: the plan's Operation objects, and where a backfill resumes."""
        checkpoints = {
            (c.step_id, c.op_id): c
            for c in (self.store.checkpoints() if self.store.exists() else [])
        }
        steps = []
        for s in selection.steps:
            ops = s.rollback if selection.mode == "rollback" else s.operations
            entry: dict[str, Any] = {
                "step": s.id,
                "title": s.title,
                "phase": s.phase,
                "gates": list(s.gates),
                "destructive": s.destructive,
                "operations": [o.to_dict() for o in ops],
            }
            resume = [
                checkpoints[(s.id, o.id)].to_dict() for o in ops if (s.id, o.id) in checkpoints
            ]
            if resume:
                entry["resume"] = resume
            if selection.mode == "execute" and s.validation:
                entry["validation_rules"] = len(s.validation)
            steps.append(entry)
        return {"dry_run": True, "mode": selection.mode, "scope": selection.scope, "steps": steps}

    # --- execute -------------------------------------------------------------------------------

    def run(self, selection: Selection) -> dict[str, Any]:
        if selection.mode == "rollback":
            return self._rollback(selection)
        gate = self.backup_gate(selection)
        self._acquire()
        clear_stop(self.workspace.state_dir, self.plan.id)  # a stop asked before this run
        results = []
        story_notes: list[str] = []
        self.log.write("execute", scope=selection.scope, steps=[s.id for s in selection.steps])
        if gate is not None:
            self.log.write("backup_gate", **gate)
            story_notes += self._story.backup_checked(self.workspace, self.plan, gate)
        previous_phase = self._last_phase()
        for step in selection.steps:
            if step.phase != previous_phase:
                story_notes += self._story.phase_changed(
                    self.workspace, self.plan, step.phase, "started"
                )
                previous_phase = step.phase
            results.append(self._run_step(step))
        out: dict[str, Any] = {
            "dry_run": False,
            "mode": "execute",
            "scope": selection.scope,
            "steps": results,
            "backup": gate,
        }
        states = self.store.steps()
        remaining = [s.id for s in self.plan.steps if not step_done(states, s.id)]
        out["remaining"] = remaining
        if not remaining:
            self.store.set_run(status="completed")
            story_notes += self._story.phase_changed(
                self.workspace, self.plan, previous_phase or "", "completed"
            )
            if self.options.finish_story:
                out["final_validation"] = self._final_validation()
        out["notes"] = story_notes
        return out

    def _last_phase(self) -> str | None:
        states = self.store.steps()
        done = [s for s in self.plan.steps if applied(states, s.id)]
        return done[-1].phase if done else None

    def _run_step(self, step: Step) -> dict[str, Any]:
        started = time.perf_counter()
        try:
            self._check_gates(step)
            check_window(self, step)
        except ConflictError as exc:  # a gate held the step: the run log and an alert say so
            self.log.write("gate_refused", step=step.id, error=exc.message)
            self._story.gate_refused(self.workspace, self.plan, step, exc.message)
            raise
        self.store.set_step(step.id, "running", detail=None)
        self.log.write("step_started", step=step.id, title=step.title)
        self.progress("step_started", step=step.id, title=step.title)
        ops_out = []
        ran: list[Operation] = []
        try:
            with watching(self, step):
                for op in step.operations:
                    try:
                        ops_out.append(self._run_operation(step, op))
                    except DataMigrationError as exc:
                        if _violates_data(exc) and ran:
                            raise self._undo_partial(step, ran, exc) from exc
                        raise
                    ran.append(op)
            validation = None
            if step.validation:
                validation = self.validate(step.validation, f"{self.plan.id}-{step.id}")
                validation.pop("run")
            if validation is not None and not validation["passed"]:
                undone = self._trigger_rollback(step, validation)
                rolled = undone is not None
                raise ValidationFailedError(
                    f"step {step.id} ran but its validation failed: {validation['summary']}"
                    + (f"; its rollback trigger undid: {'; '.join(undone)}" if undone else "")
                    + (
                        ""
                        if rolled
                        else "; nothing was rolled back (the step has no rollback operations "
                        "or is a point of no return)"
                    ),
                    hint="Look at the failed rules, fix the cause, and run the step again."
                    if rolled
                    else f"Look at the failed rules; roll the step back with `datamigration "
                    f"rollback {self.plan.id} --step {step.id} --yes` or fix the data and run "
                    "the step again.",
                    step=step.id,
                    validation=validation,
                    rolled_back=rolled,
                )
        except TriggerFiredError as exc:
            raise act_on_firing(self, step, exc) from None
        except ValidationFailedError as exc:
            if exc.data.get("rolled_back"):  # a trigger acted: the story is blocked, bus told
                self.log.write("step_failed", step=step.id, error=exc.message)
                fired = evaluate(step.rollback_triggers, validation=exc.data["validation"])
                why = {"trigger": fired[0].metric, "reason": exc.data["validation"]["summary"]}
                self._story.trigger_fired(self.workspace, self.plan, step, why, "rolled back")
                raise
            self._fail_step(step, exc)
            raise
        except BaseException as exc:
            self._fail_step(step, exc)
            raise
        self.store.set_step(step.id, "done", detail=None)

        seconds = time.perf_counter() - started
        self.log.write("step_done", step=step.id, seconds=round(seconds, 3))
        self.progress("step_done", step=step.id, seconds=round(seconds, 3))
        return {
            "step": step.id,
            "title": step.title,
            "phase": step.phase,
            "status": "done",
            "seconds": round(seconds, 3),
            "operations": ops_out,
            "validation": validation,
        }

    def _fail_step(self, step: Step, exc: BaseException) -> None:
        detail = str(exc) if isinstance(exc, DataMigrationError) else type(exc).__name__
        try:
            self.store.set_step(step.id, "failed", detail=detail)
        except DataMigrationError:
            pass
        self.log.write("step_failed", step=step.id, error=detail)
        self._story.step_failed(self.workspace, self.plan, step, detail)

    def _trigger_rollback(self, step: Step, validation: dict[str, Any]) -> list[str] | None:
        """The plan's rollback triggers on validation / checksum failures roll the step back
        at once (`action: rollback_step`), so a bad step does not stay applied.

        Returns what the rollback undid (its operations' descriptions), or None when nothing
        ran: a step without rollback operations is never reported as rolled back."""
        fired = evaluate(step.rollback_triggers, validation=validation)
        if not fired or not step.reversible or not step.rollback:
            return None
        self.log.write("rollback_trigger", step=step.id, trigger=fired[0].description)
        self._rollback_step(step)
        return [op.description for op in step.rollback]

    def _undo_partial(
        self, step: Step, ran: list[Operation], exc: DataMigrationError
    ) -> DataMigrationError:
        """An operation found rows that break what the step adds (VALIDATE of a NOT VALID
        CHECK or foreign key): the operations of the step that already ran are undone, last
        first, so no half-added constraint keeps rejecting the application's writes. Returns
        the error to raise, saying exactly what was undone."""
        undone: list[str] = []
        try:
            for op in reversed(ran):
                for r in op.reverse:
                    if r.kind == "sql":
                        self._runner(r, rollback=True).reverse(self, step, r)
                        undone.append(r.description)
            self.store.clear_checkpoints(step.id)
        except DataMigrationError as undo_exc:
            return type(exc)(
                f"{exc.message}; undoing the step's earlier operations failed after "
                f"{len(undone)} ({'; '.join(undone) or 'none'}): {undo_exc.message}",
                hint=f"Roll the step back: call the rollback tool with plan_id, plan_hash and "
                f"step {step.id!r}, then fix the data. {undo_exc.hint or ''}".strip(),
                step=step.id,
            )
        self.log.write("step_undone", step=step.id, undone=undone, error=exc.message)
        return type(exc)(
            f"{exc.message}; the existing rows break what step {step.id} adds, so its operations "
            f"that had run were undone ({'; '.join(undone) or 'nothing to undo'}): the table is "
            "as before the step",
            hint="Fix the rows first (for NULLs: re-plan with a `fill` value), then run the step "
            "again.",
            step=step.id,
            undone=undone,
        )

    # --- gates ---------------------------------------------------------------------------------

    def backup_gate(self, selection: Selection) -> dict[str, Any] | None:
        """Before anything runs (and before the user is asked to confirm): a verified backup
        when a selected step can lose data (safety/backup/gate.py); refused otherwise, unless
        overridden with a reason."""
        if not self.options.backup_gate:
            return None
        try:
            return check_before(self.workspace, self.plan, selection.steps, self.url,
                                without_backup=self.options.without_backup)  # fmt: skip
        except ConflictError as exc:
            self._story.gate_refused(self.workspace, self.plan, None, exc.message)
            raise

    def _check_gates(self, step: Step) -> None:
        needs_validation = "validation_passed" in step.gates or step.destructive
        if needs_validation:
            rules = self.rules_before(step)
            if not rules:
                raise StepGateError(
                    f"step {step.id} ({step.title}) needs a passing validation first, but the plan "
                    "has no validation rules before it",
                    hint="Re-plan with validation rules (datamigration plan generates them), or "
                    "validate by hand and roll forward with care.",
                    step=step.id,
                )
            result = self.validate(rules, f"{self.plan.id}-before-{step.id}")
            result.pop("run")
            self.store.set_run(validation="passed" if result["passed"] else "failed")
            if not result["passed"]:
                raise StepGateError(
                    f"step {step.id} ({step.title}) is held: validation before it failed "
                    f"({result['summary']})",
                    hint="Nothing was dropped. Fix the data (or roll back), then run the step "
                    "again; it validates again first.",
                    step=step.id,
                    validation=result,
                )
        if "health_ok" in step.gates:
            policy = self.options.throttle or ThrottlePolicy.from_monitoring(
                None, max_lag_s=self.options.max_lag_s
            )
            throttle = self.throttle(policy, self._gate_table(step))
            throttle.calibrate()
            reason = throttle.strained()
            if reason:
                raise StepGateError(
                    f"step {step.id} is held: the database looks strained ({reason})",
                    hint="Run the step again when the load is lower.",
                    step=step.id,
                )

    def rules_before(self, step: Step) -> list[dict[str, Any]]:
        """The rules of the nearest earlier step that has any: they describe the table as it is
        now (each step's rules are written for the shape right after it). Without any, the
        plan's post-migration rules."""
        earlier = list(self.plan.steps)
        earlier = earlier[: earlier.index(step)] if step in earlier else earlier
        for s in reversed(earlier):
            if s.validation:
                return [dict(r) for r in s.validation]
        return [dict(r) for r in self.plan.post_validation if isinstance(r, dict) and "type" in r]

    def validate(self, rules: Sequence[Any], name: str) -> dict[str, Any]:
        """Run rules against the target. Rules that fail are run again (up to
        `validation_rechecks` times, after a short pause) before the failure counts: on a live
        table a comparison can catch a row between two writes, a real divergence stays."""
        import dataclasses

        named = [dict(r) | {"id": r.get("id") or f"{name}-{i + 1}"} for i, r in enumerate(rules)]

        def go(subset: list[dict[str, Any]]) -> Any:
            return run_rules({"name": name, "rules": subset}, self.workspace, source=self.url,
                             target=self.url, name=name, gentle=True)  # fmt: skip

        run = go(named)
        rechecked: list[str] = []
        for attempt in range(self.options.validation_rechecks):
            failing = {r.id for r in run.results if not r.passed}
            if not failing:
                break
            self.options.sleep(0.5 * (attempt + 1))
            again = {r.id: r for r in go([r for r in named if r["id"] in failing]).results}
            rechecked += [i for i in failing if again[i].passed]
            results = tuple(again.get(r.id, r) for r in run.results)
            run = dataclasses.replace(run, results=results)
        self.log.write("validation", name=name, passed=run.passed, summary=run.summary,
                       passed_on_recheck=rechecked)  # fmt: skip
        return {
            "name": name,
            "passed": run.passed,
            "summary": run.summary,
            "failed": [r.to_dict() for r in run.results if not r.passed][:20],
            "passed_on_recheck": rechecked,
            "run": run,
        }

    def _final_validation(self) -> dict[str, Any]:
        rules = [dict(r) for r in self.plan.post_validation if isinstance(r, dict) and "type" in r]
        if not rules:
            rules = self.rules_before(Step("_end", "", "", "", ()))
        if not rules:
            return {"ran": False, "passed": None,
                    "reason": "the plan has no post-migration validation rules"}  # fmt: skip
        try:
            result = self.validate(rules, f"{self.plan.id}-post")
        except DataMigrationError as exc:
            # the migration itself is done; a rule that cannot run is reported, not recorded
            self.log.write("validation_error", error=exc.message)
            return {"ran": False, "passed": False, "error": exc.message,
                    "hint": "Fix the rule (plan.json post_validation) and run `datamigration "
                    "validate` with it; the story moves to in-review once it passes."}  # fmt: skip
        run = result.pop("run")
        self.store.set_run(validation="passed" if run.passed else "failed")
        return story_mod.record_and_review(self.workspace, self.plan, run)

    # --- operations ----------------------------------------------------------------------------

    def _runner(self, op: Operation, *, rollback: bool = False) -> OperationRunner:
        runner = runner_for(op.kind) if op.kind in self.kinds else None
        if runner is not None:
            return runner
        if rollback:
            raise UserInputError(
                f"rollback operation {op.id} has kind {op.kind!r}, which cannot run"
            )
        raise UserInputError(
            f"operation {op.id} is a {op.kind!r} operation, {self.refusal}", hint=self.refusal_hint
        )

    def _op_done(self, step: Step, op: Operation) -> bool:
        cp = self.store.checkpoint(step.id, op.id)
        return cp is not None and cp.finished

    def _run_operation(self, step: Step, op: Operation) -> dict[str, Any]:
        runner = self._runner(op)
        if not runner.resumes(op) and self._op_done(step, op):
            return {
                "operation": op.id,
                "kind": op.kind,
                "skipped": "already done in an earlier run",
            }
        started = time.perf_counter()
        self.log.write(
            "operation", step=step.id, operation=op.id, kind=op.kind, **runner.log_fields(op)
        )
        out = runner.run(self, step, op)
        if runner.marks_done(op):
            self.store.mark_done(step.id, op.id)
        out.update(operation=op.id, kind=op.kind, seconds=round(time.perf_counter() - started, 3))
        return out

    def backfill_policy(self, step: Step) -> ThrottlePolicy:
        """The throttle of a batched operation: the run's own, or the step's monitoring."""
        return self.options.throttle or ThrottlePolicy.from_monitoring(
            dict(step.monitoring),
            pause_ms=self.options.batch_pause_ms or None,
            max_lag_s=self.options.max_lag_s,
        )

    def throttle(
        self,
        policy: ThrottlePolicy,
        table: str | None = None,
        on_event: Callable[[dict[str, Any]], None] | None = None,
    ) -> Throttle:
        """A throttle probing `table` (see `_probe`)."""
        probe = {"probe_sql": policy.probe_sql} if policy.probe_sql else self._probe(table)
        return Throttle(self.backend, policy=policy, sleep=self.options.sleep, on_event=on_event,
                        **probe)  # fmt: skip

    def _probe(self, table: str | None) -> dict[str, Any]:
        """How the throttle measures latency: a one-row read of `table`, or a trivial query."""
        return {"probe_sql": f"SELECT 1 FROM {self.backend.quote_identifier(table)} LIMIT 1"
                if table else "SELECT 1"}  # fmt: skip

    def _gate_table(self, step: Step) -> str | None:
        """What the health gate probes (SQL: a trivial query)."""
        return None

    # --- rollback ------------------------------------------------------------------------------

    def _rollback_step(self, step: Step) -> dict[str, Any]:
        """Run one step's reverse operations; the step is `rolled_back` afterwards."""
        started = time.perf_counter()
        self.store.set_step(step.id, "rolling_back")
        self._story.rollback_started(self.workspace, self.plan, step)
        ops = []
        try:
            for op in step.rollback:
                ops.append(self._runner(op, rollback=True).reverse(self, step, op)
                           | {"operation": op.id})  # fmt: skip
        except BaseException as exc:
            detail = str(exc) if isinstance(exc, DataMigrationError) else type(exc).__name__
            self.store.set_step(step.id, "failed", detail=f"rollback failed: {detail}")
            self.log.write("rollback_failed", step=step.id, error=detail)
            raise
        self.store.clear_checkpoints(step.id)
        self.store.set_step(step.id, "rolled_back", detail=None)
        seconds = round(time.perf_counter() - started, 3)
        self.log.write("rolled_back", step=step.id, seconds=seconds)
        self.progress("rolled_back", step=step.id, seconds=seconds)
        return {"step": step.id, "title": step.title, "status": "rolled_back",
                "seconds": seconds, "operations": ops}  # fmt: skip

    def _rollback(self, selection: Selection) -> dict[str, Any]:
        self._acquire()
        self.log.write("rollback", scope=selection.scope, steps=[s.id for s in selection.steps])
        results = []
        for step in selection.steps:
            results.append(self._rollback_step(step))
        states = self.store.steps()
        if not any(applied(states, s.id) for s in self.plan.steps):
            self.store.set_run(status="rolled_back", validation=None)
            self._story.phase_changed(self.workspace, self.plan, "rollback", "completed")
        return {"dry_run": False, "mode": "rollback", "scope": selection.scope, "steps": results}


#: MySQL/MariaDB errors for rows that break a constraint (3819 CHECK, 4025 MariaDB CONSTRAINT,
#: 1452 / 1451 foreign key, 1062 duplicate key, 1138 / 1263 NULL)
_MYSQL_VIOLATIONS = {3819, 4025, 1452, 1451, 1062, 1138, 1263}


def _violates_data(exc: DataMigrationError) -> bool:
    """The database refused because existing rows break a constraint (SQLSTATE class 23)."""
    state = str(exc.data.get("sqlstate") or "")
    return state.startswith("23") or exc.data.get("code") in _MYSQL_VIOLATIONS


class _Silent:
    """Stands in for execute/story.py when a run must not announce itself (rehearsals)."""

    def __getattr__(self, name: str) -> Callable[..., list[str]]:
        return lambda *args, **kwargs: []
