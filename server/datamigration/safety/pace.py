"""A latency budget instead of a fixed pace: batch size and pause chosen from latency readings.

A batched job (the backfill today, the copy engine later) asks the `Pacer` how big its next
batch may be and how long to pause after it. The pacer is told the latency of a probe read
before the job starts (the baseline) and after every batch (a reading); its budget is
`budget_ratio` x the baseline's p99, never below `budget_floor_ms` (a 0.2 ms baseline would
otherwise turn noise into slowdowns). Each reading is judged by the p99 of the last `window`
readings:

* over the budget: multiplicative decrease — the batch is cut by `decrease` (never below
  `min_batch`) and the pause grows by the same factor (at least `pause_step_ms`, at most
  `max_pause_ms`); the window is emptied, so the next decision rests on readings taken at the
  new pace, not on the ones that caused the cut;
* within it: additive increase — the batch grows by `increase_rows` (never above `max_batch`,
  the reviewed batch size) and the pause shrinks by `pause_step_ms` (never below `min_pause_ms`).

A budget the machine cannot hold (neighbours keep every reading high) must not stretch a job
without end: the pacer is told how long each batch took and keeps the job within
`max_slowdown` x its full pace (the best rate of a batch at the largest size, no pause). A cut
never pauses longer than that rate allows, and once a batch on its own runs below it (small
batches pay their fixed costs more often) the batch is cut no further.

No database code: readings come in, decisions go out, so the controller is tested by feeding
it numbers, and any engine that can time a probe can use it. `settled()` says the pace it ended
on (the median batch and pause of its last decisions), which the run log, the execute answer
and run-status report.
"""

from __future__ import annotations

import math
import statistics
from collections import deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from datamigration.errors import UserInputError

#: the settings `[safety]` in datamigration.toml (and a run's safety overrides) may give the pacer
PACE_SETTINGS = {
    "latency_budget_ratio": "budget_ratio",
    "latency_budget_floor_ms": "budget_floor_ms",
    "pace_min_batch": "min_batch",
    "pace_max_pause_ms": "max_pause_ms",
    "pace_max_slowdown": "max_slowdown",
    "pace_commit_probe": "commit_probe",
}


def p99(values: Sequence[float]) -> float:
    """Nearest-rank 99th percentile (0 when empty)."""
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[max(1, math.ceil(0.99 * len(ordered))) - 1]


@dataclass(frozen=True)
class PacePolicy:
    #: the budget: this many times the baseline p99 (None: a fixed pace, no pacer)
    budget_ratio: float | None = 2.0
    #: as the throttle's and the watch's floors: below it, latency is the machine's noise
    budget_floor_ms: float = 5.0
    #: readings the decision looks at (their p99)
    window: int = 5
    min_batch: int = 100
    #: multiplicative decrease of the batch (and increase of the pause) over the budget
    decrease: float = 0.5
    #: additive increase of the batch within the budget, as a share of the largest batch
    increase_share: float = 0.1
    pause_step_ms: float = 20.0
    min_pause_ms: float = 0.0
    max_pause_ms: float = 2_000.0
    #: never slower than this many times the job's full pace (None: no such bound)
    max_slowdown: float | None = 3.0
    #: also time a one-row write and commit on the side connection (safety/probes.py
    #: `CommitProbe`): what the application's writes wait on, which no read sees
    commit_probe: bool = True

    @classmethod
    def build(
        cls, config: Mapping[str, Any] | None = None, overrides: Mapping[str, Any] | None = None
    ) -> PacePolicy:
        """Defaults, then `[safety]` of datamigration.toml, then the run's overrides (both use
        the PACE_SETTINGS names; other keys belong to the watch and are left alone)."""
        kw: dict[str, Any] = {}
        for where, values in (("datamigration.toml", (config or {}).get("safety")),
                              ("the run's options", overrides)):  # fmt: skip
            for key, value in dict(values or {}).items():
                if key in PACE_SETTINGS:
                    kw[PACE_SETTINGS[key]] = _number(key, value, where)
        return cls(**kw)

    @property
    def enabled(self) -> bool:
        return self.budget_ratio is not None


def _number(key: str, value: Any, where: str) -> float | bool | None:
    if key == "pace_commit_probe":
        if not isinstance(value, bool):
            raise UserInputError(f"{where}: [safety] {key} = {value!r} is not true or false",
                                 hint=f"Set {key} to true or false.")  # fmt: skip
        return value
    if (value is False or value is None) and key in ("latency_budget_ratio", "pace_max_slowdown"):
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
        raise UserInputError(
            f"{where}: [safety] {key} = {value!r} is not a number > 0",
            hint=f"Set {key} to a positive number"
            + {
                "latency_budget_ratio": " (or false for a fixed pace).",
                "pace_max_slowdown": " (or false for no bound).",
            }.get(key, "."),
        )
    return int(value) if key == "pace_min_batch" else float(value)


@dataclass(frozen=True)
class Pace:
    """One decision: the next batch's size and the pause after the batch just run."""

    batch_size: int
    pause_ms: float
    reading_ms: float | None = None
    window_p99_ms: float | None = None
    change: str = "start"  # "start" / "decrease" / "increase" / "hold"


