"""Spec expressions are exactly one expression of their dialect (issue 10, item 2), and the plan
says what its steps do (item 17): golden tests without a database.

The attack of the issue - a set_not_null `fill` carrying a second statement - and its family
for every field that carries SQL or MongoDB text, in each dialect. Each refusal happens while
building, so no step exists; the integration test proves the database was not touched."""

from __future__ import annotations

import json

import pytest

from datamigration.errors import FileFormatError, NotFoundError, UserInputError
from datamigration.execute.retry import schedule
from datamigration.plan import store
from datamigration.plan.documents import plan_markdown
from datamigration.plan.expressions import UnsafeExpressionError
from datamigration.plan.linting import lint_operation
from datamigration.plan.model import BackfillSpec, Operation
from datamigration.plan.planner import Measured, build_plan
from datamigration.plan.spec import parse_spec
from datamigration.workspace.root import Workspace
from unit.test_plan_golden import MEASURED, plan_for, schema
from unit.test_plan_mongo import SCHEMA as MONGO

ISSUE_FILL = "'x' WHERE false; DROP TABLE audit; SELECT 1 FROM small"
DIALECTS = ("postgresql", "mysql", "sqlite")


def spec_with(field: str, text: str) -> dict:
    """A spec of the kind that carries `field`, with `text` in it."""
    return {
        "fill": {"kind": "set_not_null", "table": "users", "column": "bio", "fill": text},
        "default": {"kind": "add_column", "table": "users", "column": "z", "type": "text",
                    "default": text},
        "using": {"kind": "change_type", "table": "users", "column": "n", "type": "bigint",
                  "using": text},
        "where": {"kind": "add_index", "table": "users", "columns": ["bio"], "where": text},
        "backfill_where": {"kind": "backfill", "table": "users", "set": {"n": "1"},
                           "where": text},
        "expression": {"kind": "add_check", "table": "users", "expression": text},
        "set": {"kind": "backfill", "table": "users", "set": {"n": text}},
        "columns": {"kind": "add_index", "table": "users", "columns": [text if "(" in text else f"lower({text})"]},
    }[field]  # fmt: skip


FIELDS = ("fill", "default", "using", "where", "backfill_where", "expression", "set", "columns")


@pytest.mark.parametrize("dialect", DIALECTS)
def test_refuses_the_issues_fill_with_a_hidden_drop_table_in_every_dialect(dialect):
    with pytest.raises(UnsafeExpressionError) as e:
        plan_for(spec_with("fill", ISSUE_FILL), dialect)
    assert "fill" in e.value.message and "nothing was planned" in e.value.message
    assert "raw_sql" in (e.value.hint or "")


@pytest.mark.parametrize("dialect", DIALECTS)
@pytest.mark.parametrize("field", FIELDS)
@pytest.mark.parametrize(
    "text",
    [
        ISSUE_FILL,
        "1; DROP TABLE audit",
        "1) FROM teams WHERE (true",  # closes the wrapping parenthesis to add a clause
        "1) UNION SELECT (2",
        "true) OR (1 = 1",  # one expression once wrapped, another one where it is pasted
        "'(' || 1)",
        "1 /* a comment */",
        "1 -- a comment",
    ],
)
def test_refuses_a_second_statement_or_clause_in_every_expression_field(dialect, field, text):
    # a name with ";" (an index key) is already refused by the spec's JSON Schema
    with pytest.raises((UnsafeExpressionError, FileFormatError)):
        plan_for(spec_with(field, text), dialect)


@pytest.mark.parametrize("dialect", DIALECTS)
@pytest.mark.parametrize("field", ("fill", "default", "set"))
def test_refuses_a_list_that_would_add_an_assignment(dialect, field):
    with pytest.raises(UnsafeExpressionError):
        plan_for(spec_with(field, "'x', email = 'y'"), dialect)


@pytest.mark.parametrize(
    "text",
    [
        "pg_read_file('/etc/passwd')",
        "dblink_exec('dbname=x', 'DROP TABLE audit')",
        "set_config('role', 'postgres', false)",
        "pg_terminate_backend(1)",
        "lo_import('/etc/passwd')",
        "public.my_function(1)",
        "(WITH d AS (DELETE FROM teams RETURNING 1) SELECT 'a')",
        "(SELECT name FROM teams FOR UPDATE)",
    ],
)
def test_refuses_functions_outside_the_allow_list_and_writes_on_postgres(text):
    with pytest.raises(UnsafeExpressionError):
        plan_for(spec_with("fill", text), "postgresql")


@pytest.mark.parametrize(
    ("dialect", "text"),
    [
        ("mysql", "'x' /*!, email = 'y' */"),
        ("mysql", "'x' # trailing comment"),
        ("mysql", "'a\\' , email = '"),  # a backslash escape where parsers may disagree
        ("mysql", "LOAD_FILE('/etc/passwd')"),
        ("mysql", "SLEEP(5)"),
        ("sqlite", "load_extension('evil')"),
        ("sqlite", "fts3_tokenizer('x')"),
    ],
)
def test_refuses_executable_comments_escapes_and_unsafe_functions_on_mysql_and_sqlite(
    dialect, text
):
    with pytest.raises(UnsafeExpressionError):
        plan_for(spec_with("fill", text), dialect)


