"""Rolled-back runs: statements executed for real in one transaction that always ends in ROLLBACK.

The planner times a sample backfill batch this way on the real table; afterwards the table must
be exactly as before, on every SQL backend, and a sample that cannot get its locks in time must
fail within the lock timeout instead of waiting or committing.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator

import pytest

from datamigration.db import connect
from datamigration.errors import DatabaseError, UserInputError
from datamigration.plan.estimate import DEFAULT_ROWS_PER_SECOND, measure_rate

pytestmark = pytest.mark.integration

CREATE = {
    "postgres": "CREATE TABLE pairs (a int, b int, v text, PRIMARY KEY (a, b))",
    "mariadb": "CREATE TABLE pairs (a int, b int, v text, PRIMARY KEY (a, b)) ENGINE=InnoDB",
    "sqlite": "CREATE TABLE pairs (a INTEGER, b INTEGER, v TEXT, PRIMARY KEY (a, b))",
}
ROWS = [(a, b, f"v{a}-{b}") for a in range(1, 101) for b in range(1, 4)]


@pytest.fixture(params=["postgres", "mariadb", "sqlite"])
def db(request) -> tuple[str, str]:
    fixture = {"postgres": "pg_url", "mariadb": "mysql_url", "sqlite": "sqlite_url"}
    url = request.getfixturevalue(fixture[request.param])
    values = ", ".join(f"({a}, {b}, '{v}')" for a, b, v in ROWS)
    with connect(url) as backend:
        backend.execute([CREATE[request.param], f"INSERT INTO pairs (a, b, v) VALUES {values}"])
    return request.param, url


def contents(url: str) -> list[tuple]:
    with connect(url) as backend:
        pages = backend.iter_rows("pairs", ["a", "b"], ["a", "b", "v"], batch_size=1000)
        return [tuple(row) for page in pages for row in page.rows]


def test_a_measured_update_and_delete_take_time_and_leave_the_table_as_it_was(db):
    _, url = db
    before = contents(url)
    assert len(before) == len(ROWS)
    with connect(url) as backend:
        seconds = backend.measure_in_rolled_back_transaction(
            ["UPDATE pairs SET v = 'changed' WHERE a <= 50", "DELETE FROM pairs WHERE a > 90"]
        )
        result = backend.execute(["UPDATE pairs SET v = 'again'"], rollback=True)
    assert 0 < seconds < 10
    assert result.committed is False and result.rowcounts == (len(ROWS),)
    assert contents(url) == before


def test_a_rolled_back_run_that_fails_midway_also_leaves_nothing(db):
    _, url = db
    before = contents(url)
    with connect(url) as backend, pytest.raises(DatabaseError) as info:
        backend.measure_in_rolled_back_transaction(
            ["DELETE FROM pairs WHERE a = 1", "INSERT INTO no_such_table VALUES (1)"]
        )
    assert info.value.data["executed"] == 1
    assert contents(url) == before


def test_transaction_control_and_autocommit_are_refused_before_anything_runs(db):
    _, url = db
    before = contents(url)
    with connect(url) as backend:
        for statements in (
            ["DELETE FROM pairs", "COMMIT"],
            ["DELETE FROM pairs", " /* note */ commit"],
            ["DELETE FROM pairs", "SET autocommit = 1"],
        ):
            with pytest.raises(UserInputError) as info:
                backend.measure_in_rolled_back_transaction(statements)
            assert "statement 2" in str(info.value)
        with pytest.raises(UserInputError):
            backend.execute(["DELETE FROM pairs"], autocommit=True, rollback=True)
    assert contents(url) == before


def test_ddl_is_rolled_back_where_ddl_is_transactional_and_refused_where_it_commits(db):
    _, url = db
    with connect(url) as backend:
        statements = ["ALTER TABLE pairs ADD COLUMN extra int", "UPDATE pairs SET v = 'x'"]
        if backend.transactional_ddl:
            backend.measure_in_rolled_back_transaction(statements)
        else:
            with pytest.raises(UserInputError) as info:
                backend.measure_in_rolled_back_transaction(statements)
            assert "commits DDL implicitly" in str(info.value)
        columns = [c.name for c in backend.inspect(tables=["pairs"]).table("pairs").columns]
    assert columns == ["a", "b", "v"]
    assert contents(url) == [tuple(r) for r in ROWS]


@contextlib.contextmanager
def row_lock_held(kind: str, url: str) -> Iterator[None]:
    """Another session holds a write lock on the rows of a = 1 until the block ends."""
    holder = connect(url)
    conn = holder.conn
    try:
        if kind == "postgres":
            conn.execute("BEGIN")
            conn.execute("UPDATE pairs SET v = v WHERE a = 1")
        elif kind == "mariadb":
            with conn.cursor() as cur:
                cur.execute("START TRANSACTION")
                cur.execute("UPDATE pairs SET v = v WHERE a = 1")
        else:
            conn.execute("BEGIN IMMEDIATE")  # SQLite: one writer for the whole file
        yield
    finally:
        conn.rollback() if kind != "postgres" else conn.execute("ROLLBACK")
        holder.close()


def test_a_measurement_blocked_by_a_lock_gives_up_within_the_lock_timeout(db):
    kind, url = db
    before = contents(url)
    with row_lock_held(kind, url), connect(url) as backend:
        started = time.perf_counter()
        with pytest.raises(DatabaseError) as info:
            backend.measure_in_rolled_back_transaction(
                ["UPDATE pairs SET v = 'x' WHERE a <= 2"], lock_timeout_ms=200, timeout_ms=5000
            )
        waited = time.perf_counter() - started
    # MariaDB counts lock waits in whole seconds (at least 1); the others honour 200 ms.
    assert waited < (3.0 if kind == "mariadb" else 2.0)
    assert "lock" in str(info.value).lower()
    assert contents(url) == before


def test_the_planner_measures_the_backfill_rate_without_changing_the_table(db):
    kind, url = db
    before = contents(url)
    with connect(url) as backend:
        rate = measure_rate(backend, "pairs", ("a",), len(ROWS))
    assert rate.source.startswith("measured:") and "rolled back" in rate.source
    assert rate.rows_per_second > 0
    assert contents(url) == before
    with row_lock_held(kind, url), connect(url) as backend:
        busy = measure_rate(backend, "pairs", ("a",), len(ROWS))
    assert busy.rows_per_second == DEFAULT_ROWS_PER_SECOND
    assert busy.source.startswith("default:") and "could not run" in busy.source
    assert contents(url) == before


def test_mariadb_says_when_a_rollback_could_not_undo_a_non_transactional_table(mysql_url):
    with connect(mysql_url) as backend:
        backend.execute(
            ["CREATE TABLE plain (id int PRIMARY KEY, v int) ENGINE=MyISAM",
             "INSERT INTO plain VALUES (1, 1), (2, 2)"]
        )  # fmt: skip
        with pytest.raises(DatabaseError) as info:
            backend.measure_in_rolled_back_transaction(["UPDATE plain SET v = v + 10"])
        assert "non-transactional" in str(info.value) and "kept" in str(info.value)
