"""The latency-budget pacer (safety/pace.py): fed readings, it cuts and grows the pace."""

from __future__ import annotations

import pytest

from datamigration.errors import UserInputError
from datamigration.safety.pace import PacePolicy, Pacer, p99, pace_status
from datamigration.safety.watch import WatchPolicy


def pacer(**policy: object) -> Pacer:
    p = Pacer(1000, PacePolicy(**policy))  # type: ignore[arg-type]
    p.calibrate([1.0, 1.2, 1.5, 1.1])
    return p


def test_the_budget_is_the_ratio_times_the_baseline_p99_and_never_below_the_floor() -> None:
    assert pacer(budget_ratio=2.0, budget_floor_ms=0.5).budget_ms == 3.0
    assert pacer(budget_ratio=2.0, budget_floor_ms=10.0).budget_ms == 10.0
    assert PacePolicy().budget_floor_ms == 5.0


def test_readings_within_the_budget_keep_the_largest_batch_and_no_pause() -> None:
    p = pacer(budget_floor_ms=0.5)
    steps = [p.observe(1.0) for _ in range(5)]
    assert [(s.batch_size, s.pause_ms, s.change) for s in steps] == [(1000, 0.0, "hold")] * 5


def test_a_reading_over_the_budget_halves_the_batch_and_starts_a_pause() -> None:
    p = pacer(budget_floor_ms=0.5, pause_step_ms=20.0)
    cut = p.observe(9.0)
    assert (cut.batch_size, cut.pause_ms, cut.change) == (500, 20.0, "decrease")
    again = p.observe(9.0)
    assert (again.batch_size, again.pause_ms) == (250, 40.0)


def test_the_batch_never_drops_below_the_minimum_nor_the_pause_above_the_maximum() -> None:
    p = pacer(budget_floor_ms=0.5, min_batch=100, max_pause_ms=150.0)
    for _ in range(20):
        last = p.observe(50.0)
    assert (last.batch_size, last.pause_ms) == (100, 150.0)


def test_after_a_cut_the_pace_grows_back_additively_up_to_the_largest_batch() -> None:
    p = pacer(budget_floor_ms=0.5, increase_share=0.1, pause_step_ms=20.0)
    p.observe(9.0)  # 500 rows, 20 ms
    grown = [p.observe(1.0) for _ in range(7)]
    assert [s.batch_size for s in grown] == [600, 700, 800, 900, 1000, 1000, 1000]
    assert [s.pause_ms for s in grown][:2] == [0.0, 0.0]
    assert [s.change for s in grown][-2:] == ["hold", "hold"]


def test_a_cut_empties_the_window_so_the_slow_reading_is_not_counted_twice() -> None:
    p = pacer(budget_floor_ms=0.5, window=5)
    p.observe(9.0)
    after = p.observe(1.0)
    assert after.change == "increase" and after.window_p99_ms == 1.0


def test_the_window_p99_remembers_a_slow_reading_among_fast_ones() -> None:
    p = pacer(budget_floor_ms=0.5, window=3, decrease=0.5)
    p.observe(1.0)
    assert p.observe(2.9).change == "hold"  # under 3.0
    assert p.observe(1.0).window_p99_ms == 2.9


def test_the_settled_pace_is_the_median_of_the_last_decisions_with_the_budget() -> None:
    p = pacer(budget_floor_ms=0.5)
    for reading in (9.0, 9.0, 1.0, 1.0, 1.0):
        p.observe(reading)
    settled = p.settled(last=3)
    assert settled["batch_size"] == 450 and settled["decreases"] == 2
    assert settled["budget_ms"] == 3.0 and settled["smallest_batch"] == 250


def test_p99_is_nearest_rank_and_zero_without_readings() -> None:
    assert p99([]) == 0.0
    assert p99([float(i) for i in range(1, 101)]) == 99.0
    assert p99([3.0, 1.0]) == 3.0


def test_the_policy_reads_the_safety_section_then_the_run_overrides() -> None:
    config = {"safety": {"latency_budget_ratio": 3, "grace_seconds": 5}}
    assert PacePolicy.build(config).budget_ratio == 3.0
    run = PacePolicy.build(config, {"latency_budget_ratio": 1.5, "pace_min_batch": 50})
    assert (run.budget_ratio, run.min_batch) == (1.5, 50)
    assert not PacePolicy.build(config, {"latency_budget_ratio": False}).enabled


def test_a_budget_that_is_not_a_positive_number_is_refused_with_a_hint() -> None:
    with pytest.raises(UserInputError) as err:
        PacePolicy.build({"safety": {"latency_budget_ratio": "fast"}})
    assert "latency_budget_ratio" in str(err.value) and err.value.hint


def test_the_watch_accepts_the_pacer_settings_in_the_same_safety_section() -> None:
    policy = WatchPolicy.build({"safety": {"latency_budget_ratio": 3, "grace_seconds": 5}})
    assert policy.grace_seconds == 5.0


def test_run_status_reports_the_latest_settled_pace_and_counts_the_cuts() -> None:
    events = [{"event": "batch"}, {"event": "pace", "state": "slower", "batch_size": 500},
              {"event": "pace", "state": "settled", "batch_size": 700, "budget_ms": 3.0}]  # fmt: skip
    status = pace_status(events)
    assert status is not None
    assert (status["state"], status["batch_size"], status["cuts"]) == ("settled", 700, 1)
    assert pace_status([{"event": "batch"}]) is None


def test_a_cut_never_pauses_longer_than_the_slowdown_bound_allows() -> None:
    # full pace: 1000 keys in 0.1 s = 10,000 keys/s; bound 3x: at least 3,333 keys/s
    p = pacer(budget_floor_ms=0.5, max_slowdown=3.0, pause_step_ms=500.0)
    cut = p.observe(9.0, size=1000, seconds=0.1)
    # 500 keys take 0.05 s at that per-key time; at 3,333 keys/s they may take 0.15 s: 100 ms
    assert (cut.batch_size, cut.pause_ms) == (500, 100.0)
    assert p.full_rate == 10_000.0 and p.bounded == 1


def test_a_batch_that_already_runs_below_the_bound_is_cut_no_further_and_not_paused() -> None:
    p = pacer(budget_floor_ms=0.5, max_slowdown=3.0)
    p.observe(9.0, size=1000, seconds=0.1)  # full pace 10,000 keys/s
    held = p.observe(9.0, size=500, seconds=0.2)  # 2,500 keys/s on its own: under 3,333
    assert (held.batch_size, held.pause_ms, held.change) == (500, 0.0, "decrease")
    assert p.settled()["held_by_slowdown_bound"] == 1  # the first cut fit within it


def test_without_batch_times_or_with_the_bound_off_the_cuts_are_plain_aimd() -> None:
    p = pacer(budget_floor_ms=0.5, max_slowdown=None)
    p.observe(9.0, size=1000, seconds=0.1)
    assert (p.observe(9.0, size=500, seconds=0.2).batch_size, p.bounded) == (250, 0)
    assert PacePolicy.build({}, {"pace_max_slowdown": False}).max_slowdown is None


def test_the_commit_probe_setting_is_true_or_false() -> None:
    assert PacePolicy().commit_probe is True
    assert PacePolicy.build({"safety": {"pace_commit_probe": False}}).commit_probe is False
    with pytest.raises(UserInputError) as err:
        PacePolicy.build({"safety": {"pace_commit_probe": "no"}})
    assert "pace_commit_probe" in str(err.value) and err.value.hint
