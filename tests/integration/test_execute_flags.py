"""The feature-flags pattern through the executor: each rollout step moves the flagd flag up the
ladder after its gate (the validation rules) passed; rolling a step back steps the flag down, and
rolling back the whole plan serves the old behaviour to everyone."""

from __future__ import annotations

import sqlite3

import pytest

from datamigration.execute import service
from datamigration.execute.runner import RunOptions
from datamigration.plan.planner import plan_migration
from datamigration.plan.spec import parse_spec
from datamigration.safety import flags
from datamigration.workspace.root import Workspace

pytestmark = pytest.mark.integration


def percent(ws: Workspace) -> int:
    return flags.load_document(flags.flags_path(ws))["flags"]["use-score"]["metadata"][
        "rolloutPercent"
    ]


def test_a_flag_rollout_plan_climbs_the_ladder_and_rolls_back(workspace_dir):
    ws = Workspace.open(str(workspace_dir))
    db = workspace_dir / "app.db"
    with sqlite3.connect(db) as c:
        c.execute("CREATE TABLE users (id INTEGER PRIMARY KEY, email TEXT NOT NULL)")
        c.executemany("INSERT INTO users VALUES (?, ?)", [(i, f"u{i}@x") for i in range(1, 200)])
    spec = {"kind": "add_column", "table": "users", "column": "score", "type": "integer",
            "rollout": {"flag": "use-score", "steps": [1, 10, 100]}}  # fmt: skip
    url = f"sqlite:///{db}"
    plan = plan_migration(ws, parse_spec(spec), url).plan
    assert plan.pattern == "feature_flags"

    def run(mode="execute", **kw):
        prepared = service.prepare(ws, plan.id, plan.hash, mode=mode, db=url,
                                   options=RunOptions(sleep=lambda s: None), **kw)  # fmt: skip
        return prepared.run()

    rollout = [s.id for s in plan.steps if s.phase == "rollout"]
    run(phase="expand")
    seen = []
    for sid in rollout:
        run(step=sid)
        seen.append(percent(ws))
    assert seen == [1, 10, 100]
    meta = flags.load_document(flags.flags_path(ws))["flags"]["use-score"]["metadata"]
    assert meta["rolloutGate"].startswith("passed:")  # the 10% and 100% steps were gated
    run(mode="rollback")  # the current step: back to 10%
    assert percent(ws) == 10
    run(mode="rollback", all_steps=True)
    assert percent(ws) == 0
    with sqlite3.connect(db) as c:
        assert [r[1] for r in c.execute("PRAGMA table_info(users)")] == ["id", "email"]


def test_a_plan_naming_a_flags_file_rolls_out_in_that_file_only(workspace_dir):
    ws = Workspace.open(str(workspace_dir))
    db = workspace_dir / "app.db"
    with sqlite3.connect(db) as c:
        c.execute("CREATE TABLE users (id INTEGER PRIMARY KEY, email TEXT NOT NULL)")
        c.executemany("INSERT INTO users VALUES (?, ?)", [(i, f"u{i}@x") for i in range(1, 50)])
    spec = {"kind": "add_column", "table": "users", "column": "score", "type": "integer",
            "rollout": {"flag": "use-score", "steps": [1, 100],
                        "flags_file": "app/flags.flagd.json"}}  # fmt: skip
    url = f"sqlite:///{db}"
    plan = plan_migration(ws, parse_spec(spec), url).plan

    def run(mode="execute", **kw):
        prepared = service.prepare(ws, plan.id, plan.hash, mode=mode, db=url,
                                   options=RunOptions(sleep=lambda s: None), **kw)  # fmt: skip
        return prepared.run()

    run(phase="expand")
    for s in [s for s in plan.steps if s.phase == "rollout"]:
        run(step=s.id)
    app_file = workspace_dir / "app" / "flags.flagd.json"
    doc = flags.load_document(app_file)
    assert doc["flags"]["use-score"]["metadata"]["rolloutPercent"] == 100
    assert not flags.flags_path(ws).exists()  # the default file was never written
    run(mode="rollback", all_steps=True)
    assert flags.load_document(app_file)["flags"]["use-score"]["metadata"]["rolloutPercent"] == 0
    assert not flags.flags_path(ws).exists()
