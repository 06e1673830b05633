"""The planner's guards on real databases (issue 10, items 2, 17 and 20).

* A spec expression carrying a second statement is refused while planning, on PostgreSQL,
  MariaDB, SQLite and MongoDB: the `audit` table (collection) is unchanged, row for row, and
  nothing was written or run (no plan file, no state table).
* set_not_null without `fill` counts the NULLs on the live database and refuses; when a NULL
  arrives after planning, the failed VALIDATE leaves no NOT VALID CHECK behind.
* A statement blocked by a held lock makes exactly the attempts the plan states.
"""

from __future__ import annotations

import json
from pathlib import Path

import psycopg
import pytest

from datamigration.db import connect
from datamigration.errors import DataMigrationError, LockTimeoutError, UserInputError
from datamigration.execute import service
from datamigration.execute.retry import Backoff
from datamigration.execute.runner import RunOptions
from datamigration.plan.expressions import UnsafeExpressionError
from datamigration.plan.planner import plan_migration
from datamigration.plan.spec import parse_spec
from datamigration.workspace.root import Workspace

pytestmark = pytest.mark.integration

ISSUE_FILL = "'x' WHERE false; DROP TABLE audit; SELECT 1 FROM small"


@pytest.fixture
def ws(workspace_dir: Path) -> Workspace:
    return Workspace.open(str(workspace_dir))


def seed_sql(url: str) -> None:
    """`small` with a NULL to fill, and `audit`, the table the attack drops."""
    with connect(url) as b:
        b.execute(
            [
                "CREATE TABLE small (id integer PRIMARY KEY, full_name varchar(50))",
                "INSERT INTO small VALUES (1, 'a'), (2, NULL), (3, 'c')",
                "CREATE TABLE audit (id integer PRIMARY KEY, what varchar(50))",
                "INSERT INTO audit VALUES (1, 'created'), (2, 'updated')",
            ],
            autocommit=True,
        )


def contents(url: str, table: str) -> list[tuple]:
    """Every row of `table` (an exception if the table is gone)."""
    with connect(url) as b:
        return [tuple(r) for r in b.fetch(f"SELECT * FROM {table} ORDER BY id")]


def nothing_written(ws: Workspace) -> bool:
    return not any(ws.state_dir.rglob("*.json")) and not (ws.docs_dir / "migrations").exists()


@pytest.mark.parametrize("db", ["pg_url", "mysql_url", "sqlite_url"])
@pytest.mark.parametrize(
    "spec",
    [
        {"kind": "set_not_null", "table": "small", "column": "full_name", "fill": ISSUE_FILL},
        {"kind": "set_not_null", "table": "small", "column": "full_name",
         "fill": "'x') , full_name = (NULL"},
        {"kind": "backfill", "table": "small", "set": {"full_name": "'x'"},
         "where": "true) OR (1 = 1"},
        {"kind": "add_check", "table": "small", "expression": "true) NOT VALID; DROP TABLE audit"},
        {"kind": "add_column", "table": "small", "column": "z",
         "type": "text; DROP TABLE audit"},
    ],
)  # fmt: skip
def test_refuses_a_statement_hidden_in_a_spec_and_leaves_audit_untouched(ws, request, db, spec):
    url = request.getfixturevalue(db)
    seed_sql(url)
    audit, small = contents(url, "audit"), contents(url, "small")
    with pytest.raises(UnsafeExpressionError) as err:
        plan_migration(ws, parse_spec(spec), url)
    assert "nothing was planned" in err.value.message and err.value.hint
    assert contents(url, "audit") == audit and contents(url, "small") == small
    assert nothing_written(ws)


def test_refuses_a_where_operator_in_a_mongodb_spec_and_leaves_audit_untouched(ws, mongo_url):
    import pymongo

    client = pymongo.MongoClient(mongo_url)
    db = client.get_default_database()
    db.users.insert_many([{"_id": i, "age": str(i)} for i in range(5)])
    db.audit.insert_many([{"_id": 1, "what": "created"}])
    spec = {"kind": "backfill", "table": "users", "set": {"age": json.dumps({"$toInt": "$age"})},
            "where": json.dumps({"$where": "db.audit.drop() || true"})}  # fmt: skip
    try:
        with pytest.raises(UnsafeExpressionError):
            plan_migration(ws, parse_spec(spec), mongo_url)
        assert list(db.audit.find()) == [{"_id": 1, "what": "created"}]
        assert sorted(d["age"] for d in db.users.find()) == ["0", "1", "2", "3", "4"]
        assert nothing_written(ws)
    finally:
        client.drop_database(db.name)
        client.close()


