"""Slow a backfill down when the database shows strain: probe latency and replication lag.

A backfill competes with the application for I/O, locks and replica apply time. Before each
batch the throttle times one small probe query against the table being backfilled and compares
it with a baseline taken before the first batch (median of a few probes). When the probe takes
more than `latency_factor` x the baseline (and more than an absolute floor, so a 0.2 ms baseline
does not make noise look like strain), or when a standby's replay lag (pg_stat_replication)
exceeds `max_lag_s`, it pauses with growing, jittered pauses and probes again. It gives up only
after `max_wait_s` of continuous throttling, with an error that says the run can be resumed.

Replication lag is time lag as the primary measures it (`replay_lag`, which keeps growing while
a standby's replay is stuck), 0 for a standby that has replayed everything; the WAL bytes not yet
replayed are reported beside it. Each pause and each resume is handed to `on_event`, which the
executor writes to the run log, so `run_status` can say "paused: replication lag 12 s > 5 s"
while a backfill waits (`throttle_status`).
"""

from __future__ import annotations

import random
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from datamigration.db.base import Backend
from datamigration.errors import ConflictError
from datamigration.safety.probes import replication_lag


class ThrottledTooLongError(ConflictError):
    """The database stayed strained for longer than the throttle may wait."""


@dataclass(frozen=True)
class ThrottlePolicy:
    latency_factor: float = 2.0
    latency_floor_ms: float = 5.0
    max_lag_s: float | None = 30.0
    baseline_probes: int = 5
    base_pause_ms: float = 100.0
    max_pause_ms: float = 5_000.0
    max_wait_s: float = 600.0
    #: fixed pause after every batch (ms): a gentler steady pace when asked for
    pause_ms: float = 0.0
    #: longest a probe may wait (for a lock or the server); waiting that long reads as strain
    probe_timeout_ms: int = 2_000
    #: the read to time instead of the default one-row read of the table (an application's own
    #: representative query, so the budget follows what the application feels)
    probe_sql: str | None = None

    @classmethod
    def from_monitoring(cls, monitoring: dict[str, Any] | None, **overrides: Any) -> ThrottlePolicy:
        """The step's monitoring thresholds: its `throttle` block first (the planner writes
        `{"throttle": {"latency_p99_ratio": 1.5, "replication_lag_seconds": 10}}`), then the
        step-wide limits, so the backfill slows down before a rollback trigger would fire."""
        kw: dict[str, Any] = {}
        m = dict(monitoring or {})
        scopes = [m.get("throttle") if isinstance(m.get("throttle"), dict) else {}, m]
        factors = ("latency_factor", "latency_p99_ratio", "latency_p99_max_ratio")
        lags = ("max_lag_s", "replication_lag_seconds", "replication_lag_max_seconds")
        for names, field_name in ((factors, "latency_factor"), (lags, "max_lag_s")):
            for scope in scopes:
                found = next(
                    (scope[k] for k in names if isinstance(scope.get(k), int | float)), None
                )
                if found is not None:
                    kw[field_name] = float(found)
                    break
        kw.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**kw)


@dataclass
class ThrottleStats:
    baseline_ms: float | None = None
    probes: int = 0
    throttled: int = 0
    slept_ms: float = 0.0
    max_probe_ms: float = 0.0
    max_lag_s: float | None = None
    max_lag_bytes: int | None = None
    #: pauses per cause: "latency" / "replication_lag"
    causes: dict[str, int] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "baseline_probe_ms": round(self.baseline_ms, 3) if self.baseline_ms else None,
            "probes": self.probes,
            "throttled": self.throttled,
            "throttled_by": dict(self.causes),
            "throttle_sleep_ms": round(self.slept_ms, 1),
            "max_probe_ms": round(self.max_probe_ms, 3),
            "max_replication_lag_s": self.max_lag_s,
            "max_replication_lag_bytes": self.max_lag_bytes,
        }


