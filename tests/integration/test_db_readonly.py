"""The read-only query path on real PostgreSQL, MariaDB and SQLite: every attack is refused
with a clear error and the data is byte-for-byte what it was; real read queries still work."""

from __future__ import annotations

import hashlib
import os
import sqlite3
from pathlib import Path
from urllib.parse import urlsplit

import psycopg
import pymysql
import pytest

from datamigration.db import connect
from datamigration.db.errors import QueryTimeoutError
from datamigration.db.postgres import query as pg_query
from datamigration.db.postgres.guard import ReadShape
from datamigration.errors import DatabaseError, ReadOnlyViolationError
from support.pgcheck import pg_fingerprint

pytestmark = pytest.mark.integration

PG_SETUP = """
CREATE TABLE t (id int PRIMARY KEY, v text NOT NULL);
INSERT INTO t SELECT g, 'value ' || g FROM generate_series(1, 50) g;
CREATE SEQUENCE s;
CREATE TABLE audit (id serial PRIMARY KEY, at timestamptz DEFAULT now());
CREATE FUNCTION side_effect() RETURNS int LANGUAGE plpgsql AS
  $$ BEGIN INSERT INTO audit DEFAULT VALUES; RETURN 1; END $$;
CREATE PROCEDURE p() LANGUAGE sql AS $$ DELETE FROM t $$;
"""

PG_ATTACKS = [
    "COMMIT; DROP TABLE t",
    "ROLLBACK; DELETE FROM t",
    "/* a harmless comment; */ SELECT 1; -- trailing\nDELETE FROM t",
    "SELECT 1 /* ; */ ; DELETE FROM t",
    "WITH d AS (DELETE FROM t RETURNING *) SELECT * FROM d",
    "SET TRANSACTION READ WRITE",
    "SET default_transaction_read_only = off",
    "SELECT pg_terminate_backend({victim})",
    "SELECT set_config('role', 'postgres', true), pg_terminate_backend({victim})",
    "COPY t TO PROGRAM 'touch {marker}'",
    "SELECT lo_import('/etc/passwd')",
    "SELECT * INTO t2 FROM t",
    "CALL p()",
    "DO $$ BEGIN DELETE FROM t; END $$",
    "SELECT nextval('s')",
    "SELECT side_effect()",
    "COMMIT",
    "UPDATE t SET v = 'changed'",
    "DROP TABLE t",
    "DEALLOCATE ALL",
]


@pytest.fixture
def pg_db(pg_url):
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute(PG_SETUP)
    return pg_url


@pytest.fixture
def victim(pg_db):
    """Another session on the same server: it must survive every attack."""
    conn = psycopg.connect(pg_db, autocommit=True)
    yield conn
    conn.close()


@pytest.mark.parametrize("attack", PG_ATTACKS)
def test_postgres_refuses_the_attack_and_leaves_the_data_unchanged(pg_db, victim, attack, tmp_path):
    marker = tmp_path / "copied"
    sql = attack.format(victim=victim.info.backend_pid, marker=marker)
    before = pg_fingerprint(pg_db)
    with connect(pg_db) as db, pytest.raises(DatabaseError) as info:
        db.query(sql)
    assert "refused" in str(info.value) or "failed" in str(info.value)
    assert isinstance(info.value, ReadOnlyViolationError), info.value
    assert pg_fingerprint(pg_db) == before
    assert victim.execute("SELECT 1").fetchone() == (1,)
    assert not marker.exists()


@pytest.mark.parametrize("kind", ["select", "explain"])
def test_without_the_parser_guard_the_server_still_stops_stacked_statements_and_says_it_ran(
    pg_db, monkeypatch, kind
):
    """Defence in depth: a server-side cursor (SELECT) and the extended protocol (EXPLAIN,
    SHOW) each take one statement; the error says the statement was sent, not "refused"."""
    monkeypatch.setattr(pg_query, "check_read", lambda sql: ReadShape(kind=kind))
    before = pg_fingerprint(pg_db)
    with connect(pg_db) as db, pytest.raises(DatabaseError) as info:
        db.query("COMMIT; DROP TABLE t")
    assert info.value.data["sent"] is True and "refused" not in str(info.value)
    assert pg_fingerprint(pg_db) == before


@pytest.mark.parametrize(
    "sql",
    [
        "WITH x AS (SELECT id, v FROM t WHERE id < 10) SELECT count(*) FROM x",
        "SELECT id, sum(id) OVER (ORDER BY id ROWS 2 PRECEDING) FROM t ORDER BY id",
        "SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY id) FROM t",
        "SELECT * FROM (SELECT id FROM t WHERE id IN (SELECT id FROM t WHERE id % 2 = 0)) s",
        (
            "WITH RECURSIVE r(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM r WHERE n < 5) "
            "SELECT sum(n) FROM r"
        ),
        "SHOW server_version",
        "EXPLAIN SELECT * FROM t",
        "SELECT '50%' AS pct, v FROM t WHERE v LIKE 'value 1%' ORDER BY id LIMIT 1",
    ],
)
def test_postgres_runs_real_read_queries(pg_db, sql):
    with connect(pg_db) as db:
        result = db.query(sql)
    assert result.rows and result.untrusted_data is True


