"""Per change kind, on real databases: plan -> execute -> validate -> contract, and
plan -> execute -> rollback, each leaving the data intact (checksums) and constraints valid.

Plans come from the planner (`build_plan` on the live schema); the executor runs them through
the same service the CLI and the MCP tools call. PostgreSQL runs every kind; MariaDB and SQLite
run the subset their DDL allows online (the planner refuses the rest with a reason).
"""

from __future__ import annotations

import hashlib
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from datamigration.db import connect
from datamigration.errors import ConflictError
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


# --- every other kind: add / drop column, check, drop index, rename table, split, merge, backfill --


@dataclass(frozen=True)
class Kind:
    """One change kind as the tests run it.

    `kept` names the data that must survive, as (table, columns) before the plan and where the
    same values live after the contract (same order); `check` is a query counting rows that are
    wrong afterwards (0 when right); `setup` runs after the seed, per dialect.
    """

    name: str
    spec: dict
    kept: tuple[tuple[tuple[str, tuple[str, ...]], tuple[str, tuple[str, ...]]], ...]
    check: str | None = None
    setup: dict = field(default_factory=dict)
    columns_after: tuple[str, tuple[str, ...]] | None = None  # (table, its columns at the end)


_IDX = "CREATE INDEX users_n_idx ON users (n)"
_SAME = (("users", ("id", "email", "n")), ("users", ("id", "email", "n")))
KINDS = [
    Kind("add_column", {"kind": "add_column", "table": "users", "column": "age",
                        "type": "integer"}, (_SAME,),
         "SELECT count(*) FROM users WHERE age IS NOT NULL",
         columns_after=("users", ("id", "email", "n", "age"))),
    Kind("drop_column", {"kind": "drop_column", "table": "users", "column": "n"},
         ((("users", ("id", "email")), ("users", ("id", "email"))),),
         columns_after=("users", ("id", "email"))),
    Kind("add_check", {"kind": "add_check", "table": "users", "expression": "n > 0"}, (_SAME,),
         "SELECT count(*) FROM pg_constraint WHERE conrelid = 'users'::regclass AND contype = 'c'"
         " AND convalidated AND pg_get_constraintdef(oid) LIKE '%n > 0%' HAVING count(*) = 0"),
    Kind("drop_index", {"kind": "drop_index", "name": "users_n_idx"}, (_SAME,),
         None, {d: [_IDX] for d in ("postgresql", "mysql", "sqlite")}),
    Kind("rename_table", {"kind": "rename_table", "table": "users", "new_name": "accounts"},
         ((("users", ("id", "email", "n")), ("accounts", ("id", "email", "n"))),),
         columns_after=("accounts", ("id", "email", "n"))),
    Kind("split_table", {"kind": "split_table", "table": "users", "new_table": "profiles",
                         "columns": ["n"]},
         ((("users", ("id", "n")), ("profiles", ("id", "n"))),
          (("users", ("id", "email")), ("users", ("id", "email")))),
         columns_after=("users", ("id", "email"))),
    Kind("merge_tables", {"kind": "merge_tables", "table": "users", "from_table": "teams",
                          "columns": ["name"], "join": {"id": "team_id"}}, (_SAME,),
         "SELECT count(*) FROM users WHERE name IS DISTINCT FROM 'team-' || team_id",
         {"postgresql": ["ALTER TABLE users ADD COLUMN team_id bigint",
                         "UPDATE users SET team_id = id % 10 + 1",
                         "CREATE TABLE teams (id bigint PRIMARY KEY, name text)",
                         "INSERT INTO teams SELECT g, 'team-' || g FROM generate_series(1, 10) g"]}),
    Kind("backfill", {"kind": "backfill", "table": "users", "set": {"n": "id * 3"},
                      "where": "id <= 9000"},
         ((("users", ("id", "email")), ("users", ("id", "email"))),),
         "SELECT count(*) FROM users WHERE (id <= 9000 AND n <> id * 3) OR (id > 9000 AND n <> id)"),
]  # fmt: skip
MYSQL_KINDS = {"add_column", "drop_column", "drop_index", "rename_table", "backfill"}
SQLITE_KINDS = {"add_column", "drop_column", "drop_index", "rename_table", "backfill"}


def _digest(url: str, pairs) -> list[str]:
    return [table_digest(url, t, list(cols)) for t, cols in pairs]


def _prepare(url: str, kind: Kind) -> None:
    seeded(url)
    with connect(url) as b:
        if kind.setup.get(b.dialect):
            b.execute(kind.setup[b.dialect])


