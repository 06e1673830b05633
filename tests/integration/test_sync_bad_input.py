"""Bad input to a zero-downtime move, through the `sync` and `cutover` commands: a source
table without a key (refused before anything is created on the source, for every capture
method), `wal_level` not logical and a capture name already in use (refused with the fix in
the message), and a target written by someone else during the sync (caught by shadow reads
and by the cutover's final diff, which names the keys and flips nothing; after the documented
recovery the cutover passes)."""

from __future__ import annotations

import contextlib
import json
import os
import signal
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psycopg
import pymongo
import pytest

from datamigration.db import connect
from datamigration.errors import DataMigrationError
from datamigration.move.sync.control import spawn, stop_sync
from datamigration.move.sync.control import sync_status as local_status
from datamigration.move.sync.request import SyncRequest
from datamigration.move.sync.switch import lag_seconds, sync_status
from datamigration.safety import flags
from datamigration.validate.diff import diff_tables
from datamigration.validate.shadow.run import ShadowRequest, shadow_reads
from datamigration.workspace.root import Workspace
from support.cli_errors import cli
from support.sync_sources import KINDS, Source, open_source, wait_for, without_logical_decoding

pytestmark = pytest.mark.integration

FLAG = "accounts_reads_from_target"


@pytest.fixture(params=KINDS)
def source(request: pytest.FixtureRequest, tmp_path: Path) -> Source:
    return open_source(request, tmp_path, rows=100)


def refused(capsys: pytest.CaptureFixture[str], rc: int) -> str:
    """Refused the way the CLI refuses (exit 2 for bad input, 4 for a clash with what is
    there): the message and a hint, no traceback; the error text."""
    err = capsys.readouterr().err
    assert rc in (2, 4), err
    assert err.startswith("error: ") and "\nhint: " in err and "Traceback" not in err
    return err


def start(src: str, dst: str, run: str, *extra: str) -> list[str]:
    return ["sync", "start", src, dst, "--tables", "accounts", "--run", run, "--quiet",
            "--yes", *extra]  # fmt: skip


