"""Rollback triggers evaluated while a step runs, not only after it: the watch.

A `Watch` samples the target on its own connection in a background thread (`safety/metrics.py`
`Sampler`), once per `interval_s`, and evaluates the step's rollback triggers on every sample
with the one evaluator of `safety/triggers.py`. The plan's triggers (error rate, p99 ratio,
replication lag, with the plan's thresholds) are joined by the ones this machine's configuration
adds (`[safety]` in datamigration.toml: replication-slot lag, a disk floor) and by a manual stop
(`datamigration stop PLAN`, or the `stop` argument of the run_status tool, which write a stop
file under `.datamigration/runs/<plan>/`).

How each condition counts:
* error rate: rolled-back transactions per finished one since the previous sample, above the
  baseline (the first sample's rate) by more than the threshold (default 1 percentage point);
* p99 latency: the probes of each sample above `ratio` x the baseline p99 (and above a floor,
  so a 0.2 ms baseline does not turn noise into a rollback), held on every sample for longer
  than the grace period: one slow probe never fires;
* replication lag (a `pause` trigger: the throttle pauses first): held above the limit for
  longer than the grace period, i.e. pausing did not help;
* slot lag (seconds since the database wrote past a slot's confirmed position), disk free below
  the floor, a manual stop: at once.

A batched operation asks the watch between batches (`check`) and sleeps through it (`sleep`
returns early when a trigger fires), so a firing stops the work within one batch; a long single
statement (an index build) is cancelled on the server by the watch itself; the executor
then rolls the step back, blocks the story and posts the numbers on the bus. Every sample goes
to `.datamigration/runs/<plan>/samples.jsonl`, which `run-status` shows.
"""

from __future__ import annotations

import dataclasses
import json
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Self

from datamigration.db.base import Backend
from datamigration.errors import ConflictError, DataMigrationError, UserInputError
from datamigration.plan.model import RollbackTrigger
from datamigration.safety.metrics import Sampler
from datamigration.safety.pace import PACE_SETTINGS
from datamigration.safety.triggers import WATCHED, evaluate

SAFETY_SECTION = "safety"
STOP_FILE = "STOP"
SAMPLES_FILE = "samples.jsonl"


class TriggerFiredError(ConflictError):
    """A rollback trigger fired while a step ran."""


@dataclass(frozen=True)
class WatchPolicy:
    """Thresholds of the watch. Defaults here; `[safety]` in datamigration.toml overrides them;
    the step's own thresholds (its rollback triggers, reviewed with the plan) override those;
    a run's explicit overrides come last."""

    #: roll back when the error rate exceeds the baseline's by this much (0.01 = 1 point)
    error_rate_over_baseline: float | None = 0.01
    #: ... but only over a sample with at least this many finished transactions
    error_rate_min_transactions: int = 20
    latency_p99_ratio: float | None = 2.0
    latency_floor_ms: float = 5.0
    grace_seconds: float = 10.0
    replication_lag_seconds: float | None = 30.0
    slot_lag_seconds: float | None = 30.0
    #: roll back when the data directory's disk has less free space than this
    disk_free_min_bytes: int | None = None
    disk_free_min_percent: float | None = 5.0
    interval_seconds: float = 1.0
    baseline_probes: int = 10
    probe_timeout_ms: int = 2_000

    @classmethod
    def build(
        cls,
        config: Mapping[str, Any] | None = None,
        triggers: Sequence[RollbackTrigger] = (),
        overrides: Mapping[str, Any] | None = None,
    ) -> WatchPolicy:
        kw = _checked(dict((config or {}).get(SAFETY_SECTION) or {}), "datamigration.toml")
        for t in triggers:
            if t.metric in _PLAN_METRICS and isinstance(t.threshold, int | float):
                kw[_PLAN_METRICS[t.metric]] = float(t.threshold)
        kw.update(_checked(dict(overrides or {}), "the run's options"))
        return cls(**kw)