def run_every_phase(ws, url, kind: Kind) -> None:
    """plan -> execute -> validate -> contract: data where the plan says, rules passing."""
    _prepare(url, kind)
    before = _digest(url, [b for b, _ in kind.kept])
    plan = plan_for(ws, url, kind.spec)
    out = {}
    for phase in [p.name for p in plan.phases]:
        out = run(ws, plan, url, phase=phase)
    assert out["remaining"] == []
    fv = out["final_validation"]
    assert not fv.get("error") and (fv["passed"] or not fv["ran"]), fv
    assert _digest(url, [a for _, a in kind.kept]) == before
    if kind.check:
        with connect(url) as b:
            assert [tuple(r) for r in b.query(kind.check).rows] in ([(0,)], []), kind.check
    if kind.columns_after:
        table, cols = kind.columns_after
        assert [c for c, _ in shape(url, table)["columns"]] == list(cols)
    with connect(url) as b:
        names = {t.name for t in b.inspect().tables}
    if kind.spec["kind"] == "rename_table":
        assert "users" not in names  # the view under the old name is gone
    if kind.spec["kind"] == "merge_tables":
        assert "teams" not in names
    if kind.spec["kind"] == "drop_index":
        assert "users_n_idx" not in shape(url, "users")["indexes"]
    constraints_valid(url)
    assert service.run_status(ws, plan.id, db=url)["run"]["status"] == "completed"


def run_then_roll_back(ws, url, kind: Kind) -> None:
    """plan -> execute the reversible steps -> rollback: as before. A plan that is a point of no
    return from its first step on (drop index, backfill) runs, then its rollback is refused."""
    _prepare(url, kind)
    table = kind.kept[0][0][0]
    before_shape, before = shape(url, table), _digest(url, [b for b, _ in kind.kept])
    plan = plan_for(ws, url, kind.spec)
    reversible = [s for s in plan.steps if s.reversible]
    if not reversible:
        run(ws, plan, url, all_steps=True)
        with pytest.raises(ConflictError, match="point of no return"):
            run(ws, plan, url, mode="rollback", all_steps=True)
        return
    for s in reversible:
        run(ws, plan, url, step=s.id)
    out = run(ws, plan, url, mode="rollback", all_steps=True)
    assert [s["step"] for s in out["steps"]] == [s.id for s in reversed(reversible)]
    assert shape(url, table) == before_shape
    assert _digest(url, [b for b, _ in kind.kept]) == before
    constraints_valid(url)


def _kinds(names=None) -> list:
    return [pytest.param(k, id=k.name) for k in KINDS if names is None or k.name in names]


@pytest.mark.parametrize("kind", _kinds())
def test_postgres_every_kind_runs_to_the_contract_with_data_intact(ws, pg_url, kind):
    run_every_phase(ws, pg_url, kind)


@pytest.mark.parametrize("kind", _kinds())
def test_postgres_every_kind_rolls_back_to_the_table_it_found(ws, pg_url, kind):
    run_then_roll_back(ws, pg_url, kind)


@pytest.mark.parametrize("kind", _kinds(MYSQL_KINDS))
def test_mariadb_kinds_run_to_the_contract_and_roll_back(ws, mysql_url, kind):
    run_every_phase(ws, mysql_url, kind)
    with connect(mysql_url) as b:
        tables = [r[0] for r in b.query("SHOW FULL TABLES").rows]
        b.execute([f"DROP VIEW IF EXISTS {t}" for t in tables] + [
            f"DROP TABLE IF EXISTS {t}" for t in ("orders", "users", "accounts", "profiles")
        ] + ["DELETE FROM datamigration_steps", "DELETE FROM datamigration_runs",
             "DELETE FROM datamigration_checkpoints"])  # fmt: skip
    run_then_roll_back(Workspace.open(tempfile.mkdtemp()), mysql_url, kind)


@pytest.mark.parametrize("kind", _kinds(SQLITE_KINDS))
def test_sqlite_kinds_run_to_the_contract_and_roll_back(ws, tmp_path, kind):
    run_every_phase(ws, f"sqlite:///{tmp_path / 'a.db'}", kind)
    other = Workspace.open(str(tmp_path))
    run_then_roll_back(other, f"sqlite:///{tmp_path / 'b.db'}", kind)


def test_sqlite_rename_runs_to_the_contract_and_rolls_back(ws, tmp_path):
    expand_contract(ws, f"sqlite:///{tmp_path / 'a.db'}", RENAME, ["id", "email", "n"],
                    ["id", "email_address", "n"])  # fmt: skip
    after = shape(f"sqlite:///{tmp_path / 'a.db'}", "users")
    assert ("email_address", False) in after["columns"]  # the original, NOT NULL, renamed
    execute_then_rollback(Workspace.open(str(tmp_path)), f"sqlite:///{tmp_path / 'b.db'}", RENAME,
                          ["id", "email", "n"])  # fmt: skip
