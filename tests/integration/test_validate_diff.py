"""The checksum diff on real databases: planted differences are found, clean pairs report none."""

from __future__ import annotations

import datetime as dt
import sqlite3
import uuid

import psycopg
import pymongo
import pymysql
import pytest

from datamigration.validate.canonical import Normalisation
from datamigration.validate.diff import DiffOptions, diff_tables

pytestmark = pytest.mark.integration

N = 3000
BASE = dt.datetime(2024, 1, 1, 12, 0, 0, 123456, tzinfo=dt.UTC)

PG_USERS = (
    "CREATE TABLE users (id bigint PRIMARY KEY, name text, email text NOT NULL, "
    "balance numeric(12,2), score double precision, created_at timestamptz, active boolean)"
)


def user_rows(n: int = N) -> list[tuple]:
    return [
        (
            i,
            f"name {i}" if i % 17 else None,
            f"u{i}@example.com",
            f"{i * 1.25:.2f}",
            i / 7.0,
            BASE + dt.timedelta(minutes=i),
            i % 2 == 0,
        )
        for i in range(1, n + 1)
    ]


def pg_exec(url: str, *sql: str, rows: list[tuple] | None = None, insert: str = "") -> None:
    with psycopg.connect(url, autocommit=True) as conn, conn.cursor() as cur:
        for s in sql:
            cur.execute(s)
        if rows:
            cur.executemany(insert, rows)


def pg_users(url: str, rows: list[tuple], ddl: str = PG_USERS) -> None:
    pg_exec(url, ddl, rows=rows, insert="INSERT INTO users VALUES (%s,%s,%s,%s,%s,%s,%s)")


def keys(report: dict) -> tuple[list, list, list]:
    return report["missing"], report["extra"], report["changed"]


def test_diff_finds_a_missing_an_extra_and_a_changed_row_between_two_postgres_tables(make_pg_url):
    src, dst = make_pg_url(), make_pg_url()
    pg_users(src, user_rows())
    pg_users(dst, user_rows())
    pg_exec(
        dst,
        "DELETE FROM users WHERE id = 1234",
        "INSERT INTO users VALUES (99999, 'new', 'n@x', 1, 1, now(), true)",
        "UPDATE users SET email = 'changed@x' WHERE id = 2500",
    )
    report = diff_tables(src, "users", dst, "users")
    assert keys(report) == ([1234], [99999], [2500])
    assert report["changed_fields"] == [{"key": 2500, "fields": ["email"]}]
    assert report["source"]["hashing"] == report["target"]["hashing"] == "database"
    assert report["rows_compared"] == N and report["seconds"] >= 0
    assert not report["identical"]


def test_diff_of_a_clean_pair_differing_only_in_numeric_scale_and_timestamp_type_is_empty(
    make_pg_url,
):
    src, dst = make_pg_url(), make_pg_url()
    pg_users(src, user_rows())
    wider = PG_USERS.replace("numeric(12,2)", "numeric(20,6)").replace(
        "timestamptz", "timestamp(6)"
    )
    rows = [r[:5] + (r[5].replace(tzinfo=None),) + r[6:] for r in user_rows()]
    pg_users(dst, rows, ddl=wider)
    report = diff_tables(src, "users", dst, "users")
    assert keys(report) == ([], [], [])
    assert report["identical"]


def test_client_side_hashing_agrees_with_in_database_hashing(make_pg_url):
    src, dst = make_pg_url(), make_pg_url()
    pg_users(src, user_rows())
    pg_users(dst, user_rows())
    pg_exec(dst, "UPDATE users SET score = score + 1e-9 WHERE id = 42")
    report = diff_tables(src, "users", dst, "users", DiffOptions(client_hash=True))
    assert report["source"]["hashing"] == "client"
    assert keys(report) == ([], [], [42])


def test_diff_detects_a_timestamp_shifted_by_a_time_zone(make_pg_url):
    src, dst = make_pg_url(), make_pg_url()
    pg_users(src, user_rows())
    pg_users(dst, user_rows())
    pg_exec(dst, "UPDATE users SET created_at = created_at + interval '2 hours' WHERE id = 7")
    report = diff_tables(src, "users", dst, "users")
    assert report["changed_fields"] == [{"key": 7, "fields": ["created_at"]}]


