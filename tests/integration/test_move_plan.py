"""A move_table change spec on the command line, SQLite → PostgreSQL: the plan has the six
phases, `execute --yes` of prepare and snapshot starts the sync (capture before the copy) and
waits for the snapshot, a row written meanwhile arrives, and rolling the prepare step back
stops the sync and removes the capture from the SQLite file."""

from __future__ import annotations

import json
import sqlite3
import time
from pathlib import Path

import pytest

from datamigration.cli import main
from datamigration.db import connect
from support import movedata

pytestmark = pytest.mark.integration


def test_a_move_table_plan_starts_the_sync_copies_and_its_rollback_removes_the_capture(
    pg_url: str, workspace_dir: Path, capsys
) -> None:
    movedata.seed_sqlite(workspace_dir / "app.db")
    spec = workspace_dir / "move.json"
    spec.write_text(json.dumps({"kind": "move_table", "table": "users", "target": pg_url}))
    ws = ["--workspace", str(workspace_dir)]
    assert main([*ws, "plan", str(spec), "--db", "sqlite:///app.db", "--json"]) == 0
    plan = json.loads(capsys.readouterr().out)["plan"]
    assert plan["pattern"] == "dual_write_cdc"
    assert [p["name"] for p in plan["phases"]] == [
        "prepare", "snapshot", "catch_up", "shadow", "cutover", "decommission"
    ]  # fmt: skip
    run = [*ws, "execute", plan["id"], "--hash", plan["hash"], "--db", "sqlite:///app.db"]
    assert main([*run, "--phase", "prepare", "--yes"]) == 0
    with sqlite3.connect(workspace_dir / "app.db") as c:  # written after the capture began
        c.execute("UPDATE users SET email = 'moved@x.org' WHERE id = 3")
    assert main([*run, "--phase", "snapshot", "--yes"]) == 0
    out = capsys.readouterr().out
    assert "remaining: s03" in out
    assert movedata.pg_scalar(pg_url, "SELECT count(*) FROM users") == 500
    deadline = time.monotonic() + 60
    while movedata.pg_scalar(pg_url, "SELECT email FROM users WHERE id = 3") != "moved@x.org":
        assert time.monotonic() < deadline, "the change made during the copy never arrived"
        time.sleep(0.2)
    rollback = [*ws, "rollback", plan["id"], "--hash", plan["hash"], "--db", "sqlite:///app.db"]
    assert main([*rollback, "--all", "--yes"]) == 0  # s02 (a wait), then s01
    with connect(f"sqlite:///{workspace_dir / 'app.db'}") as b:
        assert b.capture_leftovers() == []
