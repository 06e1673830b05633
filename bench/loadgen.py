"""A bounded, loopback-only application load for PostgreSQL: steady reads and writes, measured.

Why a schedule and not a loop: a loop that waits for each query before sending the next one
stops sending exactly when the database stalls, so the stall never shows in its latencies
("coordinated omission"). Here operation k is *due* at `t0 + k / rate`, whatever happened before;
its latency is measured from when it was due to when it finished. A query stuck behind an
ACCESS EXCLUSIVE lock for 3 s therefore shows up as 3 s of latency for it and for every
operation due meanwhile, which is what the application's users see.

What is recorded, per operation: due time, latency from due time, service time (from send),
ok/failed with the error text. A monitor thread samples `pg_stat_activity` every
`monitor_interval` seconds for backends waiting on a lock (`wait_event_type = 'Lock'`) and keeps,
per (backend, query start), the longest wait seen: the lock waits of the application's queries
(and, separately, of everything else, such as the migration's own DDL).

The application comes in two versions so an expand-contract change can be exercised under
load: `old` reads/writes the old column name, `new` the new one; `set_new_share` moves a share of
the worker threads to the new version (a rolling deploy). Bench code (not product code): uses
psycopg directly. Bounded: loopback hosts only, at most `MAX_THREADS` threads and `MAX_RATE`
operations per second, and it always stops (`stop()`, or `duration`).
"""

from __future__ import annotations

import math
import random
import threading
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from urllib.parse import urlsplit

import psycopg

APP_NAME = "dm-loadgen"
MONITOR_NAME = "dm-loadgen-monitor"
MAX_THREADS = 64
MAX_RATE = 5_000.0
LOOPBACK = {"127.0.0.1", "localhost", "::1", ""}


@dataclass(frozen=True)
class Workload:
    """The application's statements. `{col}` is the column name of the running app version."""

    table: str = "users"
    old_column: str = "email"
    new_column: str = "email_address"
    read_sql: str = "SELECT id, {col}, n FROM {table} WHERE id = %s"
    update_sql: str = "UPDATE {table} SET {col} = %s, n = n + 1 WHERE id = %s"
    insert_sql: str = "INSERT INTO {table} ({col}, n) VALUES (%s, 0)"
    read_share: float = 0.7
    insert_share: float = 0.05  # of all operations; the rest of the writes are updates

    def statement(self, kind: str, new_version: bool) -> str:
        col = self.new_column if new_version else self.old_column
        template = {"read": self.read_sql, "update": self.update_sql, "insert": self.insert_sql}
        return template[kind].format(col=col, table=self.table)


@dataclass(frozen=True)
class Op:
    due: float  # seconds since start
    latency_ms: float  # from due time to completion
    service_ms: float  # from send to completion
    kind: str
    ok: bool
    error: str = ""


@dataclass
class LockWait:
    pid: int
    query_start: float
    longest_ms: float
    query: str
    app: bool
    first_seen: float  # seconds since start


@dataclass
class LoadResult:
    ops: list[Op]
    lock_waits: list[LockWait]
    started_at: float
    rate: float
    threads: int
    monitor_samples: int = 0
    marks: dict[str, float] = field(default_factory=dict)
    #: (seconds since start, "type:event") of application queries seen waiting
    app_wait_samples: list[tuple[float, str]] = field(default_factory=list)


def _check_loopback(url: str) -> None:
    host = urlsplit(url).hostname or ""
    if host not in LOOPBACK:
        raise SystemExit(f"loadgen refuses non-loopback host {host!r}: it is a benchmark tool")