def test_diff_bisects_large_segments_before_comparing_rows(make_pg_url):
    src, dst = make_pg_url(), make_pg_url()
    pg_users(src, user_rows())
    pg_users(dst, user_rows())
    pg_exec(dst, "UPDATE users SET name = 'x' WHERE id IN (10, 2999)")
    opts = DiffOptions(bucket_rows=1500, row_threshold=100, split=4)
    report = diff_tables(src, "users", dst, "users", opts)
    assert sorted(report["changed"]) == [10, 2999]
    assert report["rows_fetched"] < 400  # only small segments were downloaded


def test_mysql_to_postgres_clean_copy_has_no_differences_and_a_changed_row_is_found(
    mysql_url, pg_url
):
    pg_users(pg_url, user_rows())
    conn = pymysql.connect(
        host="127.0.0.1", user="root", database=mysql_url.rsplit("/", 1)[1], autocommit=True
    )
    with conn.cursor() as cur:
        cur.execute(
            "CREATE TABLE users (id bigint PRIMARY KEY, name text, email varchar(100) NOT NULL,"
            " balance decimal(12,2), score double, created_at datetime(6), active tinyint(1))"
        )
        cur.executemany(
            "INSERT INTO users VALUES (%s,%s,%s,%s,%s,%s,%s)",
            [r[:5] + (r[5].replace(tzinfo=None),) + (int(r[6]),) for r in user_rows()],
        )
    report = diff_tables(mysql_url, "users", pg_url, "users")
    assert keys(report) == ([], [], [])
    assert "float" in report["source"]["hashing_reason"]
    with conn.cursor() as cur:
        cur.execute("UPDATE users SET balance = balance + 0.01 WHERE id = 5")
    report = diff_tables(mysql_url, "users", pg_url, "users", DiffOptions(columns=("balance",)))
    assert report["source"]["hashing"] == "database"  # no float column: hashed in MariaDB
    assert report["changed_fields"] == [{"key": 5, "fields": ["balance"]}]
    conn.close()


def test_sqlite_to_postgres_compares_text_timestamps_with_real_ones(sqlite_url, pg_url):
    pg_users(pg_url, user_rows())
    path = sqlite_url.removeprefix("sqlite:///")
    with sqlite3.connect(path) as conn:
        conn.execute(
            "CREATE TABLE users (id INTEGER PRIMARY KEY, name TEXT, email TEXT NOT NULL, "
            "balance NUMERIC, score REAL, created_at TEXT, active INTEGER)"
        )
        conn.executemany(
            "INSERT INTO users VALUES (?,?,?,?,?,?,?)",
            [
                (r[0], r[1], r[2], float(r[3]), r[4], r[5].isoformat(" "), int(r[6]))
                for r in user_rows()
            ],
        )
        conn.execute("DELETE FROM users WHERE id = 3")
    report = diff_tables(sqlite_url, "users", pg_url, "users")
    assert keys(report) == ([], [3], [])
    assert "SQLite" in report["source"]["hashing_reason"]


def test_postgres_to_mongodb_documents_with_the_same_fields(pg_url, mongo_url):
    pg_users(pg_url, user_rows(500))
    client = pymongo.MongoClient(mongo_url)
    db = client.get_default_database()
    docs = []
    for r in user_rows(500):
        doc = {
            "_id": r[0],
            "name": r[1],
            "email": r[2],
            "balance": r[3],
            "score": r[4],
            "created_at": r[5].replace(tzinfo=None),
            "active": r[6],
        }
        if doc["name"] is None:
            del doc["name"]  # a NULL stored as a missing field
        docs.append(doc)
    db.users.insert_many(docs)
    db.users.update_one({"_id": 51}, {"$set": {"active": True}})
    db.users.delete_one({"_id": 60})
    client.close()
    report = diff_tables(pg_url, "users", mongo_url, "users")
    assert report["normalisation"]["timestamp_precision"] == 3  # MongoDB dates hold ms
    assert keys(report) == ([60], [], [51])
    assert report["changed_fields"] == [{"key": 51, "fields": ["active"]}]
    assert report["target"]["hashing"] == "client"


