"""A zero-downtime move MariaDB → PostgreSQL with the application writing all along (issue 13's
acceptance): an application thread inserts, updates and deletes on whichever side the
read/write flag names, through the snapshot, the catch-up, shadow reads, the cutover and the
rollback after it. After the cutover the checksum diff is empty and no write failed (the
pauses only made writes wait); the rollback brings every write made to PostgreSQL back to
MariaDB."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

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
from datamigration.validate.shadow.run import ShadowRequest, shadow_reads
from datamigration.workspace.root import Workspace
from support.writer import Writer

pytestmark = pytest.mark.integration

ROWS = 3_000
RUN = "mv_load_my"
FLAG = "accounts_reads_from_target"


def mariadb(url: str) -> pymysql.Connection:
    u = resolve(url)
    return pymysql.connect(host=u.host, port=u.port or 3306, user=u.username or "root",
                           password="", database=u.database, autocommit=True)  # fmt: skip


class _MariaConn:
    """The `execute(sql, params)` face the writer uses, over pymysql; a refused write raises
    psycopg.Error so the writer records it as failed like any other."""

    def __init__(self, url: str) -> None:
        self.conn = mariadb(url)

    def execute(self, sql: str, params: tuple[Any, ...]) -> None:
        try:
            with self.conn.cursor() as cur:
                cur.execute(sql, params)
        except pymysql.MySQLError as exc:
            raise psycopg.Error(str(exc)) from exc

    def close(self) -> None:
        self.conn.close()


class MariaWriter(Writer):
    """The cutover tests' application, its source side on MariaDB."""

    def _loop(self) -> None:
        conns = {"source": _MariaConn(self.source),
                 "target": psycopg.connect(self.target, autocommit=True)}  # fmt: skip
        try:
            while not self._stop.is_set():
                side = "target" if self.on_target() else "source"
                self._one(conns[side], side)  # type: ignore[arg-type]
                time.sleep(self.pause_s)
        finally:
            for c in conns.values():
                c.close()


def wait_for(check: Callable[[], bool], what: str, seconds: float = 120.0) -> None:
    deadline = time.monotonic() + seconds
    while not check():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.2)


def caught_up(ws: Workspace, run: str, target: str, source: str) -> bool:
    status = sync_status(run, ws, target=target, source=source)
    lag = lag_seconds(status)
    return bool(status.get("snapshot_done")) and lag is not None and lag < 1.0


def held_at_most_the_pause(writes: list[Any], pause_ms: float) -> bool:
    return all(w.seconds * 1000 <= pause_ms + 1_000 for w in writes)


def test_a_mariadb_table_moves_to_postgres_under_load_and_the_rollback_returns_every_write(
    mysql_url: str, pg_url: str, workspace_dir: Path
) -> None:
    with mariadb(mysql_url) as c, c.cursor() as cur:
        cur.execute("CREATE TABLE accounts (id int PRIMARY KEY, balance int NOT NULL, "
                    "note varchar(40)) ENGINE=InnoDB")  # fmt: skip
        cur.executemany("INSERT INTO accounts VALUES (%s, %s, 'seed')",
                        [(i, i % 97) for i in range(1, ROWS + 1)])  # fmt: skip
    ws = Workspace.open(workspace_dir)
    writer = MariaWriter(mysql_url, pg_url, ws, FLAG).start()  # writes from before the capture
    try:
        wait_for(lambda: writer.count("source") >= 20, "the application's first writes")
        spawn(SyncRequest(source=mysql_url, target=pg_url, tables=("accounts",), run=RUN,
                          workspace=str(workspace_dir)), ws)  # fmt: skip
        wait_for(lambda: caught_up(ws, RUN, pg_url, mysql_url), "the snapshot and catch-up")

        shadow = shadow_reads(ws, ShadowRequest(mysql_url, pg_url, tables=("accounts",),
                                                sample=1_000), write=False)  # fmt: skip
        assert shadow["reads"] >= 950  # a sampled key deleted since is not a read
        in_flight = [e["key"] for e in shadow["examples"]]
        assert all(k >= writer.first_id for k in in_flight)  # only rows written this second

        on_source = writer.count("source")
        report = cutover(CutoverRequest(run=RUN, workspace=str(workspace_dir),
                                        pause_max_ms=5_000, lag_max_s=5, wait_s=90))  # fmt: skip
        assert report["diff"]["identical"] and report["cut_over"] and report["source_kept"]
        assert report["paused_by"]["lock"].startswith("READ")
        pause_ms = report["write_pause_ms"]
        assert 0 < pause_ms <= 5_000
        assert writer.on_target() and on_source > 20
        target_before = writer.count("target")
        wait_for(lambda: writer.count("target") >= target_before + 60, "writes on PostgreSQL")
        assert held_at_most_the_pause(list(writer.writes), pause_ms)

        back = rollback_cutover(CutoverRequest(run=RUN, workspace=str(workspace_dir),
                                               pause_max_ms=5_000, wait_s=90))  # fmt: skip
        assert back["rolled_back"] and back["diff"]["identical"]
        assert not writer.on_target()
        wait_for(lambda: writer.count("source") >= on_source + 20, "writes on MariaDB again")
    finally:
        writes = writer.stop()
        for run, target, source in ((f"{RUN}_back", mysql_url, pg_url),
                                    (RUN, pg_url, mysql_url)):  # fmt: skip
            with contextlib.suppress(DataMigrationError):
                stop_sync(ws, run, teardown=True, target=target, source=source, wait_s=10)
    assert writer.failed() == []
    assert writer.count("target") >= 60 and writer.count("source") > 40
    pauses = report["write_pause_ms"] + (back["write_pause_ms"] or 0)
    assert held_at_most_the_pause(writes, pauses)
    on_target = [w for w in writes if w.side == "target"]
    last_on_target = max(w.started for w in on_target)
    touched_again = {w.key for w in writes if w.side == "source" and w.started > last_on_target}
    with mariadb(mysql_url) as c, c.cursor() as cur:
        cur.execute("SELECT id, note FROM accounts WHERE id >= %s", (writer.first_id,))
        mine = dict(cur.fetchall())
    # every row the application wrote to PostgreSQL is on MariaDB as PostgreSQL last had it
    # (the rollback's diff under its pause compared the whole tables; rows written to MariaDB
    # since are the application's new writes)
    for key, op in {w.key: w.op for w in on_target}.items():
        if key not in touched_again:
            assert mine.get(key) == (None if op == "delete" else f"target {op}"), key
    for url in (mysql_url, pg_url):
        with connect(url) as b:
            assert [x for x in b.capture_leftovers() if x.get("run", "").startswith(RUN)] == []
