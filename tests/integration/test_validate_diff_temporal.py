"""Checksum diff PostgreSQL -> MariaDB over date and time columns, hashed inside both databases.

Regression for issue 10 item 19: a timestamp column made the diff fail with "unsupported format
character 'Y'", because MariaDB's DATE_FORMAT directives (%Y, and %s for seconds) were sent
through PyMySQL's %-formatting next to the diff's %s parameters.
"""

from __future__ import annotations

import datetime as dt

import psycopg
import pymysql
import pytest

from datamigration.validate.canonical import Normalisation
from datamigration.validate.diff import DiffOptions, diff_tables

pytestmark = pytest.mark.integration

BASE = dt.datetime(2024, 1, 2, 3, 4, 5, 123456)
PG_DDL = "CREATE TABLE ev (id int PRIMARY KEY, ts timestamp, tz timestamptz, d date, tm time)"
MY_DDL = (
    "CREATE TABLE ev (id int PRIMARY KEY, ts datetime(6), tz timestamp(6) NULL, d date, tm time(6))"
)


def rows(n: int) -> list[tuple]:
    """Rows with microseconds in every temporal value, and a row of NULLs."""
    out = []
    for i in range(1, n + 1):
        stamp = BASE + dt.timedelta(minutes=i, microseconds=i)
        out.append((i, stamp, stamp, stamp.date(), stamp.time()))
    out.append((n + 1, None, None, None, None))
    return out


def both(pg_url: str, mysql_url: str, n: int) -> pymysql.Connection:
    """The same rows in PostgreSQL and MariaDB (timestamptz values given in UTC)."""
    data = rows(n)
    with psycopg.connect(pg_url, autocommit=True) as conn, conn.cursor() as cur:
        cur.execute("SET TIME ZONE 'UTC'")
        cur.execute(PG_DDL)
        cur.executemany("INSERT INTO ev VALUES (%s, %s, %s, %s, %s)", data)
    conn = pymysql.connect(
        host="127.0.0.1", user="root", database=mysql_url.rsplit("/", 1)[1], autocommit=True
    )
    with conn.cursor() as cur:
        cur.execute("SET time_zone = '+00:00'")
        cur.execute(MY_DDL)
        cur.executemany("INSERT INTO ev VALUES (%s, %s, %s, %s, %s)", data)
    return conn


def hashed_in_both_databases(report: dict) -> bool:
    return report["source"]["hashing"] == report["target"]["hashing"] == "database"


@pytest.mark.parametrize("n", [3, 3000], ids=["fetched-whole", "bucketed"])
def test_postgres_to_mariadb_with_timestamp_date_and_time_columns_diffs_clean(pg_url, mysql_url, n):
    both(pg_url, mysql_url, n).close()
    report = diff_tables(pg_url, "ev", mysql_url, "ev")
    assert report["identical"], report
    assert hashed_in_both_databases(report)
    assert report["source"]["rows"] == report["target"]["rows"] == n + 1


def test_postgres_to_mariadb_finds_a_changed_timestamp_timestamptz_date_and_time(pg_url, mysql_url):
    conn = both(pg_url, mysql_url, 3000)
    with conn.cursor() as cur:
        cur.execute("SET time_zone = '+00:00'")
        cur.execute("UPDATE ev SET ts = ts + INTERVAL 1 SECOND WHERE id = 10")
        cur.execute("UPDATE ev SET tz = tz + INTERVAL 1 MICROSECOND WHERE id = 1500")
        cur.execute("UPDATE ev SET d = d + INTERVAL 1 DAY WHERE id = 2000")
        cur.execute("UPDATE ev SET tm = '00:00:00' WHERE id = 2999")
        cur.execute("UPDATE ev SET ts = '2024-01-01 00:00:00' WHERE id = 3001")  # was NULL
    conn.close()
    report = diff_tables(pg_url, "ev", mysql_url, "ev")
    assert hashed_in_both_databases(report)
    assert sorted(report["changed_fields"], key=lambda c: c["key"]) == [
        {"key": 10, "fields": ["ts"]},
        {"key": 1500, "fields": ["tz"]},
        {"key": 2000, "fields": ["d"]},
        {"key": 2999, "fields": ["tm"]},
        {"key": 3001, "fields": ["ts"]},
    ]


def test_a_coarser_timestamp_precision_ignores_microseconds_and_still_sees_milliseconds(
    pg_url, mysql_url
):
    """Precision 4 truncates with PostgreSQL's modulo operator, another literal % in the SQL."""
    conn = both(pg_url, mysql_url, 3000)
    with conn.cursor() as cur:
        cur.execute(
            "UPDATE ev SET ts = ts + INTERVAL 1 MICROSECOND WHERE id = 20 AND ts IS NOT NULL"
        )
        cur.execute("UPDATE ev SET ts = ts + INTERVAL 1000 MICROSECOND WHERE id = 30")
    conn.close()
    options = DiffOptions(
        columns=("id", "ts"), normalisation=Normalisation.from_dict({"timestamp_precision": 4})
    )
    report = diff_tables(pg_url, "ev", mysql_url, "ev", options)
    assert hashed_in_both_databases(report)
    assert report["changed_fields"] == [{"key": 30, "fields": ["ts"]}]


def test_mariadb_to_postgres_and_mariadb_to_itself_diff_clean_with_temporal_columns(
    pg_url, mysql_url
):
    both(pg_url, mysql_url, 3000).close()
    for target in (pg_url, mysql_url):
        report = diff_tables(mysql_url, "ev", target, "ev")
        assert report["identical"] and hashed_in_both_databases(report), report
