"""The executor's CLI twins end to end on the embedded SQLite database: plan, dry run, the
--yes gate, execute, run-status, rollback; exit codes and what the database holds after each."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.e2e

CLI = str(Path(sys.executable).parent / "datamigration")


def cli(ws: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [CLI, "--workspace", str(ws), *args], capture_output=True, text=True, timeout=120,
        check=False,
    )  # fmt: skip


def columns(db: Path) -> list[str]:
    with sqlite3.connect(db) as c:
        return [r[1] for r in c.execute("PRAGMA table_info(users)")]


@pytest.fixture
def planned(workspace_dir: Path) -> tuple[Path, str, str, str]:
    db = workspace_dir / "app.db"
    with sqlite3.connect(db) as c:
        c.execute("CREATE TABLE users (id INTEGER PRIMARY KEY, email TEXT NOT NULL, n INTEGER)")
        c.executemany(
            "INSERT INTO users (id, email, n) VALUES (?, ?, ?)",
            [(i, f"u{i}@x", i) for i in range(1, 2101)],
        )
    spec = workspace_dir / "spec.json"
    spec.write_text(json.dumps({"kind": "change_type", "table": "users", "column": "n",
                                "type": "bigint"}))  # fmt: skip
    url = f"sqlite:///{db}"
    out = cli(workspace_dir, "plan", str(spec), "--db", url, "--json")
    assert out.returncode == 0, out.stderr
    plan = json.loads(out.stdout)["plan"]
    return db, url, plan["id"], plan["hash"]


def test_dry_run_prints_the_exact_statements_and_changes_nothing(workspace_dir, planned):
    db, url, pid, phash = planned
    out = cli(workspace_dir, "execute", pid, "--hash", phash[:12], "--db", url, "--all",
              "--dry-run")  # fmt: skip
    assert out.returncode == 0, out.stderr
    assert "DRY RUN" in out.stdout and "ALTER TABLE" in out.stdout
    assert "keyset backfill of users by id, 10000 rows per batch" in out.stdout
    assert columns(db) == ["id", "email", "n"]
    assert not (workspace_dir / ".datamigration" / "runs").exists()
    # the form the generated migration files point to
    again = cli(workspace_dir, "execute", "--plan", pid, "--hash", phash[:12], "--db", url,
                "--all", "--dry-run")  # fmt: skip
    assert again.returncode == 0 and again.stdout == out.stdout


def test_without_yes_nothing_runs_and_the_exit_code_says_confirmation_is_needed(
    workspace_dir, planned
):
    db, url, pid, phash = planned
    out = cli(workspace_dir, "execute", pid, "--hash", phash, "--db", url, "--all")
    assert out.returncode == 3
    assert "confirmation needed" in out.stderr and "--yes" in out.stderr
    assert columns(db) == ["id", "email", "n"]


def test_a_wrong_hash_is_refused(workspace_dir, planned):
    _, url, pid, _ = planned
    out = cli(workspace_dir, "execute", pid, "--hash", "0" * 12, "--db", url, "--all", "--yes")
    assert out.returncode != 0 and "never had the hash 000000000000" in out.stderr


def test_execute_step_by_step_then_status_then_rollback(workspace_dir, planned):
    db, url, pid, phash = planned
    with sqlite3.connect(db) as c:
        before = c.execute("SELECT group_concat(id || ':' || n) FROM users").fetchone()
    out = cli(workspace_dir, "execute", pid, "--hash", phash, "--db", url, "--yes")
    assert out.returncode == 0, out.stderr
    assert "s01" in out.stdout and "remaining: s02" in out.stdout  # the next step only
    out = cli(workspace_dir, "execute", pid, "--hash", phash, "--db", url, "--phase", "expand",
              "--yes")  # fmt: skip
    assert out.returncode == 0, out.stderr
    out = cli(workspace_dir, "execute", pid, "--hash", phash, "--db", url, "--phase", "migrate",
              "--yes", "--batch-size", "500")  # fmt: skip
    assert out.returncode == 0, out.stderr
    assert "2100 rows in 5 batches" in out.stdout

    status = cli(workspace_dir, "run-status", pid, "--db", url)
    assert status.returncode == 0, status.stderr
    assert "s01" in status.stdout and ": done" in status.stdout
    assert "2100 rows, 5 batches" in status.stdout
    listing = cli(workspace_dir, "run-status")
    assert pid in listing.stdout

    out = cli(workspace_dir, "rollback", pid, "--hash", phash, "--db", url, "--all", "--yes")
    assert out.returncode == 0, out.stderr
    assert "rolled back" in out.stdout
    assert columns(db) == ["id", "email", "n"]
    with sqlite3.connect(db) as c:
        assert c.execute("SELECT group_concat(id || ':' || n) FROM users").fetchone() == before
    data = json.loads(cli(workspace_dir, "run-status", pid, "--db", url, "--json").stdout)
    assert data["run"]["status"] == "rolled_back"
    assert {s["status"] for s in data["steps"]} <= {"rolled_back", "pending"}
