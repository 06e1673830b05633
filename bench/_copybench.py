"""Shared pieces of the copy benchmarks (bench_copy_*.py): throwaway PostgreSQL databases, the
`datamigration copy` command run as a child process (its wall time, peak RSS and JSON report),
and a line saying how busy the machine was.

The copy runs as its own process through `_runner.run_command`, so the peak resident memory
reported is the copy's alone (the CLI, its thread pool and its connections), measured by the
kernel (`ru_maxrss` of the child), not sampled.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
import tempfile
import uuid
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import psycopg
from _runner import REPO_ROOT, CommandRun, run_command

ADMIN_URL = os.environ.get("DATAMIGRATION_TEST_PG_URL", "postgresql://postgres@127.0.0.1:5432/test")


def db_url(admin: str, name: str) -> str:
    return admin.rsplit("/", 1)[0] + "/" + name


@contextlib.contextmanager
def databases(admin: str, *labels: str) -> Iterator[list[str]]:
    """Fresh databases on the server of `admin` (dropped afterwards); their URLs."""
    tag = uuid.uuid4().hex[:8]
    names = [f"dm_bench_{label}_{tag}" for label in labels]
    with psycopg.connect(admin, autocommit=True) as conn:
        for name in names:
            conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield [db_url(admin, n) for n in names]
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            for name in names:
                conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def sql(url: str, *statements: str) -> None:
    with psycopg.connect(url, autocommit=True) as conn:
        for stmt in statements:
            conn.execute(stmt)


_MAIN = "import sys; from datamigration.cli import main; sys.exit(main())"


def our_copy(
    source: str, target: str, tables: Sequence[str], extra: Sequence[str] = ()
) -> tuple[CommandRun, dict[str, Any]]:
    """`datamigration copy SOURCE TARGET --tables ... --yes --json` in a fresh workspace: the
    measured run and its JSON report (copy_seconds, constraints_seconds, validate_seconds)."""
    # bytecode cached as an installed package has it (this machine sets PYTHONDONTWRITEBYTECODE)
    env = {"PYTHONPATH": str(REPO_ROOT / "server"), "PYTHONDONTWRITEBYTECODE": ""}
    with tempfile.TemporaryDirectory(prefix="dm-bench-copy-") as ws:
        argv = [sys.executable, "-c", _MAIN, "--workspace", ws, "copy", source, target,
                "--tables", ",".join(tables), "--yes", "--json", "--quiet", *extra]  # fmt: skip
        with tree_rss() as tree:
            run = run_command(argv, cwd=ws, env=env, check=False)
    if run.returncode != 0:
        tail = (run.stdout[-2000:], run.stderr[-2000:])
        raise SystemExit(f"the copy failed ({run.returncode}):\n{tail[0]}\n{tail[1]}")
    report = json.loads(run.stdout)
    report["tree_peak_rss_bytes"] = tree[0]
    if not report.get("passed"):
        raise SystemExit(f"the copy did not validate: {report.get('validation')}")
    return run, report


@contextlib.contextmanager
def tree_rss(every: float = 0.1) -> Iterator[list[int]]:
    """Sample the summed resident memory of this process's descendants (the command, its
    worker processes and the small measuring helper) every `every` seconds; the peak is in the
    yielded list's first item afterwards. `ru_maxrss` gives the largest single process only,
    which says too little once the copy runs on worker processes (`--pool process`)."""
    import threading

    peak, stop = [0], threading.Event()

    def children() -> dict[int, list[int]]:
        kids: dict[int, list[int]] = {}
        for name in os.listdir("/proc"):
            if name.isdigit():
                try:
                    stat = Path(f"/proc/{name}/stat").read_text()
                except OSError:
                    continue
                kids.setdefault(int(stat.rsplit(")", 1)[1].split()[1]), []).append(int(name))
        return kids

    def sample() -> None:
        while not stop.wait(every):
            kids, total = children(), 0
            todo = list(kids.get(os.getpid(), []))
            while todo:
                pid = todo.pop()
                todo += kids.get(pid, [])
                try:
                    status = Path(f"/proc/{pid}/status").read_text()
                except OSError:
                    continue
                rss = [ln.split()[1] for ln in status.splitlines() if ln.startswith("VmRSS")]
                total += int(rss[0]) * 1024 if rss else 0
            peak[0] = max(peak[0], total)

    thread = threading.Thread(target=sample, daemon=True)
    if Path("/proc/self/stat").exists():
        thread.start()
    try:
        yield peak
    finally:
        stop.set()
        if thread.is_alive():
            thread.join()


def machine_load() -> str:
    """The 1-minute load average against the core count: the other work on the machine."""
    one, five, _ = os.getloadavg()
    return f"load average {one:.1f} (5 min {five:.1f}) on {os.cpu_count()} cores"


def mib(n: float) -> str:
    return f"{n / (1024 * 1024):.0f} MiB"


def repo_path(p: Path) -> str:
    return str(p.relative_to(REPO_ROOT)) if p.is_relative_to(REPO_ROOT) else str(p)