def test_postgres_query_caps_rows_and_says_so(pg_db):
    with connect(pg_db) as db:
        result = db.query("SELECT id FROM t ORDER BY id", max_rows=7)
        assert result.truncated is True and result.row_count == 7
        assert [r[0] for r in result.rows] == list(range(1, 8))
        assert db.query("SELECT id FROM t", max_rows=50).truncated is False


def test_postgres_query_stops_at_the_statement_timeout(pg_db):
    with connect(pg_db) as db, pytest.raises(QueryTimeoutError):
        db.query("SELECT count(*) FROM generate_series(1, 10000000000)", timeout_ms=200)


def test_postgres_session_stays_usable_after_a_refusal(pg_db):
    with connect(pg_db) as db:
        with pytest.raises(ReadOnlyViolationError):
            db.query("DEALLOCATE ALL")
        assert db.query("SELECT count(*) FROM t").rows == ((50,),)
        assert db.query("SELECT count(*) FROM t").rows == ((50,),)


# --- MariaDB ----------------------------------------------------------------------------------

MYSQL_SETUP = [
    "CREATE TABLE t (id int PRIMARY KEY, v varchar(50) NOT NULL)",
    "INSERT INTO t SELECT seq, concat('value ', seq) FROM seq_1_to_50",
    "CREATE SEQUENCE s",
    "CREATE TABLE audit (id int AUTO_INCREMENT PRIMARY KEY, at datetime DEFAULT now())",
    "CREATE PROCEDURE p() DELETE FROM t",
    (
        "CREATE FUNCTION side_effect() RETURNS int MODIFIES SQL DATA "
        "BEGIN INSERT INTO audit () VALUES (); RETURN 1; END"
    ),
]

MYSQL_ATTACKS = [
    "COMMIT; DROP TABLE t",
    "ROLLBACK; DELETE FROM t",
    "/* a harmless comment; */ SELECT 1; -- trailing\nDELETE FROM t",
    "WITH d AS (DELETE FROM t RETURNING *) SELECT * FROM d",
    "SET TRANSACTION READ WRITE",
    "SET SESSION TRANSACTION READ WRITE",
    "SET default_transaction_read_only = off",
    "SELECT pg_terminate_backend(1)",
    "KILL {victim}",
    "COPY t TO PROGRAM 'x'",
    "SELECT lo_import('/etc/passwd')",
    "SELECT * INTO t2 FROM t",
    "SELECT * FROM t INTO OUTFILE '{marker}'",
    "CALL p()",
    "DO $$ BEGIN DELETE FROM t; END $$",
    "SELECT nextval(s)",
    "SELECT side_effect()",
    "COMMIT",
    "UPDATE t SET v = 'changed'",
    "DROP TABLE t",
]


def _mysql(url: str):
    parts = urlsplit(url)
    return pymysql.connect(
        host=parts.hostname,
        port=parts.port or 3306,
        user=parts.username,
        password=parts.password or "",
        database=parts.path.lstrip("/"),
        autocommit=True,
    )


def mysql_fingerprint(url: str) -> tuple:
    conn = _mysql(url)
    with conn, conn.cursor() as cur:
        cur.execute("CHECKSUM TABLE t")
        checksum = cur.fetchone()[1]
        cur.execute("SELECT count(*) FROM audit")
        audit = cur.fetchone()[0]
        cur.execute("SELECT next_not_cached_value FROM s")
        seq = cur.fetchone()[0]
        cur.execute("SHOW TABLES")
        tables = sorted(r[0] for r in cur.fetchall())
    return checksum, audit, seq, tables


@pytest.fixture
def my_db(mysql_url):
    conn = _mysql(mysql_url)
    with conn, conn.cursor() as cur:
        for stmt in MYSQL_SETUP:
            cur.execute(stmt)
    return mysql_url


@pytest.mark.parametrize("attack", MYSQL_ATTACKS)
def test_mariadb_refuses_the_attack_and_leaves_the_data_unchanged(my_db, attack, tmp_path):
    victim = _mysql(my_db)
    marker = tmp_path / "outfile"
    sql = attack.format(victim=victim.thread_id(), marker=marker)
    before = mysql_fingerprint(my_db)
    try:
        with connect(my_db) as db, pytest.raises(DatabaseError) as info:
            db.query(sql)
        assert str(info.value)
        assert mysql_fingerprint(my_db) == before
        victim.ping(reconnect=False)
        assert not marker.exists()
    finally:
        victim.close()


@pytest.mark.parametrize(
    "attack",
    [
        "COMMIT; DROP TABLE t",
        "CALL p()",
        "SELECT nextval(s)",
        "SELECT side_effect()",
        "UPDATE t SET v = 'x'",
        "SET TRANSACTION READ WRITE",
        "COMMIT",
        "KILL 1",
    ],
)
def test_mariadb_refusals_are_read_only_violations(my_db, attack):
    with connect(my_db) as db, pytest.raises(ReadOnlyViolationError):
        db.query(attack)


