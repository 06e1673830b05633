"""The plan names the maintenance window its heavy steps assume (issue 14, item 6): with
`[windows]` configured, plan.json carries `window` (the entries, their time zone, each heavy
step and its work) and plan.md a "Maintenance window" section; without windows the plan is the
same bytes as before (no `window` key, the same hash), so stored plans keep verifying."""

from __future__ import annotations

import json

import pytest

from datamigration.db.model import Column, Index, PrimaryKey, Schema, Table
from datamigration.errors import UserInputError
from datamigration.plan.documents import plan_markdown
from datamigration.plan.model import Plan, plan_hash
from datamigration.plan.planner import Measured, build_plan
from datamigration.plan.schemas import check
from datamigration.plan.spec import parse_spec

USERS = Table(
    name="users",
    columns=(
        Column("id", "bigint", "int8", nullable=False),
        Column("email", "text", "text", nullable=False),
        Column("n", "integer", "int4"),
    ),
    primary_key=PrimaryKey("users_pkey", ("id",)),
    indexes=(Index("users_n_idx", ("n",)),),
)

CHANGE = {"kind": "change_type", "table": "users", "column": "n", "type": "bigint",
          "batch_size": 1000}  # fmt: skip
WINDOWS = {"windows": {"timezone": "Europe/Berlin", "allowed": ["Mon-Fri 22:00-06:00"]}}


def build(config: dict | None, spec: dict = CHANGE) -> Plan:
    schema = Schema("postgresql", "app", tables=(USERS,), server_version="16.4")
    measured = Measured({"users": 200_000}, {"users": 50_000_000}, 20_000.0, "test")
    return build_plan(parse_spec(spec), schema, measured=measured, database="app",
                      created_at="2025-01-01T00:00:00Z", plan_id="p1", config=config)  # fmt: skip


def test_a_plan_made_without_windows_has_no_window_field_and_keeps_its_bytes_and_hash() -> None:
    plain, empty = build(None), build({"safety": {"grace_seconds": 5}})
    assert "window" not in plain.to_dict() and plain.window is None
    assert plain.canonical() == empty.canonical() and plain.hash == empty.hash
    assert "Maintenance window" not in plan_markdown(plain)


def test_a_plan_made_with_windows_names_them_and_its_heavy_steps() -> None:
    plan = build(WINDOWS)
    window = plan.to_dict()["window"]
    assert window["allowed"] == ["Mon-Fri 22:00-06:00"] and window["timezone"] == "Europe/Berlin"
    heavy = {s["step"]: s["work"] for s in window["steps"]}
    backfill = next(s.id for s in plan.steps if any(o.kind == "backfill" for o in s.operations))
    assert heavy[backfill] == "a backfill" and "an index build" in heavy.values()
    assert plan.hash != build(None).hash  # what was reviewed includes the window assumed
    check(plan.to_dict(), "plan", source="plan.json", hint="")
    md = plan_markdown(plan)
    assert "## Maintenance window" in md and "`Mon-Fri 22:00-06:00` (Europe/Berlin)" in md
    assert f"- {backfill}: a backfill" in md


def test_the_window_survives_storing_and_reading_the_plan_with_its_hash() -> None:
    plan = build(WINDOWS)
    again = Plan.from_dict(json.loads(json.dumps(plan.to_dict())))
    assert again.window == plan.to_dict()["window"] and plan_hash(again) == plan.hash


def test_a_plan_without_heavy_steps_names_no_window() -> None:
    spec = {"kind": "add_column", "table": "users", "column": "note", "type": "text"}
    assert build(WINDOWS, spec).window is None


def test_a_window_that_does_not_parse_refuses_the_plan_with_a_hint() -> None:
    with pytest.raises(UserInputError) as err:
        build({"windows": {"allowed": ["Someday 01:00-02:00"]}})
    assert "does not parse" in err.value.message and err.value.hint
