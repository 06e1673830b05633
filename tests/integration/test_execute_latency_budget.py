"""The backfill under a latency budget on real PostgreSQL: it cuts its batch when probes slow.

A planned int -> bigint change backfills 30k rows in batches of 1,000. The throttle's probe is
the application's representative read, here one that also sleeps for as many milliseconds as a
one-row table says (`pg_sleep` in the probe path, the latency an overloaded server would show).
After the third batch the test raises that delay from 0 to 20 ms, well over the budget (the
floor of 2 ms, since the baseline is well under 1 ms): the pacer must cut the batch size (the
batch events show halved batches, the run log a `pace` event "slower" per cut), grow it back once
the delay is gone, finish with every row copied, and the execute answer and run-status must report the pace it
settled on. The commit probe and the slowdown bound are off here (the read path alone, cut after
cut); test_execute_commit_probe.py covers them.
"""

from __future__ import annotations

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
from datamigration.safety.throttle import ThrottlePolicy
from datamigration.workspace.root import Workspace

pytestmark = pytest.mark.integration

ROWS = 30_000
BATCH = 1_000
CHANGE = {"kind": "change_type", "table": "users", "column": "n", "type": "bigint"}
#: the application's read, slowed by the delay the test sets (honest latency on the server)
PROBE = "SELECT pg_sleep(coalesce((SELECT ms FROM probe_delay), 0) / 1000.0)"


def test_a_backfill_under_a_latency_budget_cuts_its_batch_when_probes_slow_and_reports_the_pace(
    pg_url: str, workspace_dir: Path
) -> None:
    ws = Workspace.open(str(workspace_dir))
    with connect(pg_url) as b:
        b.execute(
            [
                "CREATE TABLE users (id bigserial PRIMARY KEY, email text NOT NULL, n int)",
                (
                    "INSERT INTO users (email, n) SELECT 'u' || g || '@x', g "
                    f"FROM generate_series(1, {ROWS}) g"
                ),
                "CREATE TABLE probe_delay (ms int NOT NULL)",
                "INSERT INTO probe_delay VALUES (0)",
            ]
        )
        schema = b.inspect()
    measured = Measured({"users": ROWS}, {}, 50_000.0, "test")
    plan = build_plan(parse_spec(CHANGE), schema, measured=measured, database=pg_url)
    save_plan(ws, plan)
    backfill = next(s for s in plan.steps if any(o.kind == "backfill" for o in s.operations))
    batches: list[dict[str, Any]] = []

    def progress(event: str, data: dict[str, Any]) -> None:
        if event == "batch":
            batches.append(data)
            if len(batches) in (3, 6):  # the server slows down for three batches
                with connect(pg_url) as b:
                    b.execute([f"UPDATE probe_delay SET ms = {60 if len(batches) == 3 else 0}"])

    # the throttle's own latency pause is kept out of the way (floor 10 s): the pacer acts
    throttle = ThrottlePolicy(probe_sql=PROBE, latency_floor_ms=10_000.0, max_lag_s=None)
    options = RunOptions(batch_size=BATCH, throttle=throttle, watch=False, backup_gate=False,
                         now=True, finish_story=False,
                         safety={"latency_budget_floor_ms": 15, "pace_commit_probe": False,
                                 "pace_max_slowdown": False})  # fmt: skip
    for step in plan.steps[: plan.steps.index(backfill)]:
        service.prepare(ws, plan.id, plan.hash, db=pg_url, step=step.id, options=options).run()
    options.progress = progress
    prepared = service.prepare(ws, plan.id, plan.hash, db=pg_url, step=backfill.id,
                               options=options)  # fmt: skip
    result = service.jsonable_result(prepared.run())

    sizes = [b["batch_size"] for b in batches]
    assert sizes[:4] == [BATCH, BATCH, BATCH, BATCH // 2], sizes
    assert sizes[4:6] == [BATCH // 4, BATCH // 8], sizes  # cut in half on every slow reading
    # the probe timed during the sixth batch still saw the delay: down to the smallest batch,
    # then grown back once the probes are fast again
    assert sizes[6] == 100 and sizes[7] > sizes[6], sizes
    (step,) = result["steps"]
    (op,) = [o for o in step["operations"] if "rows" in o]
    assert op["rows"] == ROWS
    pace = op["pace"]
    assert pace["decreases"] >= 3 and pace["smallest_batch"] == 100
    assert pace["budget_ms"] < 60.0 <= pace["max_reading_ms"]
    assert 0 < pace["batch_size"] <= BATCH and pace["rows_per_second"] > 0

    events = RunLog(ws.state_dir, plan.id).read(5000)[0]
    cuts = [e for e in events if e["event"] == "pace" and e["state"] == "slower"]
    assert len(cuts) >= 3 and cuts[0]["reading_ms"] >= 60.0
    assert [c["pause_ms"] for c in cuts[:3]] == [
        20.0,
        40.0,
        80.0,
    ]  # the pause grows as batches shrink
    status = service.run_status(ws, plan.id, db=pg_url)
    assert status["pace"]["state"] == "settled"
    assert status["pace"]["batch_size"] == pace["batch_size"]
    assert status["pace"]["cuts"] == len(cuts)
    with connect(pg_url) as b:
        left = b.query("SELECT count(*) FROM users WHERE n_new IS DISTINCT FROM n").rows[0][0]
    assert left == 0