class LoadGenerator:
    """Start with `start()`, change the app version with `set_new_share`, end with `stop()`."""

    def __init__(
        self,
        url: str,
        *,
        key_max: int,
        workload: Workload | None = None,
        rate: float = 200.0,
        threads: int = 8,
        seed: int = 7,
        statement_timeout_ms: int = 30_000,
        monitor_interval: float = 0.01,
        prepare_threshold: int | None = 5,
    ) -> None:
        _check_loopback(url)
        if not 1 <= threads <= MAX_THREADS:
            raise ValueError(f"threads must be 1..{MAX_THREADS}")
        if not 0 < rate <= MAX_RATE:
            raise ValueError(f"rate must be in (0, {MAX_RATE}]")
        self.url = url
        self.key_max = key_max
        self.workload = workload or Workload()
        self.rate = rate
        self.threads = threads
        self.seed = seed
        self.statement_timeout_ms = statement_timeout_ms
        self.monitor_interval = monitor_interval
        #: psycopg's default (5): a statement run 5 times becomes a server-side prepared
        #: statement, as with JDBC and pgx. None sends every query unprepared.
        self.prepare_threshold = prepare_threshold
        self._new_share = 0.0
        self._slot = 0
        self._slot_lock = threading.Lock()
        self._stop = threading.Event()
        self._ops: list[list[Op]] = [[] for _ in range(threads)]
        self._waits: dict[tuple[int, float], LockWait] = {}
        self._monitor_samples = 0
        self._app_wait_samples: list[tuple[float, str]] = []
        self._workers: list[threading.Thread] = []
        self._monitor: threading.Thread | None = None
        self.t0 = 0.0
        self.marks: dict[str, float] = {}

    # --- control ---------------------------------------------------------------------------

    def start(self) -> None:
        self.t0 = time.perf_counter()
        self._monitor = threading.Thread(target=self._monitor_loop, daemon=True)
        self._monitor.start()
        for i in range(self.threads):
            t = threading.Thread(target=self._worker, args=(i,), daemon=True)
            t.start()
            self._workers.append(t)

    def now(self) -> float:
        return time.perf_counter() - self.t0

    def mark(self, name: str) -> float:
        self.marks[name] = self.now()
        return self.marks[name]

    def set_new_share(self, share: float) -> None:
        """Fraction of worker threads running the new application version (0..1)."""
        self._new_share = min(1.0, max(0.0, share))

    def rolling_deploy(self, seconds: float) -> None:
        """Move the workers to the new version one by one over `seconds` (blocks meanwhile)."""
        for i in range(1, self.threads + 1):
            time.sleep(seconds / self.threads)
            self.set_new_share(i / self.threads)

    def stop(self) -> LoadResult:
        self._stop.set()
        for t in self._workers:
            t.join(timeout=self.statement_timeout_ms / 1000 + 5)
        if self._monitor is not None:
            self._monitor.join(timeout=5)
        ops = sorted((op for per in self._ops for op in per), key=lambda o: o.due)
        return LoadResult(
            ops=ops,
            lock_waits=sorted(self._waits.values(), key=lambda w: -w.longest_ms),
            started_at=self.t0,
            rate=self.rate,
            threads=self.threads,
            monitor_samples=self._monitor_samples,
            marks=dict(self.marks),
            app_wait_samples=list(self._app_wait_samples),
        )

    # --- workers ---------------------------------------------------------------------------

    def _connect(self, name: str) -> psycopg.Connection:
        conn = psycopg.connect(self.url, autocommit=True, application_name=name)
        conn.prepare_threshold = self.prepare_threshold
        conn.execute(f"SET statement_timeout = {int(self.statement_timeout_ms)}")
        return conn

    def _next_slot(self) -> int:
        with self._slot_lock:
            k = self._slot
            self._slot += 1
            return k

    def _worker(self, index: int) -> None:
        rng = random.Random(self.seed * 1000 + index)
        record = self._ops[index].append
        wl = self.workload
        conn = self._connect(APP_NAME)
        try:
            while not self._stop.is_set():
                k = self._next_slot()
                due = k / self.rate
                delay = due - self.now()
                if delay > 0 and self._stop.wait(delay):
                    break
                new_version = index < round(self._new_share * self.threads)
                roll = rng.random()
                if roll < wl.read_share:
                    kind, params = "read", (rng.randint(1, self.key_max),)
                elif roll < wl.read_share + wl.insert_share:
                    kind, params = "insert", (f"new-{index}-{k}@example.com",)
                else:
                    key = rng.randint(1, self.key_max)
                    kind, params = "update", (f"u{key}-{k}@example.com", key)
                sql = wl.statement(kind, new_version)
                sent = self.now()
                try:
                    cursor = conn.execute(sql, params)
                    if kind == "read":
                        cursor.fetchall()
                    ok, error = True, ""
                except psycopg.Error as exc:
                    ok, error = False, f"{type(exc).__name__}: {str(exc).splitlines()[0][:160]}"
                    if conn.closed or conn.broken:
                        conn = self._connect(APP_NAME)
                done = self.now()
                record(Op(due, (done - due) * 1000, (done - sent) * 1000, kind, ok, error))
        finally:
            conn.close()

    def _monitor_loop(self) -> None:
        conn = self._connect(MONITOR_NAME)
        # Lock waits of anyone (the app's and the migration's), plus what the application's
        # running queries wait on right now (LWLock, IO, Lock, ...): where its time goes.
        sql = (
            "SELECT pid, extract(epoch FROM query_start), "
            "extract(epoch FROM clock_timestamp() - query_start) * 1000, "
            "application_name = %s, left(query, 120), wait_event_type, wait_event "
            "FROM pg_stat_activity WHERE pid <> pg_backend_pid() AND (wait_event_type = 'Lock' "
            "OR (application_name = %s AND state = 'active' AND wait_event IS NOT NULL))"
        )
        try:
            while not self._stop.wait(self.monitor_interval):
                rows = conn.execute(sql, (APP_NAME, APP_NAME)).fetchall()
                self._monitor_samples += 1
                now = self.now()
                for pid, qstart, waited_ms, is_app, query, wtype, wevent in rows:
                    if is_app and wtype != "Client":
                        self._app_wait_samples.append((now, f"{wtype}:{wevent}"))
                    if wtype != "Lock":
                        continue
                    key = (pid, float(qstart))
                    found = self._waits.get(key)
                    if found is None:
                        self._waits[key] = LockWait(
                            pid, float(qstart), float(waited_ms), query, bool(is_app), now
                        )
                    else:
                        found.longest_ms = max(found.longest_ms, float(waited_ms))
        finally:
            conn.close()


