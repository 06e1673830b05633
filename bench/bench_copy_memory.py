"""Memory of a copy as the table grows: the copy process's peak RSS at 100k, 1M and 3M rows.

For each size (`--sizes`, default 100000,1000000,3000000; 5k and 20k with --quick), a fresh
source table, copied by `datamigration copy ... --yes` as a child process into an empty
PostgreSQL database, along two paths (`--paths`, default both):

- `pg`: PostgreSQL → PostgreSQL, the table streamed as binary COPY;
- `sqlite`: SQLite → PostgreSQL, rows read in keyset batches and written with text COPY.

The figure is the peak resident memory of the copy process (ru_maxrss, threads included), and
the anchor is the same path's peak at the smallest size: a copy that streams keeps the ratio
near 1.0x whatever the table's size (issue 12: "memory stays flat as the table grows").

    .venv/bin/python bench/bench_copy_memory.py [--quick] [--sizes 100000,1000000,3000000]
        [--paths pg,sqlite] [--json]
"""

from __future__ import annotations

import sqlite3
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _copybench import ADMIN_URL, databases, machine_load, mib, our_copy, sql
from _runner import Figure, bench_args, report
from bench_copy_pg_pg import seed as seed_pg

SQLITE_TABLE = (
    "CREATE TABLE t (id INTEGER PRIMARY KEY, email VARCHAR(200) NOT NULL, name TEXT, "
    "score DOUBLE NOT NULL, n INTEGER NOT NULL, created_at DATETIME NOT NULL)"
)


def seed_sqlite(path: Path, rows: int) -> None:
    conn = sqlite3.connect(path)
    conn.execute(SQLITE_TABLE)
    conn.executemany(
        "INSERT INTO t VALUES (?, ?, ?, ?, ?, ?)",
        ((i, f"user{i}@example.com", f"name {i:032x}", i / 7, i % 1000,
          f"2024-01-{1 + i % 28:02d} {i % 24:02d}:{i % 60:02d}:{i % 60:02d}")
         for i in range(1, rows + 1)),
    )  # fmt: skip
    conn.commit()
    conn.close()


def measure(path: str, rows: int, tmp: Path) -> tuple[int, float, int]:
    """(peak RSS in bytes, copy seconds, partitions) of one copy of `rows` rows."""
    with databases(ADMIN_URL, "memsrc", "memdst") as (src, dst):
        if path == "pg":
            seed_pg(src, rows)
            source = src
        else:
            db = tmp / f"t{rows}.db"
            seed_sqlite(db, rows)
            source = f"sqlite:///{db}"
        run, result = our_copy(source, dst, ["t"])
        sql(dst, "DROP TABLE IF EXISTS t")
        if path != "pg":
            db.unlink()
    return run.peak_rss_bytes, result["copy_seconds"], result["partitions_run"]


def extra_flags(parser) -> None:
    parser.add_argument("--sizes", default="100000,1000000,3000000", help="table sizes (rows)")
    parser.add_argument("--paths", default="pg,sqlite", help="pg (binary COPY), sqlite (rows)")


def main() -> int:
    args = bench_args("peak memory of a copy as the table grows", extra=extra_flags)
    sizes = [5_000, 20_000] if args.quick else [int(s) for s in args.sizes.split(",")]
    paths = [p.strip() for p in args.paths.split(",") if p.strip()]
    figures, load_before = [], machine_load()
    with tempfile.TemporaryDirectory(prefix="dm-bench-mem-") as tmp:
        for path in paths:
            base = None
            for rows in sizes:
                peak, seconds, parts = measure(path, rows, Path(tmp))
                base = base or peak
                label = "PostgreSQL (binary COPY)" if path == "pg" else "SQLite (rows)"
                figures.append(
                    Figure(f"peak RSS, {label} -> PostgreSQL, {rows:,} rows", float(peak),
                           float(base), "B",
                           note=f"{mib(peak)}; {parts} partition(s), {rows / seconds:,.0f} rows/s")
                )  # fmt: skip
    figures[0] = Figure(
        figures[0].name, figures[0].ours, figures[0].anchor, "B",
        note=figures[0].note + f"; anchor: each path's smallest size; {load_before} at the "
        f"start, {machine_load()} at the end",
    )  # fmt: skip
    return report("copy_memory", figures, args, extra={"sizes": sizes, "paths": paths})


if __name__ == "__main__":
    sys.exit(main())