def _checked(values: dict[str, Any], where: str) -> dict[str, Any]:
    """Known keys with numbers (or false/none to switch a trigger off), else a clear error."""
    names = {f.name: f for f in dataclasses.fields(WatchPolicy)}
    out: dict[str, Any] = {}
    for key, value in values.items():
        if key in PACE_SETTINGS:  # the backfill's latency budget (safety/pace.py) reads these
            continue
        if key not in names:
            raise UserInputError(
                f"{where}: [{SAFETY_SECTION}] has no setting {key!r}",
                hint=f"Known settings: {', '.join(sorted([*names, *PACE_SETTINGS]))}.",
            )
        if value is False or value is None:
            if "None" not in str(names[key].type):
                raise UserInputError(f"{where}: [{SAFETY_SECTION}] {key} cannot be switched off",
                                     hint="Give it a number.")  # fmt: skip
            out[key] = None
        elif isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
            raise UserInputError(
                f"{where}: [{SAFETY_SECTION}] {key} = {value!r} is not a number >= 0",
                hint=f"Set {key} to a number (or false to switch that trigger off).",
            )
        else:
            out[key] = int(value) if names[key].type.startswith("int") else float(value)
    return out


@dataclass(frozen=True)
class Firing:
    """A trigger that fired: what, the value seen, the limit, and the sentence that says so."""

    trigger: str
    value: float | None
    threshold: float | None
    reason: str
    baseline: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"trigger": self.trigger, "value": self.value, "threshold": self.threshold,
                "reason": self.reason, "baseline": self.baseline}  # fmt: skip


def run_dir(state_dir: Path, plan_id: str) -> Path:
    """`.datamigration/runs/<plan>/`: the run's samples and its stop file."""
    return state_dir / "runs" / plan_id


def request_stop(state_dir: Path, plan_id: str, reason: str = "") -> Path:
    """Ask a running step of `plan_id` to stop (its watch rolls it back)."""
    path = run_dir(state_dir, plan_id) / STOP_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"at": time.time(), "reason": reason or "manual stop"}) + "\n")
    return path


def stop_requested(state_dir: Path, plan_id: str) -> str | None:
    """The reason of a pending stop request, or None."""
    path = run_dir(state_dir, plan_id) / STOP_FILE
    if not path.is_file():
        return None
    try:
        return str(json.loads(path.read_text()).get("reason") or "manual stop")
    except (ValueError, AttributeError, OSError):
        return "manual stop"


def clear_stop(state_dir: Path, plan_id: str) -> None:
    (run_dir(state_dir, plan_id) / STOP_FILE).unlink(missing_ok=True)


def samples_of(state_dir: Path, plan_id: str, limit: int | None = 20) -> list[dict[str, Any]]:
    """The latest `limit` samples stored for a run, or all with None (malformed lines skipped)."""
    path = run_dir(state_dir, plan_id) / SAMPLES_FILE
    if not path.is_file():
        return []
    out = []
    lines = path.read_text(encoding="utf-8").splitlines()
    for line in lines[-limit:] if limit else lines:
        try:
            item = json.loads(line)
        except ValueError:
            continue
        if isinstance(item, dict):
            out.append(item)
    return out


#: the conditions a run adds to the plan's (thresholds from the policy)
def _runtime_triggers(p: WatchPolicy) -> list[RollbackTrigger]:
    out = []
    if p.slot_lag_seconds is not None:
        out.append(RollbackTrigger("slot_lag_seconds", ">", p.slot_lag_seconds,
                                   f"replication slot lag above {p.slot_lag_seconds:g} s"))  # fmt: skip
    out.append(RollbackTrigger("disk_free_short", ">", 0, "disk free below the floor"))
    return out


