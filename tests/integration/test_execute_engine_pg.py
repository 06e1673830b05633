"""The executor engine on real PostgreSQL, with hand-written plans (independent of the planner).

These pin the engine's own guarantees: checkpoints commit with their batch, a resumed backfill
continues after the last committed key, lock timeouts are retried, an invalid index left by a
failed concurrent build is dropped and rebuilt, a contract step is held until validation
passes, and rollback restores the table.
"""

from __future__ import annotations

import dataclasses

import psycopg
import pytest

from datamigration.db import connect
from datamigration.errors import LockTimeoutError
from datamigration.execute import service
from datamigration.execute.retry import Backoff
from datamigration.execute.runner import RunOptions, StepGateError
from datamigration.plan.model import (
    BackfillSpec,
    Estimates,
    Operation,
    Phase,
    Plan,
    Step,
)
from datamigration.plan.model import ChangeSpec as Spec
from datamigration.plan.store import save_plan
from datamigration.safety.backup.take import take_backup
from datamigration.workspace.root import Workspace

pytestmark = pytest.mark.integration

ROWS = 25_000


def sql(id_: str, *statements: str, reverse: tuple[Operation, ...] = (), **kw) -> Operation:
    return Operation(id_, "sql", "postgresql", id_, statements=statements, reverse=reverse, **kw)


def make_plan(workspace: Workspace, url: str, steps: list[Step], plan_id: str = "p-rename") -> Plan:
    phases = []
    for name in ("expand", "migrate", "switch", "contract"):
        mine = tuple(s for s in steps if s.phase == name)
        if mine:
            phases.append(Phase(name, name.title(), "", mine))
    plan = Plan(
        id=plan_id,
        spec=Spec("rename_column", "users", {"column": "email", "new_name": "email_address"}),
        dialect="postgresql",
        database=url,
        pattern="expand_contract",
        pattern_reason="test",
        phases=tuple(phases),
        estimates=Estimates(0, {}, {}, {}, 1000.0, "default", 0, ""),
        checklist=(),
        post_validation=(
            {
                "id": "new-not-null",
                "type": "not_null",
                "table": "users",
                "columns": ["email_address"],
            },
        ),
        communication=(),
        lint=(),
        created_at="2026-01-01T00:00:00Z",
    )
    plan = dataclasses.replace(plan, hash=plan.compute_hash())
    save_plan(workspace, plan)
    return plan


def rename_steps(batch: int = 10_000) -> list[Step]:
    trigger = (
        "CREATE OR REPLACE FUNCTION users_sync_email() RETURNS trigger LANGUAGE plpgsql AS $$ "
        "BEGIN IF TG_OP = 'INSERT' THEN "
        "NEW.email := COALESCE(NEW.email, NEW.email_address); NEW.email_address := NEW.email; "
        "ELSIF NEW.email IS DISTINCT FROM OLD.email THEN NEW.email_address := NEW.email; "
        "ELSIF NEW.email_address IS DISTINCT FROM OLD.email_address THEN "
        "NEW.email := NEW.email_address; END IF; RETURN NEW; END $$"
    )
    expand = Step(
        "s01",
        "add email_address and sync triggers",
        "expand",
        "",
        operations=(
            sql("s01-add", "ALTER TABLE users ADD COLUMN IF NOT EXISTS email_address text"),
            sql(
                "s01-trg",
                trigger,
                "DROP TRIGGER IF EXISTS users_sync_email ON users",
                "CREATE TRIGGER users_sync_email BEFORE INSERT OR UPDATE ON users "
                "FOR EACH ROW EXECUTE FUNCTION users_sync_email()",
            ),
        ),
        rollback=(
            sql(
                "s01-undo",
                "DROP TRIGGER IF EXISTS users_sync_email ON users",
                "DROP FUNCTION IF EXISTS users_sync_email()",
                "ALTER TABLE users DROP COLUMN IF EXISTS email_address",
            ),
        ),
    )
    spec = BackfillSpec(
        table="users",
        key_columns=("id",),
        set_expression="email_address = email",
        where="email_address IS DISTINCT FROM email",
        batch_size=batch,
    )
    migrate = Step(
        "s02",
        "backfill email_address",
        "migrate",
        "",
        operations=(Operation("s02-bf", "backfill", "postgresql", "backfill", backfill=spec),),
        rollback=(),  # the column itself goes with s01's rollback
        validation=(
            {"id": "filled", "type": "not_null", "table": "users", "columns": ["email_address"]},
        ),
    )
    index = Step(
        "s03",
        "index email_address concurrently",
        "switch",
        "",
        operations=(
            sql(
                "s03-idx",
                "CREATE UNIQUE INDEX CONCURRENTLY IF NOT EXISTS users_email_address_key "
                "ON users (email_address)",
                transactional=False,
            ),
        ),
        rollback=(
            sql(
                "s03-undo",
                "DROP INDEX CONCURRENTLY IF EXISTS users_email_address_key",
                transactional=False,
            ),
        ),
    )
    contract = Step(
        "s04",
        "drop users.email",
        "contract",
        "",
        operations=(
            sql(
                "s04-drop",
                "DROP TRIGGER IF EXISTS users_sync_email ON users",
                "DROP FUNCTION IF EXISTS users_sync_email()",
                "ALTER TABLE users DROP COLUMN IF EXISTS email",
                destructive=True,
            ),
        ),
        gates=("validation_passed", "confirmation"),
        destructive=True,
        reversible=False,
    )
    return [expand, migrate, index, contract]


