"""`run-status` when the database is gone, and relative SQLite URLs under `--workspace`.

A relative `sqlite:///app.db` names the workspace's app.db (as it does in datamigration.toml),
wherever the command is started from; and a run-status that cannot reach the target database
reports what the local run log knows instead of calling finished steps pending.
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

from datamigration.cli import main as cli_main

pytestmark = pytest.mark.e2e


def cli(ws: Path, *args: str) -> int:
    return cli_main(["--workspace", str(ws), *args])


def columns(db: Path) -> list[str]:
    with sqlite3.connect(db) as c:
        return [r[1] for r in c.execute("PRAGMA table_info(users)")]


@pytest.fixture
def elsewhere(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The current directory is not the workspace (and holds no app.db)."""
    cwd = tmp_path / "elsewhere"
    cwd.mkdir()
    monkeypatch.chdir(cwd)
    return cwd


@pytest.fixture
def executed(workspace_dir: Path, elsewhere: Path, capsys: pytest.CaptureFixture[str]) -> str:
    db = workspace_dir / "app.db"
    with sqlite3.connect(db) as c:
        c.execute("CREATE TABLE users (id INTEGER PRIMARY KEY, email TEXT NOT NULL)")
        c.executemany("INSERT INTO users VALUES (?, ?)", [(i, f"u{i}@x") for i in range(1, 51)])
    spec = workspace_dir / "spec.json"
    spec.write_text('{"kind": "add_column", "table": "users", "column": "n", "type": "integer"}')
    assert cli(workspace_dir, "plan", "spec.json", "--db", "sqlite:///app.db", "--json") == 0
    plan = json.loads(capsys.readouterr().out)["plan"]
    assert cli(workspace_dir, "execute", plan["id"], "--hash", plan["hash"], "--all", "--yes") == 0
    capsys.readouterr()
    return plan["id"]


def test_a_relative_sqlite_url_names_the_file_in_the_workspace_not_the_current_directory(
    workspace_dir: Path, elsewhere: Path, executed: str
) -> None:
    assert columns(workspace_dir / "app.db") == ["id", "email", "n"]
    assert not (elsewhere / "app.db").exists()


def test_run_status_without_the_database_reports_the_local_log_and_says_so(
    workspace_dir: Path, elsewhere: Path, executed: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli(workspace_dir, "run-status", executed, "--json") == 0
    reached = json.loads(capsys.readouterr().out)
    assert reached["source"] == "target database"
    assert {s["status"] for s in reached["steps"]} == {"done"}
    # The database server is down (nothing listens on port 1): the local log still knows.
    down = "postgresql://postgres@127.0.0.1:1/app"
    assert cli(workspace_dir, "run-status", executed, "--db", down, "--json") == 0
    offline = json.loads(capsys.readouterr().out)
    assert offline["source"] == "local log" and offline["database_error"]
    assert [s["status"] for s in offline["steps"]] == [s["status"] for s in reached["steps"]]
    assert "could not be reached" in offline["summary"]
    assert cli(workspace_dir, "run-status", executed, "--db", down) == 0
    text = capsys.readouterr().out
    assert "pending" not in text and "database not reached" in text
