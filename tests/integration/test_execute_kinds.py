"""Per change kind, on real databases: plan -> execute -> validate -> contract, and
plan -> execute -> rollback, each leaving the data intact (checksums) and constraints valid.

Plans come from the planner (`build_plan` on the live schema); the executor runs them through
the same service the CLI and the MCP tools call. PostgreSQL runs every kind; MariaDB and SQLite
run the subset their DDL allows online (the planner refuses the rest with a reason).
"""

from __future__ import annotations

import hashlib
import tempfile
from pathlib import Path

import pytest

from datamigration.db import connect
from datamigration.execute import service
from datamigration.execute.runner import RunOptions
from datamigration.plan.planner import Measured, build_plan
from datamigration.plan.spec import parse_spec
from datamigration.plan.store import save_plan
from datamigration.workspace.root import Workspace

pytestmark = pytest.mark.integration

ROWS = 12_000

RENAME = {"kind": "rename_column", "table": "users", "column": "email", "new_name": "email_address"}
CHANGE_TYPE = {"kind": "change_type", "table": "users", "column": "n", "type": "bigint"}
NOT_NULL = {"kind": "set_not_null", "table": "users", "column": "n"}
FOREIGN_KEY = {
    "kind": "add_foreign_key",
    "table": "orders",
    "columns": ["user_id"],
    "ref_table": "users",
    "ref_columns": ["id"],
}
UNIQUE = {"kind": "add_unique", "table": "users", "columns": ["email"]}
INDEX = {"kind": "add_index", "table": "users", "columns": ["n"]}

SEED = {
    "postgresql": [
        "CREATE TABLE users (id bigserial PRIMARY KEY, email text NOT NULL, n int)",
        f"INSERT INTO users (email, n) SELECT 'u' || g || '@x', g FROM generate_series(1, {ROWS}) g",
        "CREATE TABLE orders (id bigserial PRIMARY KEY, user_id bigint)",
        "INSERT INTO orders (user_id) SELECT g FROM generate_series(1, 3000) g",
    ],
    "mysql": [
        (
            "CREATE TABLE users (id BIGINT AUTO_INCREMENT PRIMARY KEY, email VARCHAR(200) NOT NULL, "
            "n INT)"
        ),
        f"INSERT INTO users (email, n) SELECT CONCAT('u', seq, '@x'), seq FROM seq_1_to_{ROWS}",
        "CREATE TABLE orders (id BIGINT AUTO_INCREMENT PRIMARY KEY, user_id BIGINT)",
        "INSERT INTO orders (user_id) SELECT seq FROM seq_1_to_3000",
    ],
    "sqlite": [
        "CREATE TABLE users (id INTEGER PRIMARY KEY, email TEXT NOT NULL, n INTEGER)",
        (
            "WITH RECURSIVE g(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM g WHERE x < "
            f"{ROWS}) INSERT INTO users (id, email, n) SELECT x, 'u' || x || '@x', x FROM g"
        ),
        "CREATE TABLE orders (id INTEGER PRIMARY KEY, user_id INTEGER)",
        "INSERT INTO orders (id, user_id) SELECT id, id FROM users WHERE id <= 3000",
    ],
}


def seeded(url: str) -> None:
    with connect(url) as b:
        b.execute(SEED[b.dialect])


def plan_for(ws: Workspace, url: str, spec: dict):
    with connect(url, ws) as b:
        schema = b.inspect()
    plan = build_plan(
        parse_spec(spec),
        schema,
        measured=Measured({"users": ROWS, "orders": 3000}, {}, 50_000.0, "test"),
        database=url,
    )
    save_plan(ws, plan)
    return plan


def run(ws, plan, url, mode="execute", **kw):
    prepared = service.prepare(
        ws, plan.id, plan.hash, mode=mode, db=url, options=RunOptions(), **kw
    )
    return service.jsonable_result(prepared.run())


def table_digest(url: str, table: str, columns: list[str]) -> str:
    """sha256 of the rows (key order) of `columns`, values as text: equal data, equal digest."""
    with connect(url) as b:
        h = hashlib.sha256()
        for batch in b.iter_rows(table, ["id"], columns, batch_size=5000):
            for row in batch.rows:
                h.update(repr(tuple(None if v is None else str(v) for v in row)).encode())
        return h.hexdigest()


def shape(url: str, table: str) -> dict:
    with connect(url) as b:
        t = b.inspect(tables=[table]).tables[0]
        return {
            "columns": [(c.name, c.nullable) for c in t.columns],
            "types": {c.name: c.data_type for c in t.columns},
            "indexes": sorted(i.name for i in t.indexes),
            "fks": len(t.foreign_keys),
        }


def constraints_valid(url: str) -> None:
    with connect(url) as b:
        if b.dialect != "postgresql":
            return
        bad = b.query(
            "SELECT conname FROM pg_constraint c JOIN pg_namespace n ON n.oid = c.connamespace "
            "WHERE n.nspname = 'public' AND NOT c.convalidated "
            "UNION ALL SELECT c.relname FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid "
            "WHERE NOT i.indisvalid"
        )
        assert bad.rows == (), f"not valid: {bad.rows}"


@pytest.fixture
def ws(workspace_dir: Path) -> Workspace:
    return Workspace.open(str(workspace_dir))


