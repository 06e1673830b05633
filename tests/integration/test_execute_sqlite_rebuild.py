"""SQLite table rebuild on a real database file: set_not_null, add_check, add_foreign_key and
change_type (TEXT -> INTEGER, bound by a typeof CHECK), each planned by the planner and run by the
executor through the service the CLI and MCP tools call.

Per kind: plan -> execute -> validate -> contract, and plan -> execute -> rollback after each
step, with the data digest equal before and after (test_execute_kinds.table_digest), the new
constraint enforced afterwards, ``PRAGMA integrity_check`` ok and ``PRAGMA foreign_key_check``
empty. Writes from another connection between the expand and the swap (and after the swap,
before a rollback) are all there at the end; a row the new shape refuses stops the copy with
its key named and nothing swapped.
"""

from __future__ import annotations

import re
import sqlite3
from pathlib import Path

import pytest
from tests.integration.test_execute_kinds import table_digest

from datamigration.db import connect
from datamigration.errors import DataMigrationError
from datamigration.execute import service
from datamigration.execute.runner import RunOptions
from datamigration.plan.planner import Measured, build_plan
from datamigration.plan.spec import parse_spec
from datamigration.plan.store import save_plan
from datamigration.workspace.root import Workspace

pytestmark = pytest.mark.integration

ROWS = 2_500
BATCH = 400  # several keyset batches
COLUMNS = ["id", "email", "n", "code", "team_id"]

SEED = f"""
CREATE TABLE teams (id INTEGER PRIMARY KEY, name TEXT);
INSERT INTO teams VALUES (1, 'a'), (2, 'b'), (3, 'c');
CREATE TABLE users (
  id INTEGER PRIMARY KEY,
  email TEXT NOT NULL UNIQUE,
  n integer,          -- kept as written: no type rewriting
  code TEXT,
  team_id INTEGER
);
CREATE INDEX users_n_idx ON users (n DESC);
CREATE TABLE orders (id INTEGER PRIMARY KEY, user_id INTEGER REFERENCES users (id));
CREATE TABLE audit (user_id INTEGER);
CREATE TRIGGER users_audit AFTER INSERT ON users BEGIN INSERT INTO audit VALUES (NEW.id); END;
CREATE VIEW big_users AS SELECT id, email FROM users WHERE n > 100;
WITH RECURSIVE g(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM g WHERE x < {ROWS})
INSERT INTO users (id, email, n, code, team_id)
SELECT x, 'u' || x || '@x', x, CAST(x AS TEXT), x % 3 + 1 FROM g;
INSERT INTO orders (id, user_id) SELECT id, id FROM users WHERE id <= 500;
"""

NOT_NULL = {"kind": "set_not_null", "table": "users", "column": "n"}
CHECK = {"kind": "add_check", "table": "users", "expression": "n > 0", "name": "users_n_positive"}
FOREIGN_KEY = {"kind": "add_foreign_key", "table": "users", "columns": ["team_id"],
               "ref_table": "teams", "ref_columns": ["id"]}  # fmt: skip
CHANGE_TYPE = {"kind": "change_type", "table": "users", "column": "code", "type": "INTEGER"}

#: (spec, an INSERT the new shape refuses, a row the copy refuses: (id, column, value))
CASES = {
    "set_not_null": (NOT_NULL, "INSERT INTO users (id, email, n) VALUES (-1, 'z', NULL)",
                     ("n", None)),
    "add_check": (CHECK, "INSERT INTO users (id, email, n) VALUES (-1, 'z', -5)", ("n", -5)),
    "add_foreign_key": (FOREIGN_KEY, ("INSERT INTO users (id, email, n, team_id) "
                                      "VALUES (-1, 'z', 1, 99)"), ("team_id", 99)),
    "change_type": (CHANGE_TYPE, ("INSERT INTO users (id, email, n, code) "
                                  "VALUES (-1, 'z', 1, 'abc')"), ("code", "x12")),
}  # fmt: skip


@pytest.fixture
def db(tmp_path: Path) -> tuple[Workspace, str, Path]:
    path = tmp_path / "app.db"
    with sqlite3.connect(path) as conn:
        conn.executescript(SEED)
    root = tmp_path / "ws"
    root.mkdir()
    return Workspace.open(str(root)), f"sqlite:///{path}", path


