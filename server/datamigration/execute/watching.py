"""The executor's side of the rollback triggers that act while a step runs.

`open_watch` starts a `safety.watch.Watch` for a step whose operations run long (a batched
backfill, an index build; the move engine's copy later): it samples the target on its own
connection; a batched operation asks it between batches, a single long statement is cancelled
by it on the server. `act_on_firing` is what happens when one fires: the
step is stopped and rolled back as the plan says (its rollback operations; a backfill into a
new column has none, so its checkpoint stays and it resumes later), the story is marked blocked,
a `warning` with the numbers goes on the bus, and the error says exactly what happened and what
to do next.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from typing import Any

from datamigration.db.base import connect
from datamigration.errors import ConflictError, DataMigrationError
from datamigration.plan.model import Step
from datamigration.safety.watch import TriggerFiredError, Watch, WatchPolicy, clear_stop
from datamigration.safety.windows import heavy_work, window_state


class OutsideWindowError(ConflictError):
    """Heavy work was asked for outside the configured maintenance windows."""


def check_window(ex: Any, step: Step) -> None:
    """Refuse heavy work outside the maintenance windows of datamigration.toml unless the run
    says `now` (recorded in the run log)."""
    what = heavy_work(step)
    if what is None:
        return
    state = window_state(ex.workspace.config)
    if state["open"]:
        return
    if ex.options.now:
        ex.log.write("window_override", step=step.id, work=what, next=state["next"])
        return
    nxt = state["next"]
    raise OutsideWindowError(
        f"step {step.id} ({step.title}) is {what}, and now is outside every maintenance window "
        "of datamigration.toml"
        + (f"; the next opens {nxt['starts']} ({nxt['window']})" if nxt else ""),
        hint="Run it in that window, or now anyway: execute with now=true (CLI: --now).",
        step=step.id,
        next_window=nxt,
    )


#: what to do next, per trigger
_NEXT = {
    "error_rate": "Find what makes the application's transactions fail (its logs; deadlocks in "
    "the database log), fix it",
    "latency_p99_ratio": "Find what slows the database (a competing lock: pg_locks / "
    "pg_stat_activity; the load), run in a quieter window or with a smaller batch_size",
    "replication_lag_seconds": "Let the standbys catch up (check their replay and network)",
    "slot_lag_seconds": "Start or fix the replication slot's consumer, or drop the slot if it is "
    "abandoned (pg_drop_replication_slot) once nothing needs it",
    "disk_free_short": "Free disk space on the database's host (or lower the floor in [safety] "
    "of datamigration.toml if it is too cautious)",
    "manual_stop": "When you are ready",
}


@contextlib.contextmanager
def watching(ex: Any, step: Step) -> Iterator[Watch | None]:
    """The step's watch while its operations run (`ex.watch`); an operation that failed because
    the watch cancelled it is reported as the trigger that fired."""
    ex.watch = open_watch(ex, step)
    try:
        yield ex.watch
    except DataMigrationError as exc:
        fired = ex.watch is not None and ex.watch.fired is not None
        if fired and not isinstance(exc, TriggerFiredError):
            ex.watch.check()  # raises the firing, with this error as its cause
        raise
    finally:
        if ex.watch is not None:
            ex.watch.close()
            ex.watch = None


def open_watch(ex: Any, step: Step) -> Watch | None:
    """A started watch for a step with long-running operations (None for a short step)."""
    table = next((op.backfill.table for op in step.operations if op.backfill is not None), None)
    if not ex.options.watch or heavy_work(step) is None:
        return None
    policy = WatchPolicy.build(ex.workspace.config, step.rollback_triggers, ex.options.safety)
    live = ex.backend.live_metrics
    watch = Watch(
        (lambda: connect(ex.url, ex.workspace)) if live else None,
        policy,
        step.rollback_triggers,
        state_dir=ex.workspace.state_dir,
        plan_id=ex.plan.id,
        step_id=step.id,
        probe_sql=ex._probe(table)["probe_sql"],
        pause=None if ex.options.sleep is time.sleep else ex.options.sleep,
        # no batch boundary to stop at: a firing cancels the executor's running statement
        cancel=ex.backend.session_id() if live and table is None else None,
    )
    try:
        return watch.start()
    except BaseException:
        watch.close()
        raise


def act_on_firing(ex: Any, step: Step, exc: TriggerFiredError) -> DataMigrationError:
    """Roll the step back, block the story, warn on the bus; the error to raise."""
    firing = {k: exc.data.get(k) for k in ("trigger", "value", "threshold", "reason", "baseline")}
    trigger = str(firing["trigger"])
    ex.log.write("rollback_trigger", step=step.id, **firing)
    undone: list[str] = []
    rollback_error: str | None = None
    if step.reversible and step.rollback:
        try:
            ex._rollback_step(step)
            undone = [op.description for op in step.rollback]
        except DataMigrationError as undo_exc:
            rollback_error = undo_exc.message
    else:
        ex.store.set_step(step.id, "failed", detail=f"stopped by a rollback trigger: "
                          f"{firing['reason']}")  # fmt: skip
    if trigger == "manual_stop":
        clear_stop(ex.workspace.state_dir, ex.plan.id)
    if rollback_error is not None:
        done = f"rolling it back FAILED ({rollback_error})"
    elif undone:
        done = f"it was rolled back ({'; '.join(undone)})"
    else:
        done = ("it has no rollback operations (what it wrote is not read by the application "
                "yet), so it stopped where it was and its checkpoint is kept")  # fmt: skip
    notes = ex._story.trigger_fired(ex.workspace, ex.plan, step, firing, done)
    resume = (f"roll the step back by hand (rollback tool: plan_id, plan_hash, step {step.id!r})"
              if rollback_error else f"run step {step.id} again with execute (same plan_id and "
              f"plan_hash){'' if undone else '; it resumes from its checkpoint'}")  # fmt: skip
    story = f" Story {ex.plan.story} is marked blocked." if ex.plan.story else ""
    return TriggerFiredError(
        f"step {step.id} ({step.title}) stopped: rollback trigger {trigger} fired: "
        f"{firing['reason']}; {done}.{story}",
        hint=f"{_NEXT.get(trigger, 'Find the cause')}; then {resume}. Move the story back to "
        "in-progress when you do.",
        step=step.id,
        rolled_back=bool(undone),
        undone=undone,
        notes=notes,
        **firing,
    )
