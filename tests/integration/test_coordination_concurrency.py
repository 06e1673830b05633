"""Many writers at once: status.json and the bus lose nothing, even when a lock holder is killed.

In the integration tier because it forks ten processes and does 3,200 locked writes (tens of
seconds on a shared machine); the quick lock edge cases stay in tests/unit."""

from __future__ import annotations

import json
import multiprocessing
import os
import signal
from pathlib import Path

import pytest

from datamigration.coordination import bus, status
from datamigration.coordination.locking import FileLock
from datamigration.workspace.root import Workspace

WORKERS = 8
OPS = 200  # per worker: 200 status updates and 200 bus appends

CTX = multiprocessing.get_context("fork")

pytestmark = pytest.mark.integration


def _worker(root: str, p: int, start: multiprocessing.synchronize.Event) -> None:
    ws = Workspace.open(root)
    start.wait()
    half = OPS // 2
    for i in range(OPS):
        if i < half:
            status.new_story(ws, f"US-{p}-{i:03d}", f"story {i} of worker {p}")
        else:
            status.update_story(ws, f"US-{p}-{i - half:03d}", status="in-progress")
        bus.post(ws, "finding", f"worker {p} op {i}", story=f"US-{p}-{i % half:03d}")


def _holder(root: str, ready: multiprocessing.synchronize.Event) -> None:
    """Takes both locks and never lets go: only SIGKILL ends it."""
    ws = Workspace.open(root)
    paths = status.coordination_paths(ws)
    FileLock(paths.status).acquire()
    FileLock(paths.bus).acquire()
    ready.set()
    signal.pause()


def _busy_victim(root: str, log: str, progressed: multiprocessing.synchronize.Event) -> None:
    """Does real updates and records each one only after it returned; killed mid-stream."""
    ws = Workspace.open(root)
    with open(log, "a", encoding="utf-8") as done:
        for i in range(10_000):
            status.new_story(ws, f"US-V-{i:04d}", "victim story")
            bus.post(ws, "finding", f"victim op {i}")
            done.write(f"{i}\n")
            done.flush()
            if i == 20:
                progressed.set()


def _all_bus_lines(ws: Workspace) -> list[str]:
    paths = status.coordination_paths(ws)
    files = [*sorted(paths.bus_archive_dir.glob("*.jsonl")), paths.bus]
    lines: list[str] = []
    for f in files:
        if f.exists():
            lines.extend(ln for ln in f.read_text(encoding="utf-8").split("\n") if ln)
    return lines


@pytest.mark.timeout(240)
def test_eight_writers_and_a_killed_lock_holder_lose_no_update_and_tear_no_line(
    workspace_dir: Path, tmp_path: Path
) -> None:
    root = str(workspace_dir)
    # Generous on a loaded CI machine: this test is about losing nothing, not about latency.
    (workspace_dir / "datamigration.toml").write_text(
        "[coordination]\nlock_timeout_seconds = 120\n"
    )
    ws = Workspace.open(root)
    ready = CTX.Event()
    holder = CTX.Process(target=_holder, args=(root, ready))
    holder.start()
    assert ready.wait(30)

    start = CTX.Event()
    workers = [CTX.Process(target=_worker, args=(root, p, start)) for p in range(WORKERS)]
    for w in workers:
        w.start()
    progressed = CTX.Event()
    victim_log = tmp_path / "victim.log"
    victim = CTX.Process(target=_busy_victim, args=(root, str(victim_log), progressed))

    # The workers start while a lock holder is alive; they can only proceed once it is killed
    # (and is still an unreaped zombie for a while, which must also count as dead).
    start.set()
    os.kill(holder.pid, signal.SIGKILL)
    victim.start()
    assert progressed.wait(120)
    os.kill(victim.pid, signal.SIGKILL)  # at an arbitrary point, possibly holding a lock
    holder.join()
    victim.join()
    for w in workers:
        w.join(200)
        assert w.exitcode == 0, f"worker exit code {w.exitcode}"

    board = status.load(ws)
    stories = {s["id"]: s for s in board.stories()}
    for p in range(WORKERS):
        for i in range(OPS // 2):
            assert stories[f"US-{p}-{i:03d}"]["status"] == "in-progress"
    victim_done = [int(x) for x in victim_log.read_text().split()]
    assert len(victim_done) >= 21
    for i in victim_done:
        assert f"US-V-{i:04d}" in stories

    lines = _all_bus_lines(ws)
    messages = [json.loads(line) for line in lines]  # every line is one whole JSON object
    texts = [m["text"] for m in messages]
    for p in range(WORKERS):
        for i in range(OPS):
            assert f"worker {p} op {i}" in texts
    for i in victim_done:
        assert f"victim op {i}" in texts
    assert sum(1 for m in messages if m["type"] == "status") == WORKERS * OPS // 2
    assert sum(1 for m in messages if m["type"] == "story-created") >= WORKERS * OPS // 2
    # Rotation happened along the way and kept every line somewhere.
    assert list(status.coordination_paths(ws).bus_archive_dir.glob("*-archive.jsonl"))