def plan_for(ws: Workspace, url: str, spec: dict):
    with connect(url, ws) as b:
        schema = b.inspect()
    plan = build_plan(parse_spec(spec), schema, database=url,
                      measured=Measured({"users": ROWS}, {}, 50_000.0, "test"))  # fmt: skip
    save_plan(ws, plan)
    return plan


def run(ws: Workspace, plan, url: str, mode: str = "execute", **kw):
    prepared = service.prepare(ws, plan.id, plan.hash, mode=mode, db=url,
                               options=RunOptions(batch_size=BATCH), **kw)  # fmt: skip
    return service.jsonable_result(prepared.run())


def other(path: Path) -> sqlite3.Connection:
    """Another application connection (foreign keys on, as the application would have them)."""
    conn = sqlite3.connect(path, isolation_level=None, timeout=5)
    conn.execute("PRAGMA foreign_keys = ON")
    return conn


def schema_text(path: Path) -> list[tuple[str, str, str]]:
    """The user schema as sqlite_master keeps it; quotes and the space before "(" dropped, as
    a rename re-spells the table name (``users`` comes back as ``"users"``)."""
    with sqlite3.connect(path) as conn:
        rows = conn.execute(
            "SELECT type, name, sql FROM sqlite_master WHERE name NOT LIKE 'datamigration%' "
            "AND sql IS NOT NULL ORDER BY type, name"
        ).fetchall()
    return [(t, n, re.sub(r"\s*\(", "(", s.replace('"', ""))) for t, n, s in rows]


def healthy(path: Path) -> None:
    with sqlite3.connect(path) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
        assert conn.execute("PRAGMA foreign_key_check").fetchall() == []
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master")}
    return tables


def application_writes(path: Path, start: int) -> None:
    """Inserts, updates (one moves a key) and deletes, as the application makes them."""
    with other(path) as conn:
        conn.execute(f"INSERT INTO users (id, email, n, code, team_id) VALUES "
                     f"({start}, 'w{start}@x', 7, '7', 2), ({start + 1}, 'w{start + 1}@x', 8, "
                     f"'8', 3)")  # fmt: skip
        conn.execute(f"UPDATE users SET email = 'changed{start}-' || id, n = n + 1000 "
                     f"WHERE id IN (2, {ROWS - 1})")  # fmt: skip
        conn.execute(f"UPDATE users SET id = {start + 2} WHERE id = {ROWS - 3}")
        conn.execute(f"DELETE FROM users WHERE id IN (600, {ROWS - 2})")


@pytest.mark.parametrize("name", list(CASES))
def test_sqlite_rebuild_runs_to_the_contract_with_data_intact_and_the_constraint_enforced(db, name):
    ws, url, path = db
    spec, refused, _ = CASES[name]
    plan = plan_for(ws, url, spec)
    assert [p.name for p in plan.phases] == ["expand", "migrate", "switch", "contract"]
    assert not [w for w in plan.warnings if w.startswith("planner check")], plan.warnings
    run(ws, plan, url, phase="expand")
    application_writes(path, 10_000)  # before the copy: the triggers carry them
    run(ws, plan, url, phase="migrate")
    application_writes(path, 20_000)  # between the copy and the swap
    before = table_digest(url, "users", COLUMNS)
    audit_before = _count(path, "audit")
    run(ws, plan, url, phase="switch")
    assert table_digest(url, "users", COLUMNS) == before
    out = run(ws, plan, url, phase="contract")
    assert out["remaining"] == []
    fv = out["final_validation"]
    assert fv["ran"] and fv["passed"] and not fv.get("error"), fv
    assert table_digest(url, "users", COLUMNS) == before
    assert {"users__dm_new", "users__dm_old"}.isdisjoint(healthy(path))
    with other(path) as conn:
        with pytest.raises(sqlite3.IntegrityError):
            conn.execute(refused)
        conn.execute("INSERT INTO users (id, email, n, code, team_id) VALUES (-2, 'ok', 1, 1, 1)")
        indexes = {r[0] for r in conn.execute("SELECT name FROM pragma_index_list('users')")}
        view = conn.execute("SELECT count(*) FROM big_users").fetchone()[0]
    assert "users_n_idx" in indexes and not any(i.endswith("_dm_new") for i in indexes)
    assert _count(path, "audit") == audit_before + 1  # the table's trigger moved, fires once
    assert view > 0  # the view still reads the table under its name
    with sqlite3.connect(path) as conn:  # orders still references users, not users__dm_old
        ddl = conn.execute("SELECT sql FROM sqlite_master WHERE name = 'orders'").fetchone()[0]
    assert "REFERENCES users (id)" in ddl
    if name == "change_type":
        with sqlite3.connect(path) as conn:
            kinds = conn.execute("SELECT DISTINCT typeof(code) FROM users").fetchall()
        assert kinds == [("integer",)]


