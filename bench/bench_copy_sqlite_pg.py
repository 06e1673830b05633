"""SQLite → PostgreSQL copy of `users` and `orders`: ours vs pgloader, speed, memory and fidelity.

Builds a SQLite file with 1M `users` and 0.5M `orders` (`--scale 0.1` for a tenth; 10k + 5k
with --quick): NOT NULL columns, REAL (an 8-byte float in SQLite) and DOUBLE columns, a
DATETIME, a unique email, an index and a foreign key. Then, turn about in each repeat, into two
empty databases on the local PostgreSQL server:

- pgloader (the Debian package `pgloader`: `pgloader sqlite:///FILE pgsql://.../DB`, its
  defaults: create tables, load, create indexes, foreign keys, reset sequences): wall time and
  peak resident memory of the process;
- ours: `datamigration copy sqlite:///FILE PG --tables users,orders --yes` as a child process:
  the load (the whole command but its closing checksum diff: start, schema, rows, constraints,
  indexes, foreign keys, identities: what pgloader does), the whole command with the diff, and
  its peak resident memory (ru_maxrss of the copy process, threads included).

Fidelity: both targets are read back from PostgreSQL's catalog, column by column against the
SQLite declaration: NOT NULL kept or lost, float width (8 bytes: `double precision`; pgloader
turns REAL into `real`, 4 bytes) and the type each chose.

Goals (issue 12): ours ≥ 2x faster than pgloader, peak memory ≤ 200 MB, nothing lost.
pgloader is optional: without it the script says so and reports ours alone.

    .venv/bin/python bench/bench_copy_sqlite_pg.py [--quick] [--scale F] [--repeats N]
        [--workers N] [--pool thread|process] [--json]
"""

from __future__ import annotations

import sqlite3
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import psycopg
from _copybench import ADMIN_URL, databases, machine_load, mib, our_copy, sql
from _runner import Figure, bench_args, report, run_command, which

SCHEMA = """
CREATE TABLE users (
  id INTEGER PRIMARY KEY,
  email VARCHAR(200) NOT NULL UNIQUE,
  name TEXT,
  score REAL NOT NULL,
  ratio DOUBLE NOT NULL DEFAULT 0,
  created_at DATETIME NOT NULL
);
CREATE INDEX users_name_idx ON users (name);
CREATE TABLE orders (
  id INTEGER PRIMARY KEY,
  user_id INTEGER NOT NULL REFERENCES users(id),
  amount REAL NOT NULL,
  note TEXT
);
"""
TABLES = ("users", "orders")
FLOAT_WIDTH = {"real": "4-byte", "double precision": "8-byte"}


def seed(path: Path, users: int, orders: int) -> None:
    conn = sqlite3.connect(path)
    conn.executescript(SCHEMA)
    conn.executemany(
        "INSERT INTO users VALUES (?, ?, ?, ?, ?, ?)",
        (
            (i, f"user{i}@example.com", None if i % 7 == 0 else f"name {i}", i + 0.123456789,
             i / 3, f"2024-01-{1 + i % 28:02d} {i % 24:02d}:{i % 60:02d}:{i % 60:02d}")
            for i in range(1, users + 1)
        ),
    )  # fmt: skip
    conn.executemany(
        "INSERT INTO orders VALUES (?, ?, ?, ?)",
        ((i, 1 + i % users, 4999.99 + i % 100, f"order {i}") for i in range(1, orders + 1)),
    )
    conn.commit()
    conn.close()


def sqlite_columns(path: Path) -> dict[tuple[str, str], tuple[str, bool]]:
    """(table, column) -> (declared type, NOT NULL) as SQLite holds them."""
    conn = sqlite3.connect(path)
    out = {}
    for t in TABLES:
        for _, name, decl, notnull, _, pk in conn.execute(f"PRAGMA table_info({t})"):
            out[(t, name)] = (decl, bool(notnull) or bool(pk))
    conn.close()
    return out


def pg_columns(url: str) -> dict[tuple[str, str], tuple[str, bool]]:
    """(table, column) -> (type, NOT NULL) as PostgreSQL's catalog prints them."""
    with psycopg.connect(url) as conn:
        rows = conn.execute(
            "SELECT c.relname, a.attname, format_type(a.atttypid, a.atttypmod), a.attnotnull "
            "FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid "
            "JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE c.relname = ANY(%s) AND c.relkind = 'r' AND a.attnum > 0 "
            "AND NOT a.attisdropped AND n.nspname NOT IN ('pg_catalog', 'information_schema')",
            (list(TABLES),),
        ).fetchall()
    return {(r[0], r[1]): (r[2], r[3]) for r in rows}


def losses(source: dict, target: dict) -> dict[tuple[str, str], list[str]]:
    """Per source column, what the target lost: NOT NULL, float width, or the column itself."""
    out = {}
    for key, (decl, notnull) in source.items():
        have = target.get(key)
        lost = []
        if have is None:
            lost.append("missing")
        else:
            if notnull and not have[1]:
                lost.append("NOT NULL dropped")
            if decl.upper() in ("REAL", "DOUBLE", "FLOAT") and have[0] != "double precision":
                lost.append(f"8-byte float became {have[0]}")
        out[key] = lost
    return out


