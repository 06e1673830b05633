"""Tests of the planner without a database: pattern and phase properties, the plan schema,
plan.md, framework files, the hash check and the move_table plan. The generated SQL of every
change kind on every dialect is in the golden fixtures (tests/fixtures/plans, checked by
test_plan_fixtures.py)."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest

from datamigration.db.model import Column, Index, PrimaryKey, Schema, Table
from datamigration.errors import FileFormatError, UserInputError
from datamigration.plan import store
from datamigration.plan.documents import plan_markdown
from datamigration.plan.frameworks_out import write_migrations
from datamigration.plan.model import Plan, plan_hash
from datamigration.plan.planner import Measured, build_plan
from datamigration.plan.schemas import errors
from datamigration.plan.spec import parse_spec
from datamigration.workspace.root import Workspace

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
    indexes=(Index("users_email_key", ("email",), unique=True),),
)
TEAMS = Table(
    name="teams",
    columns=(Column("id", "bigint", "int8", nullable=False), Column("name", "text", "text")),
    primary_key=PrimaryKey("teams_pkey", ("id",)),
)
MEASURED = Measured({"users": 200_000, "teams": 10}, {"users": 50_000_000}, 20_000.0, "test")


def schema(dialect: str = "postgresql") -> Schema:
    return Schema(dialect=dialect, database="app", tables=(USERS, TEAMS))


def plan_for(spec: dict, dialect: str = "postgresql", **kw) -> Plan:
    return build_plan(
        parse_spec(spec), schema(dialect), measured=MEASURED, database="app",
        created_at="2025-01-01T00:00:00Z", **kw,
    )  # fmt: skip


def sql(plan: Plan) -> list[str]:
    return [s for st in plan.steps for o in st.operations for s in o.statements]


RENAME = {"kind": "rename_column", "table": "users", "column": "email", "new_name": "email_address"}


def test_rename_column_on_postgres_is_expand_contract_with_triggers_backfill_and_contract():
    """Statements: tests/fixtures/plans/postgresql/rename_column.sql."""
    p = plan_for(RENAME)
    assert p.pattern == "expand_contract"
    assert [ph.name for ph in p.phases] == ["expand", "migrate", "switch", "contract"]
    contract = p.phase("contract").steps[0]
    assert contract.destructive and not contract.reversible
    assert contract.gates[0] == "validation_passed" and "confirmation" in contract.gates


def test_change_type_uses_a_shadow_column_and_swaps_in_one_transaction():
    """Statements: tests/fixtures/plans/postgresql/change_type.sql."""
    p = plan_for({"kind": "change_type", "table": "users", "column": "n", "type": "bigint"})
    (swap,) = p.phase("switch").steps[0].operations
    assert swap.transactional and len(swap.statements) > 1


def test_move_table_plans_capture_snapshot_catch_up_shadow_cutover_and_decommission():
    """Statements: tests/fixtures/plans/postgresql/move_table.sql."""
    p = plan_for({"kind": "move_table", "table": "users", "target": "target_db"})
    assert p.pattern == "dual_write_cdc" and "pending" not in p.pattern_reason
    assert [ph.name for ph in p.phases] == [
        "prepare",
        "snapshot",
        "catch_up",
        "shadow",
        "cutover",
        "decommission",
    ]
    (start,) = p.phase("prepare").steps[0].operations
    assert start.kind == "sync_start" and start.params["target"] == "target_db"
    assert start.params["tables"] == ["users"] and start.params["run"].startswith("mv_users_")
    assert start.reverse[0].params["teardown"] is True
    (cut,) = p.phase("cutover").steps[0].operations
    assert cut.params["run"] == start.params["run"] and cut.reverse[0].params["rollback"]
    assert p.phase("shadow").steps[0].operations[0].kind == "shadow_reads"
    last = p.phase("decommission").steps[0]
    assert last.destructive and not last.reversible and last.operations[0].kind == "manual"
    # estimates from the measured rows (200,000) at the documented default copy rate
    assert p.phase("snapshot").steps[0].estimate_seconds == 4.0
    assert 0 < p.estimates.downtime_seconds <= 1.0 and "pause" in p.estimates.downtime_reason
    assert not any("pending" in w for w in p.warnings)
    again = plan_for({"kind": "move_table", "table": "users", "target": "target_db"})
    assert again.phase("prepare").steps[0].operations[0].params["run"] == start.params["run"]
    with pytest.raises(UserInputError, match="password"):
        plan_for({"kind": "move_table", "table": "users", "target": "postgresql://u:pw@h/db"})
    with pytest.raises(UserInputError, match="dual_write_cdc"):
        plan_for({"kind": "move_table", "table": "users", "target": "t"}, pattern="expand_contract")


def test_a_spec_with_a_missing_field_is_refused_with_the_field_named():
    with pytest.raises(FileFormatError, match="new_name"):
        parse_spec({"kind": "rename_column", "table": "users", "column": "email"})


def test_patterns_follow_the_spec_and_accept_an_override():
    flagged = plan_for({**RENAME, "rollout": {"flag": "use-email-address"}})
    assert flagged.pattern == "feature_flags"
    pcts = [o.params["percentage"] for st in flagged.phase("rollout").steps for o in st.operations]
    assert pcts == [1, 10, 100]
    shadow = plan_for({**RENAME, "verify_reads": True})
    assert shadow.pattern == "shadow_traffic" and "reads" in shadow.pattern_reason
    forced = plan_for(RENAME, pattern="shadow_traffic")
    assert forced.pattern_overridden and forced.pattern_reason.startswith("overridden")
    with pytest.raises(UserInputError):
        plan_for(RENAME, pattern="dual_write_cdc")


@pytest.mark.parametrize("kind", [
    RENAME,
    {"kind": "change_type", "table": "users", "column": "n", "type": "bigint"},
    {"kind": "add_column", "table": "users", "column": "age", "type": "integer"},
    {"kind": "drop_column", "table": "users", "column": "bio"},
    {"kind": "add_check", "table": "users", "expression": "n > 0"},
    {"kind": "drop_index", "name": "users_email_key"},
    {"kind": "merge_tables", "table": "users", "from_table": "teams", "columns": ["name"],
     "join": {"id": "team_id"}},
    {"kind": "backfill", "table": "users", "set": {"bio": "'none'"}, "where": "bio IS NULL"},
    {"kind": "raw_sql", "sql": "CREATE INDEX CONCURRENTLY a ON users (n);",
     "reverse_sql": "DROP INDEX CONCURRENTLY a;"},
])  # fmt: skip
def test_every_plan_conforms_to_the_plan_schema_and_round_trips(kind):
    p = plan_for(kind)
    data = json.loads(json.dumps(p.to_dict()))
    assert errors(data, "plan") == []
    assert Plan.from_dict(data) == p
    assert plan_hash(data) == p.hash


def test_generated_sql_has_no_open_lint_errors():
    for spec in (RENAME, {"kind": "change_type", "table": "users", "column": "n", "type": "bigint"},
                 {"kind": "set_not_null", "table": "users", "column": "n"}):  # fmt: skip
        p = plan_for(spec)
        assert [f for f in p.lint if not f["ignored"] and f["severity"] == "error"] == []
        assert all(f["reason"] for f in p.lint if f["ignored"])


def test_plan_md_has_a_mermaid_diagram_of_the_phases_and_the_hash():
    p = plan_for(RENAME)
    md = plan_markdown(p)
    assert "```mermaid\nflowchart LR" in md
    assert 'subgraph contract["Contract"]' in md
    assert p.hash in md


def test_load_plan_refuses_a_hash_that_does_not_match(tmp_path):
    ws = Workspace.open(tmp_path)
    p = plan_for(RENAME)
    store.save_plan(ws, p)
    assert store.load_plan(ws, p.id, p.hash) == p
    assert store.load_plan(ws, p.id, p.hash[:12]).id == p.id
    with pytest.raises(store.UnknownPlanHashError):
        store.load_plan(ws, p.id, "0" * 64)
    path = store.plans_dir(ws) / f"{p.id}.json"
    data = json.loads(path.read_text())
    data["phases"][0]["steps"][0]["operations"][0]["statements"] = ["DROP TABLE users"]
    path.write_text(json.dumps(data))
    with pytest.raises(store.PlanHashMismatchError):
        store.load_plan(ws, p.id, p.hash)


def test_flyway_files_continue_the_version_numbers(tmp_path):
    mig = tmp_path / "db" / "migration"
    mig.mkdir(parents=True)
    (mig / "V1__init.sql").write_text("CREATE TABLE users (id bigint primary key);\n")
    (mig / "V2__more.sql").write_text("SELECT 1;\n")
    ws = Workspace.open(tmp_path)
    p = replace(plan_for(RENAME, framework="flyway"))
    files = write_migrations(ws, p)
    names = sorted(f.rsplit("/", 1)[-1] for f in files)
    assert names[0].startswith("V3__") and any(n.endswith(".sql.conf") for n in names)
    first = (mig / names[0]).read_text()
    assert "SET lock_timeout = '2000ms';" in first
    assert "ADD COLUMN IF NOT EXISTS email_address text;" in first


def test_alembic_revisions_chain_from_the_current_head(tmp_path):
    (tmp_path / "alembic.ini").write_text("[alembic]\nscript_location = alembic\n")
    versions = tmp_path / "alembic" / "versions"
    versions.mkdir(parents=True)
    (tmp_path / "alembic" / "env.py").write_text("")
    (tmp_path / "alembic" / "script.py.mako").write_text("")
    (versions / "abc123_init.py").write_text(
        'revision = "abc123"\ndown_revision = None\n\ndef upgrade():\n    pass\n'
    )
    ws = Workspace.open(tmp_path)
    p = plan_for(RENAME, framework="alembic")
    files = sorted(write_migrations(ws, p))
    texts = [Path(f).read_text() for f in files]
    first = next(t for t in texts if "down_revision = 'abc123'" in t)
    assert "op.execute('ALTER TABLE users ADD COLUMN IF NOT EXISTS email_address text')" in first
    assert any("autocommit_block" in t and "_keyset(op.get_bind()" in t for t in texts)
    for t in texts:
        compile(t, "rev.py", "exec")


@pytest.mark.parametrize(
    ("type_", "target"),
    [
        ("bigint", "SIGNED"),
        ("int(11)", "SIGNED"),
        ("bigint(20) unsigned", "UNSIGNED"),
        ("decimal(12, 2)", "DECIMAL(12,2)"),
        ("numeric", "DECIMAL(10,0)"),
        ("datetime(6)", "DATETIME(6)"),
        ("timestamp", "DATETIME"),
        ("time", "TIME"),
        ("date", "DATE"),
        ("varchar(200)", "CHAR"),
        ("longtext", "CHAR"),
        ("varbinary(16)", "BINARY"),
    ],
)
def test_mysql_casts_name_only_targets_mariadb_accepts(type_, target):
    from datamigration.plan.ops_mysql import MySQL

    assert MySQL().cast("x", type_) == f"CAST(x AS {target})"


@pytest.mark.parametrize("type_", ["float", "double", "json", "enum('a','b')"])
def test_mysql_types_without_a_cast_target_convert_on_assignment(type_):
    from datamigration.plan.ops_mysql import MySQL

    assert MySQL().cast("x", type_) == "x"


def test_mysql_change_type_triggers_and_backfill_never_cast_to_a_column_type():
    s = " ".join(sql(plan_for({"kind": "change_type", "table": "users", "column": "n",
                               "type": "bigint"}, "mysql")))  # fmt: skip
    assert "CAST(NEW.n AS SIGNED)" in s and "CAST(n AS SIGNED)" in s
    assert " AS bigint)" not in s and " AS integer)" not in s and " AS int(" not in s


@pytest.mark.parametrize("dialect", ["postgresql", "mysql", "sqlite"])
def test_the_contract_never_leaves_the_old_not_null_column_without_its_trigger(dialect):
    """One transaction where DDL is transactional; on MySQL (each DDL commits) the old column
    becomes nullable, online, before the triggers go."""
    p = plan_for(RENAME, dialect)
    ops = [o for s in p.steps if s.phase == "contract" for o in s.operations]
    drops = [i for i, o in enumerate(ops) if any("DROP TRIGGER" in x for x in o.statements)]
    column = [i for i, o in enumerate(ops) if any("DROP COLUMN" in x for x in o.statements)]
    assert drops == column and len(drops) == 1
    if dialect == "mysql":
        assert ops[0].statements == (
            "ALTER TABLE users MODIFY email text NULL, ALGORITHM=INPLACE, LOCK=NONE",
        )
        assert drops == [1]
    else:
        assert len(ops) == 1


@pytest.mark.parametrize("framework", [None, "flyway", "alembic"])
def test_generated_migration_files_name_the_executor_command_in_its_normal_form(
    tmp_path, framework
):
    import re
    import shlex

    from datamigration.cli import build_parser

    ws = Workspace.open(tmp_path)
    p = plan_for({"kind": "backfill", "table": "users", "set": {"bio": "'none'"},
                  "key": ["id", "team_id"]} if framework == "alembic" else RENAME,
                 framework=framework)  # fmt: skip
    texts = "\n".join(Path(f).read_text() for f in write_migrations(ws, p))
    assert "--plan" not in texts
    commands = re.findall(r"datamigration (?:execute|rollback) [^\n'\"]+", texts)
    backfill = next(s for s in p.steps if any(o.kind == "backfill" for o in s.operations))
    assert f"datamigration execute {p.id} --hash {p.hash[:12]} --step {backfill.id}" in commands
    for command in commands:  # each one is a valid command line of the real CLI
        args = build_parser().parse_args(shlex.split(command)[1:])
        assert (args.plan_id, args.hash, args.step) == (p.id, p.hash[:12], backfill.id)


def test_plan_md_shows_the_staging_rehearsal_when_the_plan_carries_one():
    p = plan_for(RENAME)
    assert "Staging rehearsal" not in plan_markdown(p)
    first, last = p.steps[0], p.steps[-1]
    record = {
        "database": "postgresql://app@staging/app", "throwaway_copy": True,
        "sampled_rows": {"users": 5000}, "at": "2025-01-02T03:04:05Z", "passed": True,
        "steps": [{"step": first.id, "seconds": 0.125}, {"step": last.id, "seconds": 1.5}],
        "rollback_steps": [{"step": first.id, "seconds": 0.25}],
        "rollback_seconds": 0.25, "full_run_seconds": 2.75, "seconds": 3.5,
    }  # fmt: skip
    md = plan_markdown(replace(p, rehearsal=record))
    section = md[md.index("## Staging rehearsal") : md.index("## Monitoring")]
    assert "a throwaway copy of postgresql://app@staging/app (sampled rows: users 5,000)" in section
    assert "2025-01-02T03:04:05Z: passed" in section
    assert "Whole plan: 2.75 s; rollback of every reversible step: 0.25 s" in section
    assert f"| {first.id} {first.title} | 0.12 s |" in section
    assert f"| {last.id} {last.title} | 1.50 s |" in section
    assert f"- {first.id} {first.title}: 0.25 s" in section
    # a partial record (an older plan) renders with dashes, never fails
    partial = plan_markdown(replace(p, rehearsal={"passed": False}))
    assert "did not finish" in partial and "Whole plan: —" in partial


def test_plan_md_names_the_executor_command_in_its_normal_form():
    p = plan_for(RENAME)
    assert f"`datamigration execute {p.id} --hash {p.hash[:12]}`" in plan_markdown(p)
    assert "--plan" not in plan_markdown(p)


def test_a_backfill_is_a_point_of_no_return_and_warns_when_it_reads_what_it_replaces():
    p = plan_for({"kind": "backfill", "table": "users", "set": {"n": "n * 2"}})
    (s,) = p.steps
    assert not s.reversible and "no rollback can restore" in s.description
    assert any("reads the value it replaces" in w for w in p.warnings)
    q = plan_for({"kind": "backfill", "table": "users", "set": {"n": "id * 3"}})
    assert not any("reads the value it replaces" in w for w in q.warnings)


@pytest.mark.parametrize(
    "spec",
    [
        {"kind": "split_table", "table": "users", "new_table": "profiles", "columns": ["bio"]},
        {"kind": "merge_tables", "table": "users", "from_table": "teams", "columns": ["name"],
         "join": {"id": "team_id"}},
    ],
    ids=["split", "merge"],
)  # fmt: skip
def test_split_and_merge_contracts_drop_triggers_and_columns_in_one_transaction(spec):
    (contract,) = [s for s in plan_for(spec).steps if s.phase == "contract"]
    (op,) = contract.operations
    assert op.transactional and any("DROP TRIGGER" in x for x in op.statements)
    assert any("DROP COLUMN" in x or "DROP TABLE" in x for x in op.statements)
