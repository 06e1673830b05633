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
from dataclasses import dataclass, field
from typing import Any, Self

from datamigration.db import executor_support as xs
from datamigration.db.base import Backend, connect
from datamigration.errors import (
    ConflictError,
    DataMigrationError,
    UserInputError,
    ValidationFailedError,
)
from datamigration.execute import story as story_mod
from datamigration.execute.backfill import run_backfill
from datamigration.execute.indexes import build_index, concurrent_index_name
from datamigration.execute.retry import Backoff, LockLadder, RetryLog, with_lock_retry
from datamigration.execute.selection import (
    Selection,
    applied,
)
from datamigration.execute.selection import done as step_done
from datamigration.execute.state import RunLog, RunStore, StepState
from datamigration.plan.model import Operation, Plan, Step
from datamigration.safety.throttle import Throttle, ThrottlePolicy
from datamigration.safety.triggers import evaluate
from datamigration.workspace.root import Workspace


class StepGateError(ConflictError):
    """A step's gate does not hold (e.g. validation has not passed before a contract step)."""


@dataclass
class RunOptions:
    """Knobs of one run. Tests and rehearsals shrink batches; the CLI exposes a few."""

    batch_size: int | None = None
    batch_pause_ms: float = 0.0
    #: replication lag (s) above which a backfill pauses; overrides the step's monitoring
    max_lag_s: float | None = None
    throttle: ThrottlePolicy | None = None
    backoff: Backoff = field(default_factory=Backoff)
    #: the executor's own statements never start parallel workers (xs.keep_to_one_core)
    one_core: bool = True
    #: lock timeouts of DDL start short and climb to the operation's limit (execute/retry.py)
    lock_ladder: LockLadder = field(default_factory=LockLadder)
    sleep: Callable[[float], None] = time.sleep
    #: called with (event, data) for progress (MCP progress notifications, CLI lines)
    progress: Callable[[str, dict[str, Any]], None] | None = None
    #: run the final validation and ask for in-review when the plan completes
    finish_story: bool = True
    #: how long to wait for another executor's session lock (a crashed one frees it quickly)
    lock_wait_s: float = 10.0
    #: how often a failed validation rule is run again before the failure counts
    validation_rechecks: int = 2
    #: post phase changes on the bus and the story (off for a staging rehearsal)
    announce: bool = True
    #: name of the local run log (default: the plan id)
    log_name: str | None = None


