"""Decode rate of the PostgreSQL logical capture: changes/s from the slot to ChangeEvents.

100,000 single-row INSERTs, each its own transaction (a procedure commits after every row, so
the WAL holds what an application writing one row at a time leaves), are captured by
`LogicalCapture` on a private throwaway cluster with wal_level=logical; the figure is the
events/s of `read(10_000)` + `ack` until every change was returned: pgoutput decoding in the
server, the messages over the wire, our decoder and psycopg's loaders into Python values.

Anchor: the same slot peeked over SQL with `pg_logical_slot_peek_binary_changes` and nothing
decoded on our side (the server's decoding plus the transfer: the floor for any SQL reader).

    .venv/bin/python bench/bench_capture_decode.py --quick        # 10,000 rows
    .venv/bin/python bench/bench_capture_decode.py --repeats 3    # 100,000 rows
"""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "server"))

import psycopg
from _cluster import own_cluster
from _runner import Figure, bench_args, report

from datamigration.db.base import connect

TABLE = (
    "CREATE TABLE events (id bigint PRIMARY KEY, account int NOT NULL, amount numeric(12,2), "
    "note text, at timestamptz NOT NULL DEFAULT now())"
)
FILL = """
CREATE PROCEDURE fill(n int) LANGUAGE plpgsql AS $$
BEGIN
  FOR i IN 1..n LOOP
    INSERT INTO events (id, account, amount, note) VALUES (i, i % 97, i * 1.25, 'row ' || i);
    COMMIT;
  END LOOP;
END $$
"""


def _extra(parser: Any) -> None:
    parser.add_argument("--rows", type=int, default=100_000, help="single-row transactions")


def _ours(backend: Any, rows: int) -> float:
    """Seconds for a fresh LogicalCapture to return (and ack) every change."""
    cap = backend.change_capture("bench_decode", ["events"], method="logical")
    started, seen = time.perf_counter(), 0
    while seen < rows:
        batch = cap.read(10_000)
        if not batch:
            raise SystemExit(f"only {seen} of {rows} changes came back")
        seen += len(batch)
        cap.ack(batch[-1].position)
    return time.perf_counter() - started


def _anchor(url: str) -> tuple[float, int]:
    """Seconds to peek the whole slot over SQL without decoding anything here, and messages."""
    with psycopg.connect(url, autocommit=True) as conn, conn.cursor(binary=True) as cur:
        started = time.perf_counter()
        cur.execute(
            "SELECT data FROM pg_logical_slot_peek_binary_changes('dm_sync_bench_decode', NULL, "
            "NULL, 'proto_version', '1', 'publication_names', 'dm_sync_bench_decode_pub')"
        )
        n = len(cur.fetchall())
        return time.perf_counter() - started, n


def main() -> int:
    args = bench_args("decode rate of the PostgreSQL logical capture", extra=_extra)
    rows = 10_000 if args.quick else args.rows
    settings = {"wal_level": "logical", "max_replication_slots": "4", "fsync": "off"}
    ours_s, anchor_s, messages = [], [], 0
    with own_cluster(settings) as url:
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute(TABLE)
            conn.execute(FILL)
        for _ in range(args.repeats):
            with connect(url) as backend:
                cap = backend.change_capture("bench_decode", ["events"], method="logical")
                cap.prepare()
                with psycopg.connect(url, autocommit=True) as conn:
                    conn.execute("TRUNCATE events")
                    cap.ack(cap.read(10)[-1].position)  # the TRUNCATE is not part of the figure
                    conn.execute("CALL fill(%s)", (rows,))
                seconds, messages = _anchor(url)
                anchor_s.append(seconds)
                ours_s.append(_ours(backend, rows))
                cap.teardown()
    ours, anchor = rows / min(ours_s), rows / min(anchor_s)
    figures = [
        Figure(
            f"capture {rows:,} single-row transactions",
            ours,
            anchor,
            "changes/s",
            better="higher",
            note=f"anchor: peek only, {messages:,} pgoutput messages, "
            f"no decoding here; best of {args.repeats}",
        ),
    ]
    return report("capture_decode", figures, args)


if __name__ == "__main__":
    raise SystemExit(main())
