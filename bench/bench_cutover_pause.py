"""The cutover's write pause, PostgreSQL → PostgreSQL, while an application writes 1,000 rows/s.

A seeded `users` table (bench_live_load.seed) is synced to an empty database on the same
server (`datamigration sync` as a detached process: trigger capture on a server without
`wal_level=logical`), the load generator (bench/loadgen.py, writes only: updates and inserts
on a fixed schedule, so a stall shows as latency) runs throughout, and once the run has
caught up `move.sync.cutover.cutover` pauses writes (LOCK TABLE ... IN EXCLUSIVE MODE), drains,
diffs, flips the flag and releases. Figures: the write pause the cutover measured (from the
lock granted to its release), the part of it spent draining and diffing, the application's
worst write latency in the cutover's window, and its failed writes (goal: none). Goal (issue
13): under 1 s PostgreSQL → PostgreSQL. There is no anchor tool: the goal is the bar.

    .venv/bin/python bench/bench_cutover_pause.py --quick   # 20k rows, 1 run
    .venv/bin/python bench/bench_cutover_pause.py           # 100k rows, --repeats runs

Needs PostgreSQL on 127.0.0.1:5432 (DATAMIGRATION_TEST_PG_URL overrides the admin URL); both
databases are throwaway ones, dropped afterwards.
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _runner import Figure, bench_args, report
from bench_live_load import create_database, drop_database, seed
from loadgen import LoadGenerator, Workload, window

RATE = 1_000.0
WRITES = Workload(read_share=0.0, insert_share=0.05)


def caught_up(ws: Any, src: str, dst: str, deadline: float) -> None:
    from datamigration.move.sync.switch import lag_seconds, sync_status

    while time.monotonic() < deadline:
        status = sync_status("bench_cut", ws, target=dst, source=src)
        lag = lag_seconds(status)
        if status.get("snapshot_done") and lag is not None and lag < 2.0:
            return
        time.sleep(0.5)
    raise SystemExit("the sync did not catch up with the load in time")


def one_run(rows: int) -> dict[str, Any]:
    from datamigration.move.sync.control import spawn, stop_sync
    from datamigration.move.sync.cutover import CutoverRequest, cutover
    from datamigration.move.sync.request import SyncRequest
    from datamigration.workspace.root import Workspace

    (src_name, src), (dst_name, dst) = create_database(), create_database()
    folder = tempfile.mkdtemp(prefix="dm-bench-cutover-")
    ws = Workspace.open(folder)
    try:
        seed(src, rows)
        gen = LoadGenerator(src, key_max=rows, workload=WRITES, rate=RATE, threads=8)
        spawn(SyncRequest(source=src, target=dst, tables=("users",), run="bench_cut",
                          workspace=folder), ws)  # fmt: skip
        gen.start()
        caught_up(ws, src, dst, time.monotonic() + 300)
        start = gen.mark("cutover")
        out = cutover(CutoverRequest(run="bench_cut", workspace=folder, pause_max_ms=10_000,
                                     lag_max_s=5, wait_s=120))  # fmt: skip
        end = gen.mark("released")
        time.sleep(1.0)
        result = gen.stop()
        w = window(result, "cutover", start, end + 1.0)
        stop_sync(ws, "bench_cut_back", teardown=True, target=src, source=dst, wait_s=10)
        return {"pause_ms": out["write_pause_ms"], "drain_ms": out["drain_ms"],
                "diff_ms": out["diff_ms"], "max_write_ms": w.max_ms, "failed": w.failed,
                "writes": w.ops}  # fmt: skip
    finally:
        drop_database(src_name)
        drop_database(dst_name)


def main() -> int:
    args = bench_args("cutover write pause PostgreSQL -> PostgreSQL under 1,000 writes/s")
    rows = 20_000 if args.quick else 100_000
    runs = [one_run(rows) for _ in range(1 if args.quick else args.repeats)]
    med = {k: statistics.median(r[k] for r in runs) for k in runs[0]}
    note = (f"{rows:,} rows, {RATE:,.0f} writes/s; drain {med['drain_ms']:.0f} ms, final diff "
            f"{med['diff_ms']:.0f} ms of it; failed writes {sum(r['failed'] for r in runs)} "
            f"of {sum(r['writes'] for r in runs)}")  # fmt: skip
    return report(
        "cutover_pause",
        [
            Figure("cutover write pause (goal < 1 s)", med["pause_ms"] / 1000, 1.0, "s", note=note),
            Figure(
                "worst application write in the cutover window",
                med["max_write_ms"] / 1000,
                None,
                "s",
                note="latency from its due time (coordinated omission counted)",
            ),
        ],
        args,
    )


if __name__ == "__main__":
    sys.exit(main())
