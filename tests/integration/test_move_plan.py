"""A move_table change spec end to end: the plan copies the table (dual_write_cdc, the CDC
phase marked pending), the executor runs the copy step, and the target is an exact copy."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from datamigration.cli import main
from support import movedata

pytestmark = pytest.mark.integration


def test_a_move_table_plan_copies_the_table_and_leaves_the_cdc_phase_pending(
    pg_url: str, workspace_dir: Path, capsys
) -> None:
    movedata.seed_sqlite(workspace_dir / "app.db")
    spec = workspace_dir / "move.json"
    spec.write_text(json.dumps({"kind": "move_table", "table": "users", "target": pg_url}))
    ws = ["--workspace", str(workspace_dir)]
    assert main([*ws, "plan", str(spec), "--db", "sqlite:///app.db", "--json"]) == 0
    plan = json.loads(capsys.readouterr().out)["plan"]
    assert plan["pattern"] == "dual_write_cdc"
    steps = [s for phase in plan["phases"] for s in phase["steps"]]
    assert [s["title"] for s in steps] == [
        "Copy users to the target database",
        "Change data capture and cutover (PENDING)",
    ]
    run = [*ws, "execute", plan["id"], "--hash", plan["hash"], "--db", "sqlite:///app.db"]
    assert main([*run, "--phase", "migrate", "--yes"]) == 0
    out = capsys.readouterr().out
    assert "s01" in out and "remaining: s02" in out
    assert movedata.pg_scalar(pg_url, "SELECT count(*) FROM users") == 500
    cols = movedata.pg_columns(pg_url, "users")
    assert cols["email"]["not_null"] and cols["score"]["type"] == "double precision"
    assert movedata.inspected(pg_url, "_datamigration_copy") is None
    reports = list((workspace_dir / "docs" / "copies").glob("*.json"))
    assert len(reports) == 1 and json.loads(reports[0].read_text())["passed"]
