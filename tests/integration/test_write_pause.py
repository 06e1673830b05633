"""The write pause a cutover holds (`Backend.pause_writes`), on each SQL database: inside it
another session still reads but cannot write; after it the write goes through; a pause that
cannot take its lock in time gives up instead of waiting."""

from __future__ import annotations

import sqlite3

import psycopg
import pymysql
import pytest

from datamigration.db import connect
from datamigration.db.errors import UnsupportedOperationError
from datamigration.errors import DatabaseError

pytestmark = pytest.mark.integration


def _pg(url: str) -> psycopg.Connection:
    return psycopg.connect(url, autocommit=True)


def test_postgres_pause_lets_reads_through_and_blocks_writes_until_it_ends(pg_url: str) -> None:
    other = _pg(pg_url)
    other.execute("CREATE TABLE paused_t (id int PRIMARY KEY)")
    other.execute("INSERT INTO paused_t VALUES (1)")
    other.execute("SET lock_timeout = '200ms'")
    with connect(pg_url) as backend:
        with backend.pause_writes(["paused_t"], 500) as held:
            assert held["method"] == "lock"
            assert other.execute("SELECT count(*) FROM paused_t").fetchone() == (1,)
            with pytest.raises(psycopg.errors.LockNotAvailable):
                other.execute("INSERT INTO paused_t VALUES (2)")
        other.execute("INSERT INTO paused_t VALUES (3)")
    assert other.execute("SELECT array_agg(id ORDER BY id) FROM paused_t").fetchone() == ([1, 3],)


def test_postgres_pause_gives_up_when_a_long_transaction_holds_the_table(pg_url: str) -> None:
    holder = psycopg.connect(pg_url)
    holder.execute("CREATE TABLE held_t (id int PRIMARY KEY)")
    holder.commit()
    holder.execute("LOCK TABLE held_t IN ROW EXCLUSIVE MODE")  # a writer mid-transaction
    with connect(pg_url) as backend:
        with (
            pytest.raises(DatabaseError, match="lock timeout"),
            backend.pause_writes(["held_t"], 100),
        ):
            pass
        holder.rollback()
        with backend.pause_writes(["held_t"], 100) as held:  # the session is usable again
            assert held["lock"].startswith("EXCLUSIVE")
    holder.close()


def test_mysql_pause_lets_reads_through_and_blocks_writes_until_it_ends(mysql_url: str) -> None:
    from datamigration.db.urls import resolve

    u = resolve(mysql_url)
    other = pymysql.connect(host=u.host, port=u.port or 3306, user=u.username or "root", password="",
                            database=u.database, autocommit=True)  # fmt: skip
    with other.cursor() as cur:
        cur.execute("CREATE TABLE paused_t (id int PRIMARY KEY) ENGINE=InnoDB")
        cur.execute("INSERT INTO paused_t VALUES (1)")
        cur.execute("SET SESSION lock_wait_timeout = 1")
    with connect(mysql_url) as backend:
        with backend.pause_writes(["paused_t"], 500), other.cursor() as cur:
            cur.execute("SELECT count(*) FROM paused_t")
            assert cur.fetchone() == (1,)
            with pytest.raises(pymysql.err.OperationalError):
                cur.execute("INSERT INTO paused_t VALUES (2)")
        with other.cursor() as cur:
            cur.execute("INSERT INTO paused_t VALUES (3)")
            cur.execute("SELECT id FROM paused_t ORDER BY id")
            assert [r[0] for r in cur.fetchall()] == [1, 3]
    other.close()


def test_sqlite_pause_holds_the_file_against_writers_and_not_readers(sqlite_url: str) -> None:
    with connect(sqlite_url) as backend:
        backend.execute(["CREATE TABLE paused_t (id integer PRIMARY KEY)",
                         "INSERT INTO paused_t VALUES (1)"])  # fmt: skip
        path = backend.url.database
        other = sqlite3.connect(path, timeout=0.1, isolation_level=None)
        with backend.pause_writes(["paused_t"], 200):
            assert other.execute("SELECT count(*) FROM paused_t").fetchone() == (1,)
            with pytest.raises(sqlite3.OperationalError, match="locked"):
                other.execute("INSERT INTO paused_t VALUES (2)")
        other.execute("INSERT INTO paused_t VALUES (3)")
        assert [r[0] for r in other.execute("SELECT id FROM paused_t ORDER BY id")] == [1, 3]
        other.close()


def test_mongodb_has_no_write_pause_and_says_to_use_the_flag(mongo_url: str) -> None:
    with connect(mongo_url) as backend, pytest.raises(UnsupportedOperationError, match="flag"):
        backend.pause_writes(["users"], 100)