@pytest.mark.parametrize(
    ("dialect", "type_"),
    [
        ("postgresql", "text DEFAULT 'x'"),
        ("postgresql", "text; DROP TABLE audit"),
        ("mysql", "text, DROP COLUMN bio"),
        ("sqlite", "TEXT) ; DROP TABLE audit; --"),
    ],
)
def test_refuses_a_type_that_carries_more_than_a_type_name(dialect, type_):
    spec = {"kind": "add_column", "table": "users", "column": "z", "type": type_}
    with pytest.raises(UnsafeExpressionError):
        plan_for(spec, dialect)


def test_refuses_a_using_with_a_placeholder_other_than_the_old_value():
    with pytest.raises(UnsafeExpressionError):
        plan_for(spec_with("using", "{0.__class__}"), "postgresql")


@pytest.mark.parametrize(
    ("dialect", "spec"),
    [
        ("postgresql", spec_with("using", "round({}::numeric, 2)::bigint")),
        ("postgresql", spec_with("fill", "coalesce(email, 'n/a') || to_char(now(), 'YYYY')")),
        ("postgresql", spec_with("set", "(SELECT count(*) FROM teams t WHERE t.id = users.n)")),
        ("postgresql", spec_with("where", "bio IS NOT NULL")),
        ("postgresql", {"kind": "add_column", "table": "users", "column": "z",
                        "type": "timestamp with time zone", "default": "now()"}),
        ("mysql", {"kind": "add_column", "table": "users", "column": "z",
                   "type": "BIGINT UNSIGNED", "default": "0"}),
        ("mysql", spec_with("fill", "CONCAT('n/', 'a')")),
        ("sqlite", spec_with("fill", "'n/a'")),
        ("sqlite", spec_with("expression", "n > 0 AND length(bio) < 500")),
    ],
)  # fmt: skip
def test_plans_ordinary_expressions_and_types(dialect, spec):
    assert plan_for(spec, dialect).steps


@pytest.mark.parametrize(
    "spec",
    [
        {"kind": "add_index", "table": "users", "columns": ["nope"]},
        {"kind": "add_foreign_key", "table": "users", "columns": ["team_id"],
         "ref_table": "teams", "ref_columns": ["nope"]},
        {"kind": "backfill", "table": "users", "set": {"n": "1"}, "key": ["nope"]},
    ],
)  # fmt: skip
def test_refuses_column_names_the_schema_does_not_have(spec):
    with pytest.raises(NotFoundError):
        plan_for(spec)


def mongo_plan(spec: dict):
    return build_plan(
        parse_spec({"batch_size": 1000, **spec}), MONGO,
        measured=Measured({"users": 5000}, {}, 10_000.0, "test"), database="m",
        created_at="2026-01-01T00:00:00Z", plan_id="p1",
    )  # fmt: skip


@pytest.mark.parametrize(
    "spec",
    [
        {"kind": "change_type", "table": "users", "column": "age", "type": "string",
         "using": json.dumps({"$function": {"body": "x", "args": [], "lang": "js"}})},
        {"kind": "change_type", "table": "users", "column": "age", "type": "string",
         "using": json.dumps({"$concat": ["$age", {"$where": "true", "a": 1}]})},
        {"kind": "backfill", "table": "users", "set": {"age": json.dumps(
            {"$accumulator": {}})}},
        {"kind": "backfill", "table": "users", "set": {"age": "1"},
         "where": json.dumps({"$where": "sleep(1000)"})},
        {"kind": "backfill", "table": "users", "set": {"age": "1"},
         "where": json.dumps({"x": {"$ref": "x", "$id": 1, "$where": "true"}})},
        {"kind": "backfill", "table": "users", "set": {"age": "1"},
         "where": json.dumps({"$expr": {"$function": {}}})},
        {"kind": "set_not_null", "table": "users", "column": "email",
         "fill": json.dumps({"$function": {"body": "x"}})},
        {"kind": "add_column", "table": "users", "column": "z", "type": "string", "default": json.dumps(
            {"$where": "true"})},
    ],
)  # fmt: skip
def test_refuses_mongodb_operators_outside_the_allow_list(spec):
    with pytest.raises(UnsafeExpressionError):
        mongo_plan(spec)


def test_plans_mongodb_transforms_filters_and_extended_json_values():
    p = mongo_plan({"kind": "backfill", "table": "users",
                    "set": {"age": json.dumps({"$toInt": "$age"})},
                    "where": json.dumps({"age": {"$type": "string"}})})  # fmt: skip
    assert p.steps
    p = mongo_plan({"kind": "set_not_null", "table": "users", "column": "email",
                    "fill": json.dumps({"$date": "2026-01-01T00:00:00Z"})})  # fmt: skip
    assert p.steps


