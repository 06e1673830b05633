"""The logical capture's refusals (wal_level, a key-less table, a name in use) and its
leftovers after a crash: found, then removed by drop_capture_leftovers."""

from __future__ import annotations

import time

import psycopg
import pytest

from datamigration.db.base import connect
from datamigration.db.postgres.capture import LogicalCapture
from datamigration.db.postgres.capture_catalog import CaptureRefusedError
from datamigration.errors import UserInputError
from support.sync_sources import without_logical_decoding

pytestmark = pytest.mark.integration


def sql(url: str, *statements: str) -> None:
    with psycopg.connect(url, autocommit=True) as conn:
        for s in statements:
            conn.execute(s)


def wait_session_gone(url: str, pid: int, timeout: float = 10.0) -> None:
    """A closed session's server process lets go of its locks a moment after the close."""
    deadline = time.monotonic() + timeout
    with psycopg.connect(url, autocommit=True) as conn:
        while conn.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE pid = %s", (pid,)
        ).fetchone()[0]:
            assert time.monotonic() < deadline, f"session {pid} still there after {timeout} s"
            time.sleep(0.02)


def capture_objects(backend) -> tuple[list[str], list[str]]:
    slots = [r[0] for r in backend.fetch("SELECT slot_name FROM pg_replication_slots")]
    pubs = [r[0] for r in backend.fetch("SELECT pubname FROM pg_publication")]
    return slots, pubs


def test_a_server_without_wal_level_logical_is_refused_with_the_exact_fix(pg_url: str) -> None:
    with without_logical_decoding(pg_url) as url:
        sql(url, "CREATE TABLE w (id int PRIMARY KEY)")
        with connect(url) as backend:
            assert backend.fetch("SELECT current_setting('wal_level')")[0][0] != "logical"
            with pytest.raises(CaptureRefusedError) as refused:
                backend.change_capture("wal1", ["w"], method="logical")
            with pytest.raises(CaptureRefusedError):
                LogicalCapture(backend, "wal1", ["w"]).prepare()
            assert capture_objects(backend) == ([], [])
    assert "ALTER SYSTEM SET wal_level = logical;" in refused.value.message
    assert "restart the server" in refused.value.message
    assert "method 'trigger'" in refused.value.hint


def test_a_table_without_a_key_is_refused_before_anything_is_created(
    pg_logical_url: str,
) -> None:
    sql(pg_logical_url, "CREATE TABLE keyed (id int PRIMARY KEY)", "CREATE TABLE loose (v text)")
    with connect(pg_logical_url) as backend:
        cap = LogicalCapture(backend, "nokey1", ["keyed", "loose"])
        with pytest.raises(CaptureRefusedError) as refused:
            cap.prepare()
        assert capture_objects(backend) == ([], [])
        sql(pg_logical_url, "INSERT INTO loose VALUES ('x')", "UPDATE loose SET v = 'y'")
        sql(pg_logical_url, "ALTER TABLE loose REPLICA IDENTITY FULL")
        full = LogicalCapture(backend, "nokey1", ["loose"])
        try:
            assert full.prepare()["tables"]["loose"] == {"key": ["v"], "replica_identity": "full"}
        finally:
            full.teardown()
    assert "no primary key" in refused.value.message
    assert "ADD PRIMARY KEY" in refused.value.hint
    assert "ALTER TABLE loose REPLICA IDENTITY FULL" in refused.value.hint


def test_a_run_name_in_use_for_other_tables_or_by_a_live_sync_is_refused(
    pg_logical_url: str,
) -> None:
    sql(
        pg_logical_url, "CREATE TABLE a (id int PRIMARY KEY)", "CREATE TABLE b (id int PRIMARY KEY)"
    )
    with connect(pg_logical_url) as owner, connect(pg_logical_url) as other:
        mine = LogicalCapture(owner, "taken1", ["a"])
        mine.prepare()
        try:
            with pytest.raises(CaptureRefusedError, match="running sync"):
                LogicalCapture(other, "taken1", ["a"]).prepare()
            pid = owner.session_id()
            owner.close()  # the owner's session ends: its sync is no longer live
            wait_session_gone(pg_logical_url, pid)
            with pytest.raises(CaptureRefusedError, match="other tables"):
                LogicalCapture(other, "taken1", ["a", "b"]).prepare()
            again = LogicalCapture(other, "taken1", ["a"]).prepare()  # a restart: reused
            assert again["reused"] is True
        finally:
            LogicalCapture(other, "taken1", ["a"]).teardown()
        with pytest.raises(UserInputError):
            LogicalCapture(other, "Bad-Name; DROP", ["a"])