class Watch:
    """Samples the target while a step runs and fires its rollback triggers (module docstring)."""

    def __init__(
        self,
        connect: Callable[[], Backend] | None,
        policy: WatchPolicy,
        triggers: Sequence[RollbackTrigger],
        *,
        state_dir: Path,
        plan_id: str,
        step_id: str,
        probe_sql: str | None = None,
        clock: Callable[[], float] = time.monotonic,
        pause: Callable[[float], Any] | None = None,
        cancel: Any = None,
    ) -> None:
        self.policy, self.plan_id, self.step_id = policy, plan_id, step_id
        self.state_dir, self.clock = state_dir, clock
        #: how a pause waits: on the firing event (woken early), or a run's own sleep (tests)
        self._pause = pause
        #: the session whose running statement a firing cancels (a long single statement, such
        #: as an index build, has no batch boundary to stop at); None: stop between batches
        self._cancel = cancel
        self.cancelled = False
        self.triggers = [*_plan_triggers(triggers, policy), *_runtime_triggers(policy)]
        self.fired: Firing | None = None
        self._event = threading.Event()
        self._done = threading.Event()
        self._held: dict[str, float] = {}
        self._thread: threading.Thread | None = None
        self._connect, self._probe_sql = connect, probe_sql
        #: rows the running operation has done (it updates this; the samples show rows/s)
        self.rows: int | None = None
        self.backend: Backend | None = None
        self.sampler: Sampler | None = None
        self.baseline: dict[str, Any] = {}
        self.samples = 0
        self.error: str | None = None

    # --- lifecycle ---------------------------------------------------------------------------

    def start(self) -> Watch:
        """Connect, take the baseline, start sampling. A manual stop already requested fires
        before anything runs."""
        self._check_stop()
        self.check()
        if self._connect is None:  # a database without live readings: manual stop only
            return self
        self.backend = self._connect()
        p = self.policy
        self.sampler = Sampler(self.backend, probe_sql=self._probe_sql,
                               rows_done=lambda: self.rows, probe_timeout_ms=p.probe_timeout_ms)  # fmt: skip
        first = self.sampler.baseline(p.baseline_probes)
        self.baseline = {"p99_ms": first["latency_ms"]["p99"], "error_rate": None}
        self._record(first | {"baseline": True})
        self._evaluate(first)  # disk and slots can be past their limits already
        self._thread = threading.Thread(target=self._loop, name=f"watch-{self.step_id}",
                                        daemon=True)  # fmt: skip
        self._thread.start()
        return self

    def close(self) -> None:
        self._done.set()
        if self._thread is not None:
            self._thread.join(timeout=self.policy.probe_timeout_ms / 1000 * 4 + 5)
        if self.backend is not None:
            self.backend.close()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- what a running operation calls --------------------------------------------------------

    def check(self) -> None:
        """Raise TriggerFiredError when a trigger fired (or a stop was asked for)."""
        if self.fired is None:
            self._check_stop()
        if self.fired is not None:
            raise TriggerFiredError(
                f"rollback trigger fired during step {self.step_id}: {self.fired.reason}",
                hint="The step is being stopped and rolled back.",
                **self.fired.to_dict(),
            )

    def sleep(self, seconds: float) -> None:
        """Sleep, woken early by a firing (then raise)."""
        if self._pause is not None:
            self._pause(seconds)
        else:
            self._event.wait(max(0.0, seconds))
        self.check()

    # --- the sampling thread -------------------------------------------------------------------

    def _loop(self) -> None:
        while not self._done.wait(self.policy.interval_seconds):
            if self.fired is not None:
                return
            try:
                assert self.sampler is not None
                sample = self.sampler.sample()
                self.samples += 1
                self._record(sample)
                self._check_stop()
                self._evaluate(sample)
            except DataMigrationError as exc:  # the watch's connection broke: say so, go on
                self.error = exc.message
            except Exception as exc:  # noqa: BLE001 - a bug here must not end the watching
                self.error = f"{type(exc).__name__}: {exc}"

    def _check_stop(self) -> None:
        reason = stop_requested(self.state_dir, self.plan_id)
        if reason is not None and self.fired is None:
            self._fire(Firing("manual_stop", None, None, f"manual stop requested: {reason}"))

    def _evaluate(self, sample: dict[str, Any]) -> None:
        if self.fired is not None:
            return
        metrics, words = self._metrics(sample)
        holding = evaluate(self.triggers, metrics=metrics, action=None)
        for metric in set(self._held) - {t.metric for t in holding}:
            self._held.pop(metric)  # the condition let go: its grace period starts over
        for trig in holding:
            if trig.metric in _HELD and not self._held_long_enough(trig.metric):
                continue
            self._fire(Firing(trig.metric, metrics.get(trig.metric), _threshold(trig),
                              words.get(trig.metric, trig.description),
                              dict(self.baseline)))  # fmt: skip
            return

    def _held_long_enough(self, metric: str) -> bool:
        now = self.clock()
        since = self._held.setdefault(metric, now)
        return now - since >= self.policy.grace_seconds

    def _metrics(self, s: dict[str, Any]) -> tuple[dict[str, float], dict[str, str]]:
        """Measured values by trigger metric, and the sentence with the numbers for each."""
        p, m, w = self.policy, {}, {}
        rate = s.get("error_rate")
        total = s.get("transactions") or 0
        if rate is not None and self.baseline.get("error_rate") is None and not s.get("baseline"):
            self.baseline["error_rate"] = rate  # the first rate measured is the baseline
        elif rate is not None and total >= p.error_rate_min_transactions:
            base = self.baseline.get("error_rate") or 0.0
            m["error_rate"] = rate - base
            w["error_rate"] = (f"error rate {rate:.2%} against a baseline of {base:.2%} (more "
                               f"than {p.error_rate_over_baseline or 0:.0%} over it)")  # fmt: skip
        latest = (s.get("latency_ms") or {}).get("latest")
        base_p99 = self.baseline.get("p99_ms") or 0.0
        if latest is not None and p.latency_p99_ratio is not None:
            limit = max(p.latency_floor_ms, base_p99 * p.latency_p99_ratio)
            m["latency_p99_ratio"] = (latest / base_p99 if base_p99 else float("inf")) if (
                latest > limit) else 0.0  # fmt: skip
            w["latency_p99_ratio"] = (f"probe p99 {latest:.1f} ms against a baseline of "
                                      f"{base_p99:.2f} ms (limit {limit:.1f} ms) for more than "
                                      f"{p.grace_seconds:g} s")  # fmt: skip
        if s.get("replication_lag_s") is not None:
            m["replication_lag_seconds"] = float(s["replication_lag_s"])
            w["replication_lag_seconds"] = (
                f"replication lag {s['replication_lag_s']:.1f} s above "
                f"{p.replication_lag_seconds or 0:g} s for more than {p.grace_seconds:g} s"
            )
        slot = s.get("slot_lag")
        if slot:
            m["slot_lag_seconds"] = float(slot["seconds"])
            w["slot_lag_seconds"] = (
                f"replication slot {slot['slot']} {'at least ' if slot['at_least'] else ''}"
                f"{slot['seconds']:.1f} s behind ({slot['bytes']:,} bytes of WAL), limit "
                f"{p.slot_lag_seconds or 0:g} s"
            )
        short = self._disk_short(s)
        if short is not None:
            m["disk_free_short"], w["disk_free_short"] = 1.0, short
        return m, w

    def _disk_short(self, s: dict[str, Any]) -> str | None:
        free, total, p = s.get("disk_free_bytes"), s.get("disk_total_bytes"), self.policy
        if free is None or not total:
            return None
        floors = []
        if p.disk_free_min_bytes is not None:
            floors.append(p.disk_free_min_bytes)
        if p.disk_free_min_percent is not None:
            floors.append(total * p.disk_free_min_percent / 100)
        floor = max(floors, default=None)
        if floor is None or free >= floor:
            return None
        return (f"disk free {free / 2**30:.2f} GiB of {total / 2**30:.1f} GiB, below the floor "
                f"of {floor / 2**30:.2f} GiB")  # fmt: skip

    def _fire(self, firing: Firing) -> None:
        self.fired = firing
        self._record({"fired": firing.to_dict(), "at": time.time()})
        self._event.set()
        if self._cancel is not None and self.backend is not None:
            try:
                self.cancelled = self.backend.cancel_session(self._cancel)
            except DataMigrationError as exc:
                self.error = f"could not cancel the running statement: {exc.message}"

    def _record(self, sample: dict[str, Any]) -> None:
        path = run_dir(self.state_dir, self.plan_id) / SAMPLES_FILE
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("a", encoding="utf-8") as fh:
            fh.write(json.dumps({"step": self.step_id, **sample}, default=str) + "\n")


#: plan trigger metric -> the policy setting that holds its threshold for this run
_PLAN_METRICS = {
    "error_rate": "error_rate_over_baseline",
    "latency_p99_ratio": "latency_p99_ratio",
    "replication_lag_seconds": "replication_lag_seconds",
}
#: conditions that must hold for the grace period before they fire
_HELD = frozenset({"latency_p99_ratio", "replication_lag_seconds"})


def _plan_triggers(
    triggers: Sequence[RollbackTrigger], policy: WatchPolicy
) -> list[RollbackTrigger]:
    """The step's metric triggers with this run's thresholds (the plan's unless the run
    overrides them; None switches one off). Validation and checksum fire after the step; a step
    without metric triggers (a plan made by hand) gets the default ones."""
    out = []
    if not any(t.metric in _PLAN_METRICS for t in triggers):
        triggers = WATCHED  # a plan that states none is watched with the defaults
    for t in triggers:
        if t.metric in _PLAN_METRICS:
            limit = getattr(policy, _PLAN_METRICS[t.metric])
            if limit is not None:
                out.append(dataclasses.replace(t, threshold=limit))
    return out


def _threshold(t: RollbackTrigger) -> float | None:
    return float(t.threshold) if isinstance(t.threshold, int | float) else None
