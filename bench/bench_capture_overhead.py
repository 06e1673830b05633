"""Trigger capture's cost on the application's writes: single-row INSERTs with and without the
capture's triggers, on PostgreSQL and MariaDB.

Two identical tables in one throwaway database; only one is captured (`TriggerCapture.prepare`:
the change table and its triggers). The same inserts go to both in alternating rounds (plain,
captured, plain, ...), so drift on a shared machine hits both alike. Two modes: each insert its
own transaction (autocommit, what an application usually does: the commit's flush dominates),
and all of a round's inserts in one transaction (the trigger's own cost, as the reference
measurement took it: 3.5x for `to_jsonb(new)` on PostgreSQL, ../shared/reference).

    .venv/bin/python bench/bench_capture_overhead.py            # 20,000 inserts per table
    .venv/bin/python bench/bench_capture_overhead.py --quick    # 2,000

Needs PostgreSQL on 127.0.0.1:5432 and MariaDB on 127.0.0.1:3306
(DATAMIGRATION_TEST_PG_URL / DATAMIGRATION_TEST_MYSQL_URL override the admin URLs).
"""

from __future__ import annotations

import datetime as dt
import decimal
import os
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "server"))

import psycopg
import pymysql
from _runner import Figure, bench_args, report

from datamigration.db.base import connect
from datamigration.db.trigger_capture import capture_class

PG_ADMIN = os.environ.get("DATAMIGRATION_TEST_PG_URL", "postgresql://postgres@127.0.0.1:5432/test")
MYSQL_ADMIN = os.environ.get("DATAMIGRATION_TEST_MYSQL_URL", "mysql://root@127.0.0.1:3306/test")
TABLE = (
    "CREATE TABLE {name} (id bigint PRIMARY KEY, email varchar(100) NOT NULL, "
    "name varchar(100), amount decimal(10,2), created_at timestamp NULL)"
)
ROUNDS = 10


@contextmanager
def pg_database() -> Iterator[tuple[str, Callable[[], Any]]]:
    name = f"dm_bench_capture_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(PG_ADMIN, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    url = PG_ADMIN.rsplit("/", 1)[0] + "/" + name
    try:
        yield url, lambda: psycopg.connect(url, autocommit=True)
    finally:
        with psycopg.connect(PG_ADMIN, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@contextmanager
def mysql_database() -> Iterator[tuple[str, Callable[[], Any]]]:
    name = f"dm_bench_capture_{uuid.uuid4().hex[:8]}"
    base = MYSQL_ADMIN.rsplit("/", 1)[0]
    host = base.split("@")[-1].split(":")
    kw = {"host": host[0], "port": int(host[1]) if len(host) > 1 else 3306, "user": "root"}
    with pymysql.connect(**kw, autocommit=True) as admin, admin.cursor() as cur:
        cur.execute(f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4")
    try:
        yield f"{base}/{name}", lambda: pymysql.connect(**kw, database=name, autocommit=True)
    finally:
        with pymysql.connect(**kw, autocommit=True) as admin, admin.cursor() as cur:
            cur.execute(f"DROP DATABASE IF EXISTS `{name}`")


def insert_round(conn: Any, table: str, start: int, count: int, one_tx: bool) -> float:
    sql = f"INSERT INTO {table} VALUES (%s, %s, %s, %s, %s)"
    now = dt.datetime(2024, 1, 2, 3, 4, 5)
    cur = conn.cursor()
    started = time.perf_counter()
    if one_tx:
        cur.execute("START TRANSACTION" if isinstance(conn, pymysql.Connection) else "BEGIN")
    for i in range(start, start + count):
        cur.execute(sql, (i, f"user{i}@example.com", f"User {i}", decimal.Decimal("12.50"), now))
    if one_tx:
        cur.execute("COMMIT")
    return time.perf_counter() - started


def measure(database: Any, label: str, rows: int) -> list[Figure]:
    figures = []
    with database() as (url, app):
        with app() as conn:
            for name in ("plain", "captured"):
                conn.cursor().execute(TABLE.format(name=name))
        with connect(url) as backend:
            capture = capture_class(backend)(backend, "bench", ["captured"])
            capture.prepare()
            try:
                for one_tx in (False, True):
                    took = {"plain": 0.0, "captured": 0.0}
                    per_round = rows // ROUNDS
                    with app() as conn:
                        for r in range(ROUNDS):
                            start = (1 if not one_tx else 1 + rows) + r * per_round
                            for table in ("plain", "captured"):
                                took[table] += insert_round(conn, table, start, per_round, one_tx)
                    mode = "one transaction per round" if one_tx else "autocommit"
                    figures.append(
                        Figure(
                            f"{label}: {rows:,} single-row inserts, {mode}",
                            took["captured"],
                            took["plain"],
                            "s",
                            note=f"{rows / took['captured']:,.0f} vs "
                            f"{rows / took['plain']:,.0f} inserts/s (captured vs plain)",
                        )
                    )
                assert capture.lag()["events"] == 2 * rows
            finally:
                capture.teardown()
    return figures


def main() -> int:
    args = bench_args("trigger capture overhead on single-row inserts (PostgreSQL, MariaDB)")
    rows = 2_000 if args.quick else 20_000
    figures = measure(pg_database, "PostgreSQL", rows) + measure(mysql_database, "MariaDB", rows)
    return report("capture_overhead", figures, args)


if __name__ == "__main__":
    raise SystemExit(main())
