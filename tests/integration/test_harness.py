"""The harness itself: every backend fixture hands out a working, isolated database."""

import sqlite3

import psycopg
import pymongo
import pymysql
import pytest

pytestmark = pytest.mark.integration


def test_postgres_fixture_gives_an_empty_writable_database(pg_url):
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute("CREATE TABLE t (id int primary key)")
        conn.execute("INSERT INTO t VALUES (1)")
        assert conn.execute("SELECT count(*) FROM t").fetchone()[0] == 1


def test_two_postgres_databases_are_isolated(make_pg_url):
    a, b = make_pg_url(), make_pg_url()
    assert a != b
    with psycopg.connect(a, autocommit=True) as conn:
        conn.execute("CREATE TABLE only_in_a (id int)")
    with psycopg.connect(b, autocommit=True) as conn:
        assert conn.execute("SELECT to_regclass('only_in_a')").fetchone()[0] is None


def test_mariadb_fixture_gives_a_writable_database(mysql_url):
    from urllib.parse import urlsplit

    parts = urlsplit(mysql_url)
    conn = pymysql.connect(
        host=parts.hostname,
        port=parts.port,
        user=parts.username,
        password="",
        database=parts.path.lstrip("/"),
        autocommit=True,
    )
    with conn, conn.cursor() as cur:
        cur.execute("CREATE TABLE t (id int primary key)")
        cur.execute("INSERT INTO t VALUES (7)")
        cur.execute("SELECT id FROM t")
        assert cur.fetchone() == (7,)


def test_sqlite_fixture_points_into_the_test_directory(sqlite_url, tmp_path):
    path = sqlite_url.removeprefix("sqlite:///")
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE t (id integer primary key)")
    assert (tmp_path / "test.db").exists()


def test_mongo_wire_server_round_trips_a_document(mongo_url):
    client = pymongo.MongoClient(mongo_url, serverSelectionTimeoutMS=5000)
    db = client.get_default_database()
    db.users.insert_one({"_id": 1, "name": "ada", "tags": ["x"]})
    assert db.users.find_one({"_id": 1})["tags"] == ["x"]
    client.close()
