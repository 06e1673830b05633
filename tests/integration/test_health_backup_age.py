"""The health check reports the age of the newest verified backup of the database and calls it
a problem when there is none or it is older than `[backup] max_age_hours` (the executor's gate
asks the same before a step that can lose data); with `[backup] required = false` it is only
reported. The CLI's `datamigration health DB` prints the same line."""

from __future__ import annotations

import datetime as dt
import sqlite3
from pathlib import Path

import pytest

from datamigration.cli import main
from datamigration.safety.backup.manifest import backups_dir, read_manifest, write_manifest
from datamigration.safety.backup.take import take_backup
from datamigration.safety.health import health_check
from datamigration.workspace.root import Workspace

pytestmark = pytest.mark.integration


@pytest.fixture(autouse=True)
def backup_required(monkeypatch) -> None:
    monkeypatch.setenv("DATAMIGRATION_BACKUP_REQUIRED", "true")


@pytest.fixture
def ws(workspace_dir: Path, sqlite_url: str) -> Workspace:
    with sqlite3.connect(sqlite_url.removeprefix("sqlite:///")) as c:
        c.execute("CREATE TABLE users (id INTEGER PRIMARY KEY, name TEXT)")
        c.executemany("INSERT INTO users (name) VALUES (?)", [("ann",), ("bob",)])
    return Workspace.open(str(workspace_dir))


def backup_row(out: dict) -> dict:
    (row,) = [c for c in out["checks"] if c["check"] == "backup"]
    return row


def age_backup(ws: Workspace, backup_id: str, hours: float) -> None:
    folder = backups_dir(ws) / backup_id
    m = read_manifest(folder)
    then = dt.datetime.now(dt.UTC) - dt.timedelta(hours=hours)
    m["created_at"] = then.strftime("%Y-%m-%dT%H:%M:%SZ")
    write_manifest(folder, m)


def test_health_calls_a_database_without_a_verified_backup_not_safe_and_says_how_to_take_one(
    ws, sqlite_url
):
    out = health_check(ws, sqlite_url, heavy=False)
    row = backup_row(out)
    assert row["ok"] is False and "no verified backup" in row["detail"]
    assert "backup" in row["detail"] and not out["safe"]
    assert any(r.startswith("backup:") for r in out["reasons"])
    assert out["backup"]["id"] is None and out["backup"]["max_age_hours"] == 24.0


def test_health_reports_the_age_of_the_newest_verified_backup_and_fails_it_once_too_old(
    ws, sqlite_url
):
    old = take_backup(ws, sqlite_url, ["users"])
    age_backup(ws, old["id"], 30)
    stale = health_check(ws, sqlite_url, heavy=False)
    row = backup_row(stale)
    assert row["ok"] is False and old["id"] in row["detail"]
    assert "30.0 h old" in row["detail"] and "limit of 24 h" in row["detail"]
    assert stale["backup"]["age_hours"] == pytest.approx(30, abs=0.1)
    fresh = take_backup(ws, sqlite_url)
    out = health_check(ws, sqlite_url, heavy=False)
    row = backup_row(out)
    assert row["ok"] is True and fresh["id"] in row["detail"], row
    assert "the whole database" in row["detail"] and out["safe"], out["reasons"]
    assert out["backup"]["id"] == fresh["id"] and out["backup"]["age_hours"] < 1


def test_the_configured_age_limit_applies_and_a_backup_not_required_is_only_reported(
    ws, sqlite_url, workspace_dir, monkeypatch
):
    taken = take_backup(ws, sqlite_url, ["users"])
    age_backup(ws, taken["id"], 3)
    (workspace_dir / "datamigration.toml").write_text("[backup]\nmax_age_hours = 2\n")
    strict = Workspace.open(str(workspace_dir))
    assert backup_row(health_check(strict, sqlite_url, heavy=False))["ok"] is False
    monkeypatch.setenv("DATAMIGRATION_BACKUP_REQUIRED", "false")
    relaxed = health_check(strict, sqlite_url, heavy=False)
    row = backup_row(relaxed)
    assert row["ok"] is None and "not required" in row["detail"] and relaxed["safe"]


def test_the_cli_health_command_prints_the_backup_line(ws, sqlite_url, capsys):
    taken = take_backup(ws, sqlite_url, ["users"])
    code = main(["--workspace", str(ws.root), "health", sqlite_url, "--light"])
    printed = capsys.readouterr().out
    (line,) = [x for x in printed.splitlines() if "] backup:" in x]
    assert code == 0 and "[ok]" in line and taken["id"] in line and "h old" in line