def seed(url: str, rows: int = ROWS) -> None:
    with psycopg.connect(url, autocommit=True) as c:
        c.execute("CREATE TABLE users (id bigserial PRIMARY KEY, email text NOT NULL, n int)")
        c.execute(
            "INSERT INTO users (email, n) SELECT 'user' || g || '@example.com', g "
            "FROM generate_series(1, %s) g",
            (rows,),
        )


def checksum(url: str, column: str) -> str:
    with psycopg.connect(url) as c:
        return c.execute(
            f"SELECT md5(string_agg(id || ':' || {column}, ',' ORDER BY id)) FROM users"
        ).fetchone()[0]


#: batch counts are asserted here: a fixed pace (the latency budget has its own tests)
FIXED_PACE = {"latency_budget_ratio": False}


def run(ws, plan, url, mode="execute", **kw):
    options = kw.pop("options", None) or RunOptions(sleep=lambda s: None, safety=FIXED_PACE)
    prepared = service.prepare(ws, plan.id, plan.hash, mode=mode, db=url, options=options, **kw)
    return prepared.run()


@pytest.fixture
def ws(workspace_dir) -> Workspace:
    return Workspace.open(str(workspace_dir))


def test_rename_runs_step_by_step_keeps_data_and_contract_drops_the_old_column(
    ws, pg_url, monkeypatch
):
    monkeypatch.setenv("DATAMIGRATION_BACKUP_REQUIRED", "true")  # the contract needs a backup
    seed(pg_url)
    before = checksum(pg_url, "email")
    plan = make_plan(ws, pg_url, rename_steps())
    out = run(ws, plan, pg_url, phase="expand")
    assert [s["step"] for s in out["steps"]] == ["s01"]
    out = run(ws, plan, pg_url, step="s02")
    bf = out["steps"][0]["operations"][0]
    assert bf["rows"] == ROWS and bf["batches"] == 3
    assert out["steps"][0]["validation"]["passed"]
    # old and new application versions both work while the triggers sync the columns
    with psycopg.connect(pg_url, autocommit=True) as c:
        c.execute("INSERT INTO users (email, n) VALUES ('old@app', 0)")
        c.execute("INSERT INTO users (email_address, n) VALUES ('new@app', 0)")
        assert c.execute(
            "SELECT count(*) FROM users WHERE email IS DISTINCT FROM email_address"
        ).fetchone() == (0,)
        c.execute("DELETE FROM users WHERE n = 0")
    backup = take_backup(ws, pg_url, ["users"])  # a real one, restore-tested
    out = run(ws, plan, pg_url, all_steps=True)
    assert [s["step"] for s in out["steps"]] == ["s03", "s04"]
    assert out["backup"]["backup"]["id"] == backup["id"]
    assert out["remaining"] == []
    assert out["final_validation"]["passed"]
    assert checksum(pg_url, "email_address") == before
    with connect(pg_url) as b:
        cols = [c.name for c in b.inspect(tables=["users"]).tables[0].columns]
        assert "email" not in cols
        assert b.index_state("users_email_address_key") == "valid"
    status = service.run_status(ws, plan.id, db=pg_url)
    assert status["summary"] == "4/4 steps done" and status["run"]["status"] == "completed"


