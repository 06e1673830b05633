"""Regression tests of the planner bugs found by the live-load benchmark and the demo, without a
database: rules that name columns a step renamed or dropped, SQLite's reserved index names and
identifier length limits, the prepared-statement warning of a type swap, and the flag
operation's parameters."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest

from datamigration.db.model import Column, Index, PrimaryKey, Schema, Table, UniqueConstraint
from datamigration.plan import shape
from datamigration.plan.documents import plan_markdown
from datamigration.plan.model import ChangeSpec, Plan
from datamigration.plan.ops_base import UnsupportedChangeError, name_of
from datamigration.plan.planner import Measured, build_plan
from datamigration.plan.post_rules import post_validation
from datamigration.plan.schemas import errors
from datamigration.plan.spec import parse_spec

USERS = Table(
    name="users",
    columns=(
        Column("id", "bigint", "int8", nullable=False),
        Column("email", "text", "text", nullable=False),
        Column("n", "integer", "int4"),
        Column("team_id", "bigint", "int8"),
        Column("bio", "text", "text"),
    ),
    primary_key=PrimaryKey("users_pkey", ("id",)),
    indexes=(
        Index(
            "sqlite_autoindex_users_1",
            ("email",),
            unique=True,
            constraint="sqlite_autoindex_users_1",
        ),
        Index("users_n_idx", ("n",)),
    ),
    uniques=(UniqueConstraint(None, ("email",)),),
)
TEAMS = Table(
    name="teams",
    columns=(Column("id", "bigint", "int8", nullable=False), Column("name", "text", "text")),
    primary_key=PrimaryKey("teams_pkey", ("id",)),
)
MEASURED = Measured({"users": 200_000, "teams": 10}, {"users": 50_000_000}, 20_000.0, "test")
BASE = [  # what rules-from-schema gives for users
    {"id": "users-not-null", "type": "not_null", "table": "users", "columns": ["id", "email"]},
    {"id": "users-pk-unique", "type": "unique", "table": "users", "columns": ["id"]},
    {"id": "users-unique-email", "type": "unique", "table": "users", "columns": ["email"]},
]


def schema(dialect: str) -> Schema:
    return Schema(dialect=dialect, database="app", tables=(USERS, TEAMS))


def plan_for(spec: dict, dialect: str = "postgresql", **kw) -> Plan:
    return build_plan(
        parse_spec(spec), schema(dialect), measured=MEASURED, database="app",
        created_at="2025-01-01T00:00:00Z", base_rules=BASE, **kw,
    )  # fmt: skip


RENAME = {"kind": "rename_column", "table": "users", "column": "email", "new_name": "email_address"}
RENAME_N = {"kind": "rename_column", "table": "users", "column": "n", "new_name": "amount"}
CHANGE = {"kind": "change_type", "table": "users", "column": "n", "type": "bigint"}
FLAG = {"rollout": {"flag": "new-path", "steps": [1, 10, 100], "flags_file": "flags/app.json"}}
SPECS = {
    "rename": RENAME,
    "rename_indexed": RENAME_N,
    "change_type": CHANGE,
    "change_type_keep_old": {**CHANGE, "keep_old": True},
    "rename_keep_old": {**RENAME, "keep_old": True},
    "change_type_flags": {**CHANGE, **FLAG},
    "rename_flags": {**RENAME, **FLAG},
    "change_type_shadow": {**CHANGE, "verify_reads": True},
    "rename_shadow": {**RENAME, "verify_reads": True},
    "add_column": {"kind": "add_column", "table": "users", "column": "age", "type": "integer"},
    "drop_column": {"kind": "drop_column", "table": "users", "column": "bio"},
    "set_not_null": {"kind": "set_not_null", "table": "users", "column": "n"},
    "add_unique": {"kind": "add_unique", "table": "users", "columns": ["n"]},
    "add_index": {"kind": "add_index", "table": "users", "columns": ["team_id"]},
    "rename_table": {"kind": "rename_table", "table": "users", "new_name": "accounts"},
    "split_table": {"kind": "split_table", "table": "users", "new_table": "profiles",
                    "columns": ["bio"]},
    "merge_tables": {"kind": "merge_tables", "table": "users", "from_table": "teams",
                     "columns": ["name"], "join": {"id": "team_id"}},
    "backfill": {"kind": "backfill", "table": "users", "set": {"bio": "'none'"}},
    "backfill_where": {"kind": "backfill", "table": "users", "set": {"bio": "'none'"},
                       "where": "bio IS NULL"},
    "add_foreign_key": {"kind": "add_foreign_key", "table": "users", "columns": ["team_id"],
                        "ref_table": "teams", "ref_columns": ["id"]},
    "add_check": {"kind": "add_check", "table": "users", "expression": "n > 0"},
    "drop_index": {"kind": "drop_index", "name": "users_n_idx"},
    "raw_sql": {"kind": "raw_sql", "sql": "CREATE INDEX a ON users (n);",
                "reverse_sql": "DROP INDEX a;"},
    "rename_then_drop_old_type": {**CHANGE, "column": "team_id", "type": "numeric(20)"},
    "split_table_two": {"kind": "split_table", "table": "users", "new_table": "profiles",
                        "columns": ["bio", "n"]},
}  # fmt: skip


def test_the_shape_check_covers_every_change_kind_the_planner_builds():
    from datamigration.plan.kinds import BUILDERS

    # move_table is refused everywhere (a dump/restore, not a plan); see test_plan_golden
    assert {s["kind"] for s in SPECS.values()} == set(BUILDERS) - {"move_table"}


#: what a dialect cannot do without downtime (refused with the alternative named)
REFUSED = {
    ("sqlite", "split_table"),
    ("sqlite", "merge_tables"),
}


def _plans() -> list:
    return [
        pytest.param(dialect, spec, id=f"{dialect}-{name}")
        for dialect in ("postgresql", "mysql", "sqlite")
        for name, spec in SPECS.items()
    ]


@pytest.mark.parametrize(("dialect", "spec"), _plans())
def test_every_rule_names_only_columns_that_exist_when_it_runs(dialect, spec):
    if (dialect, spec["kind"]) in REFUSED:
        with pytest.raises(UnsupportedChangeError):
            plan_for(spec, dialect)
        return
    p = plan_for(spec, dialect)
    # simulate the columns through the steps: each step's rules against the columns after it,
    # each gate's rules against the columns before the gated step, post rules at the end
    assert shape.problems(schema(dialect), p.steps, p.post_validation) == []
    assert not [w for w in p.warnings if w.startswith("planner check")]
    final = shape.final_columns(schema(dialect), p.steps)
    for rule in p.post_validation:
        for table, names in shape.named_columns(
            rule, {t: set(c) for t, c in final.items()}
        ).items():
            assert names <= set(final.get(table, names)), rule
    assert errors(json.loads(json.dumps(p.to_dict())), "plan") == []


def test_the_shape_check_catches_a_swap_step_validating_the_shadow_column():
    p = plan_for(CHANGE)
    backfill = next(s for s in p.steps if s.title.startswith("Backfill"))
    steps = [replace(s, validation=backfill.validation) if s.phase == "switch" else s
             for s in p.steps]  # fmt: skip
    found = shape.problems(schema("postgresql"), steps, p.post_validation)
    assert any("users.n_new" in f and "after it" in f for f in found), found


def test_the_swap_step_validates_the_columns_as_they_are_after_the_swap():
    p = plan_for(CHANGE)
    swap = p.phase("switch").steps[0]
    assert [(r["columns"], r["filter"]) for r in swap.validation] == [(["n"], "n_old IS NOT NULL")]
    contract = p.phase("contract").steps[0]
    assert contract.gates[0] == "validation_passed"  # gated by the swap's rules: n and n_old exist
    names = json.dumps(p.post_validation)
    assert "n_new" not in names and "n_old" not in names
    assert {r["id"] for r in p.post_validation} >= {"post-users-pk-unique"}


def test_post_rules_of_a_rename_never_name_the_dropped_column():
    p = plan_for(RENAME)
    assert '"email"' not in json.dumps(p.post_validation)
    assert "email IS" not in json.dumps(p.post_validation)
    assert {"post-users-unique-email", "post-users-email_address-not-null"} <= {
        r["id"] for r in p.post_validation
    }
    unique = next(r for r in p.post_validation if r["id"] == "post-users-unique-email")
    assert unique["columns"] == ["email_address"]
    # the form the executor's tests call: spec, step rules, base rules
    rule = {"id": "r", "type": "not_null", "table": "users", "columns": ["email_address"],
            "filter": "email IS NOT NULL"}  # fmt: skip
    assert post_validation(ChangeSpec("rename_column", "users", dict(RENAME)), [rule], []) == []


def test_flag_rollout_steps_after_a_type_swap_carry_the_rules_of_the_swapped_shape():
    p = plan_for({**CHANGE, **FLAG})
    rollout = p.phase("rollout").steps
    assert rollout and all(s.validation for s in rollout)
    assert "n_new" not in json.dumps([s.validation for s in rollout])


def test_renaming_a_unique_sqlite_column_names_its_index_validly_and_keeps_the_original():
    p = plan_for(RENAME, "sqlite")
    sql = [st for s in p.steps for o in s.operations for st in o.statements]
    assert (
        "CREATE UNIQUE INDEX IF NOT EXISTS users_email_address_key ON users (email_address)" in sql
    )
    assert not [x for x in sql if "sqlite_" in x.lower()]
    contract = p.phase("contract").steps[0]
    assert [o.statements[-3:] for o in contract.operations] == [(
        "DROP INDEX IF EXISTS users_email_address_key",
        "ALTER TABLE users DROP COLUMN email_address",
        "ALTER TABLE users RENAME COLUMN email TO email_address",
    )]  # fmt: skip
    assert (
        len(contract.operations) == 1
    )  # one transaction: no write between trigger drop and rename
    assert (
        contract.destructive and not contract.reversible and "validation_passed" in contract.gates
    )


def test_sqlite_type_change_rebuilds_the_table_and_gives_its_indexes_their_names_back():
    p = plan_for(CHANGE, "sqlite")
    contract = p.phase("contract").steps[0]
    sql = [st for o in contract.operations for st in o.statements]
    assert sql.index("DROP TABLE IF EXISTS users__dm_old") < sql.index(
        "DROP INDEX IF EXISTS users_n_idx_dm_new"
    )


def test_sqlite_type_change_of_a_unique_column_is_a_rebuild_that_keeps_the_constraint():
    p = plan_for({**CHANGE, "column": "email", "type": "varchar(200)"}, "sqlite")
    create = p.steps[0].operations[0].statements[0]
    assert "email varchar(200) NOT NULL" in create and "UNIQUE (email)" in create
    kept = plan_for({**CHANGE, "column": "email", "type": "varchar(200)", "keep_old": True},
                    "sqlite")  # fmt: skip
    assert "contract" not in [s.phase for s in kept.steps]


def test_generated_names_respect_the_byte_limits_and_never_use_the_sqlite_prefix():
    assert name_of("sqlite_autoindex_users_1", "new") == "dm_autoindex_users_1_new"
    long = name_of("ü" * 40, "email", "key")  # 80 bytes of ü alone
    assert len(long.encode()) <= 63 and long.encode().decode() == long
    assert name_of("t" * 70, "a") != name_of("t" * 70, "b")
    assert len(name_of("x" * 100).encode()) == 63


def test_a_type_swap_warns_about_server_side_prepared_statements_everywhere_it_matters():
    p = plan_for(CHANGE)
    swap = p.phase("switch").steps[0]
    assert "cached plan must not change result type" in swap.description
    assert "DISCARD ALL" in swap.description
    assert swap.monitoring["watch_errors"] == ["cached plan must not change result type"]
    assert any("DISCARD ALL" in n for n in swap.monitoring["notes"])
    assert swap.monitoring["throttle"]  # the plan-wide thresholds are still there
    item = next(c for c in p.checklist if c.id == "prepared_statements")
    assert "pools" in item.text and "DISCARD ALL" in item.text
    comm = next(c for c in p.communication if c.when == "swap")
    assert "cached plan must not change result type" in comm.message
    assert any("prepare" in w for w in p.warnings)
    md = plan_markdown(p)
    monitoring = md[md.index("## Monitoring") : md.index("## Pre-migration checklist")]
    assert "cached plan must not change result type" in monitoring
    renamed = plan_for(RENAME)
    assert not any(c.id == "prepared_statements" for c in renamed.checklist)


def test_flag_operations_carry_flag_percentage_and_flags_file_for_apply_percent():
    p = plan_for({**RENAME, **FLAG})
    ops = [o for s in p.phase("rollout").steps for o in s.operations]
    assert [o.params for o in ops] == [
        {"flag": "new-path", "percentage": pct, "flags_file": "flags/app.json"}
        for pct in (1, 10, 100)
    ]
    assert [o.reverse[0].params["percentage"] for o in ops] == [0, 1, 10]
    assert all(o.kind == "flag" and o.reverse[0].kind == "flag" for o in ops)


def test_a_checksum_rule_names_its_columns_on_the_target_side_too():
    rule = {"id": "c", "type": "checksum_diff", "table": "users", "target_table": "profiles",
            "columns": ["bio", "n"], "key": ["id"], "field_map": {"n": "amount"}}  # fmt: skip
    cols = {"users": ["id", "bio", "n"], "profiles": ["id", "bio"]}
    known = {"users": {"id", "bio", "n"}, "profiles": {"id", "bio", "amount"}}
    assert shape.missing(rule, cols, known) == ["profiles.amount"]
    cols["profiles"].append("amount")
    assert shape.missing(rule, cols, known) == []


@pytest.mark.parametrize(("dialect", "spec"), _plans())
def test_every_gated_step_has_rules_to_run_even_without_the_tables_own_rules(dialect, spec):
    """The executor refuses a gated step (validation_passed, destructive) with no rule before
    it; without base rules the planner falls back to the primary key's uniqueness."""
    if (dialect, spec["kind"]) in REFUSED:
        return
    p = build_plan(parse_spec(spec), schema(dialect), measured=MEASURED, database="app",
                   created_at="2025-01-01T00:00:00Z")  # fmt: skip
    for i, s in enumerate(p.steps):
        if "validation_passed" in s.gates or s.destructive:
            earlier = [r for e in p.steps[:i] for r in e.validation]
            assert earlier or p.post_validation, (s.id, s.title)
    assert shape.problems(schema(dialect), p.steps, p.post_validation) == []


def test_the_key_rule_fallback_follows_a_renamed_table():
    p = build_plan(parse_spec(SPECS["rename_table"]), schema("postgresql"), measured=MEASURED,
                   database="app", created_at="2025-01-01T00:00:00Z")  # fmt: skip
    assert [(r["table"], r["columns"]) for r in p.post_validation] == [("accounts", ["id"])]
