"""Lock edge cases: a dead holder's lock is taken over, an empty lock waits a grace period, a
live holder makes writers time out without writing. The many-writers soak test lives in
tests/integration/test_coordination_concurrency.py (it takes tens of seconds)."""

from __future__ import annotations

import multiprocessing
import os
from pathlib import Path

import pytest

from datamigration.coordination import bus, status
from datamigration.coordination.locking import FileLock
from datamigration.errors import LockTimeoutError
from datamigration.workspace.root import Workspace

CTX = multiprocessing.get_context("fork")


def test_a_lock_left_by_a_dead_process_is_taken_over(workspace_dir: Path) -> None:
    ws = Workspace.open(workspace_dir)
    status.new_story(ws, "US-0001", "one")
    dead = CTX.Process(target=os._exit, args=(0,))
    dead.start()
    dead.join()
    lock = status.coordination_paths(ws).status.with_name("status.json.lock")
    lock.write_text(f"{dead.pid}\n")
    status.update_story(ws, "US-0001", status="in-progress")
    assert status.get_story(ws, "US-0001")["status"] == "in-progress"
    assert not lock.exists()


def test_an_empty_lock_file_is_stale_only_after_a_grace_period(workspace_dir: Path) -> None:
    (workspace_dir / "datamigration.toml").write_text(
        "[coordination]\nlock_timeout_seconds = 0.3\n"
    )
    ws = Workspace.open(workspace_dir)
    status.new_story(ws, "US-0001", "one")
    lock = status.coordination_paths(ws).status.with_name("status.json.lock")
    lock.write_text("")
    before = status.coordination_paths(ws).status.read_bytes()
    with pytest.raises(LockTimeoutError) as caught:
        status.update_story(ws, "US-0001", status="in-progress")
    assert "status.json.lock" in caught.value.hint
    assert status.coordination_paths(ws).status.read_bytes() == before
    os.utime(lock, (0, 0))
    status.update_story(ws, "US-0001", status="in-progress")
    assert not lock.exists()


def test_a_live_holder_makes_writers_time_out_without_writing(workspace_dir: Path) -> None:
    (workspace_dir / "datamigration.toml").write_text(
        "[coordination]\nlock_timeout_seconds = 0.2\n"
    )
    ws = Workspace.open(workspace_dir)
    bus.post(ws, "finding", "first")
    log = status.coordination_paths(ws).bus
    before = log.read_bytes()
    with FileLock(log), pytest.raises(LockTimeoutError) as caught:
        bus.post(ws, "finding", "second")
    assert str(os.getpid()) in str(caught.value)
    assert log.read_bytes() == before