def test_text_uuid_and_composite_keys(make_pg_url):
    src, dst = make_pg_url(), make_pg_url()
    ids = [uuid.UUID(int=i * 7919 + 1) for i in range(800)]
    for url in (src, dst):
        pg_exec(
            url,
            "CREATE TABLE t_uuid (id uuid PRIMARY KEY, v int)",
            "CREATE TABLE t_text (code text PRIMARY KEY, v int)",
            "CREATE TABLE t_comp (a int, b text, v int, PRIMARY KEY (a, b))",
        )
        pg_exec(
            url,
            rows=[(u, i) for i, u in enumerate(ids)],
            insert="INSERT INTO t_uuid VALUES (%s, %s)",
        )
        pg_exec(
            url,
            rows=[(f"Code-{i:04d}{'é' if i % 3 else 'Z'}", i) for i in range(800)],
            insert="INSERT INTO t_text VALUES (%s, %s)",
        )
        pg_exec(
            url,
            rows=[(i % 20, f"k{i}", i) for i in range(800)],
            insert="INSERT INTO t_comp VALUES (%s, %s, %s)",
        )
    pg_exec(
        dst,
        f"UPDATE t_uuid SET v = -1 WHERE id = '{ids[123]}'",
        "DELETE FROM t_text WHERE code = 'Code-0010é'",
        "UPDATE t_comp SET v = -1 WHERE a = 3 AND b = 'k23'",
    )
    opts = DiffOptions(bucket_rows=100)
    assert diff_tables(src, "t_uuid", dst, "t_uuid", opts)["changed"] == [str(ids[123])]
    assert diff_tables(src, "t_text", dst, "t_text", opts)["missing"] == ["Code-0010é"]
    assert diff_tables(src, "t_comp", dst, "t_comp", opts)["changed"] == [[3, "k23"]]


def test_lag_aware_mode_sets_recent_changes_aside(make_pg_url):
    src, dst = make_pg_url(), make_pg_url()
    for url in (src, dst):
        pg_exec(
            url,
            "CREATE TABLE orders (id int PRIMARY KEY, total numeric, updated_at timestamptz)",
            "INSERT INTO orders SELECT g, g, '2024-01-01'::timestamptz FROM generate_series(1,500) g",
        )
    pg_exec(src, "UPDATE orders SET total = 0, updated_at = now() WHERE id = 5")  # in flight
    pg_exec(dst, "UPDATE orders SET total = -1 WHERE id = 9")  # a real, old difference
    opts = DiffOptions(lag_column="updated_at", lag_seconds=3600, recheck_delay=0)
    report = diff_tables(src, "orders", dst, "orders", opts)
    assert report["changed"] == [9]
    assert report["lagging"] == [5]


def test_normalisation_is_configurable_and_recorded(make_pg_url):
    src, dst = make_pg_url(), make_pg_url()
    pg_users(src, user_rows(100))
    rows = [r[:5] + (r[5].replace(microsecond=0),) + r[6:] for r in user_rows(100)]
    pg_users(dst, rows)
    assert len(diff_tables(src, "users", dst, "users")["changed"]) == 100
    opts = DiffOptions(normalisation=Normalisation(timestamp_precision=0))
    report = diff_tables(src, "users", dst, "users", opts)
    assert report["identical"] and report["normalisation"]["timestamp_precision"] == 0


def test_a_gentle_diff_keeps_to_one_core_and_finds_the_same_differences(make_pg_url):
    from datamigration.db.segments import open_reader

    src, dst = make_pg_url(), make_pg_url()
    rows = user_rows()
    pg_users(src, rows)
    changed = [r if r[0] != 77 else (*r[:2], "changed@example.com", *r[3:]) for r in rows]
    pg_users(dst, [r for r in changed if r[0] != 1500])
    with open_reader(src, gentle=True) as gentle, open_reader(src) as normal:
        show = "SELECT current_setting('max_parallel_workers_per_gather')"
        assert list(gentle.stream(show)) == [("0",)]
        assert list(normal.stream(show)) != [("0",)]
    reports = [
        diff_tables(src, "users", dst, "users", DiffOptions(gentle=g, bucket_rows=200))
        for g in (False, True)
    ]
    assert keys(reports[0]) == keys(reports[1])
    assert reports[1]["missing"] == [1500]
    assert reports[1]["changed_count"] == 1 and reports[1]["extra_count"] == 0


