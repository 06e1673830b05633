"""Staging rehearsal: the plan runs, rolls back and runs again on staging or a throwaway copy;
the timings land in the plan (new hash) and the source database is never touched."""

from __future__ import annotations

import json
import sqlite3

import psycopg
import pytest

from datamigration.execute import service
from datamigration.plan.planner import plan_migration
from datamigration.plan.spec import parse_spec
from datamigration.plan.store import docs_plan_dir, load_plan
from datamigration.workspace.root import Workspace

pytestmark = pytest.mark.integration

RENAME = {"kind": "rename_column", "table": "users", "column": "email", "new_name": "email_address"}


def test_a_rehearsal_on_a_throwaway_copy_times_every_step_and_the_rollback(workspace_dir, pg_url):
    ws = Workspace.open(str(workspace_dir))
    with psycopg.connect(pg_url, autocommit=True) as c:
        c.execute("CREATE TABLE users (id bigserial PRIMARY KEY, email text NOT NULL)")
        c.execute(
            "INSERT INTO users (email) SELECT 'u' || g || '@x' FROM generate_series(1, 30000) g"
        )
    plan = plan_migration(ws, parse_spec(RENAME), pg_url).plan
    out = service.rehearse_plan(ws, plan, staging=None, db=pg_url, sample_rows=5000)
    r = out["rehearsal"]
    assert r["passed"] and r["throwaway_copy"] and r["sampled_rows"] == {"users": 5000}
    assert [s["step"] for s in r["steps"]] == [s.id for s in plan.steps]
    assert [s["step"] for s in r["rollback_steps"]] == [
        s.id for s in reversed(plan.steps) if s.reversible
    ]
    assert r["rollback_seconds"] > 0 and r["full_run_seconds"] > 0
    # recorded in the plan: a new reviewed version, loadable by its new hash only
    assert out["recorded"] and out["plan_hash"] != plan.hash
    stored = load_plan(ws, plan.id, out["plan_hash"])
    assert stored.rehearsal["steps"] == r["steps"]
    md = (docs_plan_dir(ws, plan.id) / "plan.md").read_text()  # the reviewed copy shows it
    assert "## Staging rehearsal" in md and out["plan_hash"] in md
    assert f"rollback of every reversible step: {r['rollback_seconds']:.2f} s" in md
    # the source is untouched and the copy is gone
    with psycopg.connect(pg_url) as c:
        cols = [x[0] for x in c.execute(
            "SELECT column_name FROM information_schema.columns WHERE table_name = 'users'")]  # fmt: skip
        assert sorted(cols) == ["email", "id"]
        assert c.execute("SELECT count(*) FROM users").fetchone() == (30000,)
        assert c.execute(
            "SELECT count(*) FROM pg_database WHERE datname LIKE 'dm\\_rehearsal%'"
        ).fetchone() == (0,)


def test_a_rehearsal_on_a_given_staging_database(workspace_dir, tmp_path):
    ws = Workspace.open(str(workspace_dir))
    prod, staging = tmp_path / "prod.db", tmp_path / "staging.db"
    for path in (prod, staging):
        with sqlite3.connect(path) as c:
            c.execute("CREATE TABLE users (id INTEGER PRIMARY KEY, email TEXT NOT NULL, n INTEGER)")
            c.executemany(
                "INSERT INTO users VALUES (?, ?, ?)", [(i, f"u{i}@x", i) for i in range(1, 3001)]
            )
    spec = {"kind": "change_type", "table": "users", "column": "n", "type": "bigint"}
    plan = plan_migration(ws, parse_spec(spec), f"sqlite:///{prod}").plan
    out = service.rehearse_plan(ws, plan, staging=f"sqlite:///{staging}", db=None, record=False)
    assert out["rehearsal"]["passed"] and not out["rehearsal"]["throwaway_copy"]
    assert not out["recorded"] and out["plan_hash"] == plan.hash
    with sqlite3.connect(prod) as c:
        assert [r[1] for r in c.execute("PRAGMA table_info(users)")] == ["id", "email", "n"]
    with sqlite3.connect(staging) as c:  # staging went through the whole plan
        assert (
            c.execute("SELECT type FROM pragma_table_info('users') WHERE name = 'n'")
            .fetchone()[0]
            .lower()
            == "bigint"
        )
    # a rehearsal leaves the production run state alone: nothing ran there
    status = service.run_status(ws, plan.id, db=f"sqlite:///{prod}")
    assert status["run"] is None
    log = (workspace_dir / ".datamigration" / "runs" / f"{plan.id}.rehearsal.jsonl").read_text()
    assert json.loads(log.splitlines()[0])["event"] == "execute"
