"""Golden SQL of MySQL / MariaDB plans without a database: the ALGORITHM each ALTER states per
server version, the split/merge triggers and the table rebuild of ADD CHECK."""

from __future__ import annotations

from dataclasses import replace

import pytest

from datamigration.db.model import Column, ForeignKey, Index, PrimaryKey, Schema, Table
from datamigration.plan.backfill import batch_sql
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


def sql(p) -> list[str]:
    return [s for st in p.steps for o in st.operations for s in o.statements]


def swap_rename(version: str | None) -> str:
    swap = plan(CHANGE_TYPE, version).phase("switch").steps[0].operations[0]
    return next(s for s in swap.statements if "RENAME COLUMN" in s)


@pytest.mark.parametrize(
    ("version", "algorithm"),
    [
        (MARIADB, "ALGORITHM=INSTANT"),
        ("8.0.36", "ALGORITHM=INSTANT"),
        ("8.0.27", "ALGORITHM=INPLACE, LOCK=NONE"),  # INSTANT rename arrived in 8.0.28
        (None, "ALGORITHM=INPLACE, LOCK=NONE"),  # version unknown: the online rebuild
    ],
)
def test_the_type_swap_renames_both_columns_in_one_alter_with_the_algorithm_the_server_has(
    version, algorithm
):
    assert swap_rename(version) == (
        f"ALTER TABLE users RENAME COLUMN n TO n_old, RENAME COLUMN n_new TO n, {algorithm}"
    )


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


def test_add_and_drop_column_are_instant_only_where_the_server_and_the_column_allow():
    add = sql(plan({"kind": "add_column", "table": "users", "column": "age", "type": "int"}))
    assert add == ["ALTER TABLE users ADD COLUMN age int, ALGORITHM=INSTANT"]
    expr = sql(plan({"kind": "add_column", "table": "users", "column": "at", "type": "datetime",
                     "default": "CURRENT_TIMESTAMP"}))  # fmt: skip
    assert expr[0].endswith("ALGORITHM=INPLACE, LOCK=NONE")  # not a constant default
    indexed = sql(plan({"kind": "drop_column", "table": "users", "column": "n"}))
    assert indexed == ["ALTER TABLE users DROP COLUMN n, ALGORITHM=INPLACE, LOCK=NONE"]
    plain = sql(plan({"kind": "drop_column", "table": "users", "column": "team_id"}))
    assert plain == ["ALTER TABLE users DROP COLUMN team_id, ALGORITHM=INSTANT"]
    old = sql(
        plan({"kind": "drop_column", "table": "users", "column": "team_id"}, "10.3.39-MariaDB")
    )
    assert old == ["ALTER TABLE users DROP COLUMN team_id, ALGORITHM=INPLACE, LOCK=NONE"]


def test_server_versions_parse_with_their_flavour():
    assert Server.parse(MARIADB) == Server(True, (10, 11, 19))
    assert Server.parse("5.5.5-10.6.16-MariaDB") == Server(True, (10, 6, 16))
    assert Server.parse("8.0.36-0ubuntu0.22.04.1") == Server(False, (8, 0, 36))
    assert Server.parse(None) is None and Server.parse("") is None


def test_the_foreign_key_reverse_drops_it_online():
    p = plan({"kind": "add_foreign_key", "table": "users", "columns": ["team_id"],
              "ref_table": "teams", "ref_columns": ["id"]})  # fmt: skip
    fk = p.steps[0].operations[-1]
    assert fk.statements[0] == "SET SESSION foreign_key_checks = 0"
    assert fk.reverse[0].statements == (
        "ALTER TABLE users DROP FOREIGN KEY users_team_id_fkey, ALGORITHM=INPLACE, LOCK=NONE",
    )


def test_split_triggers_write_only_what_the_target_lacks_and_the_copy_keeps_newer_rows():
    p = plan({"kind": "split_table", "table": "users", "new_table": "profiles", "columns": ["n"]})
    s = "\n".join(sql(p))
    assert "CREATE TRIGGER dm_sync_users_to_profiles_ins AFTER INSERT ON users" in s
    assert (
        "  IF NOT EXISTS (SELECT 1 FROM profiles WHERE id = NEW.id AND n <=> NEW.n) THEN\n"
        "    INSERT INTO profiles (id, n) VALUES (NEW.id, NEW.n)\n"
        "      ON DUPLICATE KEY UPDATE n = NEW.n;\n  END IF;"
    ) in s
    assert (
        "  IF EXISTS (SELECT 1 FROM users WHERE id = NEW.id AND (NOT (n <=> NEW.n))) THEN\n"
        "    UPDATE users SET n = NEW.n WHERE id = NEW.id;\n  END IF;"
    ) in s
    assert "DELETE FROM profiles WHERE id = OLD.id" in s
    bf = next(o for st in p.steps for o in st.operations if o.kind == "backfill").backfill
    assert batch_sql(bf, [5], [10]).endswith(
        "WHERE src.id > 5 AND src.id <= 10 AND (NOT EXISTS (SELECT 1 FROM profiles n WHERE "
        "n.id = src.id)) ON DUPLICATE KEY UPDATE id = profiles.id"
    )


def test_add_check_rebuilds_the_table_beside_itself_and_swaps_by_one_rename_rotation():
    p = plan(CHECK)
    assert [ph.name for ph in p.phases] == ["expand", "migrate", "switch", "contract"]
    create = p.steps[0].operations[0]
    assert create.statements == (
        "CREATE TABLE users__dm_new LIKE users",
        "ALTER TABLE users__dm_new ADD CONSTRAINT n_positive CHECK (n > 0)",
        "CREATE TABLE users__dm_old LIKE users",
    )
    mirror = "\n".join(p.steps[1].operations[0].statements)
    assert "REPLACE INTO users__dm_new (id, email, n, team_id) VALUES (NEW.id, NEW.email" in mirror
    assert "IF NOT (NEW.id <=> OLD.id) THEN DELETE FROM users__dm_new WHERE id = OLD.id" in mirror
    copy = p.steps[2]
    assert {r["type"] for r in copy.validation} == {"count_match", "checksum_diff"}
    bf = copy.operations[0].backfill
    assert bf.mode == "insert" and bf.target_table == "users__dm_new"
    swap = p.phase("switch").steps[0]
    assert swap.gates == ("validation_passed", "confirmation")
    rotate = (
        "RENAME TABLE users TO users__dm_swap, users__dm_new TO users, "
        "users__dm_old TO users__dm_new, users__dm_swap TO users__dm_old"
    )
    back = (
        "RENAME TABLE users TO users__dm_swap, users__dm_old TO users, "
        "users__dm_new TO users__dm_old, users__dm_swap TO users__dm_new"
    )
    assert swap.operations[1].statements == (rotate,)
    assert swap.operations[1].reverse[0].statements == (back,)
    contract = p.phase("contract").steps[0]
    assert contract.destructive and not contract.reversible
    assert contract.operations[0].statements[-2:] == (
        "DROP TABLE IF EXISTS users__dm_old",
        "DROP TABLE IF EXISTS users__dm_new",
    )
    # the post-migration rules name only tables that exist at the end
    assert all(r["table"] == "users" for r in p.post_validation)


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
