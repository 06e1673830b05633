"""Live readings of a database under a migration: one `Sampler`, used by the monitor, the
rollback-trigger watch and the health check.

A sample holds what a person watching a migration wants to see, each reading computed the same
way wherever it is shown:

* probe latency p50/p95/p99 over the latest probes (the plan's representative read, a query the
  user gives through the read-only query path, or a trivial one), and failed probes;
* error rate: rolled-back transactions (deadlock victims among them) per finished transaction
  since the previous sample, failed probes added; throughput: commits per second;
* connections against the maximum, sessions waiting for locks, blocking sessions, the oldest
  open transaction and the count of long ones, database size;
* replication lag of the standbys (`safety/probes.py`) and of replication slots (`SlotLag`);
* pg_stat_statements deltas (calls/s, mean ms) when the extension is there;
* disk free of the data directory, the host's CPU and memory (psutil), when the database runs on
  this machine; the migration's own rows/s when a run reports them;
* the application's Prometheus endpoint when given (`safety/prometheus.py`).

The counters come from `Backend.metrics_counters` and friends (`db/metrics.py`); a reading the
database cannot give is listed under `unavailable` instead of being shown as a zero.
"""

from __future__ import annotations

import shutil
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from datamigration.db.base import Backend
from datamigration.errors import DatabaseError
from datamigration.safety.probes import replication_lag

#: hosts that mean "this machine": its disk and CPU are the database's
LOCAL_HOSTS = frozenset({"", "127.0.0.1", "localhost", "::1"})


def percentile(values: list[float], q: float) -> float | None:
    """The q-th percentile (0-100) by nearest rank, None without values."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(0, min(len(ordered) - 1, round(q / 100 * len(ordered) + 0.5) - 1))
    return ordered[rank]


@dataclass
class SlotLag:
    """How long each replication slot's consumer has been behind, estimated from the write
    position seen at each sample: a slot that confirmed position P is behind by the time since
    the database wrote past P. When P is older than the first sample, the time since the first
    sample is a lower bound (`at_least`)."""

    history: deque[tuple[float, int]] = field(default_factory=lambda: deque(maxlen=3600))

    def update(self, now: float, wal_bytes: int | None, slots: list[dict[str, Any]]) -> dict | None:
        """The worst slot of this database right now, or None without slots."""
        if wal_bytes is None:
            return None
        self.history.append((now, int(wal_bytes)))
        worst: dict[str, Any] | None = None
        for slot in slots:
            if not slot.get("here") or slot.get("reached_bytes") is None:
                continue
            reached = int(slot["reached_bytes"])
            behind = max(0, int(wal_bytes) - reached)
            seconds, at_least = 0.0, False
            if behind > 0:  # behind since the first sample that saw a write past `reached`
                past = next((t for t, pos in self.history if pos > reached), now)
                seconds, at_least = now - past, self.history[0][1] > reached
            entry = {"slot": slot["name"], "seconds": round(seconds, 3), "bytes": behind,
                     "active": bool(slot.get("active")), "at_least": at_least}  # fmt: skip
            if worst is None or entry["seconds"] > worst["seconds"]:
                worst = entry
        return worst


def local_data_directory(backend: Backend) -> Path | None:
    """The database's data directory when it is on this machine, else None."""
    host = (backend.url.host or "").strip("[]").lower()
    if host not in LOCAL_HOSTS and not host.startswith("/"):
        return None
    try:
        found = backend.data_directory()
    except DatabaseError:
        return None
    path = Path(found) if found else None
    return path if path is not None and path.exists() else None


