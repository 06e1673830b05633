"""The throttle tells the executor of each pause and resume; run_status reads them back.

The decisions are what an operator sees while a backfill waits ("paused: replication lag 12 s >
5 s"), so their shape is checked here without a database (the measurements are injected); the
real standby is exercised in tests/integration/test_execute_lag_throttle.py.
"""

from __future__ import annotations

import random
from typing import Any

from datamigration.safety.throttle import Throttle, ThrottlePolicy, throttle_status


def lag_throttle(lags: list[float], events: list[dict[str, Any]]) -> Throttle:
    now = [0.0]
    lag_values = iter(lags)

    def sleep(seconds: float) -> None:
        now[0] += seconds

    return Throttle(
        backend=None,  # type: ignore[arg-type]
        policy=ThrottlePolicy(baseline_probes=1, max_lag_s=5),
        sleep=sleep,
        clock=lambda: now[0],
        rng=random.Random(1),
        probe=lambda: 1.0,
        lag=lambda: next(lag_values, None),
        on_event=events.append,
    )


def test_each_pause_for_lag_is_reported_with_its_reason_and_the_resume_after_them():
    events: list[dict[str, Any]] = []
    t = lag_throttle([12.0, 7.5, 1.0], events)
    t.before_batch()
    assert [e["state"] for e in events] == ["paused", "paused", "resumed"]
    assert events[0]["cause"] == "replication_lag"
    assert events[0]["reason"] == "replication lag 12 s > 5 s"
    assert events[1]["reason"] == "replication lag 7.5 s > 5 s"
    assert events[1]["waited_s"] > 0 and events[2]["pauses"] == 2
    assert t.stats.to_dict()["throttled_by"] == {"replication_lag": 2}


def test_a_healthy_database_reports_nothing():
    events: list[dict[str, Any]] = []
    lag_throttle([0.5], events).before_batch()
    assert events == []


def test_run_status_says_paused_only_while_the_latest_event_is_a_pause():
    pause = {"event": "throttle", "state": "paused", "cause": "replication_lag", "step": "s03",
             "reason": "replication lag 12 s > 5 s", "waited_s": 3.2, "ts": "t1"}  # fmt: skip
    batch = {"event": "batch", "step": "s03", "rows": 2000}
    resumed = {"event": "throttle", "state": "resumed", "step": "s03", "waited_s": 9.0}
    assert throttle_status([batch]) is None
    now = throttle_status([batch, pause])
    assert now is not None and now["paused"] and now["reason"] == pause["reason"]
    assert now["at"] == "t1" and now["pauses"] == 1
    after = throttle_status([batch, pause, resumed, batch])
    assert after is not None and not after["paused"] and after["state"] == "resumed"
