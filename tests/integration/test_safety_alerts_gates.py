"""Every failed gate is an alert (issue 14, item 8): a run whose post-migration validation
fails, a step held by the validation before it, and a performance regression after the last
step each post one bus `warning` and POST the same text to the configured webhook (a real HTTP
server on a free port). The backup refusal, the window refusal and the trigger firings have
their webhook tests in test_safety_reports.py."""

from __future__ import annotations

import sqlite3
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from datamigration.coordination import bus
from datamigration.execute import service
from datamigration.execute.runner import RunOptions, StepGateError
from datamigration.plan.model import Plan
from datamigration.plan.planner import plan_migration
from datamigration.plan.spec import parse_spec
from datamigration.plan.store import save_plan
from datamigration.workspace.root import Workspace
from integration.test_safety_performance import run_all, seeded
from integration.test_safety_reports import Hook

pytestmark = pytest.mark.integration

BACKFILL = {"kind": "backfill", "table": "users", "set": {"n": "0"}, "where": "n IS NULL"}


def hooked(root: Path, port: int, *, append: bool = False) -> None:
    line = f'[alerts]\nwebhook = "http://127.0.0.1:{port}/hook/${{DM_TEST_HOOK_TOKEN}}"\n'
    path = root / "datamigration.toml"
    path.write_text((path.read_text() if append and path.exists() else "") + line)


def backfill_plan(ws: Workspace, url: str, rule: dict[str, Any], gates: tuple = ()) -> Plan:
    """The planner's backfill plan with one more post-migration rule (and gates on its step),
    stored under a new hash, as a reviewed plan with that rule would be."""
    with sqlite3.connect(url.removeprefix("sqlite:///")) as c:
        c.execute("CREATE TABLE users (id INTEGER PRIMARY KEY, n INTEGER)")
        c.executemany("INSERT INTO users (n) VALUES (?)", [(None,)] * 20)
    plan = plan_migration(ws, parse_spec(BACKFILL), url).plan
    phases = tuple(replace(p, steps=tuple(replace(s, gates=s.gates + gates) for s in p.steps))
                   for p in plan.phases)  # fmt: skip
    changed = replace(plan, phases=phases, post_validation=(*plan.post_validation, rule))
    changed = replace(changed, hash=changed.compute_hash())
    save_plan(ws, changed)
    return changed


def warnings_of(ws: Workspace) -> list[str]:
    return [m.text or "" for m in bus.read(ws, type="warning").messages]


def test_a_failed_final_validation_posts_a_warning_on_the_bus_and_the_webhook(
    sqlite_url, workspace_dir, monkeypatch
):
    monkeypatch.setenv("DM_TEST_HOOK_TOKEN", "t0ken")
    with Hook() as hook:
        hooked(workspace_dir, hook.port)
        ws = Workspace.open(str(workspace_dir))
        rule = {"id": "post-users-n-positive", "type": "range", "table": "users",
                "columns": ["n"], "min": 1}  # fmt: skip
        plan = backfill_plan(ws, sqlite_url, rule)
        out = service.prepare(ws, plan.id, plan.hash, db=sqlite_url, all_steps=True,
                              options=RunOptions(finish_story=True)).run()  # fmt: skip
    assert out["final_validation"]["passed"] is False
    (warning,) = warnings_of(ws)
    assert f"Migration {plan.id}: the post-migration validation FAILED" in warning
    assert [(p, b) for p, b in hook.got] == [("/hook/t0ken", {"text": warning})]


def test_a_step_held_by_its_validation_gate_posts_a_warning_on_the_bus_and_the_webhook(
    sqlite_url, workspace_dir, monkeypatch
):
    monkeypatch.setenv("DM_TEST_HOOK_TOKEN", "t0ken")
    with Hook() as hook:
        hooked(workspace_dir, hook.port)
        ws = Workspace.open(str(workspace_dir))
        rule = {"id": "post-users-n-set", "type": "not_null", "table": "users", "columns": ["n"]}
        plan = backfill_plan(ws, sqlite_url, rule, gates=("validation_passed",))
        with pytest.raises(StepGateError) as err:
            service.prepare(ws, plan.id, plan.hash, db=sqlite_url, all_steps=True,
                            options=RunOptions(validation_rechecks=0)).run()  # fmt: skip
    assert "validation before it failed" in err.value.message
    (warning,) = warnings_of(ws)
    assert "refused by its gate" in warning and "validation before it failed" in warning
    assert [b["text"] for _p, b in hook.got] == [warning]
    with sqlite3.connect(sqlite_url.removeprefix("sqlite:///")) as c:  # nothing ran
        assert c.execute("SELECT count(*) FROM users WHERE n IS NULL").fetchone()[0] == 20


def test_a_performance_regression_posts_a_warning_on_the_bus_and_the_webhook(
    pg_url, workspace_dir, monkeypatch
):
    monkeypatch.setenv("DM_TEST_HOOK_TOKEN", "t0ken")
    with Hook() as hook:
        ws = seeded(pg_url, workspace_dir)
        hooked(workspace_dir, hook.port, append=True)
        ws = Workspace.open(str(workspace_dir))
        out = run_all(ws, pg_url, {"kind": "drop_index", "name": "users_email_ix"})
    assert out["performance"]["passed"] is False
    (warning,) = [t for t in warnings_of(ws) if "performance check" in t]
    assert "performance check after the last step FAILED" in warning
    assert warning in [b["text"] for _p, b in hook.got]
