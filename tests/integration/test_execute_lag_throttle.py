"""The backfill throttle against a real streaming standby whose replay is paused.

A primary and a hot standby (pg_basebackup -R) run on free ports. With replay paused on the
standby, the standby still receives WAL but applies none of it, so the primary's
pg_stat_replication shows `replay_lag` growing. A planned int -> bigint change backfills 200k
rows in batches of 2,000 with a lag limit of 1 s: the backfill must pause (a throttle event with
cause `replication_lag` in the run log, "paused: replication lag ..." in run_status), its
checkpoint must stay put while the throttle keeps saying no (2 s), and once replay resumes it must
finish with the new column equal to the old one, on the primary and on the standby.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from datamigration.db import connect
from datamigration.execute import service
from datamigration.execute.runner import RunOptions
from datamigration.execute.state import RunLog
from datamigration.plan.planner import Measured, build_plan
from datamigration.plan.spec import parse_spec
from datamigration.plan.store import save_plan
from datamigration.safety import probes
from datamigration.workspace.root import Workspace
from support import services

pytestmark = pytest.mark.integration

ROWS = 200_000
BATCH = 2_000
MAX_LAG_S = 1.0
HOLD_S = 2.0
CHANGE = {"kind": "change_type", "table": "users", "column": "n", "type": "bigint"}


def until(what: str, check: Callable[[], Any], timeout: float = 30.0) -> Any:
    """Poll `check` until it returns something truthy (a state change in another thread or
    server has no event to wait on); fail with `what` after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if found := check():
            return found
        time.sleep(0.05)
    pytest.fail(f"timed out after {timeout} s waiting for {what}")


def scalar(url: str, sql: str) -> Any:
    with connect(url) as b:
        return b.query(sql).rows[0][0]


def backfill_checkpoint(status: dict[str, Any], step: str) -> dict[str, Any]:
    (cp,) = [c for c in status["checkpoints"] if c["step"] == step]
    return cp


def test_a_backfill_pauses_while_the_standby_replays_nothing_and_finishes_after(
    pg_standby, workspace_dir: Path
) -> None:
    url = pg_standby.primary_url
    ws = Workspace.open(str(workspace_dir))
    with connect(url) as b:
        b.execute(
            [
                "CREATE TABLE users (id bigserial PRIMARY KEY, email text NOT NULL, n int)",
                (
                    "INSERT INTO users (email, n) SELECT 'u' || g || '@x', g "
                    f"FROM generate_series(1, {ROWS}) g"
                ),
            ]
        )
        schema = b.inspect()
    measured = Measured({"users": ROWS}, {}, 50_000.0, "test")
    plan = build_plan(parse_spec(CHANGE), schema, measured=measured, database=url)
    save_plan(ws, plan)
    backfill = next(s for s in plan.steps if any(o.kind == "backfill" for o in s.operations))
    options = RunOptions(batch_size=BATCH, max_lag_s=MAX_LAG_S)
    for step in plan.steps[: plan.steps.index(backfill)]:  # add n_new, sync triggers
        service.prepare(ws, plan.id, plan.hash, db=url, step=step.id, options=options).run()
    pg_standby.wait_caught_up()

    pg_standby.pause_replay()

    def run_backfill() -> dict[str, Any]:
        prepared = service.prepare(
            ws, plan.id, plan.hash, db=url, step=backfill.id, options=options
        )
        return service.jsonable_result(prepared.run())

    with ThreadPoolExecutor(max_workers=1) as pool:
        running = pool.submit(run_backfill)
        try:

            def lag_pause() -> dict[str, Any] | None:
                st = service.run_status(ws, plan.id, db=url)
                th = st.get("throttle") or {}
                return st if th.get("paused") and th.get("cause") == "replication_lag" else None

            status = until("a pause for replication lag", lag_pause)
            assert status["throttle"]["reason"].startswith("replication lag ")
            assert f"> {MAX_LAG_S:g} s (" in status["throttle"]["reason"]
            cp = backfill_checkpoint(status, backfill.id)
            assert not cp["finished"] and 0 < cp["rows_done"] < ROWS

            def held_for(seconds: float) -> dict[str, Any] | None:
                st = service.run_status(ws, plan.id, db=url)
                th = st["throttle"]
                return st if th["paused"] and th["waited_s"] >= seconds else None

            # the throttle keeps saying no for 2 s by its own clock; no batch commits meanwhile
            held = until("two seconds of throttling", lambda: held_for(HOLD_S))
            assert backfill_checkpoint(held, backfill.id) == cp
            assert pg_standby.replay_pause_state() == "paused"
        finally:
            pg_standby.resume_replay()
        result = running.result(timeout=60)  # finishes once replay resumed

    (step,) = result["steps"]
    (op,) = [o for o in step["operations"] if "rows" in o]
    assert op["rows"] == ROWS
    assert op["throttle"]["throttled_by"]["replication_lag"] >= 1
    assert op["throttle"]["max_replication_lag_s"] > MAX_LAG_S
    events = [e for e in RunLog(ws.state_dir, plan.id).read(5000)[0] if e["event"] == "throttle"]
    assert events[-1]["state"] == "resumed"
    after = service.run_status(ws, plan.id, db=url)
    assert not after["throttle"]["paused"]
    assert backfill_checkpoint(after, backfill.id)["finished"]

    diff = "SELECT count(*) FROM users WHERE n_new IS DISTINCT FROM n"
    assert scalar(url, diff) == 0
    pg_standby.wait_caught_up()
    assert scalar(pg_standby.standby_url, diff) == 0
    assert scalar(pg_standby.standby_url, "SELECT count(n_new) FROM users") == ROWS


def test_a_standby_that_caught_up_reads_as_no_lag_while_postgres_still_shows_the_old_lag() -> None:
    """PostgreSQL keeps the replay_lag measured at the catch-up until the standby's next status
    reply (10 s by default): the throttle must read 0 for a standby at the primary's position."""
    pair_cm = services.streaming_standby_pair(status_interval_s=10)
    with pair_cm as pair, connect(pair.primary_url) as b:
        b.execute(["CREATE TABLE t (id int PRIMARY KEY)"])
        pair.wait_caught_up()
        pair.pause_replay()
        written = iter(range(0, 10**6, 1000))

        def lag_over_half_a_second() -> probes.ReplicationLag | None:
            # WAL keeps arriving (as during a backfill), so the standby keeps replying
            n = next(written)
            b.execute([f"INSERT INTO t SELECT g FROM generate_series({n + 1}, {n + 1000}) g"])
            lag = probes.replication_lag(b)
            return lag if lag and (lag.seconds or 0) > 0.5 else None

        stalled = until("replay lag over 0.5 s", lag_over_half_a_second)
        assert stalled.bytes and stalled.bytes > 0 and stalled.standbys == 1
        time.sleep(1.0)  # no WAL for a while, as while a throttled backfill waits
        pair.resume_replay()
        pair.wait_caught_up()
        (shown,) = b.fetch("SELECT EXTRACT(EPOCH FROM replay_lag) FROM pg_stat_replication")
        assert shown[0] and shown[0] > 0  # still the lag measured at the catch-up
        lag = probes.replication_lag(b)
        assert lag is not None and lag.seconds == 0 and lag.bytes == 0
