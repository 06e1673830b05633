"""PostgreSQL → PostgreSQL copy of one table: ours vs the binary COPY pipe between the same two
databases.

Builds a source database with `t` (default 1M rows; 20k with --quick: bigint key, two texts, a
double, an integer, a timestamptz) and an empty target database on the same server (the local
one, or a private throwaway cluster with --own-cluster), then, turn about in each repeat:

- the anchor: `psql SRC -c "COPY t TO STDOUT (FORMAT binary)" | psql DST -c "COPY t FROM STDIN
  (FORMAT binary)"` into the same table already created on the target (primary key only, as
  ours loads it); the wall time of the whole pipe;
- ours: `datamigration copy SRC DST --tables t --yes` as a child process into the empty target:
  the copy's rows/s (its partitions: `copy_seconds` of the report), the whole command's rows/s
  (process start, introspection, table creation, copy, constraints, the closing checksum diff),
  and its peak resident memory.

Goal (issue 12): the copy ≥ 0.9x the pipe's rows/s.

    .venv/bin/python bench/bench_copy_pg_pg.py [--quick] [--rows N] [--repeats N]
        [--workers N] [--pool thread|process] [--own-cluster] [--json]
"""

from __future__ import annotations

import contextlib
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _copybench import ADMIN_URL, databases, machine_load, mib, our_copy, sql
from _runner import Figure, bench_args, report, run_command, which

TABLE_DDL = (
    "CREATE TABLE t (id bigint PRIMARY KEY, email text NOT NULL, name text, "
    "score double precision, n integer NOT NULL, created_at timestamptz NOT NULL)"
)


def seed(url: str, rows: int) -> None:
    sql(
        url,
        TABLE_DDL,
        "INSERT INTO t SELECT g, 'user' || g || '@example.com', 'name ' || md5(g::text), "
        "g / 7.0, g % 1000, '2024-01-01'::timestamptz + g * interval '1 second' "
        f"FROM generate_series(1, {rows}) g",
        "VACUUM ANALYZE t",
    )


def pipe(psql: str, src: str, dst: str) -> float:
    """Seconds of the binary COPY pipe into an empty `t` on the target."""
    sql(dst, "DROP TABLE IF EXISTS t", TABLE_DDL)
    out = f'{psql} -X -q "{src}" -c "COPY t TO STDOUT (FORMAT binary)"'
    into = f'{psql} -X -q -v ON_ERROR_STOP=1 "{dst}" -c "COPY t FROM STDIN (FORMAT binary)"'
    run = run_command(["bash", "-o", "pipefail", "-c", f"{out} | {into}"])
    return run.seconds


def extra_flags(parser) -> None:
    parser.add_argument("--rows", type=int, default=1_000_000, help="rows in the table")
    parser.add_argument("--workers", type=int, help="copy workers (default: the CLI's)")
    parser.add_argument("--pool", choices=("thread", "process"), help="the copy's --pool")
    parser.add_argument(
        "--own-cluster",
        action="store_true",
        help="both databases on a private throwaway cluster (bench/_cluster.py)",
    )


def main() -> int:
    args = bench_args(
        "PostgreSQL -> PostgreSQL copy: ours vs the binary COPY pipe", extra=extra_flags
    )
    rows = 20_000 if args.quick else args.rows
    psql = which("psql")
    if psql is None:
        raise SystemExit(
            "psql not found on PATH: the anchor needs it (apt-get install postgresql-client)"
        )
    flags = ["--workers", str(args.workers)] if args.workers else []
    flags += ["--pool", args.pool] if args.pool else []
    load_before = machine_load()
    if args.own_cluster:
        from _cluster import own_cluster

        server = own_cluster()
    else:
        server = contextlib.nullcontext(ADMIN_URL)
    with server as admin, databases(admin, "src", "dst") as (src, dst):
        seed(src, rows)
        pipe(psql, src, dst)  # warm-up: the source's pages in the cache, untimed
        anchor, copy, whole, rss, raw = [], [], [], [], 0
        for _ in range(max(1, args.repeats)):
            anchor.append(pipe(psql, src, dst))
            sql(dst, "DROP TABLE IF EXISTS t")
            run, result = our_copy(src, dst, ["t"], flags)
            copy.append(result["copy_seconds"])
            whole.append(run.seconds)
            rss.append(run.peak_rss_bytes)
            raw = result["partitions_streamed_raw"]
            sql(dst, "DROP TABLE IF EXISTS t")
    pipe_rate = rows / statistics.median(anchor)
    where = "a private cluster" if args.own_cluster else "the local server"
    note = (
        f"{rows:,} rows, median of {len(anchor)}, both databases on {where}; "
        f"{raw} partition(s) streamed as binary COPY; same target shape for both (`t` with "
        "its primary key only, no other index, created before the load); "
        f"{load_before} at the start, {machine_load()} at the end"
    )
    figures = [
        Figure(f"rows/s, copy ({rows:,} rows)", rows / statistics.median(copy), pipe_rate,
               "rows/s", "higher", note),
        Figure("rows/s, whole command (start, schema, copy, constraints, checksum diff)",
               rows / statistics.median(whole), pipe_rate, "rows/s", "higher",
               "the pipe only copies: its table exists and nothing checks it afterwards"),
        Figure("peak RSS of the copy process", float(max(rss)), None, "B",
               note=f"{mib(max(rss))} at most over {len(rss)} run(s)"),
    ]  # fmt: skip
    return report("copy_pg_pg", figures, args, extra={"rows": rows, "raw_partitions": raw})


if __name__ == "__main__":
    sys.exit(main())
