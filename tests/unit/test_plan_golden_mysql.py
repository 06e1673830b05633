"""MySQL / MariaDB plans without a database: no open lint finding per server version, the
server version parser and the refusals of the ADD CHECK rebuild. The generated SQL (the
ALGORITHM each ALTER states per server version, the split/merge triggers, the table rebuild of
ADD CHECK) is in the golden fixtures: tests/fixtures/plans/mysql/."""

from __future__ import annotations

from dataclasses import replace

import pytest

from datamigration.db.model import Column, ForeignKey, Index, PrimaryKey, Schema, Table
from datamigration.plan.ops_base import UnsupportedChangeError
from datamigration.plan.ops_mysql import Server
from datamigration.plan.planner import Measured, build_plan
from datamigration.plan.spec import parse_spec

USERS = Table(
    name="users",
    columns=(
        Column("id", "bigint(20)", "bigint", nullable=False),
        Column("email", "varchar(200)", "varchar", nullable=False),
        Column("n", "int(11)", "int"),
        Column("team_id", "bigint(20)", "bigint"),
    ),
    primary_key=PrimaryKey("PRIMARY", ("id",)),
    indexes=(Index("users_n_idx", ("n",)),),
)
TEAMS = Table(
    name="teams",
    columns=(Column("id", "bigint(20)", "bigint", nullable=False), Column("name", "text", "text")),
    primary_key=PrimaryKey("PRIMARY", ("id",)),
)
MARIADB = "10.11.19-MariaDB-0+deb12u1"
MEASURED = Measured({"users": 1000, "teams": 10}, {}, 20_000.0, "test")
CHANGE_TYPE = {"kind": "change_type", "table": "users", "column": "n", "type": "bigint"}
CHECK = {"kind": "add_check", "table": "users", "name": "n_positive", "expression": "n > 0"}


def plan(spec: dict, version: str | None = MARIADB, tables=(USERS, TEAMS)):
    schema = Schema("mysql", "app", tables=tables, server_version=version)
    return build_plan(parse_spec(spec), schema, measured=MEASURED, database="app",
                      created_at="2025-01-01T00:00:00Z")  # fmt: skip


@pytest.mark.parametrize("version", [MARIADB, "8.0.36", None])
def test_no_mysql_plan_of_any_kind_leaves_a_lint_finding_open(version):
    specs = [
        CHANGE_TYPE,
        CHECK,
        {"kind": "rename_column", "table": "users", "column": "email", "new_name": "mail"},
        {"kind": "add_column", "table": "users", "column": "age", "type": "int"},
        {"kind": "drop_column", "table": "users", "column": "n"},
        {"kind": "set_not_null", "table": "users", "column": "n"},
        {"kind": "add_foreign_key", "table": "users", "columns": ["team_id"],
         "ref_table": "teams", "ref_columns": ["id"]},
        {"kind": "split_table", "table": "users", "new_table": "profiles", "columns": ["n"]},
        {"kind": "merge_tables", "table": "users", "from_table": "teams", "columns": ["name"],
         "join": {"id": "team_id"}},
    ]  # fmt: skip
    for spec in specs:
        p = plan(spec, version)
        assert [f for f in p.lint if not f.get("ignored")] == [], spec["kind"]
        assert not [w for w in p.warnings if w.startswith("planner check")], spec["kind"]


def test_server_versions_parse_with_their_flavour():
    assert Server.parse(MARIADB) == Server(True, (10, 11, 19))
    assert Server.parse("5.5.5-10.6.16-MariaDB") == Server(True, (10, 6, 16))
    assert Server.parse("8.0.36-0ubuntu0.22.04.1") == Server(False, (8, 0, 36))
    assert Server.parse(None) is None and Server.parse("") is None


def test_add_check_refuses_a_table_that_other_tables_reference():
    orders = Table(
        name="orders",
        columns=(Column("id", "bigint", "bigint", nullable=False),
                 Column("user_id", "bigint", "bigint")),
        primary_key=PrimaryKey("PRIMARY", ("id",)),
        foreign_keys=(ForeignKey("orders_user", ("user_id",), "users", ("id",)),),
    )  # fmt: skip
    with pytest.raises(UnsupportedChangeError, match="orders reference users") as e:
        plan(CHECK, tables=(USERS, TEAMS, orders))
    assert "gh-ost" in e.value.hint
    with pytest.raises(UnsupportedChangeError, match="no primary key"):
        plan(CHECK, tables=(replace(USERS, primary_key=None), TEAMS))
