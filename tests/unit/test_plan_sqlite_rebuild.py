"""Tests of the SQLite table rebuild without a database: the edited CREATE TABLE text, the shape
checker's view of the swap, and the copy's batches. The statements of each step (the rebuild
of set_not_null, add_check, add_foreign_key and change_type) are in the golden fixtures:
tests/fixtures/plans/sqlite/."""

from __future__ import annotations

import json

import pytest

from datamigration.db.model import Column, ForeignKey, Index, PrimaryKey, Schema, Table, Trigger
from datamigration.errors import UserInputError
from datamigration.plan import shape
from datamigration.plan.backfill import batch_sql, keys_sql
from datamigration.plan.model import Plan, plan_hash
from datamigration.plan.planner import Measured, build_plan
from datamigration.plan.schemas import errors
from datamigration.plan.spec import parse_spec
from datamigration.plan.sqlite_ddl import (
    TableChange,
    affinity_check,
    column_names,
    rebuilt_table,
    renamed_index,
)

DDL = (
    "CREATE TABLE users (\n  id INTEGER PRIMARY KEY,\n  email TEXT NOT NULL UNIQUE,\n"
    "  n integer, -- a comment, with a comma\n  code TEXT,\n  team_id INTEGER\n)"
)
USERS = Table(
    name="users",
    columns=(
        Column("id", "INTEGER", "integer", nullable=False, identity="rowid"),
        Column("email", "TEXT", "text", nullable=False),
        Column("n", "integer", "integer"),
        Column("code", "TEXT", "text"),
        Column("team_id", "INTEGER", "integer"),
    ),
    primary_key=PrimaryKey(None, ("id",)),
    indexes=(
        Index("sqlite_autoindex_users_1", ("email",), unique=True,
              constraint="sqlite_autoindex_users_1"),
        Index("users_n_idx", ("n",), definition="CREATE INDEX users_n_idx ON users (n DESC)"),
    ),
    triggers=(Trigger("users_audit", "AFTER", ("INSERT",), definition=(
        "CREATE TRIGGER users_audit AFTER INSERT ON users BEGIN "
        "INSERT INTO audit VALUES (NEW.id); END")),),
    definition=DDL,
)  # fmt: skip
TEAMS = Table(name="teams", columns=(Column("id", "INTEGER", "integer"),),
              primary_key=PrimaryKey(None, ("id",)),
              definition="CREATE TABLE teams (id INTEGER PRIMARY KEY)")  # fmt: skip
ORDERS = Table(name="orders", columns=(Column("id", "INTEGER", "integer"),
                                       Column("user_id", "INTEGER", "integer")),
               primary_key=PrimaryKey(None, ("id",)),
               foreign_keys=(ForeignKey(None, ("user_id",), "users", ("id",)),),
               definition="CREATE TABLE orders (id INTEGER PRIMARY KEY, "
                          "user_id INTEGER REFERENCES users (id))")  # fmt: skip
SCHEMA = Schema(dialect="sqlite", database="app.db", tables=(USERS, TEAMS, ORDERS))
MEASURED = Measured({"users": 100_000}, {}, 20_000.0, "test")
NOT_NULL = {"kind": "set_not_null", "table": "users", "column": "n"}


def plan_for(spec: dict, schema: Schema = SCHEMA) -> Plan:
    return build_plan(parse_spec(spec), schema, measured=MEASURED, database="app.db",
                      created_at="2025-01-01T00:00:00Z")  # fmt: skip


def statements(p: Plan, phase: str) -> list[str]:
    return [s for st in p.steps if st.phase == phase for o in st.operations for s in o.statements]


# --- the CREATE TABLE text ------------------------------------------------------------------------


def test_the_rebuilt_create_table_changes_only_what_the_change_names():
    out = rebuilt_table(DDL, "users__dm_new", TableChange(not_null=("N",)))
    assert out == DDL.replace("CREATE TABLE users", "CREATE TABLE users__dm_new").replace(
        "n integer,", "n integer NOT NULL,"
    )


def test_a_type_change_replaces_the_declared_type_words_and_keeps_their_constraints():
    ddl = 'CREATE TABLE [t] ("a b" UNSIGNED BIG INT NOT NULL DEFAULT 0, c, x ANY) STRICT'
    change = TableChange(types=(("a b", "TEXT"), ("c", "REAL")), column_checks=(("c", "CHECK (c > 0)"),),
                         constraints=("CONSTRAINT k CHECK (length(x) < 9)",))  # fmt: skip
    assert rebuilt_table(ddl, "t__dm_new", change) == (
        'CREATE TABLE t__dm_new ("a b" TEXT NOT NULL DEFAULT 0, c REAL CHECK (c > 0), x ANY, '
        "CONSTRAINT k CHECK (length(x) < 9)) STRICT"
    )


def test_not_null_is_not_added_twice_and_an_unknown_column_is_refused():
    ddl = "CREATE TABLE IF NOT EXISTS main.t (a TEXT NOT NULL, b TEXT)"
    assert rebuilt_table(ddl, "t2", TableChange(not_null=("a",))) == (
        "CREATE TABLE IF NOT EXISTS t2 (a TEXT NOT NULL, b TEXT)"
    )
    with pytest.raises(UserInputError, match="no column zz"):
        rebuilt_table(ddl, "t2", TableChange(not_null=("zz",)))
    assert column_names(DDL) == ["id", "email", "n", "code", "team_id"]


