"""An interrupted backfill resumes after its last committed batch on every SQL dialect: the
checkpoint commits in the same transaction as its batch (MariaDB and SQLite as on PostgreSQL)."""

from __future__ import annotations

import pytest

from datamigration.db import connect
from datamigration.execute import service
from datamigration.execute.runner import RunOptions
from datamigration.plan.planner import Measured, build_plan
from datamigration.plan.spec import parse_spec
from datamigration.plan.store import save_plan
from datamigration.workspace.root import Workspace

pytestmark = pytest.mark.integration

ROWS, BATCH = 5000, 1000
SPECS = {
    "mysql": {"kind": "rename_column", "table": "users", "column": "email",
              "new_name": "email_address", "batch_size": BATCH},
    "sqlite": {"kind": "rename_column", "table": "users", "column": "n", "new_name": "amount",
               "batch_size": BATCH},  # the rebuild's copy: test_execute_sqlite_rebuild.py
}  # fmt: skip
FILLED = {"mysql": "email_address", "sqlite": "amount"}
SEED = {
    "mysql": [
        (
            "CREATE TABLE users (id BIGINT AUTO_INCREMENT PRIMARY KEY, email VARCHAR(200) NOT NULL, "
            "n INT)"
        ),
        f"INSERT INTO users (email, n) SELECT CONCAT('u', seq, '@x'), seq FROM seq_1_to_{ROWS}",
    ],
    "sqlite": [
        "CREATE TABLE users (id INTEGER PRIMARY KEY, email TEXT NOT NULL, n INTEGER)",
        (
            "WITH RECURSIVE g(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM g WHERE x < "
            f"{ROWS}) INSERT INTO users (id, email, n) SELECT x, 'u' || x || '@x', x FROM g"
        ),
    ],
}


#: batches keep their size (the latency budget has its own tests)
FIXED_PACE = {"latency_budget_ratio": False}


class Stop(Exception):
    pass


@pytest.fixture(params=["mysql", "sqlite"])
def url(request, tmp_path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'app.db'}"
    return request.getfixturevalue("mysql_url")


def test_an_interrupted_backfill_resumes_after_the_last_committed_batch(workspace_dir, url):
    ws = Workspace.open(str(workspace_dir))
    with connect(url) as b:
        dialect = b.dialect
        b.execute(SEED[dialect])
        schema = b.inspect()
    plan = build_plan(parse_spec(SPECS[dialect]), schema,
                      measured=Measured({"users": ROWS}, {}, 10_000.0, "test"), database=url)  # fmt: skip
    save_plan(ws, plan)
    backfill = next(s for s in plan.steps if any(o.kind == "backfill" for o in s.operations))
    before = [s for s in plan.steps if plan.steps.index(s) < plan.steps.index(backfill)]
    for s in before:
        service.prepare(ws, plan.id, plan.hash, db=url, step=s.id).run()

    def stop_after_two(event, data):
        if event == "batch" and data["batch"] == 2:
            raise Stop

    with pytest.raises(Stop):
        service.prepare(ws, plan.id, plan.hash, db=url, step=backfill.id,
                        options=RunOptions(progress=stop_after_two, safety=FIXED_PACE)).run()  # fmt: skip
    col = FILLED[dialect]
    with connect(url) as b:
        filled = b.query(f"SELECT count(*) FROM users WHERE {col} IS NOT NULL").rows[0][0]
    assert filled == 2 * BATCH  # exactly the committed batches
    status = service.run_status(ws, plan.id, db=url)
    cp = next(c for c in status["checkpoints"] if c["batches"])
    assert cp["last_key"] == [2 * BATCH] and not cp["finished"]

    out = service.prepare(ws, plan.id, plan.hash, db=url, step=backfill.id).run()
    bf = next(o for o in out["steps"][0]["operations"] if "rows" in o)
    assert bf["resumed_from"] == [2 * BATCH] and bf["rows"] == ROWS - 2 * BATCH
    with connect(url) as b:
        assert b.query(f"SELECT count(*) FROM users WHERE {col} IS NULL").rows[0][0] == 0


def test_one_executor_per_plan_on_every_dialect(url):
    with connect(url) as first, connect(url) as second:
        assert first.try_session_lock("datamigration:p1")
        assert not second.try_session_lock("datamigration:p1")
        assert second.try_session_lock("datamigration:p2")  # another plan is free
        first.release_session_lock("datamigration:p1")
        assert second.try_session_lock("datamigration:p1")
        second.release_session_lock("datamigration:p1")
        second.release_session_lock("datamigration:p2")
