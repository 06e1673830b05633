"""The demo's live chapter: rename users.full_name to display_name under load, then roll back.

Everything earlier in the demo prepares and checks; this chapter changes a database while an
application uses it, which is the point of the product. A small application (a thread) keeps
reading and writing users; the planner plans the rename (expand-contract), the executor runs it
step by step; the new application version is rolled out per user by a flagd feature flag (10%,
then everyone) — the "deploy" step of the plan; the executor's validation gate checks the copy;
then the rollback: the flag flips everyone back at once and the executor undoes every step. The
chapter reports what the application saw (operations, failures, latency) and what was checked.

The application goes through the database layer like everything else (no driver here); it picks
its code path per user from the flag file with the same evaluator flagd uses, re-reading the file
as a flagd provider would when it changes.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from datamigration import db
from datamigration.db.dialect import dialect_of
from datamigration.demo.context import Background, DemoContext, Done, StepSkipped
from datamigration.errors import DataMigrationError

OLD, NEW = "full_name", "display_name"
FLAG = "users-display-name"
SPEC = {
    "kind": "rename_column",
    "table": "users",
    "column": OLD,
    "new_name": NEW,
    "title": f"Rename users.{OLD} to {NEW} with zero downtime",
}
RATE = 150.0  # application operations per second
BATCH = 60  # backfill batch: several batches even on the small demo table


@dataclass
class AppStats:
    ops: int = 0
    failed: int = 0
    new_version_ops: int = 0
    latencies_ms: list[float] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    def p(self, q: float) -> float:
        ordered = sorted(self.latencies_ms)
        if not ordered:
            return 0.0
        return ordered[min(len(ordered) - 1, int(q / 100 * len(ordered)))]


class DemoApp(Background):
    """A tiny application: reads and updates users at a steady rate, old or new code per user."""

    def __init__(self, ctx: DemoContext, users: int) -> None:
        self.ctx = ctx
        self.users = users
        self.stats = AppStats()
        super().__init__("demo-app")
        self._flag: dict[str, Any] | None = None
        self._flag_mtime = -1.0

    def _flag_definition(self) -> dict[str, Any] | None:
        from datamigration.safety import flags

        path = flags.flags_path(self.ctx.workspace)
        try:
            mtime = path.stat().st_mtime
        except FileNotFoundError:
            return None
        if mtime != self._flag_mtime:  # a provider reloads the file when it changes
            self._flag_mtime = mtime
            self._flag = flags.load_document(path)["flags"].get(FLAG)
        return self._flag

    def _new_version(self, user: int) -> bool:
        from datamigration.safety.flag_eval import resolve_flag

        flag = self._flag_definition()
        if flag is None:
            return False
        return resolve_flag(FLAG, flag, {"targetingKey": f"user-{user}"}).variant == "on"

    def _run(self) -> None:
        started = time.perf_counter()
        k = 0
        with db.connect(self.ctx.database_url, self.ctx.workspace) as backend:
            while not self._stop.is_set():
                due = started + k / RATE
                wait = due - time.perf_counter()
                if wait > 0 and self._stop.wait(wait):
                    break
                user = k * 7919 % self.users + 1
                new = self._new_version(user)
                column = NEW if new else OLD
                try:
                    if k % 3 == 0:  # one write in three; unique values, as the column demands
                        backend.execute(
                            [f"UPDATE users SET {column} = 'User {user} ({k})' WHERE id = {user}"],
                            autocommit=True,
                        )
                    else:
                        backend.query(f"SELECT id, {column} FROM users WHERE id = {user}")
                except DataMigrationError as exc:
                    self.stats.failed += 1
                    self.stats.errors.append(exc.message)
                self.stats.ops += 1
                self.stats.new_version_ops += new
                self.stats.latencies_ms.append((time.perf_counter() - due) * 1000)
                k += 1


def _execute(ctx: DemoContext, plan: Any, step_id: str, mode: str = "execute") -> dict[str, Any]:
    from datamigration.execute import service
    from datamigration.execute.runner import RunOptions

    options = RunOptions(batch_size=BATCH, finish_story=False)
    kwargs: dict[str, Any] = {"all_steps": True} if step_id == "all" else {"step": step_id}
    prepared = service.prepare(
        ctx.workspace, plan.id, plan.hash, mode=mode, db=ctx.database_url, options=options, **kwargs
    )
    return prepared.run()


def _operation_lines(ctx: DemoContext, step: Any, out: dict[str, Any]) -> list[str]:
    """On a database server, each operation the step ran with the lock it took (and the
    backfill's batches): the evidence that nothing blocked the application. The SQLite demo
    keeps its shorter report."""
    if dialect_of(ctx.dialect).embedded:
        return []
    ran = {o.get("operation"): o for s in out.get("steps", []) for o in s.get("operations", [])}
    lines = []
    for op in step.operations:
        if op.kind == "manual":
            continue
        result = ran.get(op.id, {})
        batches = (
            f"; {result['batches']} batches of up to {BATCH} rows"
            if op.kind == "backfill" and "batches" in result
            else ""
        )
        lines.append(f"    {op.description} [{op.lock}{batches}]")
    return lines


def _copy_consistent(ctx: DemoContext) -> tuple[int, int]:
    """(rows, rows whose new column differs from the old): the triggers' and backfill's proof."""
    with db.connect(ctx.database_url, ctx.workspace) as backend:
        rows = backend.query("SELECT count(*) FROM users").rows[0][0]
        differs = dialect_of(ctx.dialect).null_safe_differs
        diff = backend.query(f"SELECT count(*) FROM users WHERE {NEW} {differs} {OLD}").rows[0][0]
    return int(rows), int(diff)


def step_live_rename(ctx: DemoContext) -> Done:
    """Rename a column under load: plan, expand, backfill, flag rollout, validation gate."""
    from datamigration.plan.planner import plan_migration
    from datamigration.plan.spec import parse_spec
    from datamigration.safety import flags

    with db.connect(ctx.database_url, ctx.workspace) as backend:
        users = int(backend.query("SELECT count(*) FROM users").rows[0][0])
    spec = parse_spec({**SPEC, "story": ctx.story_id})
    result = plan_migration(ctx.workspace, spec, ctx.connection_name, story=ctx.story_id)
    plan = result.plan
    ctx.facts["live_plan"] = plan
    details = [f"plan {plan.id} ({plan.pattern}), hash {plan.hash[:12]}: {len(plan.steps)} steps"]
    flags.set_flag(ctx.workspace, FLAG, description=f"application uses users.{NEW}")
    app = DemoApp(ctx, users)
    ctx.facts["live_app"] = app
    app.__enter__()
    time.sleep(0.3)  # the application is running before anything changes
    for step in plan.steps:
        if step.phase == "contract":
            continue  # the demo rolls back instead of contracting: see the next step
        if any(op.kind == "manual" for op in step.operations):
            # The plan's deploy step: the new code ships behind the flag, 10% then everyone.
            for pct in (10, 100):
                out = flags.apply_percent(ctx.workspace, FLAG, pct)
                details.append(
                    f"flag {FLAG} -> {pct}%: {out['measured_share']:.0%} of sample users on the "
                    "new code"
                )
                time.sleep(0.4)
        out = _execute(ctx, plan, step.id)
        details.append(f"{step.id} {step.title}: done")
        details += _operation_lines(ctx, step, out)
    rows, differing = _copy_consistent(ctx)
    details.append(
        f"validation gate before the deploy passed; {rows} rows, {differing} where "
        f"{NEW} differs from {OLD}"
    )
    stats = app.stats
    details.append(
        f"application: {stats.ops} operations, {stats.failed} failed, "
        f"{stats.new_version_ops} on the new code, p50 {stats.p(50):.1f} ms, "
        f"p99 {stats.p(99):.1f} ms"
    )
    plan_files = tuple(f for f in result.files if ctx.workspace.resolve(f).exists())
    return Done(
        f"renamed under load: {stats.ops} app operations, {stats.failed} failed; "
        f"{rows} rows copied and kept in sync",
        details=tuple(details),
        files=plan_files + (ctx.workspace.relative(flags.flags_path(ctx.workspace)),),
        data={
            "plan": plan.id,
            "plan_hash": plan.hash,
            "rows": rows,
            "rows_differing": differing,
            "app_ops": stats.ops,
            "app_failed": stats.failed,
            "app_new_version_ops": stats.new_version_ops,
            "app_p99_ms": round(stats.p(99), 2),
        },
    )


def step_live_rollback(ctx: DemoContext) -> Done:
    """Roll it back under load: the flag flips everyone back, the executor undoes every step."""
    from datamigration.safety import flags

    plan = ctx.facts.get("live_plan")
    app: DemoApp | None = ctx.facts.get("live_app")
    if plan is None or app is None:
        raise StepSkipped("the live rename did not run")
    try:
        before_ops, before_failed = app.stats.ops, app.stats.failed
        flipped = flags.rollback(ctx.workspace, FLAG)
        time.sleep(0.3)  # the application picks the flag change up on its next request
        started = time.perf_counter()
        out = _execute(ctx, plan, "all", mode="rollback")
        undo_s = time.perf_counter() - started
        time.sleep(0.3)
    finally:
        app.__exit__(None, None, None)
    with db.connect(ctx.database_url, ctx.workspace) as backend:
        users_table = next((t for t in ctx.tables or () if t.endswith(".users")), "users")
        inspected = backend.inspect(tables=[users_table]).table(users_table)
        columns = [c.name for c in inspected.columns]
        rows = int(backend.query("SELECT count(*) FROM users").rows[0][0])
        nulls = int(backend.query(f"SELECT count(*) FROM users WHERE {OLD} IS NULL").rows[0][0])
    stats = app.stats
    undone = [s.get("step") or s.get("id") for s in out.get("steps", [])]
    flag_line = (
        f"flag {FLAG}: {flipped['from_percent']}% -> 0% in {flipped['seconds'] * 1000:.0f} ms; "
        f"every user gets {flipped['serving']!r} (the old code)"
    )
    undo_line = f"executor rollback of {len(undone) or 'all'} steps in {undo_s:.2f} s: " + (
        ", ".join(str(s) for s in undone if s)
    )
    app_line = (
        f"application during rollback: {stats.ops - before_ops} operations, "
        f"{stats.failed - before_failed} failed"
    )
    details = (
        flag_line,
        undo_line,
        f"users columns now: {', '.join(columns)}",
        f"{rows} users, {nulls} without {OLD}",
        app_line,
    )
    return Done(
        f"rolled back under load: flag off in {flipped['seconds'] * 1000:.0f} ms, schema restored "
        f"in {undo_s:.2f} s, {stats.failed} failed app operations in total",
        details=details,
        files=(ctx.workspace.relative(flags.flags_path(ctx.workspace)),),
        data={
            "columns": columns,
            "rows": rows,
            "old_column_nulls": nulls,
            "app_ops": stats.ops,
            "app_failed": stats.failed,
            "flag_rollback_ms": round(flipped["seconds"] * 1000, 2),
            "undo_seconds": round(undo_s, 3),
        },
    )
