"""MariaDB: the kinds whose DDL has no plain online ALTER, run for real.

ADD CHECK goes through the table rebuild (shadow table, mirroring triggers, batched copy,
atomic RENAME TABLE rotation, reverse rotation as rollback); split and merge through AFTER
triggers between two tables; the type swap's rename is ALGORITHM=INSTANT and its plan lints
clean. Each: plan -> execute -> validate -> contract and plan -> execute -> rollback with the
data digests equal, and writes from another connection during the change survive.
"""

from __future__ import annotations

import tempfile

import pymysql
import pytest
from tests.integration.test_execute_kinds import (
    CHANGE_TYPE,
    Kind,
    plan_for,
    run,
    run_every_phase,
    run_then_roll_back,
    seeded,
    shape,
    table_digest,
)
from tests.support.services import _mysql_connect

from datamigration.db import connect
from datamigration.plan.ops_base import UnsupportedChangeError
from datamigration.workspace.root import Workspace

pytestmark = pytest.mark.integration

_SAME = (("users", ("id", "email", "n")), ("users", ("id", "email", "n")))
CHECK = {"kind": "add_check", "table": "users", "name": "users_n_positive", "expression": "n > 0"}
KINDS = [
    Kind("add_check", CHECK, (_SAME,),
         "SELECT count(*) FROM information_schema.CHECK_CONSTRAINTS WHERE CONSTRAINT_SCHEMA = "
         "DATABASE() AND TABLE_NAME = 'users' AND CONSTRAINT_NAME = 'users_n_positive' "
         "HAVING count(*) = 0",
         columns_after=("users", ("id", "email", "n"))),
    Kind("split_table", {"kind": "split_table", "table": "users", "new_table": "profiles",
                         "columns": ["n"]},
         ((("users", ("id", "n")), ("profiles", ("id", "n"))),
          (("users", ("id", "email")), ("users", ("id", "email")))),
         columns_after=("users", ("id", "email"))),
    Kind("merge_tables", {"kind": "merge_tables", "table": "users", "from_table": "teams",
                          "columns": ["name"], "join": {"id": "team_id"}}, (_SAME,),
         "SELECT count(*) FROM users WHERE NOT (name <=> CONCAT('team-', team_id))",
         {"mysql": ["ALTER TABLE users ADD COLUMN team_id bigint",
                    "UPDATE users SET team_id = id % 10 + 1",
                    "CREATE TABLE teams (id bigint PRIMARY KEY, name varchar(40))",
                    "INSERT INTO teams SELECT seq, CONCAT('team-', seq) FROM seq_1_to_10"]}),
]  # fmt: skip


def _db(url: str) -> str:
    return url.rsplit("/", 1)[1]


def _sql(url: str, statement: str, args: tuple = ()) -> list[tuple]:
    """One statement on its own connection (another client than the executor's)."""
    with _mysql_connect(url, _db(url)) as conn, conn.cursor() as cur:
        cur.execute(statement, args)
        rows = list(cur.fetchall())
        conn.commit()
        return rows


def _tables(url: str) -> set[str]:
    return {r[0] for r in _sql(url, "SHOW TABLES")}


def _reset(url: str) -> None:
    with connect(url) as b:
        b.execute([f"DROP VIEW IF EXISTS {v}" for v, kind in b.query("SHOW FULL TABLES").rows
                   if kind == "VIEW"] + ["SET FOREIGN_KEY_CHECKS = 0"] + [
            f"DROP TABLE IF EXISTS {t}" for t in _tables(url) if not t.startswith("datamigration")
        ] + ["SET FOREIGN_KEY_CHECKS = 1", "DELETE FROM datamigration_steps",
             "DELETE FROM datamigration_runs", "DELETE FROM datamigration_checkpoints"])  # fmt: skip


@pytest.mark.parametrize("kind", [pytest.param(k, id=k.name) for k in KINDS])
def test_mariadb_kind_runs_to_the_contract_and_rolls_back_with_data_intact(ws, mysql_url, kind):
    run_every_phase(ws, mysql_url, kind)
    assert not {t for t in _tables(mysql_url) if "__dm_" in t}  # shadow and stand-in gone
    if kind.name == "add_check":  # the constraint is there and enforced
        with pytest.raises(pymysql.err.OperationalError, match="users_n_positive"):
            _sql(mysql_url, "INSERT INTO users (email, n) VALUES ('bad@x', -1)")
    if kind.name == "split_table":  # a write through the new table lands, key by key
        assert _sql(mysql_url, "SELECT n FROM profiles WHERE id = 7") == [(7,)]
    _reset(mysql_url)
    run_then_roll_back(Workspace.open(tempfile.mkdtemp()), mysql_url, kind)
    assert not {t for t in _tables(mysql_url) if "__dm_" in t or t == "profiles"}
    _sql(mysql_url, "INSERT INTO users (email, n) VALUES ('neg@x', -1)")  # no CHECK left behind