# --- summaries ------------------------------------------------------------------------------


def percentile(sorted_values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile of an ascending sequence (0 when empty)."""
    if not sorted_values:
        return 0.0
    rank = max(1, min(len(sorted_values), math.ceil(q / 100 * len(sorted_values))))
    return sorted_values[rank - 1]


@dataclass(frozen=True)
class Window:
    name: str
    start: float
    end: float
    ops: int
    failed: int
    p50_ms: float
    p95_ms: float
    p99_ms: float
    max_ms: float
    achieved_rate: float
    errors: tuple[tuple[str, int], ...]
    longest_app_lock_wait_ms: float
    longest_other_lock_wait_ms: float
    #: p99 per operation kind (read/update/insert): tells row-lock and commit waits (writes)
    #: from CPU contention (everything)
    p99_by_kind_ms: tuple[tuple[str, float], ...] = ()
    #: p99 of the time from sending to completion: latency minus this is the client's own delay
    service_p99_ms: float = 0.0
    #: what the application's queries were seen waiting on, most frequent first (samples)
    app_waits: tuple[tuple[str, int], ...] = ()

    def to_dict(self) -> dict[str, object]:
        return {
            "name": self.name,
            "start_s": round(self.start, 3),
            "end_s": round(self.end, 3),
            "ops": self.ops,
            "failed": self.failed,
            "p50_ms": round(self.p50_ms, 3),
            "p95_ms": round(self.p95_ms, 3),
            "p99_ms": round(self.p99_ms, 3),
            "max_ms": round(self.max_ms, 3),
            "achieved_rate": round(self.achieved_rate, 1),
            "errors": [list(e) for e in self.errors],
            "longest_app_lock_wait_ms": round(self.longest_app_lock_wait_ms, 1),
            "longest_other_lock_wait_ms": round(self.longest_other_lock_wait_ms, 1),
            "p99_by_kind_ms": {k: round(v, 3) for k, v in self.p99_by_kind_ms},
            "service_p99_ms": round(self.service_p99_ms, 3),
            "app_waits": [list(w) for w in self.app_waits],
        }


def window(result: LoadResult, name: str, start: float, end: float) -> Window:
    """Operations *due* in [start, end) and lock waits first seen in it."""
    ops = [o for o in result.ops if start <= o.due < end]
    lat = sorted(o.latency_ms for o in ops)
    errors: dict[str, int] = {}
    for o in ops:
        if not o.ok:
            errors[o.error] = errors.get(o.error, 0) + 1
    waits = [w for w in result.lock_waits if start <= w.first_seen < end]
    by_kind = {}
    for o in ops:
        by_kind.setdefault(o.kind, []).append(o.latency_ms)
    return Window(
        name=name,
        start=start,
        end=end,
        ops=len(ops),
        failed=sum(not o.ok for o in ops),
        p50_ms=percentile(lat, 50),
        p95_ms=percentile(lat, 95),
        p99_ms=percentile(lat, 99),
        max_ms=lat[-1] if lat else 0.0,
        achieved_rate=len(ops) / (end - start) if end > start else 0.0,
        errors=tuple(sorted(errors.items(), key=lambda kv: -kv[1])[:5]),
        longest_app_lock_wait_ms=max((w.longest_ms for w in waits if w.app), default=0.0),
        longest_other_lock_wait_ms=max((w.longest_ms for w in waits if not w.app), default=0.0),
        p99_by_kind_ms=tuple((k, percentile(sorted(v), 99)) for k, v in sorted(by_kind.items())),
        service_p99_ms=percentile(sorted(o.service_ms for o in ops), 99),
        app_waits=tuple(
            Counter(e for t, e in result.app_wait_samples if start <= t < end).most_common(4)
        ),
    )


def run_for(gen: LoadGenerator, seconds: float, during: Callable[[], None] | None = None) -> None:
    """Sleep `seconds` (or run `during`) while the generator runs."""
    if during is not None:
        during()
    else:
        time.sleep(seconds)