def fidelity_table(source: dict, ours: dict, theirs: dict | None) -> str:
    rows = [("column", "SQLite", "ours", "pgloader")]
    for key, (decl, notnull) in source.items():
        cells = []
        for target in (ours, theirs):
            if target is None:
                cells.append("n/a")
                continue
            have = target.get(key)
            if have is None:
                cells.append("MISSING")
                continue
            lost = losses({key: (decl, notnull)}, {key: have})[key]
            null = " NOT NULL" if have[1] else ""
            cells.append(f"{have[0]}{null}" + (f"  <- LOST: {', '.join(lost)}" if lost else ""))
        rows.append((".".join(key), decl + (" NOT NULL" if notnull else ""), *cells))
    widths = [max(len(r[i]) for r in rows) for i in range(4)]
    lines = ["== fidelity: each target read back from PostgreSQL's catalog =="]
    lines += [" | ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in rows]
    return "\n".join(lines)


def run_pgloader(exe: str, path: Path, url: str) -> tuple[float, int]:
    target = url.replace("postgresql://", "pgsql://", 1)
    run = run_command([exe, "--no-ssl-cert-verification", f"sqlite://{path}", target], check=False)
    if run.returncode != 0:
        raise SystemExit(
            f"pgloader failed ({run.returncode}):\n{run.stdout[-2000:]}\n{run.stderr[-2000:]}"
        )
    return run.seconds, run.peak_rss_bytes


TARGET_DDL = (
    (
        "CREATE TABLE users (id bigint PRIMARY KEY, email varchar(200) NOT NULL, name text, "
        "score double precision NOT NULL, ratio double precision NOT NULL DEFAULT 0, "
        "created_at timestamp(6) NOT NULL)"
    ),
    (
        "CREATE TABLE orders (id bigint PRIMARY KEY, user_id bigint NOT NULL, "
        "amount double precision NOT NULL, note text)"
    ),
)
AFTER_LOAD = (
    "CREATE UNIQUE INDEX users_email_key ON users (email)",
    "CREATE INDEX users_name_idx ON users (name)",
    "ALTER TABLE orders ADD FOREIGN KEY (user_id) REFERENCES users (id) NOT VALID",
    "ALTER TABLE orders VALIDATE CONSTRAINT orders_user_id_fkey",
)


def _copy_text(row: tuple) -> str:
    return "\t".join("\\N" if v is None else repr(v) if isinstance(v, float) else str(v)
                     for v in row) + "\n"  # fmt: skip


def _copy_in(pg: psycopg.Connection, statement: str, data: bytes) -> None:
    with pg.cursor().copy(statement) as copy:
        for i in range(0, len(data), 1 << 20):
            copy.write(data[i : i + (1 << 20)])


def floor(path: Path, url: str) -> dict[str, float]:
    """The machine's floor for this work, in C wherever it can be: sqlite3 stepping through
    every row (`for row in cursor: pass`), PostgreSQL loading the same rows from a buffer
    rendered beforehand (the faster of COPY text and binary, rendering untimed), and the
    indexes and the foreign key built one after the other (with the 256 MB of sort memory
    ours gives them); seconds of each."""
    out = {}
    conn = sqlite3.connect(path)
    started = time.perf_counter()
    for t in TABLES:
        for _ in conn.execute(f"SELECT * FROM {t}"):
            pass
    out["read"] = time.perf_counter() - started
    rendered = {t: "".join(map(_copy_text, conn.execute(f"SELECT * FROM {t}"))).encode()
                for t in TABLES}  # fmt: skip
    conn.close()
    empty(url)
    sql(url, *TARGET_DDL)
    with psycopg.connect(url, autocommit=True) as pg:
        started = time.perf_counter()
        for t in TABLES:
            _copy_in(pg, f"COPY {t} FROM STDIN", rendered[t])
        text_copy = time.perf_counter() - started
        del rendered
        binary = {}  # the same rows in binary COPY, as the server writes them
        for t in TABLES:
            with pg.cursor().copy(f"COPY {t} TO STDOUT (FORMAT binary)") as copy:
                binary[t] = b"".join(bytes(b) for b in copy)
        pg.execute("TRUNCATE orders, users")
        started = time.perf_counter()
        for t in TABLES:
            _copy_in(pg, f"COPY {t} FROM STDIN (FORMAT binary)", binary[t])
        out["copy"] = min(text_copy, time.perf_counter() - started)
        del binary
        pg.execute("SET maintenance_work_mem = '256MB'")  # as ours builds them
        started = time.perf_counter()
        for stmt in AFTER_LOAD:
            pg.execute(stmt)
        out["indexes"] = time.perf_counter() - started
    empty(url)
    return out


def empty(url: str) -> None:
    sql(url, "DROP SCHEMA IF EXISTS public CASCADE", "CREATE SCHEMA public")


def extra_flags(parser) -> None:
    parser.add_argument(
        "--scale", type=float, default=1.0, help="fraction of 1M users + 0.5M orders"
    )
    parser.add_argument("--workers", type=int, help="copy workers (default: the CLI's)")
    parser.add_argument("--pool", choices=("thread", "process"), help="the copy's --pool")


def main() -> int:
    args = bench_args("SQLite -> PostgreSQL copy: ours vs pgloader", extra=extra_flags)
    users = 10_000 if args.quick else int(1_000_000 * args.scale)
    orders = users // 2
    rows = users + orders
    pgloader = which("pgloader")
    if pgloader is None:
        print("pgloader is not installed (Debian: apt-get install -y pgloader): measuring ours "
              "alone, with no anchor and no pgloader fidelity", flush=True)  # fmt: skip
    flags = ["--workers", str(args.workers)] if args.workers else []
    flags += ["--pool", args.pool] if args.pool else []
    load_before = machine_load()
    with (
        tempfile.TemporaryDirectory(prefix="dm-bench-sqlite-") as tmp,
        databases(ADMIN_URL, "ours", "pgloader") as (ours_url, theirs_url),
    ):
        path = Path(tmp) / "app.db"
        seed(path, users, orders)
        source = sqlite_columns(path)
        load, whole, rss, anchor, anchor_rss, floors = [], [], [], [], [], []
        largest: list[int] = []
        pools: set[str] = set()
        ours_cols = theirs_cols = None
        for _ in range(max(1, args.repeats)):
            if pgloader:
                empty(theirs_url)
                seconds, peak = run_pgloader(pgloader, path, theirs_url)
                anchor.append(seconds)
                anchor_rss.append(peak)
                theirs_cols = pg_columns(theirs_url)
            floors.append(floor(path, ours_url))
            empty(ours_url)
            run, result = our_copy(f"sqlite:///{path}", ours_url, TABLES, flags)
            whole.append(run.seconds)
            load.append(run.seconds - result["validate_seconds"])
            rss.append(max(run.peak_rss_bytes, result["tree_peak_rss_bytes"]))
            largest.append(run.peak_rss_bytes)
            pools.add(result.get("pool", "thread"))
            ours_cols = pg_columns(ours_url)
    print(fidelity_table(source, ours_cols, theirs_cols))
    lost_ours = sum(bool(v) for v in losses(source, ours_cols).values())
    lost_theirs = (
        sum(bool(v) for v in losses(source, theirs_cols).values()) if theirs_cols else None
    )
    missing = "" if pgloader else "pgloader not installed (apt-get install pgloader): ours alone"
    a_load = statistics.median(anchor) if anchor else None
    note = (
        f"{users:,} users + {orders:,} orders, median of {len(whole)}; {load_before} at the "
        f"start, {machine_load()} at the end" + (f"; {missing}" if missing else "")
    )
    parts = {k: statistics.median(f[k] for f in floors) for k in floors[0]}
    floor_s = sum(parts.values())
    overlapped = max(parts["read"], parts["copy"]) + parts["indexes"]
    floor_note = ", ".join(f"{k} {v:.2f} s" for k, v in parts.items()) + (
        f"; reading and loading overlapped (two cores): {overlapped:.2f} s, pgloader / that "
        f"{(a_load or 0) / overlapped:.2f}x"
    )
    if a_load:
        need = a_load / 2
        verdict = (
            "below the sequential floor: out of reach in this run" if need < floor_s
            else "above the sequential floor: within reach"
        )  # fmt: skip
        floor_note += f"; the 2x goal needs {need:.2f} s, {verdict}"
    figures = [
        Figure(f"seconds, load ({rows:,} rows: schema, rows, indexes, FKs)",
               statistics.median(load), a_load, "s", note=note),
        Figure("seconds, the machine's floor (read + COPY of a rendered buffer + indexes)",
               floor_s, a_load, "s", note=floor_note + "; ours / floor "
               f"{statistics.median(load) / floor_s:.2f}x"),
        Figure("seconds, whole command (+ the closing checksum diff)", statistics.median(whole),
               a_load, "s", note="pgloader checks nothing after its load"),
        Figure("rows/s, load", rows / statistics.median(load), rows / a_load if a_load else None,
               "rows/s", "higher"),
        Figure("peak RSS", float(max(rss)), float(max(anchor_rss)) if anchor_rss else None, "B",
               note=f"goal <= 200 MB; ours {mib(max(rss))}, all its processes together "
               f"(pool: {', '.join(sorted(pools))}; the largest one alone {mib(max(largest))})"),
        Figure("columns that lost NOT NULL or float width", float(lost_ours),
               None if lost_theirs is None else float(lost_theirs), "columns",
               note=f"of {len(source)} columns (see the fidelity table)"),
    ]  # fmt: skip
    return report("copy_sqlite_pg", figures, args, extra={"users": users, "orders": orders})


if __name__ == "__main__":
    sys.exit(main())
