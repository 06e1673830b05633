"""The parts of the safety engine that need no database: maintenance windows, the Prometheus
reading, the watch's policy (defaults, datamigration.toml, the plan, the run) and the slot-lag
estimate."""

from __future__ import annotations

import datetime as dt
from collections import deque

import pytest

from datamigration.errors import UserInputError
from datamigration.plan.model import RollbackTrigger
from datamigration.safety.metrics import SlotLag, percentile
from datamigration.safety.prometheus import PrometheusError, parse, quantile
from datamigration.safety.watch import WatchPolicy
from datamigration.safety.windows import parse_windows, window_state

MONDAY_2300 = dt.datetime(2026, 12, 7, 23, 0, tzinfo=dt.UTC)  # a Monday


def test_a_window_past_midnight_is_open_late_monday_and_early_tuesday_but_not_at_noon():
    config = {"windows": {"allowed": ["Mon 22:00-06:00"]}}
    assert window_state(config, MONDAY_2300)["open"]
    assert window_state(config, MONDAY_2300 + dt.timedelta(hours=6, minutes=59))["open"]
    shut = window_state(config, MONDAY_2300 + dt.timedelta(hours=13))
    assert not shut["open"] and shut["next"]["starts"].startswith("2026-12-14T22:00")


def test_windows_use_their_time_zone_and_day_ranges_and_daily():
    config = {"windows": {"timezone": "Asia/Tokyo", "allowed": ["Tue-Wed 08:00-09:00"]}}
    assert window_state(config, MONDAY_2300)["open"]  # 08:00 Tuesday in Tokyo
    windows, _ = parse_windows(
        {"windows": {"allowed": ["daily 02:00-04:00", "Sat,Sun 00:00-24:00"]}}
    )
    assert windows[0].days == frozenset(range(7)) and windows[1].days == frozenset({5, 6})
    assert window_state({}, MONDAY_2300) == {"configured": False, "open": True, "window": None,
                                             "next": None}  # fmt: skip


@pytest.mark.parametrize(
    "section",
    [{"allowed": ["Mon 9:00"]}, {"allowed": ["Funday 01:00-02:00"]}, {"allowed": "Mon 01:00-02:00"},
     {"allowed": ["Mon 24:30-01:00"]}, {"timezone": "Mars/Olympus", "allowed": []}, "Mon"],
)  # fmt: skip
def test_a_window_that_does_not_parse_names_itself_and_the_expected_form(section):
    with pytest.raises(UserInputError) as err:
        parse_windows({"windows": section})
    assert "[windows]" in err.value.message
    assert "Mon-Fri 22:00-06:00" in (err.value.hint or "")


def test_prometheus_text_gives_requests_errors_and_histogram_quantiles():
    text = (
        'http_requests_total{code="200"} 90\nhttp_requests_total{code="503"} 10\n'
        "# TYPE lat_seconds histogram\n"
        'lat_seconds_bucket{le="0.1"} 50\nlat_seconds_bucket{le="1"} 100\n'
        'lat_seconds_bucket{le="+Inf"} 100\nlat_seconds_count 100\nlat_seconds_sum 20\n'
    )
    found = parse("# TYPE http_requests_total counter\n" + text)
    assert found["requests"] == 100 and found["errors"] == 10
    assert quantile(found["buckets"], 0.5) == pytest.approx(0.1)
    assert quantile(found["buckets"], 0.99) == pytest.approx(0.982)
    with pytest.raises(PrometheusError):
        parse("<html></html>")


def test_the_policy_takes_the_toml_then_the_plan_then_the_run():
    config = {"safety": {"grace_seconds": 3, "error_rate_over_baseline": 0.5}}
    plan = [RollbackTrigger("error_rate", ">", 0.02, "errors")]
    policy = WatchPolicy.build(config, plan, {"slot_lag_seconds": False})
    assert policy.grace_seconds == 3.0 and policy.error_rate_over_baseline == 0.02
    assert policy.slot_lag_seconds is None and policy.interval_seconds == 1.0
    for bad in ({"grace": 1}, {"grace_seconds": "soon"}, {"interval_seconds": False}):
        with pytest.raises(UserInputError) as err:
            WatchPolicy.build({"safety": bad})
        assert "[safety]" in err.value.message and err.value.hint


def test_slot_lag_counts_from_the_first_sample_that_saw_a_write_past_the_slot():
    lag = SlotLag(deque(maxlen=10))
    slot = {"name": "s", "here": True, "active": False, "reached_bytes": 100}
    assert lag.update(0.0, 100, [slot])["seconds"] == 0.0
    assert lag.update(1.0, 150, [slot])["seconds"] == 0.0
    later = lag.update(4.0, 400, [slot])
    assert later == {"slot": "s", "seconds": 3.0, "bytes": 300, "active": False, "at_least": False}
    assert lag.update(5.0, 400, [slot | {"here": False}]) is None
    assert percentile([5.0, 1.0, 3.0], 50) == 3.0 and percentile([], 99) is None
