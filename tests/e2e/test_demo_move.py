"""`datamigration demo --move` prints every phase of a zero-downtime move, in order, with its
figures, and ends well: the cutover's and the rollback's checksum diffs empty, no failed write
of the application outside the write pauses, the target's writes replayed to the source by the
rollback (a SQL target), everything it made on the servers dropped, in under a minute.

Only the phases' shape is asserted, not their numbers (lag, pause and counts follow the
machine's load); the shadow step is done or skipped (skipped where the shadow engine is not
part of the build)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import psycopg
import pytest

pytestmark = [pytest.mark.e2e, pytest.mark.integration]

CLI = str(Path(sys.executable).parent / "datamigration")
PHASES = (
    r"✓ 1\. Create the sample shop on the source",
    r"✓ 2\. Sync start: .*: run demo_move: trigger capture, snapshot copied, streaming",
    r"✓ 3\. Catch-up: .*: lag \d+\.\d\d s \(bound 2 s\)",
    r"[✓-] 4\. Shadow reads",
    (
        r"✓ 5\. Cutover: .*: write pause \d+ ms \(bound 5000 ms\), diff empty, flag "
        r"users_reads_from_target on"
    ),
    r"✓ 6\. The application writes the target now: \d+ writes on the target since the cutover",
    r"✓ 7\. Rollback of the cutover",
    (
        r"✓ 8\. Final checksum diffs, and what the application saw: diffs empty; application: "
        r"\d+ writes, 0 failed \(0 outside the write pauses\)"
    ),
    r"✓ 9\. Stop the syncs and remove what the demo created on the servers",
    r"ok: 8 steps done, 1 skipped, 0 failed in \d+\.\d s|ok: 9 steps done, 0 skipped",
)


def run_demo(tmp_path: Path, *args: str) -> str:
    proc = subprocess.run(
        [CLI, "demo", "--move", "--dir", str(tmp_path / "ws"), *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        cwd=tmp_path,
        env={**os.environ, "COLUMNS": "250", "NO_COLOR": "1"},
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr[-2000:]
    return proc.stdout


def assert_phases_in_order(out: str) -> None:
    at = 0
    for phase in PHASES:
        found = re.compile(phase).search(out, at)
        assert found, f"missing or out of order: {phase}\n{out}"
        at = found.end()
    seconds = float(re.search(r"failed in (\d+\.\d) s", out).group(1))
    assert seconds < 60, out


def demo_databases(admin: str) -> set[str]:
    with psycopg.connect(admin, autocommit=True) as c:
        rows = c.execute("SELECT datname FROM pg_database WHERE datname LIKE 'dm_demo_%'")
        return {r[0] for r in rows}


def test_the_move_demo_runs_offline_from_one_sqlite_file_to_another(tmp_path: Path) -> None:
    out = run_demo(tmp_path)
    assert_phases_in_order(out)
    assert re.search(r"write pause \d+ ms \(bound 5000 ms\), diff empty", out)
    assert re.search(r"\d+ changes replayed to the source", out)
    assert "moved.db stays in the workspace" in out


def test_the_move_demo_cuts_sqlite_over_to_postgresql_and_rolls_back_with_every_write_kept(
    tmp_path: Path, pg_admin_url: str
) -> None:
    before = demo_databases(pg_admin_url)
    out = run_demo(tmp_path, "--db", pg_admin_url)
    assert_phases_in_order(out)
    on_target = int(re.search(r"(\d+) writes on the target since the cutover", out).group(1))
    replayed = int(re.search(r"(\d+) changes replayed to the source", out).group(1))
    assert on_target >= 20 and replayed >= on_target, out
    assert "at the rollback (under the pause): source and target identical" in out
    assert "reverse sync demo_move_back from the target started" in out
    assert demo_databases(pg_admin_url) == before


def test_the_move_demo_cuts_postgresql_over_to_mongodb_and_reports_the_targets_writes(
    tmp_path: Path, pg_admin_url: str, mongo_url: str
) -> None:
    before = demo_databases(pg_admin_url)
    out = run_demo(tmp_path, "--db", pg_admin_url, "--source", "postgresql", "--target", mongo_url)
    assert_phases_in_order(out)
    assert "no reverse capture on a document store" in out
    assert re.search(r"\d+ writes made on the target stay there \(reported, not replayed\)", out)
    assert demo_databases(pg_admin_url) == before