def test_rollback_of_the_whole_plan_restores_the_table(ws, pg_url):
    seed(pg_url)
    before = checksum(pg_url, "email")
    plan = make_plan(ws, pg_url, rename_steps()[:3])
    run(ws, plan, pg_url, all_steps=True)
    out = run(ws, plan, pg_url, mode="rollback", all_steps=True)
    assert [s["step"] for s in out["steps"]] == ["s03", "s02", "s01"]
    assert checksum(pg_url, "email") == before
    with connect(pg_url) as b:
        cols = [c.name for c in b.inspect(tables=["users"]).tables[0].columns]
        assert cols == ["id", "email", "n"]
        assert b.index_state("users_email_address_key") is None
    # after a rollback the plan can run again from the start
    out = run(ws, plan, pg_url, all_steps=True)
    assert out["steps"][1]["operations"][0]["rows"] == ROWS


def test_a_resumed_backfill_starts_after_the_last_committed_key(ws, pg_url):
    seed(pg_url)
    plan = make_plan(ws, pg_url, rename_steps(batch=5_000))
    run(ws, plan, pg_url, step="s01")
    seen = []

    class Stop(Exception):
        pass

    def progress(event, data):
        if event == "batch":
            seen.append(data["last_key"])
            if len(seen) == 2:
                raise Stop

    with pytest.raises(Stop):
        run(
            ws,
            plan,
            pg_url,
            step="s02",
            options=RunOptions(progress=progress, sleep=lambda s: None, safety=FIXED_PACE),
        )
    status = service.run_status(ws, plan.id, db=pg_url)
    cp = next(c for c in status["checkpoints"] if c["operation"] == "s02-bf")
    assert cp["last_key"] == [10_000] and cp["batches"] == 2 and not cp["finished"]
    assert [s["status"] for s in status["steps"]][:2] == ["done", "failed"]
    out = run(ws, plan, pg_url, step="s02")
    bf = out["steps"][0]["operations"][0]
    # three full batches, then the (empty) closing batch that finds no further boundary key
    assert bf["resumed_from"] == [10_000] and bf["rows"] == ROWS - 10_000 and bf["batches"] == 4


def test_contract_is_held_when_validation_fails(ws, pg_url):
    seed(pg_url)
    steps = rename_steps()
    # a backfill that forgets half the rows: the contract step must refuse to drop the old column
    broken = dataclasses.replace(
        steps[1],
        operations=(
            dataclasses.replace(
                steps[1].operations[0],
                backfill=dataclasses.replace(steps[1].operations[0].backfill, where="id % 2 = 0"),
            ),
        ),
        validation=(),
    )
    plan = make_plan(ws, pg_url, [steps[0], broken, steps[3]])
    run(ws, plan, pg_url, step="s01")
    run(ws, plan, pg_url, step="s02")
    with pytest.raises(StepGateError) as err:
        run(ws, plan, pg_url, step="s04")
    assert "validation before it failed" in err.value.message
    with connect(pg_url) as b:
        cols = [c.name for c in b.inspect(tables=["users"]).tables[0].columns]
    assert "email" in cols


def test_ddl_behind_a_long_transaction_retries_then_reports_the_lock(ws, pg_url):
    seed(pg_url, rows=10)
    steps = rename_steps()
    fast = dataclasses.replace(
        steps[0],
        operations=tuple(
            dataclasses.replace(o, lock_timeout_ms=50, retries=2) for o in steps[0].operations
        ),
    )
    plan = make_plan(ws, pg_url, [fast])
    holder = psycopg.connect(pg_url)
    holder.execute("SELECT * FROM users LIMIT 1")  # holds ACCESS SHARE until commit
    pauses = []
    try:
        with pytest.raises(LockTimeoutError) as err:
            run(ws, plan, pg_url, step="s01",
                options=RunOptions(sleep=pauses.append, backoff=Backoff(base_ms=10)))  # fmt: skip
        assert err.value.data["attempts"] == 3 and len(pauses) == 2
    finally:
        holder.rollback()
    # the application's transaction was never blocked for more than the lock timeout, and
    # once it ends the same command succeeds
    out = run(ws, plan, pg_url, step="s01")
    assert out["steps"][0]["status"] == "done"