def test_a_source_table_without_a_key_is_refused_before_anything_is_created_on_the_source(
    source: Source, pg_url: str, workspace_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source.run_sql(
        "CREATE TABLE loose (v int, note varchar(10))", "INSERT INTO loose VALUES (1, 'a')"
    )
    argv = ["sync", "start", source.url, pg_url, "--tables", "accounts,loose", "--run", "nokey",
            "--method", source.method, "--quiet", "--yes"]  # fmt: skip
    err = refused(capsys, cli(workspace_dir, *argv))
    assert "loose" in err and "key" in err
    assert "primary key" in err.split("\nhint: ")[1].lower()  # the fix: give it a key
    assert source.objects() == []  # no slot, publication, trigger, function or change table
    with psycopg.connect(pg_url) as c:
        assert c.execute("SELECT to_regclass('accounts')").fetchone()[0] is None  # no copy


def test_a_server_without_logical_decoding_is_refused_by_sync_start_with_the_fix(
    pg_url: str, make_pg_url: Callable[[], str], workspace_dir: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    dst = make_pg_url()
    with without_logical_decoding(pg_url) as url:
        with psycopg.connect(url, autocommit=True) as c:
            c.execute("CREATE TABLE IF NOT EXISTS walcheck (id int PRIMARY KEY)")
        argv = ["sync", "start", url, dst, "--tables", "walcheck", "--run", "walcheck",
                "--method", "logical", "--quiet", "--yes"]  # fmt: skip
        err = refused(capsys, cli(workspace_dir, *argv))
        with psycopg.connect(url) as c:
            slots = c.execute("SELECT count(*) FROM pg_replication_slots").fetchone()[0]
            pubs = c.execute("SELECT count(*) FROM pg_publication WHERE "
                             "starts_with(pubname, 'dm_sync_walcheck')").fetchone()[0]  # fmt: skip
            c.execute("DROP TABLE walcheck")
    assert "ALTER SYSTEM SET wal_level = logical;" in err and "restart the server" in err
    assert "method 'trigger'" in err.split("\nhint: ")[1]
    assert (slots, pubs) == (0, 0)


def test_a_capture_name_in_use_is_refused_by_sync_start_with_what_to_do(
    pg_logical_url: str, make_pg_url: Callable[[], str], workspace_dir: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    with psycopg.connect(pg_logical_url, autocommit=True) as c:
        c.execute("CREATE TABLE accounts (id int PRIMARY KEY, note text)")
        c.execute("SELECT pg_create_logical_replication_slot('dm_sync_taken', 'test_decoding')")
    try:
        err = refused(capsys, cli(workspace_dir, *start(pg_logical_url,
                                                        make_pg_url(), "taken")))  # fmt: skip
        assert "replication slot dm_sync_taken exists already and is not this run's" in err
        assert "another name" in err.split("\nhint: ")[1]
        with psycopg.connect(pg_logical_url) as c:  # someone else's slot is left alone
            assert c.execute("SELECT plugin FROM pg_replication_slots WHERE slot_name = "
                             "'dm_sync_taken'").fetchone() == ("test_decoding",)  # fmt: skip
    finally:
        with psycopg.connect(pg_logical_url, autocommit=True) as c:
            c.execute("SELECT pg_drop_replication_slot('dm_sync_taken')")
    # a live sync of the same name, from another workspace into another target
    other = workspace_dir / "other"
    other.mkdir()
    live = spawn(SyncRequest(pg_logical_url, make_pg_url(), ("accounts",), run="busy",
                             workspace=str(other)), Workspace.open(other))  # fmt: skip
    try:
        wait_for(lambda: any(x.get("live") for x in _leftovers(pg_logical_url, "busy")),
                 "the live sync's capture")  # fmt: skip
        err = refused(capsys, cli(workspace_dir, *start(pg_logical_url,
                                                        make_pg_url(), "busy")))  # fmt: skip
        assert "capture dm_sync_busy is in use by a running sync" in err
        assert "sync stop" in err.split("\nhint: ")[1]
    finally:
        os.kill(live["pid"], signal.SIGKILL)
        os.waitpid(live["pid"], 0)
        with contextlib.suppress(DataMigrationError):
            stop_sync(Workspace.open(other), "busy", wait_s=5)
    assert _leftovers(pg_logical_url, "busy") == []


def _leftovers(url: str, run: str) -> list[dict[str, Any]]:
    with connect(url) as b:
        return [x for x in b.capture_leftovers() if x.get("run") == run]


def _caught_up(ws: Workspace, src: str, dst: str) -> bool:
    status = sync_status("behind", ws, target=dst, source=src)
    lag = lag_seconds(status)
    return bool(status.get("snapshot_done")) and lag is not None and lag < 1.0


def test_a_target_written_behind_the_sync_is_caught_named_and_cut_over_after_the_recovery(
    make_pg_url: Callable[[], str], workspace_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    src, dst = make_pg_url(), make_pg_url()
    with psycopg.connect(src, autocommit=True) as c:
        c.execute("CREATE TABLE accounts (id int PRIMARY KEY, balance int NOT NULL, note text)")
        c.execute("INSERT INTO accounts SELECT g, g % 97, 'seed' FROM generate_series(1, 2000) g")
    ws = Workspace.open(workspace_dir)
    spawn(SyncRequest(src, dst, ("accounts",), run="behind", method="trigger",
                      workspace=str(workspace_dir)), ws)  # fmt: skip
    try:
        wait_for(lambda: _caught_up(ws, src, dst), "the snapshot and catch-up")
        with psycopg.connect(dst, autocommit=True) as c:  # someone else writes to the target
            c.execute("UPDATE accounts SET note = 'written behind the sync' WHERE id = 7")
            c.execute("DELETE FROM accounts WHERE id = 1500")
            c.execute("INSERT INTO accounts VALUES (900001, 0, 'only on the target')")
        shadow = shadow_reads(ws, ShadowRequest(src, dst, tables=("accounts",), sample=2_000),
                              write=False)  # fmt: skip
        assert not shadow["passed"] and shadow["mismatches"] == 2
        assert {e["key"] for e in shadow["examples"]} == {7, 1500}
        cut = ["cutover", "behind", "--pause-max", "5s", "--wait", "60s", "--yes", "--quiet"]
        assert cli(workspace_dir, *cut) == 4
        err = capsys.readouterr().err
        assert "accounts (id): differ 7; only on the source 1500; only on the target 900001" in err
        assert "UPDATE setting a column to itself" in err
        assert not flags.evaluate(ws, FLAG, {"targetingKey": "app"})["value"]  # nothing flipped
        # the recovery (docs/cutover.md): write the rows again on the source, delete the extra
        with psycopg.connect(src, autocommit=True) as c:
            c.execute("UPDATE accounts SET note = note WHERE id IN (7, 1500)")
            c.execute("INSERT INTO accounts VALUES (2001, 1, 'the application goes on')")
        with psycopg.connect(dst, autocommit=True) as c:
            c.execute("DELETE FROM accounts WHERE id = 900001")
        wait_for(lambda: diff_tables(src, "accounts", dst, "accounts")["identical"],
                 "the sync to carry the rows written again")  # fmt: skip
        assert cli(workspace_dir, *cut) == 0
        assert flags.evaluate(ws, FLAG, {"targetingKey": "app"})["value"]
        with psycopg.connect(dst) as c:
            assert c.execute("SELECT note FROM accounts WHERE id = 7").fetchone() == ("seed",)
    finally:
        for run, target, source in (("behind_back", src, dst), ("behind", dst, src)):
            with contextlib.suppress(DataMigrationError):
                stop_sync(ws, run, teardown=True, target=target, source=source, wait_s=10)


MAPPING = {"version": 1, "collections": [{"collection": "customers", "root": "users",
           "embed": [{"table": "orders", "kind": "array", "keep_foreign_key": True,
                      "sort": [{"column": "id"}]}]}]}  # fmt: skip


def test_a_mapping_changed_mid_run_is_refused_by_sync_start_and_the_run_goes_on(
    make_pg_url: Callable[[], str], mongo_url: str, workspace_dir: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    src = make_pg_url()
    with psycopg.connect(src, autocommit=True) as c:
        c.execute("CREATE TABLE users (id int PRIMARY KEY, email text NOT NULL)")
        c.execute("CREATE TABLE orders (id int PRIMARY KEY, user_id int NOT NULL "
                  "REFERENCES users(id), total int)")  # fmt: skip
        c.execute("INSERT INTO users SELECT g, 'u' || g || '@x.io' FROM generate_series(1, 50) g")
        c.execute("INSERT INTO orders SELECT g, g % 50 + 1, g FROM generate_series(1, 200) g")
    mapping = workspace_dir / "users.json"
    mapping.write_text(json.dumps(MAPPING))
    argv = ["sync", "start", src, mongo_url, "--tables", "users,orders", "--mapping",
            "users.json", "--run", "remapped", "--method", "trigger", "--yes", "--quiet"]  # fmt: skip
    ws = Workspace.open(workspace_dir)
    base, db = mongo_url.rsplit("/", 1)
    try:
        assert cli(workspace_dir, *argv, "--detach") == 0
        with pymongo.MongoClient(base) as client:
            customers = client[db]["customers"]
            wait_for(lambda: customers.count_documents({}) == 50, "the snapshot")
            changed = json.loads(json.dumps(MAPPING))
            changed["collections"][0]["embed"][0]["as"] = "purchases"
            mapping.write_text(json.dumps(changed))
            err = refused(capsys, cli(workspace_dir, *argv))
            assert "another mapping" in err and "new run name" in err.split("\nhint: ")[1]
            with psycopg.connect(src, autocommit=True) as c:  # the first run goes on
                c.execute("INSERT INTO orders VALUES (201, 1, 7)")
            wait_for(lambda: 201 in [o["id"] for o in customers.find_one({"_id": 1})["orders"]],
                     "the change applied in the run's own shape")  # fmt: skip
            assert "purchases" not in customers.find_one({"_id": 1})
        (run,) = local_status(ws, "remapped")["runs"]
        assert run["alive"] and run["state"]["status"] == "running"
    finally:
        with contextlib.suppress(DataMigrationError):
            stop_sync(ws, "remapped", wait_s=10)
