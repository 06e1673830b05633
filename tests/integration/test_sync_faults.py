"""A sync run that crashed (its detached process SIGKILLed) or was aborted (Ctrl-C in the
foreground) leaves its capture on the source on purpose, so that the same command resumes
without losing a change; `sync status` and `run-status` name what is left, and `sync stop`
removes it. Checked for every capture method against the database's own catalogs:
PostgreSQL logical decoding (pg_replication_slots, pg_publication), PostgreSQL, MariaDB and
SQLite triggers (pg_trigger, information_schema.TRIGGERS, sqlite_master)."""

from __future__ import annotations

import os
import signal
import sqlite3
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from datamigration.cli import main
from datamigration.db import connect
from datamigration.execute.service import run_status
from datamigration.move.sync.control import RunFiles, spawn, sync_status
from datamigration.move.sync.request import SyncRequest
from datamigration.move.sync.runner import start_sync
from datamigration.workspace.root import Workspace

pytestmark = pytest.mark.integration

ROWS = 2_000
PREFIX = "dm_sync_"

CATALOGS = {
    "logical": ("SELECT slot_name FROM pg_replication_slots "
                "UNION ALL SELECT pubname FROM pg_publication"),
    "pg_trigger": ("SELECT tgname FROM pg_trigger WHERE NOT tgisinternal "
                   "UNION ALL SELECT relname FROM pg_class WHERE relkind = 'r' "
                   "UNION ALL SELECT proname FROM pg_proc"),
    "mysql_trigger": ("SELECT TRIGGER_NAME FROM information_schema.TRIGGERS "
                      "WHERE TRIGGER_SCHEMA = DATABASE() UNION ALL SELECT TABLE_NAME "
                      "FROM information_schema.TABLES WHERE TABLE_SCHEMA = DATABASE()"),
    "sqlite_trigger": "SELECT name FROM sqlite_master WHERE type IN ('table', 'trigger')",
}  # fmt: skip


@dataclass
class Source:
    kind: str
    url: str
    method: str

    def run_sql(self, *statements: str) -> None:
        if self.url.startswith("sqlite"):
            with sqlite3.connect(self.url.removeprefix("sqlite:///")) as conn:
                for s in statements:
                    conn.execute(s)
            return
        with connect(self.url) as b:
            b.execute(list(statements))

    def objects(self, run: str) -> list[str]:
        """Capture objects of `run` in the catalogs, read directly (not through the capture)."""
        with connect(self.url) as b:
            names = [str(r[0]) for r in b.fetch(CATALOGS[self.kind])]
        return sorted(n for n in names if n.startswith(PREFIX + run))


@pytest.fixture(params=list(CATALOGS))
def source(request: pytest.FixtureRequest, tmp_path: Path) -> Source:
    kind = request.param
    if kind == "logical":
        url = request.getfixturevalue("pg_logical_url")
    elif kind == "pg_trigger":
        url = request.getfixturevalue("make_pg_url")()
    elif kind == "mysql_trigger":
        url = request.getfixturevalue("mysql_url")
    else:
        url = f"sqlite:///{tmp_path / 'app.db'}"
    src = Source(kind, url, "logical" if kind == "logical" else "trigger")
    key = "INTEGER PRIMARY KEY" if kind == "sqlite_trigger" else "int PRIMARY KEY"
    src.run_sql(f"CREATE TABLE accounts (id {key}, balance int NOT NULL, note varchar(40))")
    step = 500
    for lo in range(1, ROWS + 1, step):
        values = ", ".join(f"({i}, {i % 97}, 'seed')" for i in range(lo, lo + step))
        src.run_sql(f"INSERT INTO accounts VALUES {values}")
    return src


def wait_for(check: Callable[[], Any], what: str, seconds: float = 90.0) -> Any:
    deadline = time.monotonic() + seconds
    while not (value := check()):
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.1)
    return value


def request(src: Source, target: str, ws: Path, run: str) -> SyncRequest:
    return SyncRequest(src.url, target, ("accounts",), run=run, method=src.method,
                       workspace=str(ws))  # fmt: skip


def applied(target: str, run: str) -> int:
    with connect(target) as b:
        store = b.sync_state_table("_datamigration_sync")
        store.ensure()
        state = store.get(run) or {}
    return int(state.get("applied", 0))


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
