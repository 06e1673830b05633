"""A whole sync run under 1,000 writes/s: apply rate, lag over the run, cutover write pause, and
what the capture costs the application's writes.

On a private throwaway PostgreSQL cluster with `wal_level=logical` (bench/_cluster.py), a
seeded `users` table (bench_live_load.seed) is synced by `datamigration sync` (a detached
process, as `sync start` runs it) while the load generator (bench/loadgen.py: scheduled, so a
stall shows as latency) inserts, updates and deletes rows at 1,000 writes/s for the whole run:
snapshot copy, catch-up, a steady window, the cutover. Four runs in one invocation, each on
fresh databases of the same cluster:

* none: the generator alone (no capture), first and again last: the application's write
  latency without capture (the quieter of the two is the anchor);
* PostgreSQL -> PostgreSQL, logical capture (slot + publication, pgoutput over SQL);
* PostgreSQL -> PostgreSQL, trigger capture (change table + row triggers);
* PostgreSQL -> MongoDB (nx-27017 on a free port, or $DATAMIGRATION_TEST_MONGO_URL), logical.

Figures per run: apply rate (changes applied per second over the steady window, from the
run's own applied count; deletes and updates of keys already deleted change nothing, so the
changes can run a little under the load's 1,000 writes/s), lag sampled each second once the
run has caught up after its snapshot, through the steady window to the cutover's end (max and
p95; the catch-up's length and its highest lag are in the note), the cutover's measured write pause (lock on the source, drain, final checksum diff,
flag flip), the generator's failed writes, and its write latency (p50/p99, from each write's
due time) in the steady window, set against the run without capture. Goals (issue 13): lag
under 5 s at 1,000 writes/s; pause under 1 s PostgreSQL -> PostgreSQL, under 5 s PostgreSQL ->
MongoDB. There is no anchor tool: the goals are the bars, and the run without capture is the
anchor of the overhead figures. The machine's 1-minute load average is printed at the start
and the end.

    .venv/bin/python bench/bench_sync_run.py --quick   # 20k rows, 10 s steady window
    .venv/bin/python bench/bench_sync_run.py           # 100k rows, 30 s steady window
    .venv/bin/python bench/bench_sync_run.py --rows 20000   # 20k rows, 30 s steady window
"""

from __future__ import annotations

import contextlib
import os
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path
from typing import Any, Self

sys.path.insert(0, str(Path(__file__).resolve().parent))

import psycopg
from _cluster import own_cluster
from _runner import Figure, bench_args, report
from bench_copy_mongo_embedded import mongo_server
from bench_live_load import seed, with_database
from loadgen import LoadGenerator, Workload, percentile, window

RATE = 1_000.0
#: inserts, updates and deletes: a delete is the generator's "read" slot (RETURNING, so the
#: generator's fetch works), 10% of the writes
WRITES = Workload(read_sql="DELETE FROM {table} WHERE id = %s RETURNING id", read_share=0.1,
                  insert_share=0.3)  # fmt: skip
RUN = "bench_run"
LOGICAL = {"wal_level": "logical", "max_replication_slots": "20", "max_wal_senders": "20"}


def load() -> str:
    return "/".join(f"{x:.2f}" for x in os.getloadavg())


class Sampler:
    """Samples the run's status once a second (lag, applied, snapshot done) in a thread."""

    def __init__(self, ws: Any, src: str, dst: str) -> None:
        self.ws, self.src, self.dst = ws, src, dst
        self.samples: list[tuple[float, float | None, int, bool]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def __enter__(self) -> Self:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=10)

    def last(self) -> tuple[float, float | None, int, bool]:
        return self.samples[-1] if self.samples else (0.0, None, 0, False)

    def _loop(self) -> None:
        from datamigration.errors import DataMigrationError
        from datamigration.move.sync.switch import lag_seconds, sync_status

        while not self._stop.wait(1.0):
            try:
                s = sync_status(RUN, self.ws, target=self.dst, source=self.src)
            except DataMigrationError:
                continue
            self.samples.append((time.monotonic(), lag_seconds(s), int(s.get("applied") or 0),
                                 bool(s.get("snapshot_done"))))  # fmt: skip