def test_an_index_is_renamed_and_moved_with_its_expression_order_and_predicate_kept():
    ddl = 'CREATE UNIQUE INDEX IF NOT EXISTS "ix a" ON "t" (lower(b) COLLATE NOCASE, a DESC) WHERE a > 0'
    assert renamed_index(ddl, "ix_tmp", "t__dm_new") == (
        "CREATE UNIQUE INDEX IF NOT EXISTS ix_tmp ON t__dm_new "
        "(lower(b) COLLATE NOCASE, a DESC) WHERE a > 0"
    )
    assert renamed_index("CREATE INDEX i ON t (a)", "i") == "CREATE INDEX IF NOT EXISTS i ON t (a)"


@pytest.mark.parametrize(("type_", "kind"), [("INTEGER", "integer"), ("bigint", "integer"),
    ("varchar(20)", "text"), ("DOUBLE", "real"), ("BLOB", None), ("DATETIME", None),
    ("decimal(10,2)", None)])  # fmt: skip
def test_a_typeof_check_binds_only_types_whose_affinity_stores_one_class(type_, kind):
    check = affinity_check("c", type_)
    assert check == (f"CHECK (typeof(c) IN ('{kind}', 'null'))" if kind else None)


# --- the plan -------------------------------------------------------------------------------------


def test_the_copy_inserts_what_is_not_copied_yet_and_never_ignores_a_refused_row():
    op = next(o for s in plan_for(NOT_NULL).steps for o in s.operations if o.kind == "backfill")
    b = op.backfill
    assert (b.mode, b.target_table, b.conflict_columns) == ("insert", "users__dm_new", ())
    assert batch_sql(b, [5], [10]) == (
        "INSERT INTO users__dm_new (id, email, n, code, team_id) SELECT src.id, src.email, "
        "src.n, src.code, src.team_id FROM users AS src WHERE src.id > 5 AND src.id <= 10 AND "
        "(NOT EXISTS (SELECT 1 FROM users__dm_new AS n WHERE n.id = src.id))"
    )
    assert "OR IGNORE" not in batch_sql(b, None, None)
    assert keys_sql(b, [5], [10]) == (
        "SELECT src.id FROM users AS src WHERE src.id > 5 AND src.id <= 10 AND (NOT EXISTS "
        "(SELECT 1 FROM users__dm_new AS n WHERE n.id = src.id)) ORDER BY src.id"
    )


def test_the_shape_checker_follows_the_rebuild_through_the_swap_script():
    p = plan_for(NOT_NULL)
    history = shape.shapes(SCHEMA, list(p.steps))
    cols = ["id", "email", "n", "code", "team_id"]
    assert history[1]["users__dm_new"] == cols
    assert history[3]["users"] == cols and history[3]["users__dm_old"] == cols
    assert "users__dm_new" not in history[3] and "users__dm_old" not in history[4]
    assert [r["table"] for r in p.post_validation] == ["users"]


@pytest.mark.parametrize("spec", [
    NOT_NULL,
    {"kind": "add_check", "table": "users", "expression": "n > 0"},
    {"kind": "add_foreign_key", "table": "users", "columns": ["team_id"], "ref_table": "teams",
     "ref_columns": ["id"], "on_delete": "SET NULL"},
    {"kind": "change_type", "table": "users", "column": "code", "type": "INTEGER"},
], ids=["not_null", "check", "foreign_key", "change_type"])  # fmt: skip
def test_every_rebuild_plan_conforms_round_trips_and_has_no_open_lint_error(spec):
    p = plan_for(spec)
    data = json.loads(json.dumps(p.to_dict()))
    assert errors(data, "plan") == [] and Plan.from_dict(data) == p and plan_hash(data) == p.hash
    assert [f for f in p.lint if not f["ignored"] and f["severity"] == "error"] == []
    assert not [w for w in p.warnings if w.startswith("planner check")], p.warnings


def test_a_schema_without_ddl_text_is_rebuilt_from_the_model_and_says_so():
    from dataclasses import replace

    bare = replace(USERS, definition=None, indexes=(Index("users_n_idx", ("n",)),))
    p = plan_for(NOT_NULL, Schema(dialect="sqlite", database="x", tables=(bare, TEAMS)))
    create = statements(p, "expand")
    assert create[0] == (
        "CREATE TABLE users__dm_new (id INTEGER PRIMARY KEY, email TEXT NOT NULL, "
        "n integer NOT NULL, code TEXT, team_id INTEGER)"
    )
    assert create[1] == "CREATE INDEX IF NOT EXISTS users_n_idx_dm_new ON users__dm_new (n)"
    assert any("written from the schema model" in w for w in p.warnings)


def test_a_leftover_rebuild_table_is_refused():
    left = Table(name="users__dm_new", columns=(Column("id", "INTEGER", "integer"),))
    with pytest.raises(UserInputError, match="users__dm_new already exists"):
        plan_for(NOT_NULL, Schema(dialect="sqlite", database="x", tables=(USERS, left)))