class Executor:
    """Runs selections of one plan against one target database (see the module docstring)."""

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
            xs.keep_to_one_core(self.backend)
        self.store = RunStore(self.backend, plan.id, plan.hash)
        self.log = RunLog(workspace.state_dir, self.options.log_name or plan.id)
        self._lock_name = f"datamigration:{plan.id}"
        self._story = story_mod if self.options.announce else _Silent()
        self._locked = False

    # --- lifecycle -----------------------------------------------------------------------------

    def close(self) -> None:
        try:
            if self._locked:
                xs.release_session_lock(self.backend, self._lock_name)
        finally:
            self.backend.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def states(self) -> dict[str, StepState]:
        return self.store.steps() if self.store.exists() else {}

    def _progress(self, event: str, **data: Any) -> None:
        if self.options.progress is not None:
            self.options.progress(event, data)

    def _acquire(self) -> None:
        # A killed executor's session ends a moment after the kill (the server notices the
        # closed socket), so wait briefly for its lock before calling it a second executor.
        deadline = time.monotonic() + self.options.lock_wait_s
        while not self._locked and not xs.try_session_lock(self.backend, self._lock_name):
            if time.monotonic() < deadline:
                time.sleep(0.2)
                continue
            raise ConflictError(
                f"another executor is running plan {self.plan.id} on this database",
                hint="Wait for it to finish (datamigration run-status shows progress); a crashed "
                "executor releases its lock when its connection ends.",
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
        self._acquire()
        results = []
        story_notes: list[str] = []
        self.log.write("execute", scope=selection.scope, steps=[s.id for s in selection.steps])
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
        self._check_gates(step)
        self.store.set_step(step.id, "running", detail=None)
        self.log.write("step_started", step=step.id, title=step.title)
        self._progress("step_started", step=step.id, title=step.title)
        ops_out = []
        ran: list[Operation] = []
        try:
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
                validation = self._validate(step.validation, f"{self.plan.id}-{step.id}")
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
        except ValidationFailedError as exc:
            if exc.data.get("rolled_back"):
                self.log.write("step_failed", step=step.id, error=exc.message)
                self._story.step_failed(self.workspace, self.plan, step, exc.message)
                raise
            self._fail_step(step, exc)
            raise
        except BaseException as exc:
            self._fail_step(step, exc)
            raise
        self.store.set_step(step.id, "done", detail=None)

        seconds = time.perf_counter() - started
        self.log.write("step_done", step=step.id, seconds=round(seconds, 3))
        self._progress("step_done", step=step.id, seconds=round(seconds, 3))
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
                        self._run_sql(step, r, mark=False)
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

    def _check_gates(self, step: Step) -> None:
        needs_validation = "validation_passed" in step.gates or step.destructive
        if needs_validation:
            rules = self._rules_before(step)
            if not rules:
                raise StepGateError(
                    f"step {step.id} ({step.title}) needs a passing validation first, but the plan "
                    "has no validation rules before it",
                    hint="Re-plan with validation rules (datamigration plan generates them), or "
                    "validate by hand and roll forward with care.",
                    step=step.id,
                )
            result = self._validate(rules, f"{self.plan.id}-before-{step.id}")
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
            throttle = Throttle(self.backend, policy=policy)
            throttle.calibrate()
            reason = throttle.strained()
            if reason:
                raise StepGateError(
                    f"step {step.id} is held: the database looks strained ({reason})",
                    hint="Run the step again when the load is lower.",
                    step=step.id,
                )

    def _rules_before(self, step: Step) -> list[dict[str, Any]]:
        """The rules of the nearest earlier step that has any: they describe the table as it is
        now (each step's rules are written for the shape right after it). Without any, the
        plan's post-migration rules."""
        earlier = list(self.plan.steps)
        earlier = earlier[: earlier.index(step)] if step in earlier else earlier
        for s in reversed(earlier):
            if s.validation:
                return [dict(r) for r in s.validation]
        return [dict(r) for r in self.plan.post_validation if isinstance(r, dict) and "type" in r]

    def _validate(self, rules: Sequence[Any], name: str) -> dict[str, Any]:
        """Run rules against the target. Rules that fail are run again (up to
        `validation_rechecks` times, after a short pause) before the failure counts: on a live
        table a comparison can catch a row between two writes, a real divergence stays."""
        import dataclasses

        from datamigration.validate.rules import run_rules

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
            rules = self._rules_before(Step("_end", "", "", "", ()))
        if not rules:
            return {"ran": False, "passed": None,
                    "reason": "the plan has no post-migration validation rules"}  # fmt: skip
        try:
            result = self._validate(rules, f"{self.plan.id}-post")
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

    def _op_done(self, step: Step, op: Operation) -> bool:
        cp = self.store.checkpoint(step.id, op.id)
        return cp is not None and cp.finished

    def _mark_done(self, step: Step, op: Operation) -> list[xs.Statement]:
        return self.store._upsert(
            "datamigration_checkpoints",
            {"plan_id": self.plan.id, "step_id": step.id, "op_id": op.id},
            {"rows_done": 0, "batches": 0, "finished": 1, "updated_at": _now()},
        )

    def _run_operation(self, step: Step, op: Operation) -> dict[str, Any]:
        if op.kind != "backfill" and self._op_done(step, op):
            return {
                "operation": op.id,
                "kind": op.kind,
                "skipped": "already done in an earlier run",
            }
        started = time.perf_counter()
        self.log.write(
            "operation", step=step.id, operation=op.id, kind=op.kind, statements=list(op.statements)
        )
        if op.kind == "sql":
            out = self._run_sql(step, op)
        elif op.kind == "backfill":
            out = self._run_backfill(step, op)
        elif op.kind == "manual":
            xs.transaction(self.backend, self._mark_done(step, op))
            out = {"confirmed": True, "instructions": op.params.get("instructions", op.description)}
        elif op.kind == "validate":
            result = self._validate(op.params.get("rules", ()), f"{self.plan.id}-{op.id}")
            result.pop("run")
            if not result["passed"]:
                raise ValidationFailedError(
                    f"operation {op.id} (validation) failed: {result['summary']}",
                    hint="Fix the data or roll back the step.",
                    step=step.id,
                    validation=result,
                )
            xs.transaction(self.backend, self._mark_done(step, op))
            out = {"validation": result}
        elif op.kind == "flag":
            out = self._run_flag(step, op)
            xs.transaction(self.backend, self._mark_done(step, op))
        else:
            raise UserInputError(
                f"operation {op.id} is a {op.kind!r} operation, which this executor does not run yet",
                hint="Moves between databases (copy, change data capture) arrive with the move "
                "engine; plan an in-place change instead.",
            )
        out.update(operation=op.id, kind=op.kind, seconds=round(time.perf_counter() - started, 3))
        return out

    def _run_sql(self, step: Step, op: Operation, *, mark: bool = True) -> dict[str, Any]:
        log = RetryLog()
        ladder, limit = self.options.lock_ladder, op.lock_timeout_ms
        # exactly the retries the plan states (the planner counted the ladder's rungs in)
        retries = op.retries if limit else 0
        retry = {"retries": retries, "backoff": self.options.backoff,
                 "sleep": self.options.sleep, "log": log}  # fmt: skip

        def lock_timeout() -> int | None:
            """This attempt's rung of the ladder (log.attempts is set before each call)."""
            if not limit:
                return None
            log.timeouts_ms.append(ladder.timeout_ms(log.attempts, limit))
            return log.timeouts_ms[-1]

        def yield_autovacuum(attempt: int, pause_ms: float) -> None:
            """After a lock timeout: an autovacuum on the plan's tables would hold the lock up
            to deadlock_timeout (1 s) with the application queued behind us; cancel it."""
            cancelled = xs.cancel_autovacuum(self.backend, self.plan.tables)
            if cancelled:
                self.log.write("autovacuum_cancelled", step=step.id, operation=op.id,
                               pids=cancelled, attempt=attempt)  # fmt: skip

        ddl_retry = {**retry, "on_retry": yield_autovacuum}

        indexes = []
        if not op.transactional:
            for stmt in op.statements:
                if self.backend.concurrent_index and concurrent_index_name(stmt):
                    indexes.append(
                        build_index(self.backend, stmt, lock_timeout_ms=op.lock_timeout_ms, **retry)
                    )
                else:
                    with_lock_retry(
                        lambda stmt=stmt: self.backend.execute(
                            [stmt], autocommit=True, lock_timeout_ms=lock_timeout()
                        ),
                        what=f"{op.id}",
                        **ddl_retry,
                    )
            if mark:
                xs.transaction(self.backend, self._mark_done(step, op))
        elif self.backend.transactional_ddl:
            # the statements and the "done" mark commit together: a crash leaves neither
            batch: list[Any] = [(s, ()) for s in op.statements]
            if mark:
                batch += self._mark_done(step, op)
            with_lock_retry(
                lambda: xs.transaction(self.backend, batch, lock_timeout_ms=lock_timeout()),
                what=op.id,
                **ddl_retry,
            )
        else:
            with_lock_retry(
                lambda: self.backend.execute(list(op.statements), lock_timeout_ms=lock_timeout()),
                what=op.id,
                **ddl_retry,
            )
            if mark:
                xs.transaction(self.backend, self._mark_done(step, op))
        out: dict[str, Any] = {"statements": len(op.statements), **log.to_dict()}
        if indexes:
            out["indexes"] = indexes
        return out

    def _run_backfill(self, step: Step, op: Operation) -> dict[str, Any]:
        spec = op.backfill
        assert spec is not None
        policy = self.options.throttle or ThrottlePolicy.from_monitoring(
            dict(step.monitoring),
            pause_ms=self.options.batch_pause_ms or None,
            max_lag_s=self.options.max_lag_s,
        )

        def on_throttle(info: dict[str, Any]) -> None:
            self.log.write("throttle", step=step.id, operation=op.id, **info)
            self._progress("throttle", step=step.id, operation=op.id, **info)

        throttle = Throttle(
            self.backend,
            probe_sql=f"SELECT 1 FROM {xs.quote(self.backend, spec.table)} LIMIT 1",
            policy=policy,
            sleep=self.options.sleep,
            on_event=on_throttle,
        )

        def on_batch(info: dict[str, Any]) -> None:
            self.log.write("batch", step=step.id, **info)
            self._progress("batch", step=step.id, **info)

        result = run_backfill(
            self.backend,
            self.store,
            step.id,
            op,
            throttle,
            backoff=self.options.backoff,
            sleep=self.options.sleep,
            on_batch=on_batch,
            batch_size=self.options.batch_size,
        )
        return result.to_dict()

    def _run_flag(self, step: Step, op: Operation) -> dict[str, Any]:
        """A rollout step of the flags engine (flagd file). Going up, the flags engine checks
        its own gate: the validation rules that describe the table now, written to a rules
        file under .datamigration/runs/ so the flag's metadata names the check that passed."""
        import json

        from datamigration.safety import flags

        key = op.params.get("flag") or op.params.get("key")
        if not key:
            raise UserInputError(f"flag operation {op.id} names no flag", hint="Re-plan the step.")
        flags_file = op.params.get("flags_file")
        ws = self._flags_workspace(flags_file)
        pct = op.params.get("percentage", op.params.get("percent"))
        exists = key in flags.load_document(flags.flags_path(ws))["flags"]
        if op.params.get("action") == "rollback" or (pct is not None and float(pct) <= 0):
            if not exists:
                return {"flag": key, "note": "the flag does not exist: nothing to roll back"}
            return {"flag": flags.apply_percent(self.workspace, key, 0, flags_file=flags_file)}
        if pct is None:
            return {"flag": flags.set_flag(ws, key, state=op.params.get("state"))}
        if not exists:  # created here so it carries the step's description
            flags.set_flag(ws, key, description=op.description)
        gate = None
        rules = [r for r in (step.validation or self._rules_before(step)) if "type" in r]
        if rules:
            path = self.workspace.state_dir / "runs" / f"{self.plan.id}.{step.id}.gate.json"
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(json.dumps({"name": f"{self.plan.id}-{step.id}-gate",
                                        "rules": rules}), encoding="utf-8")  # fmt: skip
            gate = flags.Gate(rules=self.workspace.relative(path), source=self.url, target=self.url)
        out = flags.apply_percent(self.workspace, key, float(pct), flags_file=flags_file,
                                  gate=gate, ungated=gate is None)  # fmt: skip
        return {"flag": {k: v for k, v in out.items() if k != "definition"}}

    def _flags_workspace(self, flags_file: str | None) -> Any:
        """The workspace as the flags engine sees it with the plan's `flags_file` (the plan
        names the application's flag file; without one, datamigration.toml's `[flags] path`)."""
        if not flags_file:
            return self.workspace
        import dataclasses

        config = dict(getattr(self.workspace, "config", None) or {})
        config["flags"] = {**(config.get("flags") or {}), "path": flags_file}
        return dataclasses.replace(self.workspace, config=config)

    # --- rollback ------------------------------------------------------------------------------

    def _rollback_step(self, step: Step) -> dict[str, Any]:
        """Run one step's reverse operations; the step is `rolled_back` afterwards."""
        started = time.perf_counter()
        self.store.set_step(step.id, "rolling_back")
        self._story.rollback_started(self.workspace, self.plan, step)
        ops = []
        try:
            for op in step.rollback:
                if op.kind == "sql":
                    ops.append(self._run_sql(step, op, mark=False) | {"operation": op.id})
                elif op.kind == "flag":
                    ops.append(self._run_flag(step, op) | {"operation": op.id})
                elif op.kind == "manual":
                    instructions = op.params.get("instructions", op.description)
                    ops.append({"operation": op.id, "instructions": instructions})
                else:
                    raise UserInputError(
                        f"rollback operation {op.id} has kind {op.kind!r}, which cannot run"
                    )
        except BaseException as exc:
            detail = str(exc) if isinstance(exc, DataMigrationError) else type(exc).__name__
            self.store.set_step(step.id, "failed", detail=f"rollback failed: {detail}")
            self.log.write("rollback_failed", step=step.id, error=detail)
            raise
        self.store.clear_checkpoints(step.id)
        self.store.set_step(step.id, "rolled_back", detail=None)
        seconds = round(time.perf_counter() - started, 3)
        self.log.write("rolled_back", step=step.id, seconds=seconds)
        self._progress("rolled_back", step=step.id, seconds=seconds)
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


def _now() -> str:
    from datamigration.execute.state import now_iso

    return now_iso()


class _Silent:
    """Stands in for execute/story.py when a run must not announce itself (rehearsals)."""

    def __getattr__(self, name: str) -> Callable[..., list[str]]:
        return lambda *args, **kwargs: []
