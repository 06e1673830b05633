"""A sync run that crashed (its detached process SIGKILLed) or was aborted (Ctrl-C in the
foreground) leaves its capture on the source on purpose, so that the same command resumes
without losing a change; `sync status` and `run-status` name what is left, and `sync stop`
removes it. Checked for every capture method against the database's own catalogs:
PostgreSQL logical decoding (pg_replication_slots, pg_publication), PostgreSQL, MariaDB and
SQLite triggers (pg_trigger, information_schema.TRIGGERS, sqlite_master)."""

from __future__ import annotations

import os
import signal
from pathlib import Path
from typing import Any

import pytest

from datamigration.cli import main
from datamigration.db import connect
from datamigration.execute.service import run_status
from datamigration.move.sync.control import RunFiles, spawn, stop_sync, sync_status
from datamigration.move.sync.request import SyncRequest
from datamigration.move.sync.runner import start_sync
from datamigration.move.sync.switch import sync_status as run_state
from datamigration.validate.diff import diff_tables
from datamigration.workspace.root import Workspace
from support.sync_sources import KINDS, Source, open_source, wait_for

pytestmark = pytest.mark.integration


@pytest.fixture(params=KINDS)
def source(request: pytest.FixtureRequest, tmp_path: Path) -> Source:
    return open_source(request, tmp_path, rows=2_000)


def request(src: Source, target: str, ws: Path, run: str) -> SyncRequest:
    return SyncRequest(src.url, target, ("accounts",), run=run, method=src.method,
                       workspace=str(ws))  # fmt: skip


def applied(target: str, run: str) -> int:
    with connect(target) as b:
        store = b.sync_state_table("_datamigration_sync")
        store.ensure()
        state = store.get(run) or {}
    return int(state.get("applied", 0))


def snapshot_done(ws: Workspace, run: str, target: str, source: str) -> bool:
    return bool(run_state(run, ws, target=target, source=source).get("snapshot_done"))


def left_and_named_then_removed(src: Source, ws: Path, run: str, capsys: Any) -> None:
    """What the run left is in the catalogs, named by `sync status` and `run-status`; `sync
    stop` removes it and nothing of the run is in the catalogs after."""
    left = src.objects(run)
    assert left, "the capture was kept for a resume"
    workspace = Workspace.open(ws)
    status = sync_status(workspace, run)["runs"][0]
    assert status["alive"] is False
    assert sorted(x["name"] for x in status["leftovers"]) == left
    captures = run_status(workspace, None, db=src.url)["captures"]
    assert run in {c["run"] for c in captures["abandoned"] + captures["unknown"]}
    capsys.readouterr()
    assert main(["--workspace", str(ws), "sync", "status", run]) == 0
    printed = capsys.readouterr().out
    assert "on the source: " in printed and all(name in printed for name in left)
    assert main(["--workspace", str(ws), "sync", "stop", run, "--yes"]) == 0
    assert "removed from the source: dm_sync_" in capsys.readouterr().out
    assert src.objects(run) == []
    assert sync_status(workspace, run)["runs"][0]["leftovers"] == []


def test_a_sync_killed_with_sigkill_leaves_its_capture_named_and_sync_stop_removes_it(
    source: Source, pg_url: str, workspace_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run = "fault_kill"
    ws = Workspace.open(workspace_dir)
    started = spawn(request(source, pg_url, workspace_dir, run), ws)
    wait_for(lambda: source.objects(run), "the capture")
    source.run_sql("UPDATE accounts SET note = 'during' WHERE id <= 50")
    wait_for(lambda: applied(pg_url, run) >= 50, "the first changes applied")
    os.kill(started["pid"], signal.SIGKILL)
    os.waitpid(started["pid"], 0)
    assert not RunFiles(ws, run).alive()
    source.run_sql("UPDATE accounts SET note = 'after' WHERE id <= 5")  # the source goes on
    if source.kind == "logical":  # the killed session's lock goes when the server notices
        wait_for(lambda: all(x.get("live") is False for x in
                             sync_status(ws, run)["runs"][0]["leftovers"]), "the session gone")  # fmt: skip
    left_and_named_then_removed(source, workspace_dir, run, capsys)


def test_a_sync_aborted_with_ctrl_c_leaves_its_capture_named_and_sync_stop_removes_it(
    source: Source, pg_url: str, workspace_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run = "fault_abort"
    seen: list[str] = []

    def interrupt(event: str, data: dict[str, Any]) -> None:
        seen.append(event)
        if event == "batch":
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        start_sync(request(source, pg_url, workspace_dir, run), progress=interrupt)
    assert "snapshot_finish" in seen or "start" in seen
    with connect(pg_url) as b:
        assert b.sync_state_table("_datamigration_sync").get(run)["status"] == "stopped"
    left_and_named_then_removed(source, workspace_dir, run, capsys)


def test_a_sync_killed_mid_stream_and_started_again_ends_equal_to_the_source(
    source: Source, pg_url: str, workspace_dir: Path
) -> None:
    run = "fault_resume"
    ws = Workspace.open(workspace_dir)
    req = request(source, pg_url, workspace_dir, run).with_(batch_size=20)
    first = spawn(req, ws)
    wait_for(lambda: snapshot_done(ws, run, pg_url, source.url), "the snapshot")
    base = applied(pg_url, run)
    for lo in range(1, 2_001, 50):  # transactions of 50 rows (a capture applies whole ones)
        source.run_sql(f"UPDATE accounts SET balance = balance + 1, note = 'streamed' "
                       f"WHERE id BETWEEN {lo} AND {lo + 49}",
                       f"DELETE FROM accounts WHERE id % 10 = 0 AND id BETWEEN {lo} AND {lo + 49}")  # fmt: skip
    wait_for(lambda: applied(pg_url, run) >= base + 200, "part of the stream applied")
    os.kill(first["pid"], signal.SIGKILL)
    os.waitpid(first["pid"], 0)
    cut = applied(pg_url, run) - base
    assert 200 <= cut < 2_000 + 200  # killed mid-stream
    source.run_sql("INSERT INTO accounts VALUES (5001, 1, 'while down')",
                   "UPDATE accounts SET note = 'while down' WHERE id <= 3")  # fmt: skip
    second = spawn(req, ws)
    try:
        wait_for(lambda: diff_tables(source.url, "accounts", pg_url, "accounts")["identical"],
                 "the restarted sync to catch up")  # fmt: skip
    finally:
        stop_sync(ws, run, wait_s=10)
        os.waitpid(second["pid"], 0)
    assert diff_tables(source.url, "accounts", pg_url, "accounts")["rows_compared"] == 1_801
    assert source.objects(run) == []
