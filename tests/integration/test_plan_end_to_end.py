"""Plans run to the end on real databases through the CLI (`datamigration plan`, then
`datamigration execute PLAN --hash H --all --yes`): a type change on PostgreSQL (its swap step
used to validate the shadow column it had just renamed away) and the rename of a UNIQUE column
(on SQLite the copied index used to get SQLite's reserved `sqlite_autoindex_...` name, and the
old column cannot be dropped at all). Each run must finish, pass its final validation, keep
the data and leave the constraints in force."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from pathlib import Path

import pytest

from datamigration.db import connect
from datamigration.errors import DataMigrationError

pytestmark = pytest.mark.integration

CLI = str(Path(sys.executable).parent / "datamigration")
ROWS = 3_000


def cli(ws: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [CLI, "--workspace", str(ws), *args], capture_output=True, text=True, timeout=300,
        check=False,
    )  # fmt: skip


def plan_and_execute(ws: Path, url: str, spec: dict) -> tuple[dict, dict]:
    path = ws / "spec.json"
    path.write_text(json.dumps(spec))
    out = cli(ws, "plan", str(path), "--db", url, "--json")
    assert out.returncode == 0, out.stdout + out.stderr
    plan = json.loads(out.stdout)["plan"]
    run = cli(ws, "execute", plan["id"], "--hash", plan["hash"], "--db", url, "--all", "--yes",
              "--json", "--quiet")  # fmt: skip
    assert run.returncode == 0, run.stdout + run.stderr
    return plan, json.loads(run.stdout)


def digest(url: str, sql: str) -> str:
    with connect(url) as b:
        rows = b.query(sql).rows
    return hashlib.sha256(repr([tuple(str(v) for v in r) for r in rows]).encode()).hexdigest()


def columns(url: str, table: str) -> dict[str, tuple[str, bool]]:
    with connect(url) as b:
        t = b.inspect(tables=[table]).tables[0]
    return {c.name: (c.data_type.lower(), c.nullable) for c in t.columns}


def refused(url: str, sql: str) -> bool:
    with connect(url) as b:
        try:
            b.execute([sql])
        except DataMigrationError:
            return True
    return False


def final_validation_passed(result: dict) -> None:
    fv = result["final_validation"]
    assert not fv.get("error"), fv
    assert fv["passed"] is True, fv


def test_int_to_bigint_runs_to_the_end_on_postgres_and_every_rule_can_run(pg_url, workspace_dir):
    with connect(pg_url) as b:
        b.execute([
            "CREATE TABLE users (id bigserial PRIMARY KEY, email text NOT NULL UNIQUE, n int)",
            f"INSERT INTO users (email, n) SELECT 'u' || g || '@x', g FROM generate_series(1, {ROWS}) g",
            "CREATE INDEX users_n_idx ON users (n)",
        ])  # fmt: skip
    before = digest(pg_url, "SELECT id, email, n FROM users ORDER BY id")
    plan, result = plan_and_execute(
        workspace_dir, pg_url, {"kind": "change_type", "table": "users", "column": "n",
                                "type": "bigint"},
    )  # fmt: skip
    swap = next(s for p in plan["phases"] for s in p["steps"] if s["phase"] == "switch")
    assert [r["columns"] for r in swap["validation"]] == [["n"]]
    assert not [w for w in plan["warnings"] if w.startswith("planner check")]
    assert result["remaining"] == []
    final_validation_passed(result)
    cols = columns(pg_url, "users")
    assert cols["n"][0] == "bigint" and set(cols) == {"id", "email", "n"}
    assert digest(pg_url, "SELECT id, email, n FROM users ORDER BY id") == before
    with connect(pg_url) as b:
        idx = b.query("SELECT indexdef FROM pg_indexes WHERE tablename = 'users' "
                      "AND indexdef LIKE '%(n)%'").rows  # fmt: skip
        invalid = b.query("SELECT count(*) FROM pg_index WHERE NOT indisvalid").rows[0][0]
    assert idx and invalid == 0  # the index moved to the new column, valid


SEED_UNIQUE = {
    "sqlite": [
        "CREATE TABLE users (id INTEGER PRIMARY KEY, email TEXT NOT NULL UNIQUE, n INTEGER)",
        (
            "WITH RECURSIVE g(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM g WHERE x < "
            f"{ROWS}) INSERT INTO users (id, email, n) SELECT x, 'u' || x || '@x', x FROM g"
        ),
    ],
    "postgresql": [
        "CREATE TABLE users (id bigserial PRIMARY KEY, email text NOT NULL UNIQUE, n int)",
        f"INSERT INTO users (email, n) SELECT 'u' || g || '@x', g FROM generate_series(1, {ROWS}) g",
    ],
    "mysql": [
        (
            "CREATE TABLE users (id BIGINT AUTO_INCREMENT PRIMARY KEY, email VARCHAR(200) NOT NULL "
            "UNIQUE, n INT)"
        ),
        f"INSERT INTO users (email, n) SELECT CONCAT('u', seq, '@x'), seq FROM seq_1_to_{ROWS}",
    ],
}


@pytest.fixture(params=["sqlite", "postgresql", "mysql"])
def unique_db(request, tmp_path):
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'app.db'}"
    else:
        url = request.getfixturevalue("pg_url" if request.param == "postgresql" else "mysql_url")
    with connect(url) as b:
        b.execute(SEED_UNIQUE[request.param])
    return url


def test_renaming_a_unique_column_runs_to_the_end_and_keeps_it_unique(unique_db, workspace_dir):
    url = unique_db
    before = digest(url, "SELECT id, email, n FROM users ORDER BY id")
    plan, result = plan_and_execute(workspace_dir, url, {
        "kind": "rename_column", "table": "users", "column": "email", "new_name": "email_address",
    })  # fmt: skip
    created = [
        st for p in plan["phases"] for s in p["steps"] for o in s["operations"]
        for st in o["statements"] if "INDEX" in st.upper() and "email_address" in st
    ]  # fmt: skip
    assert created and not any("sqlite_" in st.lower() for st in created)
    assert result["remaining"] == []
    final_validation_passed(result)
    cols = columns(url, "users")
    assert "email" not in cols and cols["email_address"][1] is False  # NOT NULL kept
    assert digest(url, "SELECT id, email_address, n FROM users ORDER BY id") == before
    assert refused(url, "INSERT INTO users (id, email_address, n) VALUES (999999, 'u1@x', 1)")


def test_a_type_change_of_an_indexed_sqlite_column_drops_the_old_index_first(
    tmp_path, workspace_dir
):
    url = f"sqlite:///{tmp_path / 'app.db'}"
    with connect(url) as b:
        b.execute([*SEED_UNIQUE["sqlite"], "CREATE INDEX users_n_idx ON users (n)"])
    before = digest(url, "SELECT id, email, n FROM users ORDER BY id")
    _, result = plan_and_execute(workspace_dir, url, {
        "kind": "change_type", "table": "users", "column": "n", "type": "bigint",
    })  # fmt: skip
    assert result["remaining"] == []
    final_validation_passed(result)
    assert set(columns(url, "users")) == {"id", "email", "n"}
    assert columns(url, "users")["n"][0] == "bigint"
    assert digest(url, "SELECT id, email, n FROM users ORDER BY id") == before
    with connect(url) as b:
        idx = b.inspect(tables=["users"]).tables[0].indexes
    assert [i.columns for i in idx if not i.unique] == [("n",)]  # the new column's index


def test_rolling_back_a_unique_sqlite_rename_before_the_contract_restores_the_table(
    tmp_path, workspace_dir
):
    url = f"sqlite:///{tmp_path / 'app.db'}"
    with connect(url) as b:
        b.execute(SEED_UNIQUE["sqlite"])
    before = digest(url, "SELECT id, email, n FROM users ORDER BY id")
    schema_before = columns(url, "users")
    spec = workspace_dir / "spec.json"
    spec.write_text(json.dumps({"kind": "rename_column", "table": "users", "column": "email",
                                "new_name": "email_address"}))  # fmt: skip
    plan = json.loads(cli(workspace_dir, "plan", str(spec), "--db", url, "--json").stdout)["plan"]
    for phase in ("expand", "migrate", "switch"):
        out = cli(workspace_dir, "execute", plan["id"], "--hash", plan["hash"], "--db", url,
                  "--phase", phase, "--yes", "--quiet")  # fmt: skip
        assert out.returncode == 0, out.stdout + out.stderr
    back = cli(workspace_dir, "rollback", plan["id"], "--hash", plan["hash"], "--db", url, "--all",
               "--yes", "--quiet")  # fmt: skip
    assert back.returncode == 0, back.stdout + back.stderr
    assert columns(url, "users") == schema_before
    assert digest(url, "SELECT id, email, n FROM users ORDER BY id") == before
    with connect(url) as b:
        names = [i.name for i in b.inspect(tables=["users"]).tables[0].indexes]
    assert names == ["sqlite_autoindex_users_1"]
