"""Rollback triggers that act, on real PostgreSQL, during a real backfill under application load.

A planned int -> bigint change of `users.n` backfills `n_new` in small paced batches while an
application thread reads the table (point reads of random rows; reads only, so the checksum of
the application's columns can prove them untouched). Each test injects one condition once the
backfill is under way, from the run's own progress callback (so the moment is a batch, not a
clock): a manual stop, a disk floor above the real free space, a burst of failing transactions,
a competing ACCESS EXCLUSIVE lock (probe latency far above the baseline) and a logical
replication slot nobody consumes while the backfill writes WAL. Each fires its trigger: the
step stops (a backfill into a new column has no rollback operations: it stops where it was and
keeps its checkpoint), the application's columns are byte-identical to before (checksum), the
story is blocked, and the bus carries a warning with the numbers.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
import pytest

from datamigration.coordination import bus, status
from datamigration.db import connect
from datamigration.execute import service
from datamigration.execute.runner import RunOptions
from datamigration.plan.planner import Measured, build_plan
from datamigration.plan.spec import parse_spec
from datamigration.plan.store import save_plan
from datamigration.safety.watch import TriggerFiredError, request_stop, samples_of
from datamigration.workspace.root import Workspace

pytestmark = pytest.mark.integration

ROWS = 40_000
BATCH = 500
STORY = "US-0042"
CHANGE = {"kind": "change_type", "table": "users", "column": "n", "type": "bigint"}
CHECKSUM = "SELECT md5(string_agg(id || ':' || email || ':' || n, ',' ORDER BY id)) FROM users"
#: quick sampling and a short grace, so a test takes seconds
#: quick triggers; a fixed pace, so batches keep their size (the latency budget has its own tests)
FAST = {"interval_seconds": 0.2, "grace_seconds": 0.5, "probe_timeout_ms": 300,
        "latency_budget_ratio": False}  # fmt: skip


class App(threading.Thread):
    """The application: point reads of random rows, until stopped."""

    def __init__(self, url: str) -> None:
        super().__init__(daemon=True)
        self.url, self.halt, self.reads = url, threading.Event(), 0

    def run(self) -> None:
        with psycopg.connect(self.url, autocommit=True) as conn:
            while not self.halt.is_set():
                conn.execute("SELECT email FROM users WHERE id = %s", (self.reads % ROWS + 1,))
                self.reads += 1

    def finish(self) -> None:
        self.halt.set()
        self.join(timeout=30)


@dataclass
class Setup:
    url: str
    ws: Workspace
    plan: Any
    step: Any
    before: str


def prepare(url: str, workspace_dir: Path) -> Setup:
    ws = Workspace.open(str(workspace_dir))
    with connect(url) as b:
        b.execute(["CREATE TABLE users (id bigserial PRIMARY KEY, email text NOT NULL, n int)",
                   ("INSERT INTO users (email, n) SELECT 'u' || g || '@x', g "
                   f"FROM generate_series(1, {ROWS}) g")])  # fmt: skip
        schema = b.inspect()
    measured = Measured({"users": ROWS}, {}, 50_000.0, "test")
    plan = build_plan(parse_spec(CHANGE), schema, measured=measured, database=url, story=STORY)
    save_plan(ws, plan)
    status.new_story(ws, STORY, "Widen users.n", status="in_progress")
    step = next(s for s in plan.steps if any(o.kind == "backfill" for o in s.operations))
    for earlier in plan.steps[: plan.steps.index(step)]:
        service.prepare(ws, plan.id, plan.hash, db=url, step=earlier.id).run()
    return Setup(url, ws, plan, step, scalar(url, CHECKSUM))


def scalar(url: str, sql: str) -> Any:
    with connect(url) as b:
        return b.query(sql).rows[0][0]


def run_until_fired(
    s: Setup,
    safety: dict[str, Any],
    at_batch: int = 0,
    inject: Callable[[], None] | None = None,
    release: Callable[[], None] | None = None,
) -> TriggerFiredError:
    """Run the backfill under load; call `inject` at batch `at_batch` and `release` once the
    run ended (before the application stops: it may be waiting on what was injected)."""

    def progress(event: str, data: dict[str, Any]) -> None:
        if event == "batch" and data["batch"] == at_batch and inject is not None:
            inject()

    options = RunOptions(batch_size=BATCH, batch_pause_ms=20, progress=progress,
                         safety=FAST | safety, finish_story=False)  # fmt: skip
    app = App(s.url)
    app.start()
    try:
        prepared = service.prepare(s.ws, s.plan.id, s.plan.hash, db=s.url, step=s.step.id,
                                   options=options)  # fmt: skip
        with pytest.raises(TriggerFiredError) as caught:
            prepared.run()
    finally:
        if release is not None:
            release()
        app.finish()
    assert app.reads > 0
    return caught.value


def assert_stopped_safely(s: Setup, exc: TriggerFiredError, trigger: str) -> dict[str, Any]:
    """The step stopped, data intact, story blocked, the bus says why."""
    assert exc.data["trigger"] == trigger, exc.message
    assert f"rollback trigger {trigger} fired" in exc.message
    assert exc.hint and "run step" in exc.hint
    assert scalar(s.url, CHECKSUM) == s.before  # the application's columns untouched
    assert scalar(s.url, "SELECT count(*) FROM users WHERE n_new IS DISTINCT FROM n "
                         "AND n_new IS NOT NULL") == 0  # fmt: skip
    st = service.run_status(s.ws, s.plan.id, db=s.url)
    (step,) = [x for x in st["steps"] if x["step"] == s.step.id]
    assert step["status"] == "failed" and "rollback trigger" in step["detail"]
    (cp,) = [c for c in st["checkpoints"] if c["step"] == s.step.id]
    assert not cp["finished"]
    assert status.get_story(s.ws, STORY)["status"] == "blocked"
    warnings = [m for m in bus.read(s.ws, type="warning").messages
                if m.text and trigger in m.text]  # fmt: skip
    assert warnings, "no bus warning names the trigger"
    assert exc.data["reason"] in warnings[-1].text
    assert any("fired" in x for x in samples_of(s.ws.state_dir, s.plan.id, 500))
    return st


def test_a_manual_stop_stops_the_backfill_at_the_next_batch(pg_url, workspace_dir):
    s = prepare(pg_url, workspace_dir)
    exc = run_until_fired(s, {}, 3, lambda: request_stop(s.ws.state_dir, s.plan.id, "on call"))
    st = assert_stopped_safely(s, exc, "manual_stop")
    (cp,) = [c for c in st["checkpoints"] if c["step"] == s.step.id]
    assert cp["rows_done"] == 3 * BATCH  # stopped right after the batch that saw the request
    assert "on call" in exc.message


def test_disk_below_the_floor_fires_before_a_batch_runs(pg_url, workspace_dir):
    s = prepare(pg_url, workspace_dir)
    exc = run_until_fired(s, {"disk_free_min_bytes": 2**60})
    assert_stopped_safely(s, exc, "disk_free_short")
    assert "below the floor" in exc.message and "GiB" in exc.message


def test_an_error_spike_fires_the_error_rate_trigger(pg_url, workspace_dir):
    s = prepare(pg_url, workspace_dir)
    halt = threading.Event()

    def failing() -> None:
        with psycopg.connect(pg_url, autocommit=True) as conn:
            while not halt.is_set():
                try:
                    conn.execute("SELECT 1 / 0")
                except psycopg.errors.DivisionByZero:
                    pass

    spike = threading.Thread(target=failing, daemon=True)
    try:
        exc = run_until_fired(s, {"latency_p99_ratio": None}, 15, spike.start)
    finally:
        halt.set()
        if spike.is_alive():
            spike.join(timeout=10)
    assert_stopped_safely(s, exc, "error_rate")
    assert exc.data["value"] > 0.01 and "against a baseline of" in exc.data["reason"]


def test_a_competing_lock_fires_the_latency_trigger(pg_url, workspace_dir):
    s = prepare(pg_url, workspace_dir)
    holder = psycopg.connect(pg_url)  # a transaction holding the table, as a stuck job would

    def lock() -> None:
        holder.execute("LOCK TABLE users IN ACCESS EXCLUSIVE MODE")

    try:
        exc = run_until_fired(s, {"error_rate_over_baseline": None}, 5, lock, holder.rollback)
    finally:
        holder.close()
    assert_stopped_safely(s, exc, "latency_p99_ratio")
    assert exc.data["value"] > 2.0 and "for more than 0.5 s" in exc.data["reason"]


def test_a_stalled_logical_slot_fires_the_slot_lag_trigger(pg_logical_url, workspace_dir):
    s = prepare(pg_logical_url, workspace_dir)
    with psycopg.connect(pg_logical_url, autocommit=True) as c:
        c.execute("SELECT pg_create_logical_replication_slot('dm_stalled', 'test_decoding')")
    try:
        exc = run_until_fired(s, {"slot_lag_seconds": 1.0})
        assert_stopped_safely(s, exc, "slot_lag_seconds")
        assert "dm_stalled" in exc.message and exc.data["value"] > 1.0
        assert "pg_drop_replication_slot" in (exc.hint or "")
    finally:
        with psycopg.connect(pg_logical_url, autocommit=True) as c:
            c.execute("SELECT pg_drop_replication_slot('dm_stalled')")


def test_a_failed_validation_rolls_the_step_back_blocks_the_story_and_warns(pg_url, workspace_dir):
    import dataclasses

    from datamigration.errors import ValidationFailedError
    from datamigration.plan.model import RollbackTrigger
    from integration.test_execute_engine_pg import make_plan, rename_steps, seed

    ws = Workspace.open(str(workspace_dir))
    seed(pg_url, rows=100)
    expand = dataclasses.replace(
        rename_steps()[0],  # adds email_address; the rule cannot hold before the backfill
        validation=(
            {"id": "x", "type": "not_null", "table": "users", "columns": ["email_address"]},
        ),
        rollback_triggers=(RollbackTrigger("validation", "failed", None, "a rule failed"),),
    )
    plan = dataclasses.replace(make_plan(ws, pg_url, [expand]), story=STORY)
    plan = dataclasses.replace(plan, hash=plan.compute_hash())
    save_plan(ws, plan)
    status.new_story(ws, STORY, "Rename users.email", status="in_progress")
    with pytest.raises(ValidationFailedError) as err:
        service.prepare(ws, plan.id, plan.hash, db=pg_url, step=expand.id).run()
    assert err.value.data["rolled_back"]
    assert status.get_story(ws, STORY)["status"] == "blocked"
    (warning,) = [m for m in bus.read(ws, type="warning").messages if "trigger" in (m.text or "")]
    assert "rollback trigger validation fired" in warning.text and "1 of 1" in warning.text


def test_a_stop_during_an_index_build_cancels_it_and_rolls_the_step_back(pg_url, workspace_dir):
    """An index build is one long statement: the watch cancels it on the server, the step's
    rollback drops what it left, and the table is as before."""
    ws = Workspace.open(str(workspace_dir))
    with connect(pg_url) as b:
        b.execute(["CREATE TABLE users (id bigserial PRIMARY KEY, email text NOT NULL, n int)",
                   ("INSERT INTO users (email, n) SELECT md5(g::text) || md5((g * 7)::text), g "
                   "FROM generate_series(1, 600000) g")])  # fmt: skip
        schema = b.inspect()
    spec = {"kind": "add_index", "table": "users", "columns": ["email", "n"], "name": "users_ix"}
    measured = Measured({"users": 600_000}, {}, 50_000.0, "test")
    plan = build_plan(parse_spec(spec), schema, measured=measured, database=pg_url, story=STORY)
    save_plan(ws, plan)
    status.new_story(ws, STORY, "Index users", status="in_progress")
    before = scalar(pg_url, CHECKSUM)

    def stop_once_building() -> None:
        with psycopg.connect(pg_url, autocommit=True) as c:
            for _ in range(2000):
                if c.execute("SELECT count(*) FROM pg_stat_activity WHERE state = 'active' "
                             "AND query LIKE 'CREATE INDEX CONCURRENTLY%'").fetchone()[0]:  # fmt: skip
                    request_stop(ws.state_dir, plan.id, "index build too slow")
                    return
                halt.wait(0.01)

    halt = threading.Event()
    stopper = threading.Thread(target=stop_once_building, daemon=True)
    stopper.start()
    options = RunOptions(safety=FAST, finish_story=False)
    try:
        with pytest.raises(TriggerFiredError) as err:
            service.prepare(ws, plan.id, plan.hash, db=pg_url, all_steps=True,
                            options=options).run()  # fmt: skip
    finally:
        halt.set()
        stopper.join(timeout=30)
    exc = err.value
    assert exc.data["trigger"] == "manual_stop" and exc.data["rolled_back"]
    assert "it was rolled back (drop index users_ix)" in exc.message
    assert scalar(pg_url, "SELECT count(*) FROM pg_indexes WHERE indexname = 'users_ix'") == 0
    assert scalar(pg_url, CHECKSUM) == before
    (step,) = service.run_status(ws, plan.id, db=pg_url)["steps"]
    assert step["status"] == "rolled_back"
    assert status.get_story(ws, STORY)["status"] == "blocked"
