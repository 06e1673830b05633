"""A rollback trigger acts during a real backfill under the project's load generator
(bench/loadgen.py: reads, updates and inserts on a fixed schedule from several threads), not
only beside a read-only application thread (test_safety_triggers_pg.py).

A competing ACCESS EXCLUSIVE lock stalls the probes: the latency trigger fires, the backfill
stops at its checkpoint, the story is blocked and the bus says why. The application's writes
went on throughout, so the data check is the expand-contract invariant instead of a checksum:
every row the backfill or the sync triggers reached holds `n_new = n`, and no application
query failed.
"""

from __future__ import annotations

import sys
from pathlib import Path

import psycopg
import pytest

from datamigration.coordination import bus, status
from datamigration.errors import DataMigrationError
from datamigration.execute import service
from datamigration.execute.runner import RunOptions
from datamigration.safety.watch import TriggerFiredError
from integration.test_safety_triggers_pg import BATCH, FAST, ROWS, STORY, prepare, scalar

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))

from loadgen import LoadGenerator, Workload  # bench/ is not a package: its folder on the path

pytestmark = pytest.mark.integration


def test_a_competing_lock_fires_the_latency_trigger_under_the_load_generator(pg_url, workspace_dir):
    s = prepare(pg_url, workspace_dir)
    holder = psycopg.connect(pg_url)  # a transaction holding the table, as a stuck job would

    def progress(event: str, data: dict) -> None:
        if event == "batch" and data["batch"] == 5:
            holder.execute("LOCK TABLE users IN ACCESS EXCLUSIVE MODE")

    gen = LoadGenerator(pg_url, key_max=ROWS, workload=Workload(new_column="email"), rate=100,
                        threads=4, monitor_interval=0.2, prepare_threshold=None)  # fmt: skip
    options = RunOptions(batch_size=BATCH, batch_pause_ms=20, progress=progress,
                         safety=FAST | {"error_rate_over_baseline": None},
                         finish_story=False)  # fmt: skip
    gen.start()
    try:
        prepared = service.prepare(s.ws, s.plan.id, s.plan.hash, db=s.url, step=s.step.id,
                                   options=options)  # fmt: skip
        with pytest.raises(TriggerFiredError) as caught:
            prepared.run()
    finally:
        holder.rollback()
        holder.close()
        load = gen.stop()
    exc: DataMigrationError = caught.value
    assert exc.data["trigger"] == "latency_p99_ratio" and exc.data["value"] > 2.0
    writes = [op for op in load.ops if op.kind != "read"]
    assert writes and all(op.ok for op in load.ops), [op.error for op in load.ops if not op.ok]
    assert scalar(s.url, "SELECT count(*) FROM users WHERE n_new IS NOT NULL") > 0
    assert scalar(s.url, "SELECT count(*) FROM users WHERE n_new IS DISTINCT FROM n "
                         "AND n_new IS NOT NULL") == 0  # fmt: skip
    st = service.run_status(s.ws, s.plan.id, db=s.url)
    (step,) = [x for x in st["steps"] if x["step"] == s.step.id]
    assert step["status"] == "failed" and "rollback trigger" in step["detail"]
    assert status.get_story(s.ws, STORY)["status"] == "blocked"
    warnings = [m.text or "" for m in bus.read(s.ws, type="warning").messages]
    assert any("latency_p99_ratio" in t and exc.data["reason"] in t for t in warnings)
