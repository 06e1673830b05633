"""The post-migration performance check on real databases: the representative reads of
datamigration.toml are timed and EXPLAINed before a plan's first step and after its last;
dropping the index they use is reported as a regression (a sequential scan where an index scan
was, the planner's cost up), a change that leaves them alone passes."""

from __future__ import annotations

import pytest

from datamigration.coordination import bus
from datamigration.db import connect
from datamigration.execute import service
from datamigration.execute.runner import RunOptions
from datamigration.plan.planner import plan_migration
from datamigration.plan.spec import parse_spec
from datamigration.safety.report import write_run_report
from datamigration.workspace.root import Workspace

pytestmark = pytest.mark.integration

READ = "SELECT id, n FROM users WHERE email = 'u777@x'"


def seeded(url: str, root) -> Workspace:
    (root / "datamigration.toml").write_text(f'[performance]\nqueries = ["{READ}"]\nrepeat = 3\n')
    ws = Workspace.open(str(root))
    with connect(url, ws) as b:
        b.execute(["CREATE TABLE users (id bigint PRIMARY KEY, email text NOT NULL, n int)",
                   "INSERT INTO users SELECT g, 'u' || g || '@x', g FROM generate_series(1, 50000) g",
                   "CREATE INDEX users_email_ix ON users (email)", "ANALYZE users"])  # fmt: skip
    return ws


def run_all(ws: Workspace, url: str, spec: dict) -> dict:
    plan = plan_migration(ws, parse_spec(spec), url).plan
    return service.prepare(ws, plan.id, plan.hash, db=url, all_steps=True,
                           options=RunOptions(finish_story=True)).run()  # fmt: skip


def test_dropping_the_index_a_representative_read_uses_is_reported_as_a_regression(
    pg_url, workspace_dir
):
    ws = seeded(pg_url, workspace_dir)
    out = run_all(ws, pg_url, {"kind": "drop_index", "name": "users_email_ix"})
    perf = out["performance"]
    assert perf["passed"] is False
    kinds = {r["kind"] for r in perf["regressions"]}
    assert "seq_scan" in kinds and "cost" in kinds
    (seq,) = [r for r in perf["regressions"] if r["kind"] == "seq_scan"]
    assert seq["table"] == "users" and "users_email_ix" in seq["detail"]
    (q,) = perf["queries"]
    assert q["cost_after"] > 2 * q["cost_before"]
    assert out["final_validation"]["performance"] == perf
    assert any(n.startswith("performance check: ") for n in out["notes"])
    warned = [m.text for m in bus.read(ws, type="warning").messages]
    assert any("performance check after the last step FAILED" in t for t in warned)
    md = (ws.root / write_run_report(ws, out["plan_id"], link=False)["report"]).read_text()
    assert "| performance check | REGRESSED |" in md


def test_a_change_that_leaves_the_reads_alone_passes_the_check(pg_url, workspace_dir):
    ws = seeded(pg_url, workspace_dir)
    out = run_all(ws, pg_url, {"kind": "add_column", "table": "users", "column": "bio",
                               "type": "text"})  # fmt: skip
    perf = out["performance"]
    assert perf["passed"] is True and perf["regressions"] == []
    (q,) = perf["queries"]
    assert q["cost_before"] == q["cost_after"] and q["ms_after"] is not None


def test_sqlite_reads_are_explained_through_the_read_only_path(sqlite_url, workspace_dir):
    ws = Workspace.open(str(workspace_dir))
    with connect(sqlite_url, ws) as b:
        b.execute(["CREATE TABLE users (id INTEGER PRIMARY KEY, email TEXT)",
                   "CREATE INDEX users_email_ix ON users (email)"])  # fmt: skip
        (scan,) = b.explain_read("SELECT id FROM users WHERE email = 'a'")["scans"]
        assert scan == {"table": "users", "method": "index", "index": "users_email_ix"}
        assert (
            b.explain_read("SELECT id FROM users WHERE email LIKE '%a'")["scans"][0]["method"]
            == "seq"
        )


def test_mysql_reads_are_explained_as_json(mysql_url, workspace_dir):
    ws = Workspace.open(str(workspace_dir))
    with connect(mysql_url, ws) as b:
        b.execute(["CREATE TABLE users (id INT PRIMARY KEY, email VARCHAR(40), n INT, KEY users_email_ix (email))",
                   "INSERT INTO users VALUES " + ",".join(f"({i}, 'u{i}', {i})" for i in range(1, 200))])  # fmt: skip
        (scan,) = b.explain_read("SELECT id FROM users WHERE email = 'u5'")["scans"]
        assert scan["table"] == "users" and scan["method"] == "index"
        assert b.explain_read("SELECT id FROM users WHERE n = 5")["scans"][0]["method"] == "seq"
