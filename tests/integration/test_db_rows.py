"""The paths engines build on: execute (transactional or autocommit), keyset row pages, exact
counts and sizes, and clear connection errors, on every SQL backend."""

from __future__ import annotations

import pytest

from datamigration.db import connect
from datamigration.db.errors import ConnectionFailedError, TableNotFoundError, UnknownDatabaseError
from datamigration.errors import DatabaseError, UserInputError
from support import services

pytestmark = pytest.mark.integration

CREATE = {
    "postgres": "CREATE TABLE pairs (a int, b int, v text, PRIMARY KEY (a, b))",
    "mariadb": "CREATE TABLE pairs (a int, b int, v text, PRIMARY KEY (a, b))",
    "sqlite": "CREATE TABLE pairs (a INTEGER, b INTEGER, v TEXT, PRIMARY KEY (a, b))",
}


@pytest.fixture(params=["postgres", "mariadb", "sqlite"])
def db_url(request):
    fixture = {"postgres": "pg_url", "mariadb": "mysql_url", "sqlite": "sqlite_url"}
    url = request.getfixturevalue(fixture[request.param])
    values = ", ".join(f"({a}, {b}, 'v{a}-{b}')" for a in range(1, 8) for b in range(1, 4))
    with connect(url) as db:
        db.execute([CREATE[request.param], f"INSERT INTO pairs (a, b, v) VALUES {values}"])
    return url


def test_keyset_pages_cover_every_row_once_in_key_order(db_url):
    with connect(db_url) as db:
        batches = list(db.iter_rows("pairs", ["a", "b"], ["a", "b", "v"], batch_size=4))
    rows = [r for batch in batches for r in batch.rows]
    assert rows == [(a, b, f"v{a}-{b}") for a in range(1, 8) for b in range(1, 4)]
    assert [len(b.rows) for b in batches] == [4, 4, 4, 4, 4, 1]
    assert batches[0].last_key == (2, 1) and batches[0].columns == ("a", "b", "v")


def test_keyset_pages_resume_after_a_key_and_stop_at_an_end(db_url):
    with connect(db_url) as db:
        rows = [
            r
            for batch in db.iter_rows(
                "pairs", ["a", "b"], ["v"], batch_size=2, start_after=(3, 2), end_at=(4, 2)
            )
            for r in batch.rows
        ]
    assert rows == [("v3-3",), ("v4-1",), ("v4-2",)]


def test_a_failed_transaction_leaves_nothing_behind(db_url):
    with connect(db_url) as db:
        with pytest.raises(DatabaseError) as info:
            db.execute(["DELETE FROM pairs WHERE a = 1", "INSERT INTO no_such_table VALUES (1)"])
        assert info.value.data["executed"] == 1
        assert db.exact_count("pairs") == 21


def test_autocommit_keeps_the_statements_that_ran(db_url):
    with connect(db_url) as db:
        with pytest.raises(DatabaseError):
            db.execute(
                ["DELETE FROM pairs WHERE a = 1", "INSERT INTO no_such_table VALUES (1)"],
                autocommit=True,
            )
        assert db.exact_count("pairs") == 18


def test_one_door_takes_text_parameters_and_counts_and_returns_the_last_rows(db_url):
    with connect(db_url) as db:
        p = db.placeholder
        result = db.execute(
            [
                "DELETE FROM pairs WHERE a = 7",
                (f"UPDATE pairs SET v = {p} WHERE a = {p}", ("x", 6)),
                lambda counts: (f"SELECT count(*) FROM pairs WHERE v = {p}", (f"{counts[1]}",)),
            ],
            fetch_last=True,
        )
        assert result.rowcounts[:2] == (3, 3) and result.committed
        assert result.rows == ((0,),)
        assert db.fetch(f"SELECT count(*) FROM pairs WHERE v = {p}", ("x",)) == [(3,)]
        assert db.exact_count("pairs") == 18


def test_a_rolled_back_run_with_parameters_keeps_nothing(db_url):
    with connect(db_url) as db:
        p = db.placeholder
        result = db.execute([(f"DELETE FROM pairs WHERE a = {p}", (1,))], rollback=True)
        assert result.rowcounts == (3,) and not result.committed
        assert db.exact_count("pairs") == 21


def test_every_failure_names_the_statement_and_carries_what_ran_and_how_long(db_url):
    with connect(db_url) as db:
        for autocommit in (False, True):
            with pytest.raises(DatabaseError) as info:
                db.execute(
                    [("SELECT 1", ()), "INSERT INTO no_such_table VALUES (1)"],
                    autocommit=autocommit,
                )
            assert info.value.message.startswith("run statement 2 of 2 failed on ")
            assert info.value.data["executed"] == 1
            assert info.value.data["elapsed_ms"] >= 0


def test_a_rolled_back_run_refuses_statements_it_cannot_check_first(db_url):
    with connect(db_url) as db, pytest.raises(UserInputError, match="statement 1 is made"):
        db.execute([lambda counts: ("DELETE FROM pairs", ())], rollback=True)
    with connect(db_url) as db:
        assert db.exact_count("pairs") == 21


def test_exact_count_of_an_unknown_table_is_not_found(db_url):
    with connect(db_url) as db, pytest.raises(TableNotFoundError):
        db.exact_count("no_such_table")


def test_table_sizes_name_every_table(db_url):
    with connect(db_url) as db:
        sizes = db.table_sizes()
    assert any(name.endswith("pairs") for name in sizes)


def test_postgres_concurrent_index_runs_in_autocommit(pg_url):
    with connect(pg_url) as db:
        db.execute(["CREATE TABLE t (id int PRIMARY KEY, v int)"])
        db.execute(["CREATE INDEX CONCURRENTLY t_v ON t (v)"], autocommit=True)
        assert any(i.name == "t_v" and i.valid for i in db.inspect().table("t").indexes)


def test_an_unknown_postgres_database_suggests_the_nearest_name(pg_url):
    with pytest.raises(UnknownDatabaseError) as info:
        connect(pg_url + "x")
    assert pg_url.rpartition("/")[2] in info.value.hint


def test_an_unknown_mariadb_database_suggests_the_nearest_name(mysql_url):
    with pytest.raises(UnknownDatabaseError) as info:
        connect(mysql_url + "x")
    assert mysql_url.rpartition("/")[2] in info.value.hint


def test_a_missing_sqlite_file_suggests_the_nearest_name(sqlite_url):
    with connect(sqlite_url) as db:
        db.execute(["CREATE TABLE t (x)"])
    with (
        connect(sqlite_url.replace("test.db", "tset.db")) as db,
        pytest.raises(UnknownDatabaseError) as info,
    ):
        db.inspect()
    assert "test.db" in info.value.hint


@pytest.mark.parametrize("scheme", ["postgresql", "mysql"])
def test_an_unreachable_server_fails_fast_and_clearly(scheme):
    port = services.free_port()
    with pytest.raises(ConnectionFailedError) as info:
        connect(f"{scheme}://u:pw-zz9@127.0.0.1:{port}/db", connect_timeout=2)
    assert "pw-zz9" not in str(info.value) and "***" in str(info.value)