def databases(admin: str, mongo: str | None) -> tuple[str, str, list[str]]:
    names = [f"dm_bench_run_{uuid.uuid4().hex[:8]}" for _ in range(2)]
    with psycopg.connect(admin, autocommit=True) as c:
        for n in names:
            c.execute(f'CREATE DATABASE "{n}"')
    src = with_database(admin, names[0])
    dst = f"{mongo}/{names[1]}" if mongo else with_database(admin, names[1])
    return src, dst, names


def drop(admin: str, names: list[str]) -> None:
    with psycopg.connect(admin, autocommit=True) as c:
        for n in names:
            c.execute(f'DROP DATABASE IF EXISTS "{n}" WITH (FORCE)')


def ensure_state(target: str, ws: Any) -> None:
    """The run's state table made before the run and the sampler both reach for it: two
    `CREATE TABLE IF NOT EXISTS` at once can collide on PostgreSQL's catalog."""
    from datamigration.db import connect
    from datamigration.db.syncstate import SYNC_STATE_TABLE

    with connect(target, ws) as backend:
        backend.sync_state_table(SYNC_STATE_TABLE).ensure()


def caught_up(sampler: Sampler, deadline: float) -> None:
    while time.monotonic() < deadline:
        _, lag, _, done = sampler.last()
        if done and lag is not None and lag < 2.0:
            return
        time.sleep(0.5)
    raise SystemExit(f"the sync did not catch up with the load in time: {sampler.last()}")


def no_capture(admin: str, rows: int, steady: float) -> dict[str, Any]:
    src, _, names = databases(admin, None)
    try:
        seed(src, rows)
        gen = LoadGenerator(src, key_max=rows, workload=WRITES, rate=RATE, threads=8)
        gen.start()
        time.sleep(3.0)
        start = gen.mark("steady")
        time.sleep(steady)
        result = gen.stop()
        w = window(result, "steady", start, start + steady)
        return {"p50_ms": w.p50_ms, "p99_ms": w.p99_ms, "failed": w.failed, "writes": w.ops}
    finally:
        drop(admin, names)


def one_run(admin: str, rows: int, steady: float, method: str, mongo: str | None) -> dict:
    from datamigration.move.sync.control import spawn, stop_sync
    from datamigration.move.sync.cutover import CutoverRequest, cutover
    from datamigration.move.sync.request import SyncRequest
    from datamigration.workspace.root import Workspace

    src, dst, names = databases(admin, mongo)
    folder = tempfile.mkdtemp(prefix="dm-bench-run-")
    ws = Workspace.open(folder)
    gen = None
    try:
        seed(src, rows)
        gen = LoadGenerator(src, key_max=rows, workload=WRITES, rate=RATE, threads=8)
        gen.start()
        time.sleep(1.0)
        ensure_state(dst, ws)
        spawn(SyncRequest(source=src, target=dst, tables=("users",), run=RUN, method=method,
                          workspace=folder, accept_conversions=mongo is not None), ws)  # fmt: skip
        with Sampler(ws, src, dst) as sampler:
            caught_up(sampler, time.monotonic() + 240)
            start, applied0 = gen.mark("steady"), sampler.last()
            time.sleep(steady)
            applied1 = sampler.last()
            w = window(_snapshot(gen), "steady", start, start + steady)
            out = cutover(CutoverRequest(run=RUN, workspace=folder, pause_max_ms=10_000,
                                         lag_max_s=5, wait_s=120))  # fmt: skip
            snap = next(t for t, _, _, done in sampler.samples if done)
            lags = sorted(
                lag for t, lag, _, _ in sampler.samples if t >= applied0[0] and lag is not None
            )
            catch = [lag for t, lag, _, _ in sampler.samples
                     if snap <= t < applied0[0] and lag is not None]  # fmt: skip
        result = gen.stop()
        gen = None
        rate = (applied1[2] - applied0[2]) / max(applied1[0] - applied0[0], 1e-9)
        return {"apply_rate": rate, "lag_max_s": lags[-1], "catch_up_s": applied0[0] - snap,
                "catch_up_lag_max_s": max(catch, default=0.0), "lag_p95_s": percentile(lags, 95),
                "lag_samples": len(lags), "pause_ms": out["write_pause_ms"],
                "drain_ms": out["drain_ms"], "diff_ms": out["diff_ms"],
                "identical": bool(out["diff"].get("identical")), "p50_ms": w.p50_ms,
                "p99_ms": w.p99_ms, "failed": sum(not o.ok for o in result.ops),
                "writes": len(result.ops)}  # fmt: skip
    finally:
        if gen is not None:
            gen.stop()
        for run, target, source in ((RUN, dst, src), (RUN + "_back", src, dst)):
            with contextlib.suppress(Exception):  # the way back exists only for SQL targets
                stop_sync(ws, run, teardown=True, target=target, source=source, wait_s=10)
        if mongo:
            import pymongo

            with pymongo.MongoClient(mongo) as client:
                client.drop_database(names[1])
        drop(admin, names)