@dataclass
class Sampler:
    """Takes samples of one database (its own connection: `backend`)."""

    backend: Backend
    #: the probe: SQL of ours (the plan's representative read) timed on the backend's door
    probe_sql: str | None = None
    #: queries the user gave, run through the read-only query path (never the door)
    user_queries: tuple[str, ...] = ()
    probes_per_sample: int = 3
    #: probe latencies kept for the percentiles
    window: int = 30
    probe_timeout_ms: int = 2_000
    prometheus: Any = None
    #: the migration's rows done so far (rows/s between samples), when a run reports them
    rows_done: Callable[[], int | None] | None = None
    clock: Callable[[], float] = time.monotonic
    latencies: deque[float] = field(default_factory=deque)
    slots: SlotLag = field(default_factory=SlotLag)

    def __post_init__(self) -> None:
        self.latencies = deque(maxlen=self.window)
        self._previous: dict[str, Any] | None = None
        #: transactions this sampler rolled back itself (its read-only queries)
        self.own_rollbacks = 0
        self._data_dir = local_data_directory(self.backend)
        self._psutil = _psutil() if self._data_dir is not None else None
        if self._psutil is not None:
            self._psutil.cpu_percent(interval=None)  # the first call only starts the clock

    def probe(self) -> tuple[float | None, bool]:
        """One probe: (milliseconds, failed)."""
        started = time.perf_counter()
        try:
            if self.user_queries:
                for sql in self.user_queries:
                    # the read-only path always rolls back: not an error of the application's
                    self.own_rollbacks += 1
                    self.backend.query(sql, max_rows=1, timeout_ms=self.probe_timeout_ms)
                return (time.perf_counter() - started) * 1000, False
            ms = self.backend.probe_latency_ms(self.probe_sql, timeout_ms=self.probe_timeout_ms)
            return ms, False
        except DatabaseError:
            return (time.perf_counter() - started) * 1000, True

    def sample(self) -> dict[str, Any]:
        """One sample (see the module docstring); rates are per second since the last one."""
        failed, these = 0, []
        for _ in range(max(1, self.probes_per_sample)):
            ms, bad = self.probe()
            failed += bad
            if ms is not None:
                self.latencies.append(ms)
                these.append(ms)
        now = self.clock()
        out: dict[str, Any] = {"at": time.time(), "unavailable": []}
        lat = list(self.latencies)
        out["latency_ms"] = {
            "p50": _r(percentile(lat, 50)), "p95": _r(percentile(lat, 95)),
            "p99": _r(percentile(lat, 99)), "probes": len(lat), "failed": failed,
            "latest": _r(percentile(these, 99)),
        }  # fmt: skip
        counters = self._counters(out)
        self._rates(out, counters, now, failed)
        self._lag(out, counters, now)
        self._local(out, counters)
        if self.prometheus is not None:
            out["app"] = self.prometheus.sample()
        self._previous = dict(counters) | {"_t": now, "_rows": self._rows(),
                                           "_own": self.own_rollbacks}  # fmt: skip
        return out

    def _counters(self, out: dict[str, Any]) -> dict[str, Any]:
        try:
            if self.user_queries:
                self.backend.flush_own_statistics()
            counters = dict(self.backend.metrics_counters())
        except DatabaseError as exc:
            out["unavailable"].append(f"counters ({exc.message})")
            return {}
        for key in ("connections", "max_connections", "lock_waits", "blocking_sessions",
                    "oldest_transaction_s", "long_transactions", "database_size_bytes"):  # fmt: skip
            if key in counters:
                out[key] = _r(counters[key]) if isinstance(counters[key], float) else counters[key]
            else:
                out["unavailable"].append(key)
        if counters.get("max_connections"):
            out["connections_used"] = round(
                counters.get("connections", 0) / counters["max_connections"], 4
            )
        try:
            stats = self.backend.statement_stats()
        except DatabaseError:
            stats = None
        if stats is not None:
            counters["_calls"], counters["_total_ms"] = stats["calls"], stats["total_ms"]
        return counters

    def _rates(self, out: dict[str, Any], c: dict[str, Any], now: float, failed: int) -> None:
        prev = self._previous
        if "commits" not in c or "rollbacks" not in c:
            out["unavailable"] += ["error_rate", "throughput_tps"]
            if failed:
                out["error_rate"] = 1.0 if failed >= self.probes_per_sample else None
            return
        if prev is None or "commits" not in prev:
            out["error_rate"], out["throughput_tps"] = None, None  # the first sample: no delta
            return
        dt = max(now - prev["_t"], 1e-6)
        commits = max(0, c["commits"] - prev["commits"])
        own = self.own_rollbacks - prev["_own"]
        rollbacks = max(0, c["rollbacks"] - prev["rollbacks"] - own)
        finished = commits + rollbacks + failed
        out["error_rate"] = round((rollbacks + failed) / finished, 5) if finished else 0.0
        out["transactions"] = finished
        out["throughput_tps"] = round(commits / dt, 1)
        if "deadlocks" in c and "deadlocks" in prev:
            out["deadlocks"] = max(0, c["deadlocks"] - prev["deadlocks"])
        if "_calls" in c and "_calls" in prev:
            calls = max(0.0, c["_calls"] - prev["_calls"])
            spent = max(0.0, c["_total_ms"] - prev["_total_ms"])
            out["statements"] = {"calls_per_s": round(calls / dt, 1),
                                 "mean_ms": round(spent / calls, 3) if calls else None}  # fmt: skip
        rows, before = self._rows(), prev.get("_rows")
        if rows is not None and before is not None:
            out["rows_per_s"] = round(max(0, rows - before) / dt, 1)

    def _lag(self, out: dict[str, Any], counters: dict[str, Any], now: float) -> None:
        try:
            lag = replication_lag(self.backend)
            slots = self.backend.replication_slots()
        except DatabaseError:
            out["unavailable"].append("replication")
            return
        out["replication_lag_s"] = lag.seconds if lag else None
        out["replication_lag_bytes"] = lag.bytes if lag else None
        out["slot_lag"] = self.slots.update(now, counters.get("wal_bytes"), slots)

    def _local(self, out: dict[str, Any], counters: dict[str, Any]) -> None:
        if self._data_dir is None:
            out["unavailable"] += ["disk (the database is not on this machine)", "host"]
            return
        usage = shutil.disk_usage(self._data_dir)
        out["disk_free_bytes"], out["disk_total_bytes"] = usage.free, usage.total
        if self._psutil is not None:
            out["host"] = {"cpu_percent": self._psutil.cpu_percent(interval=None),
                           "memory_percent": self._psutil.virtual_memory().percent}  # fmt: skip

    def _rows(self) -> int | None:
        return self.rows_done() if self.rows_done is not None else None

    def baseline(self, probes: int = 10) -> dict[str, Any]:
        """The state before a run: `probes` probes (their p50/p99) and one sample of counters."""
        for _ in range(probes):
            ms, _bad = self.probe()
            if ms is not None:
                self.latencies.append(ms)
        lat = list(self.latencies)
        first = self.sample()
        first["latency_ms"].update(p50=_r(percentile(lat, 50)), p99=_r(percentile(lat, 99)))
        return first


def _r(value: float | None) -> float | None:
    return round(value, 3) if isinstance(value, float) else value


def _psutil() -> Any:
    try:
        import psutil
    except ImportError:  # an optional reading: the sample says "host" is unavailable
        return None
    return psutil
