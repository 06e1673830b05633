"""Cutover PostgreSQL → MongoDB: the lock pause on the source, the checksum diff of rows
against documents, the flag flipped; no reverse capture (MongoDB has none here), so the report
says what happens to the target's writes, and the rollback flips the flag back."""

from __future__ import annotations

import contextlib
import json
import time
from pathlib import Path

import psycopg
import pytest

from datamigration.cli import main
from datamigration.errors import DataMigrationError
from datamigration.move.sync.control import spawn, stop_sync
from datamigration.move.sync.cutover import CutoverRequest, cutover
from datamigration.move.sync.request import SyncRequest
from datamigration.move.sync.switch import lag_seconds, sync_status
from datamigration.safety import flags
from datamigration.workspace.root import Workspace

pytestmark = pytest.mark.integration


def test_a_postgres_table_cuts_over_to_mongodb_and_the_flag_flips_back(
    pg_url: str, mongo_url: str, workspace_dir: Path, capsys
) -> None:
    with psycopg.connect(pg_url, autocommit=True) as c:
        c.execute("CREATE TABLE users (id int PRIMARY KEY, email text NOT NULL, score int)")
        c.execute(
            "INSERT INTO users SELECT g, 'u' || g || '@x.org', g FROM generate_series(1, 150) g"
        )
    ws = Workspace.open(workspace_dir)
    spawn(SyncRequest(source=pg_url, target=mongo_url, tables=("users",), run="cut_mg",
                      workspace=str(workspace_dir)), ws)  # fmt: skip
    try:
        deadline = time.monotonic() + 90
        while True:
            status = sync_status("cut_mg", ws, target=mongo_url, source=pg_url)
            lag = lag_seconds(status)
            if status.get("snapshot_done") and lag is not None and lag < 1.0:
                break
            assert time.monotonic() < deadline, status
            time.sleep(0.2)
        with psycopg.connect(pg_url, autocommit=True) as c:
            c.execute("UPDATE users SET score = -1 WHERE id <= 5")
        cli = ["--workspace", str(workspace_dir), "cutover", "cut_mg", "--pause-max", "5s",
               "--wait", "60s", "--yes", "--json"]  # the CLI twin, on a real run  # fmt: skip
        assert main(cli) == 0
        report = json.loads(capsys.readouterr().out)
        assert report["diff"]["identical"] and 0 < report["write_pause_ms"] <= 5_000
        assert report["way_back"]["run"] is None and "not replayed" in report["way_back"][
            "writes_after_cutover"]  # fmt: skip
        on = flags.evaluate(ws, "users_reads_from_target", {"targetingKey": "app"})["value"]
        assert on is True
        assert main([*cli[:3], "cut_mg", "--rollback", "--yes", "--json"]) == 0
        back = json.loads(capsys.readouterr().out)
        assert back["rolled_back"] and back["write_pause_ms"] is None
        off = flags.evaluate(ws, "users_reads_from_target", {"targetingKey": "app"})["value"]
        assert off is False
    finally:
        with contextlib.suppress(DataMigrationError):
            stop_sync(ws, "cut_mg", teardown=True, target=mongo_url, source=pg_url, wait_s=10)


MAPPING = {"version": 1, "collections": [{"collection": "customers", "root": "users",
           "embed": [{"table": "orders", "kind": "array", "keep_foreign_key": True,
                      "sort": [{"column": "id"}]}]}]}  # fmt: skip


def test_users_with_embedded_orders_cut_over_after_the_mapped_diff_proves_them_equal(
    pg_url: str, mongo_url: str, workspace_dir: Path
) -> None:
    with psycopg.connect(pg_url, autocommit=True) as c:
        c.execute(
            "CREATE TABLE users (id int PRIMARY KEY, name text NOT NULL);"
            "CREATE TABLE orders (id int PRIMARY KEY, user_id int NOT NULL REFERENCES users(id),"
            " total int NOT NULL);"
            "INSERT INTO users SELECT g, 'n' || g FROM generate_series(1, 30) g;"
            "INSERT INTO orders SELECT g, 1 + g % 30, g FROM generate_series(1, 90) g;"
        )
    ws = Workspace.open(workspace_dir)
    spawn(SyncRequest(source=pg_url, target=mongo_url, tables=("users", "orders"),
                      mapping=MAPPING, run="cut_emb", workspace=str(workspace_dir),
                      accept_conversions=True), ws)  # fmt: skip
    try:
        deadline = time.monotonic() + 90
        while True:
            status = sync_status("cut_emb", ws, target=mongo_url, source=pg_url)
            lag = lag_seconds(status)
            if status.get("snapshot_done") and lag is not None and lag < 1.0:
                break
            assert time.monotonic() < deadline, status
            time.sleep(0.2)
        with psycopg.connect(pg_url, autocommit=True) as c:  # an order moves to another user
            c.execute("UPDATE orders SET user_id = 2 WHERE id = 20")
            c.execute("INSERT INTO orders VALUES (91, 3, 9)")
        report = cutover(CutoverRequest(run="cut_emb", workspace=str(workspace_dir),
                                        pause_max_ms=10_000, wait_s=60, flag="customers_on_mongo"))  # fmt: skip
        assert report["diff"]["identical"] and report["diff"]["changed_count"] == 0
        on = flags.evaluate(ws, "customers_on_mongo", {"targetingKey": "app"})["value"]
        assert on is True and report["write_pause_ms"] <= 10_000
    finally:
        with contextlib.suppress(DataMigrationError):
            stop_sync(ws, "cut_emb", teardown=True, target=mongo_url, source=pg_url, wait_s=10)
