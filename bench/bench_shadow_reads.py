"""Shadow reads by key against the checksum diff of the same tables, same run.

Builds two PostgreSQL databases holding the same 1M-row `users` table (100k with --quick) with
5 planted differences on the target, then times `shadow_reads` of 10,000 spread keys (the
cutover gate's default) and `diff_tables` of the whole table. The diff reads every row and must
find all 5; the sample reads 1% of the rows and finds those that fall in it. The figure is the
time to a verdict a cutover can require; the anchor is the full comparison.

    .venv/bin/python bench/bench_shadow_reads.py [--quick] [--repeats N] [--json]
"""

from __future__ import annotations

import os
import sys
import tempfile
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import psycopg
from _runner import Figure, bench_args, report, time_callable

from datamigration.validate.diff import diff_tables
from datamigration.validate.shadow.run import ShadowRequest, shadow_reads
from datamigration.workspace.root import Workspace

ADMIN_URL = os.environ.get("DATAMIGRATION_TEST_PG_URL", "postgresql://postgres@127.0.0.1:5432/test")
DDL = (
    "CREATE TABLE users (id bigint PRIMARY KEY, email text NOT NULL, balance numeric(12,2), "
    "seen timestamptz NOT NULL); INSERT INTO users SELECT g, 'u' || g || '@x.io', g / 4.0, "
    "timestamptz '2024-01-01+00' + g * interval '1 s' FROM generate_series(1, {rows}) g; ANALYZE"
)
PLANTED = "UPDATE users SET email = 'changed' WHERE id IN ({ids})"


def main() -> int:
    args = bench_args("shadow reads (10,000 keys) vs the checksum diff of the whole table")
    rows = 100_000 if args.quick else 1_000_000
    names = [f"dmbench_{uuid.uuid4().hex[:8]}" for _ in range(2)]
    base = ADMIN_URL.rpartition("/")[0]
    src, dst = (f"{base}/{n}" for n in names)
    with psycopg.connect(ADMIN_URL, autocommit=True) as admin:
        for n in names:
            admin.execute(f'CREATE DATABASE "{n}"')
    try:
        for url in (src, dst):
            with psycopg.connect(url, autocommit=True) as conn:
                conn.execute(DDL.format(rows=rows))
        ids = [rows * k // 6 for k in range(1, 6)]
        with psycopg.connect(dst, autocommit=True) as conn:
            conn.execute(PLANTED.format(ids=", ".join(map(str, ids))))
        ws = Workspace.open(tempfile.mkdtemp(prefix="dm-bench-shadow-"))
        got: dict[str, int] = {}

        def shadow() -> None:
            r = shadow_reads(ws, ShadowRequest(src, dst, tables=("users",), sample=10_000))
            got["reads"], got["found"] = r["reads"], r["mismatches"]

        def diff() -> None:
            got["diff_found"] = diff_tables(src, "users", dst, "users")["changed_count"]

        mine = time_callable(shadow, repeats=args.repeats)
        anchor = time_callable(diff, repeats=args.repeats)
        assert got["diff_found"] == 5 and got["reads"] == 10_000, got
        print(f"{rows:,} rows: shadow read {got['reads']:,} keys and met {got['found']} of 5 "
              f"planted differences; the diff found {got['diff_found']}")  # fmt: skip
        return report(
            "shadow_reads",
            [
                Figure(
                    f"shadow reads 10,000 of {rows:,} rows",
                    mine.median,
                    anchor.median,
                    "s",
                    note="anchor: checksum diff of the whole table",
                )
            ],
            args,
            extra={"rows": rows, "reads": got["reads"], "found": got["found"]},
        )
    finally:
        with psycopg.connect(ADMIN_URL, autocommit=True) as admin:
            for n in names:
                admin.execute(f'DROP DATABASE IF EXISTS "{n}" WITH (FORCE)')


if __name__ == "__main__":
    raise SystemExit(main())
