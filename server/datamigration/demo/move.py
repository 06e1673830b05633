"""The move chapter (`datamigration demo --move`): the sample `users` table moves to another
database with zero downtime while a small application writes, then comes back.

The application writes users (updates, and a new user now and then) on the side the read/write
flag `users_reads_from_target` names, and holds its writes while `users_writes_paused` is on:
the source is SQLite, whose lock would hold the whole file, so the cutover pauses writes with
the application's flag. The planner plans the `move_table` spec and the executor runs its
phases (capture and sync start, snapshot, catch-up, shadow reads, cutover); then the cutover
step is rolled back, which brings every write the application made on the target back to the
source. The target is a second SQLite file in the workspace, or the database named by
`--move-to` (PostgreSQL or MongoDB).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from datamigration import db
from datamigration.demo.context import Background, DemoContext, Done, Step
from datamigration.errors import DataMigrationError

FLAG = "users_reads_from_target"
PAUSE_FLAG = "users_writes_paused"
RATE = 80.0
PHASES = ("prepare", "snapshot", "catch_up", "shadow", "cutover")


class MoveApp(Background):
    """Writes users on the side the flag names; holds its writes while the pause flag is on."""

    def __init__(self, ctx: DemoContext, source: str, target: str, users: int) -> None:
        super().__init__("demo-move-app")
        self.ctx, self.urls, self.users = ctx, {False: source, True: target}, users
        self.ops = {False: 0, True: 0}
        self.failed: list[str] = []
        self.held_ms = 0.0
        self._flags: dict[str, Any] = {}
        self._mtime = -1.0

    def on(self, key: str) -> bool:
        from datamigration.safety import flags
        from datamigration.safety.flag_eval import resolve_flag

        path = flags.flags_path(self.ctx.workspace)
        mtime = path.stat().st_mtime if path.exists() else -1.0
        if mtime != self._mtime:  # a provider reloads the file when it changes
            self._mtime = mtime
            self._flags = flags.load_document(path)["flags"] if path.exists() else {}
        flag = self._flags.get(key)
        return flag is not None and resolve_flag(key, flag, {"targetingKey": "app"}).value is True

    def _run(self) -> None:
        backends = {side: db.connect(url, self.ctx.workspace) for side, url in self.urls.items()}
        try:
            k = 0
            while not self._stop.wait(1 / RATE):
                held = time.perf_counter()
                while self.on(PAUSE_FLAG) and not self._stop.is_set():
                    time.sleep(0.005)  # the application holds its writes, as it was told
                self.held_ms = max(self.held_ms, (time.perf_counter() - held) * 1000)
                side = self.on(FLAG)
                self._write(backends[side], side, k)
                k += 1
        finally:
            for b in backends.values():
                b.close()

    def _write(self, backend: Any, side: bool, k: int) -> None:
        user = k * 7919 % self.users + 1
        if k % 5 == 4:
            sql = ("INSERT INTO users (id, email, full_name, country, created_at) VALUES "
                   f"({100_000 + k}, 'new{k}@example.org', 'New {k}', 'DE', "
                   "'2026-11-01T12:00:00Z')")  # fmt: skip
        else:
            sql = f"UPDATE users SET full_name = 'User {user} ({k})' WHERE id = {user}"
        try:
            backend.execute([sql], autocommit=True)
            self.ops[side] += 1
        except DataMigrationError as exc:
            self.failed.append(exc.message)


def _execute(ctx: DemoContext, plan: Any, step_id: str, mode: str = "execute") -> dict[str, Any]:
    from datamigration.execute import service
    from datamigration.execute.runner import RunOptions

    prepared = service.prepare(ctx.workspace, plan.id, plan.hash, mode=mode,
                               db=ctx.database_url, step=step_id,
                               options=RunOptions(finish_story=False))  # fmt: skip
    return prepared.run()


def _wait(check: Callable[[], bool], seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while not check():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def move_step(target: str | None) -> Step:
    def step_live_move(ctx: DemoContext) -> Done:
        """Move users to another database under load, cut over, and roll the cutover back."""
        return _move(ctx, target or f"sqlite:///{ctx.root / 'moved.db'}")

    return step_live_move


def _move(ctx: DemoContext, target: str) -> Done:
    from datamigration.plan.planner import plan_migration
    from datamigration.plan.spec import parse_spec
    from datamigration.redact import redact_url

    with db.connect(ctx.database_url, ctx.workspace) as backend:
        users = int(backend.query("SELECT count(*) FROM users").rows[0][0])
    bounds = {"write_pause": "flag", "pause_max_ms": 5_000, "shadow_sample": 200,
              "max_mismatches": 10}  # the application writes while the shadow step reads  # fmt: skip
    spec = parse_spec({"kind": "move_table", "table": "users", "target": target,
                       "cutover": bounds})  # fmt: skip
    plan = plan_migration(ctx.workspace, spec, ctx.connection_name).plan
    details = [f"plan {plan.id} ({plan.pattern}): " + " → ".join(p.name for p in plan.phases)]
    with MoveApp(ctx, ctx.database_url, target, users) as app:
        for step in plan.steps:
            if step.phase not in PHASES:
                continue  # decommission: the source stays until the team decides
            out = _execute(ctx, plan, step.id)
            details.append(f"{step.id} {step.phase}: {step.title}")
            if step.phase == "cutover":
                report = out["steps"][0]["operations"][0]["cutover"]
        before = app.ops[True]
        _wait(lambda: app.ops[True] >= before + 40, 15)
        cut = next(s for s in plan.steps if s.phase == "cutover")
        back = _execute(ctx, plan, cut.id, mode="rollback")["steps"][0]["operations"][0]
        _wait(lambda: app.ops[False] > 0 and not app.on(FLAG), 5)
    rolled = back["rollback"]
    details.append(f"cutover: writes held {report['write_pause_ms']:.0f} ms by the flag, "
                   f"checksum diff {'empty' if report['diff']['identical'] else 'NOT EMPTY'}")  # fmt: skip
    details.append(f"rollback: {rolled.get('replayed')} change(s) made on the target replayed to "
                   f"the source, diff {'empty' if rolled['diff']['identical'] else 'NOT EMPTY'}")  # fmt: skip
    details.append(f"application: {app.ops[False]} writes on the source, {app.ops[True]} on "
                   f"the target, {len(app.failed)} failed, longest hold {app.held_ms:.0f} ms")  # fmt: skip
    return Done(
        f"users moved to {redact_url(target)} under load and back: write pause "
        f"{report['write_pause_ms']:.0f} ms, {len(app.failed)} failed writes",
        details=tuple(details),
        data={
            "plan": plan.id,
            "pause_ms": report["write_pause_ms"],
            "writes_source": app.ops[False],
            "writes_target": app.ops[True],
            "failed": len(app.failed),
            "replayed": rolled.get("replayed"),
            "identical": bool(rolled["diff"]["identical"]),
        },
    )