def test_the_type_swap_plan_lints_clean_and_renames_instantly(ws, mysql_url):
    seeded(mysql_url)
    plan = plan_for(ws, mysql_url, CHANGE_TYPE)
    assert [f for f in plan.lint if not f.get("ignored")] == []
    swap = plan.phase("switch").steps[0].operations[0]
    renames = [s for s in swap.statements if "RENAME COLUMN" in s]
    assert renames == [
        "ALTER TABLE users RENAME COLUMN n TO n_old, RENAME COLUMN n_new TO n, ALGORITHM=INSTANT"
    ]


def test_a_table_other_tables_reference_is_not_rebuilt(ws, mysql_url):
    seeded(mysql_url)
    _sql(mysql_url, "ALTER TABLE orders ADD CONSTRAINT orders_user FOREIGN KEY (user_id) "
                    "REFERENCES users (id)")  # fmt: skip
    with pytest.raises(UnsupportedChangeError, match="orders reference users") as e:
        plan_for(ws, mysql_url, CHECK)
    assert "gh-ost" in e.value.hint


def _steps(plan, phase: str) -> list:
    return [s for s in plan.steps if s.phase == phase]


def test_writes_from_another_connection_survive_the_rebuild_swap_and_its_rollback(ws, mysql_url):
    """Writes before the copy, between the copy and the swap, and after the swap all reach the
    table the application sees; the reverse swap brings back the original with every write."""
    seeded(mysql_url)
    plan = plan_for(ws, mysql_url, CHECK)
    for s in _steps(plan, "expand"):
        run(ws, plan, mysql_url, step=s.id)
    _sql(mysql_url, "UPDATE users SET email = 'before-copy@x' WHERE id = 5")
    for s in _steps(plan, "migrate"):
        run(ws, plan, mysql_url, step=s.id)
    # between the copy and the swap: an insert, an update, a delete, a key move
    _sql(mysql_url, "INSERT INTO users (email, n) VALUES ('between@x', 42)")
    _sql(mysql_url, "UPDATE users SET n = 4242 WHERE id = 10")
    _sql(mysql_url, "DELETE FROM users WHERE id = 11")
    _sql(mysql_url, "UPDATE users SET id = 900000 WHERE id = 12")
    with pytest.raises(pymysql.err.OperationalError, match="users_n_positive"):
        _sql(mysql_url, "UPDATE users SET n = -5 WHERE id = 13")  # the new CHECK already holds
    before_swap = table_digest(mysql_url, "users", ["id", "email", "n"])
    (swap,) = _steps(plan, "switch")
    out = run(ws, plan, mysql_url, step=swap.id)
    assert out["steps"][0]["validation"]["passed"], out  # original and rebuilt table equal
    assert table_digest(mysql_url, "users", ["id", "email", "n"]) == before_swap
    assert _sql(mysql_url, "SELECT email FROM users WHERE id = 5") == [("before-copy@x",)]
    assert _sql(mysql_url, "SELECT n FROM users WHERE email = 'between@x'") == [(42,)]
    assert _sql(mysql_url, "SELECT count(*) FROM users WHERE id IN (11, 12)") == [(0,)]
    # after the swap the rebuilt table is `users`: it enforces the CHECK ...
    with pytest.raises(pymysql.err.OperationalError, match="users_n_positive"):
        _sql(mysql_url, "INSERT INTO users (email, n) VALUES ('neg@x', -1)")
    # ... and its writes are mirrored back into the original for the rollback
    _sql(mysql_url, "INSERT INTO users (email, n) VALUES ('after-swap@x', 7)")
    _sql(mysql_url, "UPDATE users SET email = 'changed-after-swap@x' WHERE id = 20")
    _sql(mysql_url, "DELETE FROM users WHERE id = 21")
    after_swap = table_digest(mysql_url, "users", ["id", "email", "n"])
    assert table_digest(mysql_url, "users__dm_old", ["id", "email", "n"]) == after_swap
    run(ws, plan, mysql_url, mode="rollback", all_steps=True)
    assert table_digest(mysql_url, "users", ["id", "email", "n"]) == after_swap
    assert not {t for t in _tables(mysql_url) if "__dm_" in t}
    assert shape(mysql_url, "users")["columns"] == [("id", False), ("email", False), ("n", True)]
    _sql(mysql_url, "INSERT INTO users (email, n) VALUES ('neg-again@x', -1)")  # no CHECK


@pytest.fixture
def ws(workspace_dir) -> Workspace:
    return Workspace.open(str(workspace_dir))