def test_a_raw_sql_drop_is_a_destructive_step_that_waits_for_validation_and_confirmation():
    p = plan_for({"kind": "raw_sql", "sql": "DROP TABLE teams", "reverse_sql": "SELECT 1"})
    (s,) = p.steps
    assert s.destructive and s.gates == ("validation_passed", "confirmation")
    assert any("drops TABLE teams" in w for w in p.warnings)


@pytest.mark.parametrize("dialect", DIALECTS)
def test_generated_drops_of_objects_the_step_recreates_stay_ordinary(dialect):
    p = plan_for({"kind": "add_index", "table": "users", "columns": ["bio"]}, dialect)
    assert not any(s.destructive for s in p.steps)
    assert not any("marked destructive" in w for w in p.warnings)


def test_the_statements_of_a_backfill_go_through_the_linter():
    spec = BackfillSpec(table="users", key_columns=("id",), set_expression="n = = 1",
                        where="true", batch_size=10, dialect="postgresql")  # fmt: skip
    op = Operation(id="s01.1", kind="backfill", dialect="postgresql", description="b",
                   statements=("UPDATE users SET n = = 1",), backfill=spec)  # fmt: skip
    assert [f["rule"] for f in lint_operation(op)] == ["parse-error"]


def test_the_fill_step_is_a_point_of_no_return():
    fill = plan_for(spec_with("fill", "'n/a'")).steps[0]
    assert fill.title == "Fill NULLs in bio" and not fill.reversible


def test_refuses_set_not_null_without_fill_when_the_column_holds_nulls():
    spec = {"kind": "set_not_null", "table": "users", "column": "bio"}
    measured = Measured(MEASURED.rows, MEASURED.sizes, 1.0, "test", {"users.bio": 1204})
    with pytest.raises(UserInputError) as e:
        build_plan(parse_spec(spec), schema(), measured=measured, database="app")
    assert "1,204 NULL" in e.value.message and '"fill"' in (e.value.hint or "")
    assert build_plan(parse_spec(spec), schema(), measured=MEASURED, database="app").steps


def test_an_additive_plan_does_not_claim_triggers_a_backfill_a_switch_or_a_removal():
    p = plan_for({"kind": "add_index", "table": "users", "columns": ["bio"]})
    text = p.pattern_reason + " ".join(c.message for c in p.communication)
    for claim in ("trigger", "backfilled", "old shape removed", "switch step"):
        assert claim not in text
    assert "nothing is removed" in p.pattern_reason


def test_a_rename_plan_still_describes_the_whole_recipe():
    p = plan_for({"kind": "rename_column", "table": "users", "column": "email",
                  "new_name": "email_address"})  # fmt: skip
    assert "kept in sync by triggers" in p.pattern_reason
    assert any("old shape removed" in c.message for c in p.communication)


def test_the_plan_states_the_retries_and_the_longest_wait_the_executor_uses():
    p = plan_for({"kind": "add_check", "table": "users", "expression": "n > 0"})
    stated = p.steps[0].monitoring["lock_retries"]
    assert stated == schedule(5, 2000)
    assert stated["attempts"] == 12 and stated["max_wait_seconds"] == 77.8
    assert all(o.retries == stated["retries"] for o in p.steps[0].operations if o.kind == "sql")
    assert "makes 12 attempts" in plan_markdown(p) and "at most 77.8 s" in plan_markdown(p)


def test_a_mistyped_hash_is_not_reported_as_a_changed_plan(tmp_path):
    ws = Workspace.open(tmp_path)
    p = plan_for({"kind": "add_index", "table": "users", "columns": ["bio"]})
    store.save_plan(ws, p)
    typo = ("f" if p.hash[0] != "f" else "e") + p.hash[1:12]
    with pytest.raises(store.UnknownPlanHashError) as e:
        store.load_plan(ws, p.id, typo)
    assert "never had the hash" in e.value.message and "typo" in (e.value.hint or "")
    with pytest.raises(UserInputError, match="not a plan hash"):
        store.load_plan(ws, p.id, "plan-hash-here")


def test_the_hash_of_an_earlier_version_is_reported_as_a_changed_plan(tmp_path):
    from dataclasses import replace

    ws = Workspace.open(tmp_path)
    p = plan_for({"kind": "add_index", "table": "users", "columns": ["bio"]})
    store.save_plan(ws, p)
    newer = replace(p, title="changed")
    newer = replace(newer, hash=newer.compute_hash())
    store.save_plan(ws, newer)
    with pytest.raises(store.PlanHashMismatchError, match="does not match the reviewed hash"):
        store.load_plan(ws, p.id, p.hash[:12])
    assert store.load_plan(ws, p.id, newer.hash).title == "changed"
