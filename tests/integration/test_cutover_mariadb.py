"""Cutover MariaDB → PostgreSQL (trigger capture, `LOCK TABLES ... READ` as the write pause),
and the rollback after it: writes made on the source before the cutover and on the target
after it all end up on both sides; the pause is measured."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable
from pathlib import Path

import psycopg
import pymysql
import pytest

from datamigration.db import connect
from datamigration.db.urls import resolve
from datamigration.errors import DataMigrationError
from datamigration.move.sync.control import spawn, stop_sync
from datamigration.move.sync.cutover import CutoverRequest, cutover, rollback_cutover
from datamigration.move.sync.request import SyncRequest
from datamigration.move.sync.switch import lag_seconds, sync_status
from datamigration.validate.diff import diff_tables
from datamigration.workspace.root import Workspace

pytestmark = pytest.mark.integration


def mariadb(url: str) -> pymysql.Connection:
    u = resolve(url)
    return pymysql.connect(host=u.host, port=u.port or 3306, user=u.username or "root",
                           password="", database=u.database, autocommit=True)  # fmt: skip


def wait_for(check: Callable[[], bool], what: str, seconds: float = 90.0) -> None:
    deadline = time.monotonic() + seconds
    while not check():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.2)


def test_a_mariadb_table_cuts_over_to_postgres_and_back_with_every_write(
    mysql_url: str, pg_url: str, workspace_dir: Path
) -> None:
    with mariadb(mysql_url) as c, c.cursor() as cur:
        cur.execute("CREATE TABLE accounts (id int PRIMARY KEY, balance int NOT NULL, "
                    "note varchar(40)) ENGINE=InnoDB")  # fmt: skip
        cur.executemany("INSERT INTO accounts VALUES (%s, %s, 'seed')",
                        [(i, i * 3) for i in range(1, 201)])  # fmt: skip
    ws = Workspace.open(workspace_dir)
    spawn(SyncRequest(source=mysql_url, target=pg_url, tables=("accounts",), run="cut_my",
                      workspace=str(workspace_dir)), ws)  # fmt: skip
    try:

        def caught_up() -> bool:
            status = sync_status("cut_my", ws, target=pg_url, source=mysql_url)
            lag = lag_seconds(status)
            return bool(status.get("snapshot_done")) and lag is not None and lag < 1.0

        wait_for(caught_up, "the snapshot and catch-up")
        with mariadb(mysql_url) as c, c.cursor() as cur:
            cur.execute("UPDATE accounts SET note = 'before cutover' WHERE id <= 10")
            cur.execute("DELETE FROM accounts WHERE id = 200")
        report = cutover(CutoverRequest(run="cut_my", workspace=str(workspace_dir),
                                        pause_max_ms=5_000, wait_s=60))  # fmt: skip
        assert report["diff"]["identical"] and report["paused_by"]["lock"].startswith("READ")
        assert 0 < report["write_pause_ms"] <= 5_000
        with psycopg.connect(pg_url, autocommit=True) as c:  # the application, now on the target
            c.execute("INSERT INTO accounts VALUES (500, 1, 'after cutover')")
            c.execute("UPDATE accounts SET balance = 0 WHERE id = 11")
        back = rollback_cutover(CutoverRequest(run="cut_my", workspace=str(workspace_dir),
                                               pause_max_ms=5_000, wait_s=60))  # fmt: skip
        assert back["rolled_back"] and back["diff"]["identical"] and back["replayed"] >= 2
        assert diff_tables(mysql_url, "accounts", pg_url, "accounts")["identical"]
        with mariadb(mysql_url) as c, c.cursor() as cur:
            cur.execute("SELECT note FROM accounts WHERE id = 500")
            assert cur.fetchone() == ("after cutover",)
    finally:
        for run, target, source in (("cut_my_back", mysql_url, pg_url),
                                    ("cut_my", pg_url, mysql_url)):  # fmt: skip
            with contextlib.suppress(DataMigrationError):
                stop_sync(ws, run, teardown=True, target=target, source=source, wait_s=10)
    for url in (mysql_url, pg_url):
        with connect(url) as b:
            assert [x for x in b.capture_leftovers() if x.get("run", "").startswith("cut_my")] == []