def expand_contract(ws, url, spec, data_columns, final_columns):
    """Execute every phase but the contract, validate, then contract; data and shape checked."""
    seeded(url)
    table = spec["table"]
    before = table_digest(url, table, data_columns)
    plan = plan_for(ws, url, spec)
    phases = [p.name for p in plan.phases]
    for name in phases:
        if name == "contract":
            continue
        last = run(ws, plan, url, phase=name)
    assert table_digest(url, table, data_columns) == before
    if "contract" in phases:
        out = run(ws, plan, url, phase="contract")
        assert out["remaining"] == []
        fv = out["final_validation"]
    else:
        fv = last["final_validation"]
    assert not fv.get("error"), fv  # every rule names the final schema, so it can run
    assert fv["passed"] or not fv["ran"], fv
    assert table_digest(url, table, final_columns) == before
    constraints_valid(url)
    status = service.run_status(ws, plan.id, db=url)
    assert status["run"]["status"] == "completed"
    return plan


def execute_then_rollback(ws, url, spec, data_columns):
    """Execute everything up to (not including) the contract, roll it all back: as before."""
    seeded(url)
    table = spec["table"]
    before_shape, before = shape(url, table), table_digest(url, table, data_columns)
    plan = plan_for(ws, url, spec)
    reversible = [s for s in plan.steps if s.reversible]
    for s in reversible:
        run(ws, plan, url, step=s.id)
    out = run(ws, plan, url, mode="rollback", all_steps=True)
    assert [s["step"] for s in out["steps"]] == [s.id for s in reversed(reversible)]
    assert shape(url, table) == before_shape
    assert table_digest(url, table, data_columns) == before
    constraints_valid(url)
    assert service.run_status(ws, plan.id, db=url)["run"]["status"] == "rolled_back"


# --- PostgreSQL: every kind ----------------------------------------------------------------------


def _ids(cases: list) -> list[str]:
    return [c.id if hasattr(c, "id") else c[0] for c in cases]


PG_CASES = [
    ("rename", RENAME, ["id", "email", "n"], ["id", "email_address", "n"]),
    ("int_to_bigint", CHANGE_TYPE, ["id", "email", "n"], ["id", "email", "n"]),
    ("not_null", NOT_NULL, ["id", "email", "n"], ["id", "email", "n"]),
    ("foreign_key", FOREIGN_KEY, ["id", "user_id"], ["id", "user_id"]),
    ("unique", UNIQUE, ["id", "email", "n"], ["id", "email", "n"]),
    ("index", INDEX, ["id", "email", "n"], ["id", "email", "n"]),
]


@pytest.mark.parametrize(("name", "spec", "cols", "final"), PG_CASES, ids=_ids(PG_CASES))
def test_postgres_expand_validate_contract_keeps_data(ws, pg_url, name, spec, cols, final):
    expand_contract(ws, pg_url, spec, cols, final)
    after = shape(pg_url, spec["table"])
    if name == "rename":
        assert [c for c, _ in after["columns"]] == ["id", "n", "email_address"]
        assert ("email_address", False) in after["columns"]  # NOT NULL carried over
    if name == "int_to_bigint":
        assert after["types"]["n"] == "bigint"
    if name == "not_null":
        assert ("n", False) in after["columns"]
    if name == "foreign_key":
        assert after["fks"] == 1
    if name in ("unique", "index"):
        assert after["indexes"], after


@pytest.mark.parametrize(("name", "spec", "cols", "final"), PG_CASES, ids=_ids(PG_CASES))
def test_postgres_execute_then_rollback_restores_the_table(ws, pg_url, name, spec, cols, final):
    execute_then_rollback(ws, pg_url, spec, cols)


# --- MariaDB and SQLite: the subset their DDL allows ---------------------------------------------

MYSQL_CASES = [
    ("rename", RENAME, ["id", "email", "n"], ["id", "email_address", "n"]),
    ("int_to_bigint", CHANGE_TYPE, ["id", "email", "n"], ["id", "email", "n"]),
    ("not_null", NOT_NULL, ["id", "email", "n"], ["id", "email", "n"]),
    ("foreign_key", FOREIGN_KEY, ["id", "user_id"], ["id", "user_id"]),
    ("unique", UNIQUE, ["id", "email", "n"], ["id", "email", "n"]),
    ("index", INDEX, ["id", "email", "n"], ["id", "email", "n"]),
]
SQLITE_CASES = [
    ("int_to_bigint", CHANGE_TYPE, ["id", "email", "n"], ["id", "email", "n"]),
    ("unique", UNIQUE, ["id", "email", "n"], ["id", "email", "n"]),
    ("index", INDEX, ["id", "email", "n"], ["id", "email", "n"]),
]


@pytest.mark.parametrize(
    ("name", "spec", "cols", "final"), MYSQL_CASES, ids=[c[0] for c in MYSQL_CASES]
)
def test_mariadb_expand_validate_contract_and_rollback(ws, mysql_url, name, spec, cols, final):
    expand_contract(ws, mysql_url, spec, cols, final)
    if name == "int_to_bigint":  # the sync triggers' CASTs ran (MariaDB has no CAST AS bigint)
        assert shape(mysql_url, "users")["types"]["n"].startswith("bigint")
    with connect(mysql_url) as b:
        b.execute(["DROP TABLE orders", "DROP TABLE users"])
        b.execute(["DELETE FROM datamigration_steps", "DELETE FROM datamigration_runs",
                   "DELETE FROM datamigration_checkpoints"])  # fmt: skip
    execute_then_rollback(Workspace.open(tempfile.mkdtemp()), mysql_url, spec, cols)


@pytest.mark.parametrize(
    ("name", "spec", "cols", "final"), SQLITE_CASES, ids=[c[0] for c in SQLITE_CASES]
)
def test_sqlite_expand_validate_contract_and_rollback(ws, tmp_path, name, spec, cols, final):
    expand_contract(ws, f"sqlite:///{tmp_path / 'a.db'}", spec, cols, final)
    other = Workspace.open(str(tmp_path))
    execute_then_rollback(other, f"sqlite:///{tmp_path / 'b.db'}", spec, cols)