def test_an_invalid_index_left_by_a_failed_build_is_dropped_and_rebuilt(ws, pg_url):
    seed(pg_url, rows=100)
    steps = rename_steps()
    plan = make_plan(ws, pg_url, steps[:3])
    run(ws, plan, pg_url, step="s01")
    run(ws, plan, pg_url, step="s02")
    # a duplicate makes the unique concurrent build fail and leave an INVALID index behind
    with psycopg.connect(pg_url, autocommit=True) as c:
        c.execute("UPDATE users SET email = 'dup@x' WHERE id IN (1, 2)")
    with pytest.raises(Exception) as err:
        run(ws, plan, pg_url, step="s03")
    assert "duplicate" in str(err.value).lower() or "unique" in str(err.value).lower()
    with connect(pg_url) as b:
        assert b.index_state("users_email_address_key") is None  # cleaned up, not invalid
    # leave an invalid index by hand (as a crash would) and fix the data: the build recovers
    with psycopg.connect(pg_url, autocommit=True) as c:
        c.execute("UPDATE users SET email = 'one@x' WHERE id = 1")
        c.execute("CREATE INDEX users_email_address_key ON users (email_address)")
        c.execute(
            "UPDATE pg_index SET indisvalid = false WHERE indexrelid = "
            "'users_email_address_key'::regclass"
        )
    out = run(ws, plan, pg_url, step="s03")
    idx = out["steps"][0]["operations"][0]["indexes"][0]
    assert idx["state"] == "valid" and idx["dropped_invalid"] == 1


def test_a_second_executor_on_the_same_plan_is_refused(ws, pg_url):
    seed(pg_url, rows=10)
    plan = make_plan(ws, pg_url, rename_steps()[:1])
    with connect(pg_url) as other:
        assert other.try_session_lock(f"datamigration:{plan.id}")
        with pytest.raises(Exception) as err:
            run(ws, plan, pg_url, step="s01", options=RunOptions(lock_wait_s=0))
        assert "another executor" in str(err.value)
    assert run(ws, plan, pg_url, step="s01")["steps"][0]["status"] == "done"


def test_the_backfill_backs_off_while_the_table_is_locked_and_goes_on_when_it_is_free(ws, pg_url):
    from datamigration.safety.throttle import ThrottlePolicy

    seed(pg_url, rows=20_000)
    plan = make_plan(ws, pg_url, rename_steps(batch=5_000))
    run(ws, plan, pg_url, step="s01")
    holder = psycopg.connect(pg_url)
    events = []

    def progress(event, data):
        if event == "batch" and data["batch"] == 1:
            # another session takes the table (as a careless ALTER would) after the first batch
            holder.execute("LOCK TABLE users IN ACCESS EXCLUSIVE MODE")
        events.append(event)

    def sleep(seconds):
        events.append("paused")
        holder.rollback()  # the other session finishes while the backfill waits

    options = RunOptions(
        progress=progress, sleep=sleep, throttle=ThrottlePolicy(probe_timeout_ms=200)
    )
    try:
        out = run(ws, plan, pg_url, step="s02", options=options)
    finally:
        holder.close()
    bf = out["steps"][0]["operations"][0]
    assert bf["rows"] == 20_000
    assert bf["throttle"]["throttled"] >= 1 and bf["throttle"]["max_probe_ms"] >= 150
    events = [e for e in events if e != "throttle"]  # the throttle's own pause/resume reports
    assert events.index("paused") == events.index("batch") + 1  # right after the lock was taken


def test_a_failed_validation_with_a_rollback_trigger_rolls_the_step_back(ws, pg_url):
    from datamigration.errors import ValidationFailedError
    from datamigration.plan.model import RollbackTrigger

    seed(pg_url, rows=100)
    expand = dataclasses.replace(
        rename_steps()[0],
        # a rule that cannot hold right after the expand step: the column is still empty
        validation=(
            {"id": "x", "type": "not_null", "table": "users", "columns": ["email_address"]},
        ),
        rollback_triggers=(RollbackTrigger("validation", "failed", None, "a rule failed"),),
    )
    plan = make_plan(ws, pg_url, [expand])
    with pytest.raises(ValidationFailedError) as err:
        run(ws, plan, pg_url, step="s01")
    assert err.value.data["rolled_back"] and "rollback trigger undid" in err.value.message
    with connect(pg_url) as b:
        cols = [c.name for c in b.inspect(tables=["users"]).tables[0].columns]
    assert cols == ["id", "email", "n"]
    status = service.run_status(ws, plan.id, db=pg_url)
    assert status["steps"][0]["status"] == "rolled_back"


