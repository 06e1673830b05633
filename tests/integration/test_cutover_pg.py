"""Cutover PostgreSQL → PostgreSQL under load, and the rollback after it (trigger capture on the
shared server, logical decoding on a throwaway cluster): an application thread inserts, updates and deletes for the whole run, on the
side the read/write flag names. After the cutover the two sides are equal, no write failed
(the pause only made writes wait), the pause is measured; the rollback brings every write made
to the target back to the source; a cutover whose final diff is not empty flips nothing."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import psycopg
import pytest

from datamigration.db import connect
from datamigration.errors import DataMigrationError
from datamigration.move.sync.control import spawn, stop_sync
from datamigration.move.sync.cutover import (
    CutoverRequest,
    cutover,
    rollback_cutover,
)
from datamigration.move.sync.request import SyncRequest
from datamigration.move.sync.switch import CutoverAbortedError, lag_seconds, sync_status
from datamigration.safety import flags
from datamigration.validate.diff import diff_tables
from datamigration.workspace.root import Workspace
from support.writer import Writer

pytestmark = pytest.mark.integration

ROWS = 300
FLAG = "accounts_reads_from_target"


def seed(url: str) -> None:
    with psycopg.connect(url, autocommit=True) as c:
        c.execute("CREATE TABLE accounts (id int PRIMARY KEY, balance int NOT NULL, note text)")
        c.execute("INSERT INTO accounts SELECT g, g %% 97, 'seed' FROM generate_series(1, %s) g",
                  (ROWS,))  # fmt: skip


def wait_for(check: Callable[[], bool], what: str, seconds: float = 90.0) -> None:
    deadline = time.monotonic() + seconds
    while not check():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.2)


def identical(src: str, dst: str) -> bool:
    return bool(diff_tables(src, "accounts", dst, "accounts")["identical"])


@pytest.fixture(params=["trigger", "logical"])
def moving(request, make_pg_url, workspace_dir: Path) -> Iterator[tuple[str, str, Workspace]]:
    """A source with rows, an empty target, and a sync run `cut_pg` streaming between them:
    captured by triggers (the shared server) or by logical decoding (a wal_level=logical
    throwaway cluster)."""
    logical = request.param == "logical"
    src = request.getfixturevalue("pg_logical_url") if logical else make_pg_url()
    dst = make_pg_url()
    seed(src)
    ws = Workspace.open(workspace_dir)
    spawn(SyncRequest(source=src, target=dst, tables=("accounts",), run="cut_pg",
                      workspace=str(workspace_dir)), ws)  # fmt: skip
    yield src, dst, ws
    for run, target, source in (("cut_pg_back", src, dst), ("cut_pg", dst, src)):
        with contextlib.suppress(DataMigrationError):  # cleanup of what the test left running
            stop_sync(ws, run, teardown=True, target=target, source=source, wait_s=10)


def caught_up(ws: Workspace, run: str, target: str, source: str) -> bool:
    status = sync_status(run, ws, target=target, source=source)
    lag = lag_seconds(status)
    return bool(status.get("snapshot_done")) and lag is not None and lag < 1.0


def test_a_cutover_under_load_flips_with_a_brief_pause_and_the_rollback_returns_every_write(
    moving: tuple[str, str, Workspace],
) -> None:
    src, dst, ws = moving
    writer = Writer(src, dst, ws, FLAG).start()
    wait_for(lambda: caught_up(ws, "cut_pg", dst, src), "the snapshot and catch-up")
    req = CutoverRequest(run="cut_pg", workspace=str(ws.root), pause_max_ms=5_000, lag_max_s=5,
                         wait_s=60)  # fmt: skip
    report = cutover(req)
    assert report["diff"]["identical"] and report["cut_over"] and report["source_kept"]
    pause_ms = report["write_pause_ms"]
    assert 0 < pause_ms <= 5_000
    assert writer.on_target()
    on_target_before = writer.count("target")
    wait_for(lambda: writer.count("target") >= on_target_before + 40, "writes on the target")
    held = [w for w in writer.writes if w.seconds * 1000 > 50]
    assert all(w.seconds * 1000 <= pause_ms + 1_000 for w in held)  # waited at most the pause
    writes = writer.stop()
    assert writer.failed() == [] and writer.count("source") > 0 and writer.count("target") >= 40
    wait_for(lambda: identical(src, dst), "the way back to carry the target's writes")
    back = rollback_cutover(CutoverRequest(run="cut_pg", workspace=str(ws.root),
                                           pause_max_ms=5_000, wait_s=60))  # fmt: skip
    assert back["rolled_back"] and back["diff"]["identical"]
    assert back["write_pause_ms"] is not None and not writer.on_target()
    assert identical(src, dst)
    mine = {w.key for w in writes if w.side == "target" and w.op != "delete"}
    with psycopg.connect(src) as c:
        present = {r[0] for r in c.execute("SELECT id FROM accounts WHERE id >= 100000")}
    deleted = {w.key for w in writes if w.op == "delete"}
    assert mine - deleted <= present  # every row the application wrote to the target
    for url in (src, dst):
        with connect(url) as b:
            assert [x for x in b.capture_leftovers() if x.get("run", "").startswith("cut_pg")] == []


def test_a_cutover_whose_final_diff_is_not_empty_aborts_and_flips_nothing(
    moving: tuple[str, str, Workspace],
) -> None:
    src, dst, ws = moving
    wait_for(lambda: caught_up(ws, "cut_pg", dst, src), "the snapshot and catch-up")
    with psycopg.connect(dst, autocommit=True) as c:  # someone else writes to the target
        c.execute("UPDATE accounts SET note = 'written behind the sync' WHERE id = 7")
    req = CutoverRequest(run="cut_pg", workspace=str(ws.root), pause_max_ms=5_000, wait_s=60)
    with pytest.raises(CutoverAbortedError, match="not empty") as err:
        cutover(req)
    assert err.value.data["diff"]["identical"] is False
    assert flags.evaluate(ws, FLAG, {"targetingKey": "app"})["value"] is False  # not flipped
    assert "accounts_writes_paused" not in flags.load_document(flags.flags_path(ws))["flags"]
    status = sync_status("cut_pg", ws, target=dst, source=src)
    assert status["status"] == "running" and status["alive"]  # the sync goes on
    with psycopg.connect(src, autocommit=True) as c:  # the source takes writes again
        c.execute("UPDATE accounts SET balance = balance + 1 WHERE id = 8")
    with connect(dst) as b:
        assert [x for x in b.capture_leftovers() if x.get("run") == "cut_pg_back"] == []