@pytest.mark.parametrize(
    "sql",
    [
        "WITH x AS (SELECT id FROM t WHERE id < 10) SELECT count(*) FROM x",
        "SELECT id, sum(id) OVER (ORDER BY id ROWS 2 PRECEDING) FROM t ORDER BY id",
        "SELECT DISTINCT PERCENTILE_CONT(0.5) WITHIN GROUP (ORDER BY id) OVER () FROM t",
        "SELECT * FROM (SELECT id FROM t WHERE id IN (SELECT id FROM t WHERE id % 2 = 0)) s",
        "SHOW TABLES",
        "SELECT 'into' AS `into`",
    ],
)
def test_mariadb_runs_real_read_queries(my_db, sql):
    with connect(my_db) as db:
        assert db.query(sql).rows


def test_mariadb_query_caps_rows_and_times_out(my_db):
    with connect(my_db) as db:
        result = db.query("SELECT id FROM t ORDER BY id", max_rows=5)
        assert result.truncated and [r[0] for r in result.rows] == [1, 2, 3, 4, 5]
        with pytest.raises(QueryTimeoutError):
            db.query(
                "SELECT sum(a.seq * b.seq) FROM seq_1_to_1000000 a, seq_1_to_1000000 b",
                timeout_ms=200,
            )


# --- SQLite -----------------------------------------------------------------------------------

SQLITE_ATTACKS = [
    "COMMIT; DROP TABLE t",
    "ROLLBACK; DELETE FROM t",
    "/* a harmless comment; */ SELECT 1; -- trailing\nDELETE FROM t",
    "WITH d AS (DELETE FROM t RETURNING *) SELECT * FROM d",
    "SELECT * INTO t2 FROM t",
    "PRAGMA writable_schema=1",
    "PRAGMA query_only=0",
    "PRAGMA journal_mode=DELETE",
    "ATTACH DATABASE '{marker}' AS x",
    "VACUUM INTO '{marker}'",
    "SELECT load_extension('/tmp/x')",
    "COMMIT",
    "BEGIN IMMEDIATE",
    "UPDATE t SET v = 'changed'",
    "DROP TABLE t",
    "CREATE TABLE t3 (x)",
    "INSERT INTO t VALUES (100, 'x') RETURNING *",
]


@pytest.fixture
def lite_db(sqlite_url):
    path = sqlite_url.removeprefix("sqlite:///")
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT NOT NULL)")
        conn.executemany("INSERT INTO t VALUES (?, ?)", [(i, f"value {i}") for i in range(1, 51)])
    return sqlite_url


def _sha(path: str) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


@pytest.mark.parametrize("attack", SQLITE_ATTACKS)
def test_sqlite_refuses_the_attack_and_leaves_the_file_unchanged(lite_db, attack, tmp_path):
    path = lite_db.removeprefix("sqlite:///")
    marker = tmp_path / "other.db"
    before = (_sha(path), sorted(os.listdir(tmp_path)))
    with connect(lite_db) as db, pytest.raises(DatabaseError) as info:
        db.query(attack.format(marker=marker))
    assert str(info.value)
    assert (_sha(path), sorted(os.listdir(tmp_path))) == before


@pytest.mark.parametrize(
    "sql",
    [
        "WITH x AS (SELECT id FROM t WHERE id < 10) SELECT count(*) FROM x",
        "SELECT id, sum(id) OVER (ORDER BY id ROWS 2 PRECEDING) FROM t ORDER BY id",
        "SELECT * FROM (SELECT id FROM t WHERE id IN (SELECT id FROM t WHERE id % 2 = 0)) s",
        (
            "WITH RECURSIVE r(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM r WHERE n < 5) "
            "SELECT sum(n) FROM r"
        ),
    ],
)
def test_sqlite_runs_real_read_queries(lite_db, sql):
    with connect(lite_db) as db:
        assert db.query(sql).rows


def test_sqlite_query_caps_rows_and_times_out(lite_db):
    with connect(lite_db) as db:
        assert db.query("SELECT id FROM t", max_rows=3).truncated
        with pytest.raises(QueryTimeoutError):
            db.query(
                "WITH RECURSIVE r(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM r) "
                "SELECT count(*) FROM r",
                timeout_ms=100,
            )


def test_postgres_query_refuses_a_session_advisory_lock(pg_db, victim):
    with connect(pg_db) as db, pytest.raises(ReadOnlyViolationError, match="advisory lock"):
        db.query("SELECT pg_advisory_lock(4242)")
    got = victim.execute("SELECT pg_try_advisory_lock(4242)").fetchone()[0]
    assert got is True


def test_mariadb_query_refuses_a_named_lock_and_keeps_none(my_db):
    other = _mysql(my_db)
    try:
        with connect(my_db) as db:
            with pytest.raises(ReadOnlyViolationError, match="GET_LOCK"):
                db.query("SELECT GET_LOCK('dm-test-lock', 0)")
            with other.cursor() as cur:
                cur.execute("SELECT GET_LOCK('dm-test-lock', 0)")
                assert cur.fetchone()[0] == 1
    finally:
        other.close()