@dataclass
class Throttle:
    backend: Backend
    probe_sql: str = "SELECT 1"
    policy: ThrottlePolicy = field(default_factory=ThrottlePolicy)
    sleep: Callable[[float], None] = time.sleep
    clock: Callable[[], float] = time.monotonic
    rng: random.Random = field(default_factory=random.Random)
    #: measurements, injectable so the decision logic is testable without a loaded database
    probe: Callable[[], float] | None = None
    lag: Callable[[], float | None] | None = None
    stats: ThrottleStats = field(default_factory=ThrottleStats)
    #: told of every pause and of the resume after them (the executor logs them)
    on_event: Callable[[dict[str, Any]], None] | None = None

    def __post_init__(self) -> None:
        if self.probe is None:
            self.probe = lambda: self.backend.probe_latency_ms(
                self.probe_sql, timeout_ms=self.policy.probe_timeout_ms
            )
        if self.lag is None:
            self.lag = self._standby_lag
        self._lag_bytes: int | None = None
        self._last_ms = 0.0
        self.baseline_samples: list[float] = []

    def _standby_lag(self) -> float | None:
        found = replication_lag(self.backend)
        self._lag_bytes = found.bytes if found else None
        if found and found.bytes is not None:
            self.stats.max_lag_bytes = max(self.stats.max_lag_bytes or 0, found.bytes)
        return found.seconds if found else None

    def _measure(self) -> float:
        assert self.probe is not None
        ms = self._last_ms = self.probe()
        self.stats.probes += 1
        self.stats.max_probe_ms = max(self.stats.max_probe_ms, ms)
        return ms

    def calibrate(self) -> float:
        """The baseline: median probe latency before the backfill starts."""
        samples = [self._measure() for _ in range(max(1, self.policy.baseline_probes))]
        self.baseline_samples = samples
        self.stats.baseline_ms = statistics.median(samples)
        return self.stats.baseline_ms

    @property
    def limit_ms(self) -> float:
        base = self.stats.baseline_ms or 0.0
        return max(self.policy.latency_floor_ms, base * self.policy.latency_factor)

    def strained(self) -> str | None:
        """Why the database looks strained right now, or None."""
        found = self._strain()
        return found[1] if found else None

    def _strain(self) -> tuple[str, str] | None:
        """(cause, reason) when the database looks strained right now."""
        if self.stats.baseline_ms is None:
            self.calibrate()
        ms = self._measure()
        if ms > self.limit_ms:
            return "latency", f"probe {round(ms, 2):g} ms > {round(self.limit_ms, 2):g} ms"
        if self.policy.max_lag_s is not None and self.lag is not None:
            lag = self.lag()
            if lag is not None:
                self.stats.max_lag_s = max(self.stats.max_lag_s or 0.0, lag)
                if lag > self.policy.max_lag_s:
                    reason = f"replication lag {round(lag, 2):g} s > {self.policy.max_lag_s:g} s"
                    if self._lag_bytes:
                        reason += f" ({self._lag_bytes:,} bytes of WAL not replayed)"
                    return "replication_lag", reason
        return None

    def _tell(self, **event: Any) -> None:
        if self.on_event is not None:
            self.on_event(event)

    def before_batch(self) -> float:
        """Return when the database looks healthy; pause (growing, jittered) while it does not.
        Returns the first probe's latency (ms): how the database looked after the last batch."""
        started = self.clock()
        attempt = 0
        probes = self.stats.probes
        first: float | None = None
        while (found := self._strain()) is not None:
            if first is None:
                first = self._last_ms
            cause, reason = found
            waited = self.clock() - started
            if waited >= self.policy.max_wait_s:
                raise ThrottledTooLongError(
                    f"backfill paused: the database stayed strained for {waited:.0f} s ({reason})",
                    hint="Nothing is lost: the checkpoint holds the last committed batch. Run "
                    "the step again when the load is lower (it resumes), or raise the limits.",
                    reason=reason,
                )
            attempt += 1
            self.stats.throttled += 1
            self.stats.causes[cause] = self.stats.causes.get(cause, 0) + 1
            bound = min(self.policy.max_pause_ms, self.policy.base_pause_ms * 2 ** (attempt - 1))
            pause = self.rng.uniform(bound / 2, bound)
            self._tell(state="paused", cause=cause, reason=reason, attempt=attempt,
                       waited_s=round(waited, 3), pause_ms=round(pause, 1))  # fmt: skip
            self.stats.slept_ms += pause
            self.sleep(pause / 1000.0)
        if attempt:
            self._tell(state="resumed", pauses=attempt, waited_s=round(self.clock() - started, 3))
        return (
            first if first is not None else (self._last_ms if self.stats.probes > probes else 0.0)
        )

    def after_batch(self) -> None:
        self.pause(self.policy.pause_ms)

    def pause(self, ms: float) -> None:
        """Pause `ms` milliseconds between batches (counted in the stats)."""
        if ms > 0:
            self.stats.slept_ms += ms
            self.sleep(ms / 1000.0)


def throttle_status(events: list[dict[str, Any]]) -> dict[str, Any] | None:
    """What the run log says about throttling: the latest decision, and whether the backfill is
    paused right now (its latest event is a pause: nothing else is logged while it waits).
    None when the log holds no throttle event."""
    decisions = [e for e in events if e.get("event") == "throttle"]
    if not decisions:
        return None
    last = decisions[-1]
    paused = events[-1] is last and last.get("state") == "paused"
    out = {k: last.get(k) for k in ("step", "operation", "state", "cause", "reason", "waited_s")}
    pauses = sum(1 for e in decisions if e.get("state") == "paused")
    return out | {"paused": paused, "at": last.get("ts"), "pauses": pauses}