@dataclass
class Pacer:
    """Additive increase / multiplicative decrease of batch size and pause against a budget."""

    max_batch: int
    policy: PacePolicy = field(default_factory=PacePolicy)
    baseline_p99_ms: float | None = None
    _batch: float = 0.0
    _pause: float = 0.0
    _readings: deque[float] = field(default_factory=deque)
    _history: list[Pace] = field(default_factory=list)
    decreases: int = 0
    increases: int = 0
    #: cuts the slowdown bound held back (a shorter pause or a batch kept)
    bounded: int = 0
    max_reading_ms: float = 0.0
    #: keys per second of the fastest batch run at the largest size: the job's full pace
    full_rate: float | None = None
    _last: tuple[int, float] | None = None

    def __post_init__(self) -> None:
        self.max_batch = max(1, int(self.max_batch))
        self._batch = float(self.max_batch)
        self._pause = self.policy.min_pause_ms

    @property
    def min_batch(self) -> int:
        return max(1, min(self.policy.min_batch, self.max_batch))

    def calibrate(self, readings: Sequence[float]) -> float:
        """The baseline: the p99 of probe readings taken before the job starts."""
        self.baseline_p99_ms = p99(list(readings))
        return self.baseline_p99_ms

    @property
    def budget_ms(self) -> float:
        ratio = self.policy.budget_ratio or 0.0
        return max(self.policy.budget_floor_ms, (self.baseline_p99_ms or 0.0) * ratio)

    def current(self) -> Pace:
        return Pace(int(self._batch), round(self._pause, 1))

    def observe(
        self, reading_ms: float, *, size: int | None = None, seconds: float | None = None
    ) -> Pace:
        """Take one reading (latency after a batch; with the batch's `size` in keys and the
        `seconds` it took, for the slowdown bound); return the pace for what follows."""
        if size and seconds and seconds > 0:
            self._last = (int(size), float(seconds))
            if size >= self.max_batch:
                self.full_rate = max(self.full_rate or 0.0, size / seconds)
        self.max_reading_ms = max(self.max_reading_ms, reading_ms)
        self._readings.append(reading_ms)
        while len(self._readings) > max(1, self.policy.window):
            self._readings.popleft()
        seen = p99(list(self._readings))
        pol = self.policy
        if seen > self.budget_ms:
            change = "decrease"
            self.decreases += 1
            self._batch = max(self.min_batch, self._batch * pol.decrease)
            grown = max(pol.pause_step_ms, self._pause / pol.decrease)
            self._pause = min(pol.max_pause_ms, grown)
            self._bound()
            self._readings.clear()
        elif self._batch < self.max_batch or self._pause > pol.min_pause_ms:
            change = "increase"
            self.increases += 1
            step = max(1.0, self.max_batch * pol.increase_share)
            self._batch = min(float(self.max_batch), self._batch + step)
            self._pause = max(pol.min_pause_ms, self._pause - pol.pause_step_ms)
        else:
            change = "hold"
        pace = Pace(int(self._batch), round(self._pause, 1), round(reading_ms, 3),
                    round(seen, 3), change)  # fmt: skip
        self._history.append(pace)
        return pace

    def _bound(self) -> None:
        """Hold a cut within `max_slowdown` of the full pace: the pause no longer than the
        rate allows for the new batch (its time estimated from the last batch's per key), and
        no smaller batch once the last one ran below that rate on its own."""
        slowdown = self.policy.max_slowdown
        if not slowdown or self.full_rate is None or self._last is None:
            return
        floor_rate = self.full_rate / slowdown
        size, seconds = self._last
        before = (self._batch, self._pause)
        if size / seconds < floor_rate:
            self._batch = min(float(self.max_batch), max(self._batch, float(size)))
            self._pause = self.policy.min_pause_ms
        else:
            room_ms = (self._batch / floor_rate - self._batch * seconds / size) * 1000.0
            self._pause = max(self.policy.min_pause_ms, min(self._pause, room_ms))
        if (self._batch, self._pause) != before:
            self.bounded += 1

    def settled(self, last: int = 10) -> dict[str, Any]:
        """The pace it ended on: median batch and pause of the last decisions, and the budget."""
        recent = self._history[-last:] or [self.current()]
        return {
            "budget_ms": round(self.budget_ms, 3),
            "baseline_p99_ms": round(self.baseline_p99_ms or 0.0, 3),
            "batch_size": int(statistics.median(p.batch_size for p in recent)),
            "pause_ms": round(statistics.median(p.pause_ms for p in recent), 1),
            "largest_batch": self.max_batch,
            "smallest_batch": min((p.batch_size for p in self._history), default=self.max_batch),
            "decreases": self.decreases,
            "increases": self.increases,
            "max_reading_ms": round(self.max_reading_ms, 3),
            "full_rate": round(self.full_rate, 1) if self.full_rate else None,
            "held_by_slowdown_bound": self.bounded,
        }


def pace_status(events: list[dict[str, Any]]) -> dict[str, Any] | None:
    """What the run log says about the latency budget: the latest backfill's settled pace (or,
    while it runs, its latest cut), None when no pace was logged."""
    found = [e for e in events if e.get("event") == "pace"]
    if not found:
        return None
    last = found[-1]
    out = {k: v for k, v in last.items() if k not in ("event",)}
    return out | {"cuts": sum(1 for e in found if e.get("state") == "slower")}