def test_refuses_set_not_null_without_fill_naming_the_null_rows(ws, pg_url):
    seed_sql(pg_url)
    spec = {"kind": "set_not_null", "table": "small", "column": "full_name"}
    with pytest.raises(UserInputError) as err:
        plan_migration(ws, parse_spec(spec), pg_url)
    assert "small.full_name has 1 NULL row(s)" in err.value.message
    assert '"fill"' in (err.value.hint or "") and "plan_migration" in (err.value.hint or "")
    assert nothing_written(ws)
    # with a fill, the plan fills first and is marked a point of no return
    plan = plan_migration(ws, parse_spec({**spec, "fill": "'unknown'"}), pg_url).plan
    assert plan.steps[0].title == "Fill NULLs in full_name" and not plan.steps[0].reversible


def run(ws: Workspace, plan, url: str, options: RunOptions | None = None, **kw):
    options = options or RunOptions(sleep=lambda s: None, finish_story=False, announce=False)
    return service.prepare(ws, plan.id, plan.hash, mode="execute", db=url, options=options,
                           **kw).run()  # fmt: skip


def test_a_failed_validate_leaves_no_check_that_rejects_null_inserts(ws, pg_url):
    seed_sql(pg_url)
    with psycopg.connect(pg_url, autocommit=True) as c:
        c.execute("UPDATE small SET full_name = 'b' WHERE id = 2")
    spec = {"kind": "set_not_null", "table": "small", "column": "full_name"}
    plan = plan_migration(ws, parse_spec(spec), pg_url).plan
    with psycopg.connect(pg_url, autocommit=True) as c:
        c.execute("INSERT INTO small VALUES (4, NULL)")  # arrives after planning
    with pytest.raises(DataMigrationError) as err:
        run(ws, plan, pg_url, all_steps=True)
    assert "were undone" in err.value.message and "drop small_full_name_not_null" in (
        err.value.message
    )
    with psycopg.connect(pg_url, autocommit=True) as c:
        assert c.execute(
            "SELECT count(*) FROM pg_constraint WHERE conrelid = 'small'::regclass AND contype = 'c'"
        ).fetchone() == (0,)
        c.execute("INSERT INTO small VALUES (5, NULL)")  # the application's NULL insert works
        assert c.execute("SELECT count(*) FROM small WHERE full_name IS NULL").fetchone() == (2,)


def test_a_statement_blocked_by_a_held_lock_makes_the_attempts_the_plan_states(ws, pg_url):
    seed_sql(pg_url)
    spec = {"kind": "add_check", "table": "small", "expression": "id > 0",
            "lock_timeout_ms": 100}  # fmt: skip
    plan = plan_migration(ws, parse_spec(spec), pg_url).plan
    stated = plan.steps[0].monitoring["lock_retries"]
    assert stated["attempts"] == plan.steps[0].operations[0].retries + 1 == 7
    assert stated["lock_timeout_ms_per_attempt"] == [50, 100, 100, 100, 100, 100, 100]
    holder = psycopg.connect(pg_url)
    holder.execute("LOCK TABLE small IN ACCESS EXCLUSIVE MODE")
    pauses: list[float] = []
    options = RunOptions(sleep=pauses.append, backoff=Backoff(), finish_story=False,
                         announce=False)  # fmt: skip
    try:
        with pytest.raises(LockTimeoutError) as err:
            run(ws, plan, pg_url, options, step="s01")
    finally:
        holder.rollback()
        holder.close()
    assert err.value.data["attempts"] == stated["attempts"]
    assert len(pauses) == stated["retries"]
    waited = sum(pauses) + sum(stated["lock_timeout_ms_per_attempt"]) / 1000.0
    assert waited <= stated["max_wait_seconds"]
    # nothing was added while the lock was held
    with psycopg.connect(pg_url) as c:
        assert c.execute(
            "SELECT count(*) FROM pg_constraint WHERE conrelid = 'small'::regclass AND contype = 'c'"
        ).fetchone() == (0,)
