"""PostgreSQL users with their orders embedded, copied into MongoDB: ours vs a plain insert_many.

Builds a PostgreSQL database with `users` (default 1M; 5k with --quick) and three `orders` per
user, then, on the same MongoDB server (nx-27017 on a free port unless
DATAMIGRATION_TEST_MONGO_URL names a real one):

- ours: `run_copy` with a mapping that embeds each user's orders (partitions, the embedded
  fetch, document building, the write, the index build and the mapped diff of both tables),
  timed from start to the validated end, and the copy alone (the run's partition seconds);
- the anchor: the same documents, built beforehand (untimed, one chunk of 10,000 users at a
  time so memory stays bounded), written with `insert_many(ordered=False)`: only the writes
  are timed.

Goal (issue 12): ours >= 0.8x the anchor's documents per second. The test server is a Python
process over SQLite and sets the pace of both sides; quote figures with the server used.

    .venv/bin/python bench/bench_copy_mongo_embedded.py [--quick] [--users N] [--json]
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import psycopg
from _copybench import machine_load
from _runner import Figure, bench_args, report, which

ADMIN_URL = os.environ.get("DATAMIGRATION_TEST_PG_URL", "postgresql://postgres@127.0.0.1:5432/test")
MAPPING = {
    "collections": [
        {
            "collection": "users",
            "root": "users",
            "embed": [{"table": "orders", "kind": "array", "sort": [{"column": "id"}]}],
        }
    ]
}
CHUNK = 10_000


def seed(url: str, users: int) -> None:
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(
            "CREATE TABLE users (id bigint PRIMARY KEY, email text NOT NULL, name text, "
            "score double precision, created_at timestamptz(3) NOT NULL)"
        )
        conn.execute(
            "CREATE TABLE orders (id bigint PRIMARY KEY, user_id bigint NOT NULL "
            "REFERENCES users(id), total double precision NOT NULL, status text)"
        )
        conn.execute(
            "INSERT INTO users SELECT g, 'u' || g || '@example.com', 'user ' || g, g / 7.0, "
            f"'2024-01-01'::timestamptz + g * interval '1 second' FROM generate_series(1, {users}) g"
        )
        conn.execute(
            "INSERT INTO orders SELECT g, 1 + (g - 1) / 3, g * 0.25, 'new' "
            f"FROM generate_series(1, {users * 3}) g"
        )
        conn.execute("CREATE INDEX orders_user_idx ON orders (user_id)")
        conn.execute("VACUUM ANALYZE")


def mongo_server(workdir: Path) -> tuple[str, subprocess.Popen | None]:
    url = os.environ.get("DATAMIGRATION_TEST_MONGO_URL")
    if url:
        return url.rstrip("/"), None
    exe = which("nx-27017")
    if not exe:
        raise SystemExit(
            "no MongoDB server: pip install nx-27017 or set DATAMIGRATION_TEST_MONGO_URL"
        )
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen(
        [exe, "--host", "127.0.0.1", "-p", str(port), "--data-dir", str(workdir / "d"),
         "--log-file", str(workdir / "log"), "--pid-file", str(workdir / "pid")],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    return f"mongodb://127.0.0.1:{port}", proc


def ours(pg_url: str, mongo_url: str, ws: Path) -> tuple[float, float, dict]:
    from datamigration.move import CopyRequest, run_copy

    request = CopyRequest(pg_url, mongo_url, ("users",), workspace=str(ws), mapping=MAPPING,
                          accept_conversions=True, workers=2)  # fmt: skip
    started = time.perf_counter()
    result = run_copy(request)
    return time.perf_counter() - started, result["copy_seconds"], result


def anchor(pg_url: str, mongo_url: str, users: int) -> float:
    """Seconds of `insert_many` alone for the same documents, prebuilt a chunk at a time."""
    import pymongo

    from datamigration.db import connect
    from datamigration.move.documents import DocumentBuilder
    from datamigration.move.mapping import resolve_mapping
    from datamigration.move.sql_fetch import SQLFetcher

    with connect(pg_url) as b:
        cm = resolve_mapping(MAPPING, b.inspect()).collections[0]
    client = pymongo.MongoClient(mongo_url, serverSelectionTimeoutMS=20_000)
    coll = client["dm_bench_anchor"]["users"]
    coll.drop()
    spent = 0.0
    with SQLFetcher(pg_url) as fetch, psycopg.connect(pg_url) as conn:
        builder = DocumentBuilder(cm, fetch)
        cols = builder.root_columns
        for lo in range(0, users, CHUNK):
            cur = conn.execute(
                f"SELECT {', '.join(cols)} FROM users WHERE id > %s AND id <= %s ORDER BY id",
                (lo, lo + CHUNK),
            )
            docs = builder.build([dict(zip(cols, r, strict=True)) for r in cur])
            started = time.perf_counter()
            coll.insert_many(docs, ordered=False)
            spent += time.perf_counter() - started
    client.drop_database("dm_bench_anchor")
    client.close()
    return spent


def _server_peak(proc: subprocess.Popen | None) -> str:
    """The wire server's peak resident memory (Linux), to show it held the documents."""
    if proc is None:
        return "server given by DATAMIGRATION_TEST_MONGO_URL"
    try:
        status = Path(f"/proc/{proc.pid}/status").read_text()
    except OSError:
        return "server peak RSS unknown"
    peak = next((ln.split()[1] for ln in status.splitlines() if ln.startswith("VmHWM")), "?")
    return f"nx-27017 peak RSS {int(peak) // 1024} MiB" if peak.isdigit() else ""


def main() -> int:
    args = bench_args(
        "PostgreSQL users embedding their orders into MongoDB: ours vs insert_many",
        extra=lambda p: p.add_argument("--users", type=int, default=1_000_000),
    )
    users = 5_000 if args.quick else args.users
    name = f"dm_bench_embed_{uuid.uuid4().hex[:8]}"
    pg_url = ADMIN_URL.rsplit("/", 1)[0] + "/" + name
    workdir = Path(tempfile.mkdtemp(prefix="dm-bench-embed-"))
    with psycopg.connect(ADMIN_URL, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    mongo, proc = mongo_server(workdir)
    load_before = machine_load()
    try:
        seed(pg_url, users)
        whole, copying, result = ours(pg_url, f"{mongo}/{name}", workdir)
        if not result["passed"]:
            raise SystemExit(f"the copy did not validate: {result['validation']}")
        base = anchor(pg_url, mongo, users)
        server = _server_peak(proc)
        note = (
            f"{users:,} users, {3 * users:,} orders; validated end to end in {whole:.1f} s; "
            f"{load_before} at the start, {machine_load()} at the end; {server}"
        )
        figures = [
            Figure(f"documents/s, copy ({users:,} users)", users / copying, users / base,
                   "docs/s", "higher", note),
            Figure("documents/s, copy + indexes + mapped diff", users / whole, users / base,
                   "docs/s", "higher", "the anchor writes only"),
        ]  # fmt: skip
        return report("copy_mongo_embedded", figures, args)
    finally:
        if proc is not None:
            proc.terminate()
            proc.wait(timeout=10)
        with psycopg.connect(ADMIN_URL, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
