"""Crash safety of the copy: a copy process killed with SIGKILL at a random moment, then
resumed, ends with an empty diff, no duplicated row and no state left behind."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
from pathlib import Path

import psycopg
import pytest

from datamigration.move import CopyRequest, run_copy
from support import movedata

pytestmark = pytest.mark.integration

CLI = "import sys; from datamigration.cli import main; sys.exit(main(sys.argv[1:]))"
ROUNDS = 10


def _reset(url: str) -> None:
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("DROP TABLE IF EXISTS orders, users, _datamigration_copy CASCADE")


def _killed_copy(
    src: str, dst: str, ws: Path, after_lines: int, extra: tuple[str, ...] = ()
) -> int | None:
    """Start `datamigration copy`, kill it with SIGKILL after `after_lines` progress lines;
    None when it was killed, else its exit code (it finished first)."""
    argv = [sys.executable, "-c", CLI, "--workspace", str(ws), "copy", src, dst,
            "--tables", "users,orders", "--partition-rows", "400", "--batch-size", "100",
            "--workers", "2", "--yes", *extra]  # fmt: skip
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            env=os.environ.copy())  # fmt: skip
    assert proc.stderr is not None
    for _ in range(after_lines):
        if not proc.stderr.readline():
            break
    if proc.poll() is not None:
        return proc.wait()
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    proc.stderr.close()
    return None


def test_ten_copies_killed_at_random_moments_each_resume_to_an_exact_copy(
    make_pg_url, workspace_dir: Path
) -> None:
    src, dst = make_pg_url(), make_pg_url()
    movedata.seed_postgres(src, users=2000, orders=5000)
    rng = random.Random(12)
    killed = 0
    for round_ in range(ROUNDS):
        _reset(dst)
        code = _killed_copy(src, dst, workspace_dir, rng.randint(0, 24))
        if code is None:
            killed += 1
            request = CopyRequest(src, dst, ("users", "orders"), workspace=str(workspace_dir),
                                  resume=True, partition_rows=400, batch_size=100)  # fmt: skip
            report = run_copy(request)
            assert report["passed"], (round_, report["validation"])
        else:
            assert code == 0, round_
        counts = movedata.pg_scalar(
            dst, "SELECT (SELECT count(*) FROM users) * 100000 + (SELECT count(*) FROM orders)"
        )
        assert counts == 2000 * 100000 + 5000, round_
        assert movedata.pg_scalar(dst, "SELECT count(DISTINCT id) FROM orders") == 5000
        assert movedata.inspected(dst, "_datamigration_copy") is None, round_
        cons = movedata.pg_constraints(dst, "orders") | movedata.pg_constraints(dst, "users")
        assert cons["orders_user_fk"] == "f" and cons["users_email_key"] == "u", round_
    assert killed >= ROUNDS // 2


def _backends_on(url: str) -> int:
    name = url.rsplit("/", 1)[1].split("?")[0]
    with psycopg.connect(url, autocommit=True) as conn:
        return conn.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()",
            (name,),
        ).fetchone()[0]


def test_a_sqlite_copy_on_worker_processes_killed_leaves_no_worker_behind_and_resumes_exactly(
    make_pg_url, workspace_dir: Path
) -> None:
    import time

    path = workspace_dir / "app.db"
    movedata.seed_sqlite(path, users=2000, orders=5000)
    src, dst = f"sqlite:///{path}", make_pg_url()
    killed = 0  # the copy runs its 18 partitions on two worker processes
    for after in (3, 6, 10):
        _reset(dst)
        if _killed_copy(src, dst, workspace_dir, after, ("--pool", "process")) is None:
            deadline = time.monotonic() + 20
            while _backends_on(dst) and time.monotonic() < deadline:
                time.sleep(0.1)  # the killed copy's workers are going: poll, with a deadline
            assert _backends_on(dst) == 0, after  # no orphaned worker still writing
            request = CopyRequest(src, dst, ("users", "orders"), workspace=str(workspace_dir),
                                  resume=True, partition_rows=400, batch_size=100,
                                  pool="process", workers=2)  # fmt: skip
            report = run_copy(request)
            assert report["passed"] and report["pool"] == "process", after
            killed += 1
        assert movedata.pg_scalar(dst, "SELECT count(DISTINCT id) FROM orders") == 5000
        assert movedata.pg_scalar(dst, "SELECT count(*) FROM orders") == 5000
        assert movedata.inspected(dst, "_datamigration_copy") is None, after
    assert killed >= 2