def _snapshot(gen: LoadGenerator) -> Any:
    """The generator's operations so far, without stopping it (the window is over)."""
    from loadgen import LoadResult

    ops = sorted((op for per in gen._ops for op in list(per)), key=lambda o: o.due)
    return LoadResult(ops=ops, lock_waits=[], started_at=gen.t0, rate=gen.rate,
                      threads=gen.threads)  # fmt: skip


def figures(runs: dict[str, dict], base: dict[str, Any], rows: int) -> list[Figure]:
    out = []
    for label, r in runs.items():
        goal = 5.0 if "MongoDB" in label else 1.0
        note = (f"{r['lag_samples']} samples once caught up, to the cutover's end; the catch-up "
                f"after the snapshot took {r['catch_up_s']:.0f} s (lag up to "
                f"{r['catch_up_lag_max_s']:.1f} s); drain {r['drain_ms']:.0f} ms, final diff "
                f"{r['diff_ms']:.0f} ms of the pause; diff {'empty' if r['identical'] else 'NOT EMPTY'}; "
                f"failed writes {r['failed']} of {r['writes']}")  # fmt: skip
        out += [
            Figure(f"{label}: apply rate", r["apply_rate"], RATE, "changes/s", better="higher",
                   note=f"{rows:,} rows, anchor = the load's write rate"),
            Figure(f"{label}: lag max, caught up (goal < 5 s)", r["lag_max_s"], 5.0, "s", note=note),
            Figure(f"{label}: lag p95", r["lag_p95_s"], 5.0, "s"),
            Figure(f"{label}: cutover write pause (goal < {goal:g} s)", r["pause_ms"] / 1000,
                   goal, "s"),
            Figure(f"{label}: app write p50 vs no capture", r["p50_ms"] / 1000,
                   base["p50_ms"] / 1000, "s"),
            Figure(f"{label}: app write p99 vs no capture", r["p99_ms"] / 1000,
                   base["p99_ms"] / 1000, "s"),
        ]  # fmt: skip
    return out


def main() -> int:
    args = bench_args(
        "a sync run under 1,000 writes/s: apply rate, lag, cutover pause, overhead",
        extra=lambda p: p.add_argument("--rows", type=int, help="seeded rows (20k quick, 100k)"),
    )
    rows, steady = (20_000, 10.0) if args.quick else (100_000, 30.0)
    rows = args.rows or rows
    print(f"load average at start: {load()}")
    with own_cluster(LOGICAL) as admin, tempfile.TemporaryDirectory() as tmp:
        mongo, proc = mongo_server(Path(tmp))
        try:
            first = no_capture(admin, rows, steady)
            runs = {
                "PG->PG logical": one_run(admin, rows, steady, "logical", None),
                "PG->PG trigger": one_run(admin, rows, steady, "trigger", None),
                "PG->MongoDB logical": one_run(admin, rows, steady, "logical", mongo),
            }
            # the baseline again at the end: a neighbour's burst in one of them shows
            last = no_capture(admin, rows, steady)
            base = min(first, last, key=lambda b: b["p99_ms"])
        finally:
            if proc is not None:
                proc.terminate()
                proc.wait(timeout=10)
    print(f"load average at end: {load()}")
    for when, b in (("first", first), ("last", last)):
        print(f"no capture ({when}): write p50 {b['p50_ms']:.2f} ms, p99 {b['p99_ms']:.2f} ms, "
              f"{b['failed']} failed of {b['writes']}")  # fmt: skip
    print("the anchor of the write-latency figures: the quieter of the two (lower p99)")
    return report("sync_run", figures(runs, base, rows), args,
                  extra={"runs": runs, "no_capture": [first, last], "rows": rows, "steady_s": steady})  # fmt: skip


if __name__ == "__main__":
    sys.exit(main())