def test_readers_that_join_a_shared_snapshot_do_not_see_writes_committed_after_it(pg_url):
    from datamigration.db.segments import open_reader
    from datamigration.validate.sides import SharedSnapshot

    pg_exec(pg_url, "CREATE TABLE t (id bigint PRIMARY KEY, a text NOT NULL, b text)",
            "INSERT INTO t SELECT g, 'v' || g, 'v' || g FROM generate_series(1, 100) g")  # fmt: skip
    snapshot = SharedSnapshot()
    with open_reader(pg_url) as first, open_reader(pg_url) as second, open_reader(pg_url) as plain:
        snapshot.join(first)
        pg_exec(pg_url, "UPDATE t SET a = 'written later' WHERE id = 1")
        snapshot.join(second)
        query = "SELECT a FROM t WHERE id = 1"
        assert first.rows(query) == second.rows(query) == [("v1",)]
        assert list(second.stream(query)) == [("v1",)]
        assert plain.rows(query) == [("written later",)]


def test_a_diff_of_one_postgres_database_with_itself_reads_one_snapshot(make_pg_url):
    one, other = make_pg_url(), make_pg_url()
    for url in (one, other):
        pg_exec(url, "CREATE TABLE t (id bigint PRIMARY KEY, a text, b text)",
                "INSERT INTO t SELECT g, 'v' || g, 'v' || g FROM generate_series(1, 500) g")  # fmt: skip
    same = DiffOptions(key=("id",), columns=("a",), field_map={"a": "b"}, gentle=True)
    assert diff_tables(one, "t", one, "t", same)["consistent_snapshot"] is True
    assert diff_tables(one, "t", other, "t", DiffOptions())["consistent_snapshot"] is False


def test_a_gentle_diff_of_one_mariadb_database_with_itself_reads_one_snapshot(mysql_url):
    from datamigration.db.segments import open_reader
    from datamigration.validate.sides import SharedSnapshot

    def mysql() -> pymysql.Connection:
        return pymysql.connect(
            host="127.0.0.1", user="root", database=mysql_url.rsplit("/", 1)[1], autocommit=True
        )

    with mysql() as conn, conn.cursor() as c:
        c.execute("CREATE TABLE t (id bigint PRIMARY KEY, a varchar(40), b varchar(40))")
        c.executemany(
            "INSERT INTO t VALUES (%s, %s, %s)", [(i, f"v{i}", f"v{i}") for i in range(1, 301)]
        )
    snapshot = SharedSnapshot(single_connection=True)
    with snapshot.borrow(lambda: open_reader(mysql_url)) as held:
        before = held.rows("SELECT a FROM t WHERE id = 1")
        with mysql() as conn, conn.cursor() as c:
            c.execute("UPDATE t SET a = 'written later' WHERE id = 1")
        assert held.rows("SELECT a FROM t WHERE id = 1") == before == [("v1",)]
    snapshot.close()
    same = DiffOptions(key=("id",), columns=("a",), field_map={"a": "b"}, gentle=True)
    report = diff_tables(mysql_url, "t", mysql_url, "t", same)
    assert report["consistent_snapshot"] is True and report["changed_count"] == 1
    assert report["queries"] > 0  # the shared connection's queries are counted too


def test_a_small_table_with_a_composite_key_is_diffed_in_one_bucket(make_pg_url):
    src, dst = make_pg_url(), make_pg_url()
    ddl = "CREATE TABLE items (order_id int, line int, sku text, PRIMARY KEY (order_id, line))"
    rows = [(o, n, f"s{o}-{n}") for o in range(1, 6) for n in (1, 2)]
    insert = "INSERT INTO items VALUES (%s,%s,%s)"
    pg_exec(src, ddl, rows=rows, insert=insert)
    pg_exec(dst, ddl, rows=[r if r[:2] != (3, 2) else (3, 2, "x") for r in rows], insert=insert)
    report = diff_tables(src, "items", dst, "items")
    assert report["changed"] == [[3, 2]] and report["rows_compared"] == 10
