"""Apply rate of the sync's applier (`move/sync/apply.py`) on PostgreSQL, SQLite and MongoDB
(nx-27017 on a free port unless DATAMIGRATION_TEST_MONGO_URL names one) targets.

A stream of `--rows` inserts, then an update of each, then deletes of every third row, applied
in batches of `--batch` (the sync's default 1,000) with the run's position committed in each
batch's transaction, as `sync start` does. Figure: changes applied per second. Anchor: the
copy engine's bulk writer loading the same rows into an empty table (rows/s of a plain load on
the same database, the ceiling a change stream cannot beat: it also updates and deletes, and
writes its position).
"""

from __future__ import annotations

import sys
import tempfile
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "server"))

from _copybench import ADMIN_URL, databases
from _runner import Figure, bench_args, report
from bench_copy_mongo_embedded import mongo_server

from datamigration.db import connect
from datamigration.db.change_events import ChangeEvent
from datamigration.db.syncstate import sync_record
from datamigration.move.sync.appliers import applier_for

DDL = "CREATE TABLE items (id int PRIMARY KEY, label varchar(40) NOT NULL, n int NOT NULL)"


def stream(rows: int) -> list[ChangeEvent]:
    out, pos = [], 0
    for phase in ("c", "u", "d"):
        for i in range(1, rows + 1):
            if phase == "d" and i % 3:
                continue
            pos += 1
            after = None if phase == "d" else {"id": i, "label": f"{phase}{i}", "n": pos}
            out.append(ChangeEvent(phase, "items", {"id": i}, None, after, (pos, 0)))
    return out


def fresh(url: str) -> str:
    """An empty `items` table (a new database on MongoDB)."""
    if url.startswith("mongodb"):
        return f"{url}/dm_bench_apply_{uuid.uuid4().hex[:8]}"
    with connect(url) as b:
        b.execute(["DROP TABLE IF EXISTS items", DDL])
    return url


def apply_rate(url: str, events: list[ChangeEvent], batch: int) -> float:
    with connect(fresh(url)) as b:
        store = b.sync_state_table("_datamigration_sync")
        store.ensure()
        store.put(sync_record(run_id="bench", status="running", fingerprint="f"))
        applier = applier_for(b, store)
        started, position, applied = time.perf_counter(), None, 0
        for i in range(0, len(events), batch):
            result = applier.apply("bench", events[i : i + batch], position, applied)
            position, applied = result.position, applied + result.events
        return len(events) / (time.perf_counter() - started)


def load_rate(url: str, rows: int, batch: int) -> float:
    with connect(fresh(url)) as b:
        data = [(i, f"c{i}", i) for i in range(1, rows + 1)]
        started = time.perf_counter()
        with b.bulk_writer("items", ["id", "label", "n"], ["id"], ["int", "varchar", "int"]) as w:
            for i in range(0, rows, batch):
                w.write(data[i : i + batch])
        return rows / (time.perf_counter() - started)


def main() -> int:
    args = bench_args(
        "sync apply rate",
        extra=lambda p: (
            p.add_argument("--rows", type=int, default=50_000),
            p.add_argument("--batch", type=int, default=1_000),
        ),
    )
    rows = 2_000 if args.quick else args.rows
    events = stream(rows)
    figures = []
    with databases(ADMIN_URL, "apply") as (pg,), tempfile.TemporaryDirectory() as tmp:
        mongo, proc = mongo_server(Path(tmp))
        targets = [("PostgreSQL", pg), ("SQLite", f"sqlite:///{tmp}/apply.db"),
                   ("MongoDB", mongo)]  # fmt: skip
        for label, url in targets:
            ours = max(apply_rate(url, events, args.batch) for _ in range(args.repeats))
            anchor = max(load_rate(url, rows, args.batch) for _ in range(args.repeats))
            figures.append(Figure(f"apply {len(events):,} changes into {label}", ours, anchor,
                                  "changes/s", better="higher",
                                  note="anchor: the copy's bulk load of the rows (rows/s)"))  # fmt: skip
        if proc is not None:
            proc.terminate()
            proc.wait()
    return report("sync_apply", figures, args)


if __name__ == "__main__":
    sys.exit(main())