@pytest.mark.parametrize("name", list(CASES))
@pytest.mark.parametrize("upto", [1, 2, 3], ids=["expand", "copy", "swap"])
def test_sqlite_rebuild_rolls_back_to_the_table_it_found_from_any_step(db, name, upto):
    ws, url, path = db
    spec, _, _ = CASES[name]
    shape = schema_text(path)
    plan = plan_for(ws, url, spec)
    steps = [s for s in plan.steps if s.reversible][:upto]
    for s in steps:
        run(ws, plan, url, step=s.id)
    application_writes(path, 30_000)  # after the swap these reach the old table backwards
    expected = table_digest(url, "users", COLUMNS)
    out = run(ws, plan, url, mode="rollback", all_steps=True)
    assert [s["step"] for s in out["steps"]] == [s.id for s in reversed(steps)]
    assert schema_text(path) == shape
    assert table_digest(url, "users", COLUMNS) == expected
    assert {"users__dm_new", "users__dm_old"}.isdisjoint(healthy(path))
    assert service.run_status(ws, plan.id, db=url)["run"]["status"] == "rolled_back"


@pytest.mark.parametrize("name", list(CASES))
def test_a_row_the_new_shape_refuses_stops_the_copy_naming_its_key_and_nothing_is_swapped(db, name):
    ws, url, path = db
    spec, _, (column, value) = CASES[name]
    with other(path) as conn:
        conn.execute("PRAGMA foreign_keys = OFF")  # an orphan from before the constraint
        conn.execute(f"UPDATE users SET {column} = ? WHERE id = 1234", (value,))
    shape = schema_text(path)
    before = table_digest(url, "users", COLUMNS)
    plan = plan_for(ws, url, spec)
    run(ws, plan, url, phase="expand")
    with pytest.raises(DataMigrationError) as caught:
        run(ws, plan, url, phase="migrate")
    assert "id=1234" in caught.value.message, caught.value.message
    assert caught.value.data["keys"] == [[1234]]
    with pytest.raises(DataMigrationError, match="not done"):
        run(ws, plan, url, phase="switch")  # the swap waits for the whole copy
    assert table_digest(url, "users", COLUMNS) == before
    assert "users__dm_old" not in healthy(path)
    # fixed at the source, the row reaches the new table through the triggers; the copy resumes
    with other(path) as conn:
        conn.execute(f"UPDATE users SET {column} = 2 WHERE id = 1234")
    run(ws, plan, url, phase="migrate")
    run(ws, plan, url, phase="switch")
    run(ws, plan, url, mode="rollback", all_steps=True)
    assert schema_text(path) == shape


def _count(path: Path, table: str) -> int:
    with sqlite3.connect(path) as conn:
        return conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0]


class Stop(Exception):
    pass


def test_an_interrupted_copy_resumes_after_its_last_committed_batch(db):
    ws, url, path = db
    plan = plan_for(ws, url, NOT_NULL)
    copy = plan.phase("migrate").steps[0]
    run(ws, plan, url, phase="expand")

    def stop_after_two(event, data):
        if event == "batch" and data["batch"] == 2:
            raise Stop

    with pytest.raises(Stop):
        service.prepare(ws, plan.id, plan.hash, db=url, step=copy.id,
                        options=RunOptions(batch_size=BATCH, progress=stop_after_two,
                                           safety={"latency_budget_ratio": False})).run()  # fmt: skip
    assert _count(path, "users__dm_new") == 2 * BATCH  # exactly the committed batches
    out = run(ws, plan, url, step=copy.id)
    done = next(o for o in out["steps"][0]["operations"] if "rows" in o)
    assert done["resumed_from"] == [2 * BATCH] and done["rows"] == ROWS - 2 * BATCH
    assert table_digest(url, "users__dm_new", COLUMNS) == table_digest(url, "users", COLUMNS)
