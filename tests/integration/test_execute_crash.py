"""Crash test: the executor killed with SIGKILL mid-backfill resumes and finishes, no diff.

The CLI runs the backfill step in a subprocess with a small pause after each batch (so there is
a window to kill it in); the test polls the checkpoint table on the target until it shows
progress, kills the process with SIGKILL, checks that the checkpoint matches the data exactly
(each batch commits with its checkpoint), runs the same command again and compares the table
with a snapshot taken before the run, through the validation engine's checksum diff.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import psycopg
import pytest

from datamigration.validate.diff import DiffOptions, diff_tables
from datamigration.workspace.root import Workspace
from integration.test_execute_engine_pg import checksum, make_plan, rename_steps, run, seed

pytestmark = pytest.mark.integration

ROWS = 200_000
BATCH = 10_000


CLI = str(Path(sys.executable).parent / "datamigration")


def cli(ws: Path, *args: str) -> list[str]:
    return [CLI, "--workspace", str(ws), *args]


def checkpoint(url: str) -> tuple[int, list | None, bool] | None:
    with psycopg.connect(url, autocommit=True) as c:
        try:
            row = c.execute(
                "SELECT batches, last_key, finished FROM datamigration_checkpoints "
                "WHERE op_id = 's02-bf'"
            ).fetchone()
        except psycopg.errors.UndefinedTable:
            return None
    if row is None:
        return None
    return int(row[0]), json.loads(row[1]) if row[1] else None, bool(row[2])


def test_a_backfill_killed_with_sigkill_resumes_and_ends_with_an_empty_diff(workspace_dir, pg_url):
    ws = Workspace.open(str(workspace_dir))
    seed(pg_url, rows=ROWS)
    with psycopg.connect(pg_url, autocommit=True) as c:
        c.execute("CREATE TABLE users_before AS SELECT id, email FROM users")
        c.execute("ALTER TABLE users_before ADD PRIMARY KEY (id)")
    before = checksum(pg_url, "email")
    plan = make_plan(ws, pg_url, rename_steps(batch=BATCH), plan_id="p-crash")
    run(ws, plan, pg_url, step="s01")

    args = ["execute", plan.id, "--hash", plan.hash[:12], "--db", pg_url, "--step", "s02"]
    proc = subprocess.Popen(
        cli(workspace_dir, *args, "--yes", "--quiet", "--batch-pause-ms", "100"),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    deadline = time.monotonic() + 60
    progress = None
    try:
        while time.monotonic() < deadline:
            progress = checkpoint(pg_url)
            if progress is not None and progress[0] >= 3:
                break
            try:
                proc.wait(timeout=0.05)  # bounded wait on the process itself, not a sleep
            except subprocess.TimeoutExpired:
                continue
            pytest.fail(f"executor exited early: {proc.returncode} {proc.stderr.read()!r}")
        else:
            pytest.fail(f"no backfill progress within 60 s: {progress}")
        proc.send_signal(signal.SIGKILL)
        assert proc.wait(timeout=30) == -signal.SIGKILL
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=30)

    batches, last_key, finished = checkpoint(pg_url)
    assert not finished and batches >= 3 and last_key is not None
    assert last_key[0] < ROWS
    # the checkpoint names exactly the rows that were written: batch and checkpoint commit
    # together, and the batch in flight when the process died rolled back
    with psycopg.connect(pg_url) as c:
        filled = c.execute("SELECT count(*) FROM users WHERE email_address IS NOT NULL").fetchone()
        assert filled == (last_key[0],)

    status = json.loads(
        subprocess.run(
            cli(workspace_dir, "run-status", plan.id, "--db", pg_url, "--json"),
            capture_output=True,
            check=True,
            text=True,
        ).stdout
    )
    assert [s["status"] for s in status["steps"]][:2] == ["done", "running"]
    assert status["interrupted"] and "resume" in status["summary"]

    done = subprocess.run(
        cli(workspace_dir, *args, "--yes", "--json"),
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout)
    bf = out["steps"][0]["operations"][0]
    assert bf["resumed_from"] == last_key
    assert bf["rows"] == ROWS - last_key[0]

    assert checksum(pg_url, "email_address") == before
    report = diff_tables(
        pg_url,
        "users_before",
        pg_url,
        "users",
        DiffOptions(columns=("id", "email"), field_map={"email": "email_address"}),
        ws,
    )
    assert report["identical"], report
