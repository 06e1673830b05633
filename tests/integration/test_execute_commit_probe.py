"""The latency budget sees what the application's writes wait on (issue 14, item 5).

A read probe never waits for a commit, yet an application's writes do (PostgreSQL's WAL flush
behind a backfill's batches). So the pacer also times a one-row write and commit on its side
connection, in a table of its own (`datamigration_pace_<id>`, created when the backfill starts,
dropped when it ends). Here the test makes that commit wait, with a lock held on the probe's
table for three batches (the read probe, on the backfilled table, stays fast): the pacer must
cut the batch on the commit probe's readings, the backfill must still move every row, and no
probe table may be left behind.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import psycopg
import pytest

from datamigration.db import connect
from datamigration.execute import service
from datamigration.execute.runner import RunOptions
from datamigration.execute.state import RunLog
from datamigration.plan.planner import Measured, build_plan
from datamigration.plan.spec import parse_spec
from datamigration.plan.store import save_plan
from datamigration.safety.probes import COMMIT_PROBE_PREFIX
from datamigration.safety.throttle import ThrottlePolicy
from datamigration.workspace.root import Workspace

pytestmark = pytest.mark.integration

ROWS = 20_000
BATCH = 1_000
CHANGE = {"kind": "change_type", "table": "users", "column": "n", "type": "bigint"}
PROBE_TABLES = f"SELECT tablename FROM pg_tables WHERE tablename LIKE '{COMMIT_PROBE_PREFIX}%'"


def test_a_commit_that_waits_cuts_the_batch_while_reads_stay_fast_and_the_probe_table_goes(
    pg_url: str, workspace_dir: Path
) -> None:
    ws = Workspace.open(str(workspace_dir))
    with connect(pg_url) as b:
        b.execute(["CREATE TABLE users (id bigserial PRIMARY KEY, email text NOT NULL, n int)",
                   ("INSERT INTO users (email, n) SELECT 'u' || g || '@x', g "
                    f"FROM generate_series(1, {ROWS}) g")])  # fmt: skip
        schema = b.inspect()
    measured = Measured({"users": ROWS}, {}, 50_000.0, "test")
    plan = build_plan(parse_spec(CHANGE), schema, measured=measured, database=pg_url)
    save_plan(ws, plan)
    backfill = next(s for s in plan.steps if any(o.kind == "backfill" for o in s.operations))
    batches: list[dict[str, Any]] = []
    seen_tables: list[str] = []
    holder = psycopg.connect(pg_url)  # a transaction that holds the probe table's lock

    def progress(event: str, data: dict[str, Any]) -> None:
        if event != "batch":
            return
        batches.append(data)
        if len(batches) == 3:
            (name,) = [r[0] for r in holder.execute(PROBE_TABLES).fetchall()]
            seen_tables.append(name)
            holder.execute(f"LOCK TABLE {name} IN SHARE MODE")  # the probe's UPDATE waits
        if len(batches) == 6:
            holder.commit()

    # the throttle's own pause is out of the way; a commit waits at most 300 ms (the probe's
    # timeout), far over the 100 ms budget, and ordinary commits on a busy machine stay under
    throttle = ThrottlePolicy(latency_floor_ms=10_000.0, max_lag_s=None, probe_timeout_ms=300)
    options = RunOptions(batch_size=BATCH, throttle=throttle, watch=False, backup_gate=False,
                         now=True, finish_story=False,
                         safety={"latency_budget_floor_ms": 100,
                                 "pace_max_slowdown": False})  # fmt: skip
    try:
        for step in plan.steps[: plan.steps.index(backfill)]:
            service.prepare(ws, plan.id, plan.hash, db=pg_url, step=step.id, options=options).run()
        options.progress = progress
        prepared = service.prepare(ws, plan.id, plan.hash, db=pg_url, step=backfill.id,
                                   options=options)  # fmt: skip
        result = service.jsonable_result(prepared.run())
    finally:
        holder.close()

    sizes = [b["batch_size"] for b in batches]
    assert sizes[:3] == [BATCH] * 3 and min(sizes[3:7]) < BATCH, sizes
    (op,) = [o for s in result["steps"] for o in s["operations"] if "rows" in o]
    assert op["rows"] == ROWS and op["pace"]["max_reading_ms"] >= 250
    events = RunLog(ws.state_dir, plan.id).read(5000)[0]
    cuts = [e for e in events if e["event"] == "pace" and e.get("state") == "slower"]
    assert cuts and cuts[0]["reading_ms"] >= 250
    assert op["throttle"]["max_probe_ms"] < 250  # the read probe never saw the wait
    with connect(pg_url) as b:
        assert not b.query(PROBE_TABLES).rows and seen_tables[0].startswith(COMMIT_PROBE_PREFIX)
        left = b.query("SELECT count(*) FROM users WHERE n_new IS DISTINCT FROM n").rows[0][0]
    assert left == 0