def test_leftovers_of_a_crashed_run_are_found_and_removed(pg_logical_url: str) -> None:
    sql(pg_logical_url, "CREATE TABLE l (id int PRIMARY KEY)")
    with connect(pg_logical_url) as crashed:
        cap = crashed.change_capture("crash1", ["l"])
        cap.prepare()
        pid = crashed.session_id()
        live = {(x["kind"], x["live"]) for x in crashed.capture_leftovers()}
        assert live == {("slot", True), ("publication", True)}
    wait_session_gone(pg_logical_url, pid)
    sql(pg_logical_url, "INSERT INTO l VALUES (1)")  # WAL the abandoned slot now holds
    with connect(pg_logical_url) as backend:
        found = backend.capture_leftovers()
        assert {(x["kind"], x["name"], x["run"], x["live"]) for x in found} == {
            ("slot", "dm_sync_crash1", "crash1", False),
            ("publication", "dm_sync_crash1_pub", "crash1", False),
        }
        slot = next(x for x in found if x["kind"] == "slot")
        assert slot["detail"]["active"] is False and slot["detail"]["retained_wal_bytes"] > 0
        removed = backend.drop_capture_leftovers("crash1")
        assert sorted(removed) == ["dm_sync_crash1", "dm_sync_crash1_pub"]
        assert backend.capture_leftovers() == []
        assert capture_objects(backend) == ([], [])
        assert backend.drop_capture_leftovers("crash1") == []


def test_health_and_run_status_name_an_abandoned_capture_but_not_a_live_one(
    pg_logical_url: str, workspace_dir, capsys
) -> None:
    from datamigration.cli import main
    from datamigration.execute.service import run_status
    from datamigration.safety.health import health_check
    from datamigration.workspace.root import Workspace

    ws = Workspace.open(str(workspace_dir))
    sql(pg_logical_url, "CREATE TABLE h (id int PRIMARY KEY)")

    def checks() -> dict[str, dict]:
        return {c["check"]: c for c in health_check(ws, pg_logical_url)["checks"]}

    try:
        with connect(pg_logical_url) as running:
            running.change_capture("health1", ["h"]).prepare()
            live = checks()
            pid = running.session_id()
        wait_session_gone(pg_logical_url, pid)
        sql(pg_logical_url, "INSERT INTO h VALUES (1)")
        dead = checks()
        status = run_status(ws, None, db=pg_logical_url)
        code = main(["--workspace", str(workspace_dir), "run-status", "--db", pg_logical_url])
        printed = capsys.readouterr().out
    finally:
        with connect(pg_logical_url) as backend:
            backend.drop_capture_leftovers("health1")
    assert code == 0
    assert live["replication_slots"]["ok"] and live["capture_leftovers"]["ok"]
    assert dead["capture_leftovers"]["ok"] is False
    detail = dead["capture_leftovers"]["detail"]
    assert "run health1" in detail and "datamigration sync stop health1 --yes" in detail
    assert "pg_drop_replication_slot('dm_sync_health1')" in detail
    assert dead["replication_slots"]["ok"]  # named once, by the capture check
    (abandoned,) = status["captures"]["abandoned"]
    assert (
        abandoned["run"] == "health1"
        and abandoned["command"] == "datamigration sync stop health1 --yes"
    )
    assert "abandoned change capture: run health1: slot dm_sync_health1" in printed
    assert checks()["capture_leftovers"]["ok"]


KILLED_READER = """
import sys
from datamigration.db.base import connect
with connect(sys.argv[1]) as backend:
    cap = backend.change_capture("killed1", ["kept"])
    cap.prepare()
    print("ready", flush=True)
    sys.stdin.readline()
    print("reading", flush=True)
    cap.read()
    print("done", flush=True)
"""


def test_a_sync_killed_in_the_middle_of_a_read_can_start_again_at_once(
    pg_logical_url: str,
) -> None:
    import os
    import signal
    import subprocess
    import sys

    sql(pg_logical_url, "CREATE TABLE kept (id int PRIMARY KEY)", "CREATE TABLE noise (n int)")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    reader = subprocess.Popen([sys.executable, "-c", KILLED_READER, pg_logical_url], env=env,
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)  # fmt: skip
    try:
        assert reader.stdout.readline().strip() == "ready"
        # a long read: the server decodes a million rows of a table the slot does not publish
        sql(pg_logical_url, "INSERT INTO noise SELECT generate_series(1, 1000000)",
            "INSERT INTO kept VALUES (1)")  # fmt: skip
        reader.stdin.write("go\n")
        reader.stdin.flush()
        assert reader.stdout.readline().strip() == "reading"
        deadline = time.monotonic() + 30
        with psycopg.connect(pg_logical_url, autocommit=True) as conn:
            while not conn.execute("SELECT active_pid FROM pg_replication_slots").fetchone()[0]:
                assert reader.poll() is None and time.monotonic() < deadline
                time.sleep(0.01)
        os.kill(reader.pid, signal.SIGKILL)
        reader.wait(timeout=30)
        with connect(pg_logical_url) as backend:
            again = LogicalCapture(backend, "killed1", ["kept"])
            try:
                assert again.prepare()["reused"] is True  # waited for the killed read to end
                assert [e.key for e in again.read()] == [{"id": 1}]
            finally:
                again.teardown()
    finally:
        if reader.poll() is None:
            reader.kill()
