"""Rollback triggers: the conditions that undo a step, written by the planner and acted on by the
executor, defined in one place so what a plan promises and what a run does never drift apart.

A trigger is plain data inside the plan (`RollbackTrigger`: metric, comparison, threshold,
action), reviewed with the plan and covered by its hash, so the thresholds below are part of
every plan's bytes: changing one changes the hash of every plan planned afterwards.

The planner asks `step_triggers` what a step carries and `MONITORING` for the thresholds the
plan's monitoring block states. After a step the executor hands `evaluate` what it observed (the
step's validation result) and acts on the triggers that fired; while a step runs, the watch
(`safety/watch.py`) hands it the live metrics of each sample.
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from datamigration.plan.model import RollbackTrigger

#: The thresholds every step is watched with (the plan's `monitoring` block): roll back above
#: the error rate or p99 ratio, pause above the lag; the `throttle` block slows a backfill down
#: earlier, so it eases off before a trigger would fire.
MONITORING: dict[str, Any] = {
    "error_rate_max": 0.01,
    "latency_p99_max_ratio": 2.0,
    "replication_lag_max_seconds": 30,
    "throttle": {"replication_lag_seconds": 10, "latency_p99_ratio": 1.5},
}

#: Watched on every step while it runs (metric triggers, thresholds from MONITORING).
WATCHED: tuple[RollbackTrigger, ...] = (
    RollbackTrigger(
        "error_rate", ">", MONITORING["error_rate_max"], "application error rate above 1%"
    ),
    RollbackTrigger(
        "latency_p99_ratio",
        ">",
        MONITORING["latency_p99_max_ratio"],
        "p99 latency above 2x the baseline",
    ),
    RollbackTrigger(
        "replication_lag_seconds",
        ">",
        MONITORING["replication_lag_max_seconds"],
        "replication lag above 30 s",
        "pause",
    ),
)
#: A step with validation rules is rolled back when one of them fails after it ran.
VALIDATION_FAILED = RollbackTrigger("validation", "failed", None, "a validation rule failed")
#: ... and, when it compares checksums, when the checksum diff finds differences.
CHECKSUM_FAILED = RollbackTrigger("checksum", "failed", None, "checksum diff found differences")

_COMPARE: dict[str, Callable[[float, float], bool]] = {
    ">": operator.gt,
    ">=": operator.ge,
    "==": operator.eq,
}


def step_triggers(validation: Sequence[Mapping[str, Any]]) -> tuple[RollbackTrigger, ...]:
    """The triggers the planner writes into a step with these validation rules."""
    out = list(WATCHED)
    if validation:
        out.append(VALIDATION_FAILED)
    if any(r.get("type") == "checksum_diff" for r in validation):
        out.append(CHECKSUM_FAILED)
    return tuple(out)


def evaluate(
    triggers: Sequence[RollbackTrigger],
    *,
    validation: Mapping[str, Any] | None = None,
    metrics: Mapping[str, float] | None = None,
    action: str | None = "rollback_step",
) -> list[RollbackTrigger]:
    """The triggers with `action` (any action: None) that fire on what was observed, in the plan's order.

    `validation` is a validation result (`passed`, `failed` rules): a failed run fires the
    `validation` triggers, a failed `checksum_diff` rule the `checksum` ones, whatever their
    comparison says (a failure has no threshold). `metrics` are measured values by metric name,
    compared with each trigger's threshold; a metric nobody measured never fires.
    """
    observed: dict[str, float | bool] = dict(metrics or {})
    if validation is not None:
        failed = validation.get("failed") or ()
        observed["validation"] = not validation.get("passed", False)
        observed["checksum"] = any(r.get("type") == "checksum_diff" for r in failed)
    return [t for t in triggers if action in (None, t.action) and _holds(t, observed.get(t.metric))]


def _holds(trigger: RollbackTrigger, value: float | bool | None) -> bool:
    if isinstance(value, bool):
        return value
    compare = _COMPARE.get(trigger.op)
    if value is None or compare is None or not isinstance(trigger.threshold, int | float):
        return False
    return compare(float(value), float(trigger.threshold))