def test_a_rollback_trigger_on_a_step_without_rollback_operations_reports_nothing_undone(
    ws, pg_url
):
    from datamigration.errors import ValidationFailedError
    from datamigration.plan.model import RollbackTrigger

    seed(pg_url, rows=10)
    with psycopg.connect(pg_url, autocommit=True) as c:
        c.execute("CREATE TABLE audit (id int PRIMARY KEY)")
        c.execute("INSERT INTO audit VALUES (1)")
    # what the fill did: a statement nothing can undo, then a failing rule
    gone = Step(
        "s01", "Fill NULLs", "migrate", "",
        operations=(sql("s01.1", "DROP TABLE audit"),),
        validation=({"id": "x", "type": "not_null", "table": "users", "columns": ["n"]},),
        rollback_triggers=(RollbackTrigger("validation", "failed", None, "a rule failed"),),
    )  # fmt: skip
    with psycopg.connect(pg_url, autocommit=True) as c:
        c.execute("UPDATE users SET n = NULL WHERE id = 1")
    plan = make_plan(ws, pg_url, [gone])
    with pytest.raises(ValidationFailedError) as err:
        run(ws, plan, pg_url, step="s01")
    assert not err.value.data["rolled_back"]
    assert "nothing was rolled back" in err.value.message
    assert "rollback trigger undid" not in err.value.message
    assert service.run_status(ws, plan.id, db=pg_url)["steps"][0]["status"] == "failed"


def test_ddl_lock_timeouts_climb_a_ladder_so_queued_app_queries_wait_briefly(ws, pg_url):
    seed(pg_url, rows=10)
    steps = rename_steps()
    # retries as the planner states them: 1 at the 2 s limit plus the 6 shorter rungs
    slow_limit = dataclasses.replace(
        steps[0],
        operations=tuple(
            dataclasses.replace(o, lock_timeout_ms=2000, retries=7) for o in steps[0].operations
        ),
    )
    plan = make_plan(ws, pg_url, [slow_limit])
    holder = psycopg.connect(pg_url)
    holder.execute("SELECT * FROM users LIMIT 1")  # holds ACCESS SHARE until it ends
    pauses: list[float] = []

    def pause(seconds: float) -> None:
        pauses.append(seconds)
        if len(pauses) == 3:
            holder.rollback()  # the application's long transaction ends

    try:
        out = run(ws, plan, pg_url, step="s01",
                  options=RunOptions(sleep=pause, backoff=Backoff(base_ms=10)))  # fmt: skip
    finally:
        holder.rollback()
    op = out["steps"][0]["operations"][0]
    # three short waits failed while the transaction held its lock; the fourth got the lock
    assert op["lock_timeout_ms_per_attempt"] == [50, 100, 200, 400]
    assert op["attempts"] == 4 and op["lock_timeouts"] == 3


def test_the_executors_own_session_never_starts_parallel_workers(ws, pg_url):
    from datamigration.execute.runner import Executor

    seed(pg_url, rows=10)
    plan = make_plan(ws, pg_url, rename_steps()[:1])
    show = "SELECT current_setting('max_parallel_maintenance_workers'), " \
        "current_setting('max_parallel_workers_per_gather')"  # fmt: skip
    with Executor(ws, plan, pg_url) as ex:
        assert ex.backend.fetch(show) == [("0", "0")]
    with Executor(ws, plan, pg_url, RunOptions(one_core=False)) as ex:
        assert ex.backend.fetch(show) != [("0", "0")]


def test_ddl_blocked_by_an_autovacuum_cancels_it_instead_of_queueing_the_app_for_a_second(
    ws, pg_autovacuum_url
):
    import time

    url = pg_autovacuum_url
    seed(url, rows=20_000)
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("UPDATE users SET n = n + 1")  # dead rows: autovacuum picks the table up
        deadline = time.monotonic() + 60
        worker = None
        while worker is None and time.monotonic() < deadline:
            worker = conn.execute(
                "SELECT a.pid FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid "
                "WHERE a.backend_type = 'autovacuum worker' "
                "AND l.relation = 'users'::regclass LIMIT 1"
            ).fetchone()
        assert worker is not None, "no autovacuum worker took the table within 60 s"
    plan = make_plan(ws, url, rename_steps()[:1])
    started = time.monotonic()
    out = run(ws, plan, url, step="s01")
    elapsed = time.monotonic() - started
    op = out["steps"][0]["operations"][0]
    assert out["steps"][0]["status"] == "done"
    # one short rung timed out behind the autovacuum, which was then cancelled: PostgreSQL
    # itself would have cancelled it only after deadlock_timeout (1 s) of queueing
    assert op["lock_timeouts"] >= 1 and op["attempts"] <= 3
    events = [e for e in ws.state_dir.glob("**/*.jsonl") for e in e.read_text().splitlines()]
    assert any('"autovacuum_cancelled"' in e and str(worker[0]) in e for e in events)
    assert elapsed < 5
