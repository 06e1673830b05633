"""Our checksum diff against reladiff and against the physical floor, same tables, same run.

Builds two PostgreSQL databases holding the same 1M-row `users` table (6 columns; 100k with
--quick) with 6 planted differences (2 missing, 1 extra, 3 changed rows), then times:

- ours: `datamigration diff SRC users DST users --json` (a fresh process, peak RSS measured), and
  checks that every planted difference is reported;
- reladiff 0.6 (`pip install 'reladiff[postgresql]'`) on the same tables and columns;
- the floor: one hash scan of each table, both at the same time (sum of a 60-bit md5 prefix of
  every row), which any full comparison must at least do.

Then PostgreSQL -> MongoDB: the same rows as documents on an nx-27017 server (--mongo-rows,
default 1M; the wire server is a Python process and loads slowly, so this part takes minutes),
reported in rows/s; no anchor can diff PostgreSQL against MongoDB.

    .venv/bin/python bench/bench_diff_vs_reladiff.py [--quick] [--repeats N] [--json]
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import psycopg
from _runner import Figure, Timing, bench_args, report, run_command, which

ADMIN_URL = os.environ.get("DATAMIGRATION_TEST_PG_URL", "postgresql://postgres@127.0.0.1:5432/test")
COLUMNS = ["name", "email", "balance", "score", "created_at"]
PLANTED = {"missing": [1234, 777777], "extra": [5_000_001], "changed": [42, 500_000, 999_999]}


def _db_url(name: str) -> str:
    return ADMIN_URL.rsplit("/", 1)[0] + "/" + name


def build(url: str, rows: int, planted: bool) -> None:
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(
            "CREATE TABLE users (id bigint PRIMARY KEY, name text NOT NULL, email text, "
            "balance numeric(12,2), score double precision, created_at timestamptz)"
        )
        conn.execute(
            "INSERT INTO users SELECT g, 'user ' || g, 'u' || g || '@example.com', "
            "(g % 100000) / 100.0, g / 7.0, '2024-01-01'::timestamptz + g * interval '1 second' "
            f"FROM generate_series(1, {rows}) g"
        )
        if planted:
            scale = lambda k: max(1, k * rows // 1_000_000)
            for k in PLANTED["missing"]:
                conn.execute(f"DELETE FROM users WHERE id = {scale(k)}")
            conn.execute(f"INSERT INTO users VALUES ({rows * 5 + 1}, 'x', 'x', 1, 1, now())")
            for k in PLANTED["changed"]:
                conn.execute(f"UPDATE users SET email = 'changed' WHERE id = {scale(k)}")
        conn.execute("VACUUM ANALYZE users")


def floor_scan(src: str, dst: str) -> float:
    sql = "SELECT sum(('x' || substr(md5(t::text), 1, 15))::bit(60)::bigint) FROM users t"

    def one(url: str) -> None:
        with psycopg.connect(url) as conn:
            conn.execute(sql).fetchone()

    started = time.perf_counter()
    threads = [threading.Thread(target=one, args=(u,)) for u in (src, dst)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return time.perf_counter() - started


def main() -> int:
    args = bench_args(
        "checksum diff of two 1M-row PostgreSQL tables vs reladiff and the floor",
        extra=lambda p: p.add_argument(
            "--mongo-rows", type=int, default=1_000_000,
            help="rows for the PostgreSQL -> MongoDB figure (0 skips it)",
        ),
    )  # fmt: skip
    rows = 100_000 if args.quick else 1_000_000
    names = [f"dm_bench_diff_{uuid.uuid4().hex[:6]}_{s}" for s in ("a", "b")]
    with psycopg.connect(ADMIN_URL, autocommit=True) as conn:
        for n in names:
            conn.execute(f"CREATE DATABASE {n}")
    src, dst = (_db_url(n) for n in names)
    figures: list[Figure] = []
    extra: dict = {"rows": rows}
    try:
        build(src, rows, planted=False)
        build(dst, rows, planted=True)
        dm = which("datamigration")
        ours_cmd = [dm, "diff", src, "users", dst, "users", "--key", "id", "--json"]
        runs = [run_command(ours_cmd, check=False) for _ in range(args.repeats + 1)][1:]
        result = json.loads(runs[-1].stdout)
        found = len(result["missing"]) + len(result["extra"]) + len(result["changed"])
        extra["ours_found"] = {k: result[k] for k in ("missing", "extra", "changed")}
        ours = Timing(tuple(r.seconds for r in runs))
        rss = max(r.peak_rss_bytes for r in runs)

        rd = which("reladiff")
        anchor = None
        note = ""
        if rd:
            cmd = [rd, src, "users", dst, "users", "-k", "id"]
            for c in COLUMNS:
                cmd += ["-c", c]
            rruns = [run_command(cmd, check=False) for _ in range(args.repeats + 1)][1:]
            anchor = Timing(tuple(r.seconds for r in rruns))
            extra["reladiff_lines"] = len([ln for ln in rruns[-1].stdout.splitlines() if ln])
            extra["reladiff_peak_rss"] = max(r.peak_rss_bytes for r in rruns)
        else:
            note = "reladiff not installed: pip install 'reladiff[postgresql]'"
        floor = Timing(tuple(floor_scan(src, dst) for _ in range(args.repeats)))
        figures += [
            Figure(
                f"diff {rows:,} rows vs reladiff",
                ours.median,
                anchor.median if anchor else None,
                "s",
                note=note,
            ),
            Figure(f"diff {rows:,} rows vs parallel hash scan", ours.median, floor.median, "s"),
            Figure(
                "peak memory (ours)",
                rss,
                200 * 1024 * 1024,
                "B",
                note="anchor column is the 200 MB budget",
            ),
            Figure("planted differences found", found, 6, "rows", better="higher"),
        ]
        mongo_rows = min(args.mongo_rows, 20_000) if args.quick else args.mongo_rows
        if mongo_rows > 0:
            figures += mongo_figures(src, mongo_rows)
    finally:
        with psycopg.connect(ADMIN_URL, autocommit=True) as conn:
            for n in names:
                conn.execute(f"DROP DATABASE IF EXISTS {n} WITH (FORCE)")
    return report("diff_vs_reladiff", figures, args, extra=extra)


def mongo_figures(pg_url: str, rows: int) -> list[Figure]:
    """PostgreSQL -> MongoDB diff throughput (nx-27017 unless DATAMIGRATION_TEST_MONGO_URL)."""
    import pymongo

    from datamigration.validate.diff import diff_tables

    exe = which("nx-27017")
    proc = None
    workdir = Path(tempfile.mkdtemp(prefix="dm-bench-nx-"))
    url = os.environ.get("DATAMIGRATION_TEST_MONGO_URL")
    if not url:
        if not exe:
            return [Figure("PG->MongoDB diff", 0, None, "rows/s", "higher", "no MongoDB server")]
        import socket

        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        proc = subprocess.Popen(
            [exe, "--host", "127.0.0.1", "-p", str(port), "--data-dir", str(workdir / "d"),
             "--log-file", str(workdir / "log"), "--pid-file", str(workdir / "pid")],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        url = f"mongodb://127.0.0.1:{port}"
    try:
        client = pymongo.MongoClient(url, serverSelectionTimeoutMS=20_000)
        db = client["dm_bench_diff"]
        db.users.drop()
        with psycopg.connect(pg_url) as conn:
            cur = conn.execute(
                f"SELECT id, name, email, balance::text, score, created_at FROM users "
                f"WHERE id <= {rows} ORDER BY id"
            )
            batch = []
            for r in cur:
                batch.append({"_id": r[0], "name": r[1], "email": r[2], "balance": r[3],
                              "score": r[4], "created_at": r[5].replace(tzinfo=None)})  # fmt: skip
                if len(batch) == 5000:
                    db.users.insert_many(batch)
                    batch = []
            if batch:
                db.users.insert_many(batch)
        client.close()
        with psycopg.connect(pg_url, autocommit=True) as conn:
            conn.execute(f"CREATE TABLE users_m AS SELECT * FROM users WHERE id <= {rows}")
            conn.execute("ALTER TABLE users_m ADD PRIMARY KEY (id)")
        started = time.perf_counter()
        r = diff_tables(pg_url, "users_m", f"{url}/dm_bench_diff", "users")
        seconds = time.perf_counter() - started
        note = (f"{rows:,} rows in {seconds:.1f} s; differences: "
                f"{r['missing_count'] + r['extra_count'] + r['changed_count']}")  # fmt: skip
        return [Figure(f"PG->MongoDB diff {rows:,} rows", rows / seconds, None, "rows/s",
                       "higher", note + "; no anchor can diff PostgreSQL against MongoDB")]  # fmt: skip
    finally:
        if proc is not None:
            proc.terminate()
            proc.wait(timeout=10)
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
