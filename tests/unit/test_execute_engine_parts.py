"""The executor's decisions without a database: retries, throttling, index names, selection.

Measurements (probe latency, replication lag, sleeping) are injected so each decision is
exercised exactly; the database-facing halves are covered by tests/integration/test_execute_*.
"""

from __future__ import annotations

import random

import pytest

from datamigration.errors import ConflictError, DatabaseError, LockTimeoutError, NotFoundError
from datamigration.execute.indexes import concurrent_index_name
from datamigration.execute.retry import Backoff, RetryLog, with_lock_retry
from datamigration.execute.selection import select_rollback, select_steps
from datamigration.execute.state import StepState, decode_key, encode_key
from datamigration.plan.model import (
    ChangeSpec,
    Estimates,
    Operation,
    Phase,
    Plan,
    Step,
)
from datamigration.safety.throttle import Throttle, ThrottledTooLongError, ThrottlePolicy


def lock_error() -> DatabaseError:
    return DatabaseError("canceling statement due to lock timeout", sqlstate="55P03")


# --- retry -------------------------------------------------------------------------------------


def test_a_lock_timeout_is_retried_with_growing_jittered_pauses_then_succeeds():
    calls, pauses = [], []

    def flaky():
        calls.append(1)
        if len(calls) < 4:
            raise lock_error()
        return "ok"

    log = RetryLog()
    backoff = Backoff(base_ms=100, cap_ms=250, rng=random.Random(7))
    assert with_lock_retry(flaky, retries=5, backoff=backoff, sleep=pauses.append, log=log) == "ok"
    assert len(calls) == 4 and log.attempts == 4
    # full jitter between half the bound and the bound; the bound doubles up to the cap
    bounds = [100, 200, 250]
    for pause, bound in zip(pauses, bounds, strict=True):
        assert bound / 2 / 1000 <= pause <= bound / 1000
    assert log.to_dict()["lock_timeouts"] == 3


def test_lock_timeouts_past_the_retries_end_in_an_error_with_a_hint():
    pauses = []
    with pytest.raises(LockTimeoutError) as err:
        with_lock_retry(lambda: (_ for _ in ()).throw(lock_error()), retries=2, sleep=pauses.append)
    assert err.value.data["attempts"] == 3 and len(pauses) == 2
    assert "pg_stat_activity" in err.value.hint and "resumes" in err.value.hint


@pytest.mark.parametrize(
    "error",
    [
        DatabaseError("lock wait timeout exceeded", code=1205),
        DatabaseError("database is locked"),
        DatabaseError("deadlock detected", sqlstate="40P01"),
        DatabaseError("could not serialize access", sqlstate="40001"),
        DatabaseError("Deadlock found when trying to get lock", code=1213),
    ],
)
def test_lock_waits_and_lost_deadlocks_of_every_dialect_are_retried(error):
    seen = []
    with pytest.raises(LockTimeoutError):
        with_lock_retry(lambda: (_ for _ in ()).throw(error), retries=1, sleep=seen.append)
    assert len(seen) == 1


def test_any_other_error_is_raised_at_once_without_a_retry():
    calls = []

    def broken():
        calls.append(1)
        raise DatabaseError("syntax error", sqlstate="42601")

    with pytest.raises(DatabaseError, match="syntax"):
        with_lock_retry(broken, retries=5, sleep=lambda s: pytest.fail("slept"))
    assert calls == [1]


# --- throttle ------------------------------------------------------------------------------------


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


def throttle(probes, lags=None, **policy) -> tuple[Throttle, Clock]:
    clock = Clock()
    probes, lags = iter(probes), iter(lags or [])
    t = Throttle(
        backend=None,  # type: ignore[arg-type]
        policy=ThrottlePolicy(baseline_probes=3, **policy),
        sleep=clock.sleep,
        clock=clock,
        rng=random.Random(1),
        probe=lambda: next(probes),
        lag=lambda: next(lags, None),
    )
    return t, clock


def test_the_throttle_waits_while_the_probe_is_slower_than_twice_the_baseline():
    t, clock = throttle([10, 10, 10, 35, 25, 15], latency_floor_ms=1)
    t.calibrate()
    t.before_batch()
    assert t.stats.baseline_ms == 10 and t.limit_ms == 20
    assert t.stats.throttled == 2 and clock.now > 0  # 35 and 25 throttled, 15 passed


def test_a_tiny_baseline_does_not_turn_noise_into_throttling():
    t, clock = throttle([0.2, 0.2, 0.2, 3.0], latency_floor_ms=5)
    t.calibrate()
    t.before_batch()
    assert t.stats.throttled == 0 and clock.now == 0


def test_replication_lag_above_the_limit_pauses_the_backfill():
    t, _ = throttle([1, 1, 1, 1, 1, 1], lags=[45.0, 31.0, 2.0], max_lag_s=30)
    t.calibrate()
    t.before_batch()
    assert t.stats.throttled == 2 and t.stats.max_lag_s == 45.0


def test_a_database_strained_for_too_long_stops_the_run_resumably():
    t, _ = throttle([1, 1, 1] + [100] * 1000, max_wait_s=3, max_pause_ms=1000)
    t.calibrate()
    with pytest.raises(ThrottledTooLongError) as err:
        t.before_batch()
    assert "checkpoint" in err.value.hint


def test_monitoring_thresholds_of_the_step_set_the_throttle():
    p = ThrottlePolicy.from_monitoring(
        {"latency_p99_ratio": 1.5, "replication_lag_seconds": 10}, pause_ms=50
    )
    assert (p.latency_factor, p.max_lag_s, p.pause_ms) == (1.5, 10.0, 50)


def test_the_planners_throttle_block_wins_over_the_rollback_limits():
    monitoring = {
        "latency_p99_max_ratio": 2.0,
        "replication_lag_max_seconds": 30,
        "throttle": {"replication_lag_seconds": 10, "latency_p99_ratio": 1.5},
    }
    p = ThrottlePolicy.from_monitoring(monitoring)
    assert (p.latency_factor, p.max_lag_s) == (1.5, 10.0)
    assert ThrottlePolicy.from_monitoring({"replication_lag_max_seconds": 30}).max_lag_s == 30.0


# --- concurrent index names --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("sql", "name"),
    [
        ("CREATE INDEX CONCURRENTLY idx_a ON t (a)", "idx_a"),
        ("create unique index concurrently if not exists Users_Key on t (a)", "users_key"),
        ('CREATE INDEX CONCURRENTLY "Odd ""Name""" ON t (a)', 'Odd "Name"'),
        ("CREATE INDEX CONCURRENTLY app.idx_b ON app.t (b)", "app.idx_b"),
        ("CREATE INDEX idx_c ON t (c)", None),
        ("DROP INDEX CONCURRENTLY idx_a", None),
    ],
)
def test_the_index_a_concurrent_build_creates_is_named_from_its_statement(sql, name):
    assert concurrent_index_name(sql) == name


# --- checkpoints -------------------------------------------------------------------------------


def test_checkpoint_keys_survive_the_round_trip_through_json():
    assert decode_key(encode_key((42, "a"))) == (42, "a")
    assert decode_key(encode_key(None)) is None


# --- selection ---------------------------------------------------------------------------------


def op(i: str, **kw) -> Operation:
    return Operation(i, "sql", "postgresql", i, statements=(f"SELECT {i!r}",), **kw)


def plan() -> Plan:
    steps = [
        Step("s01", "add column", "expand", "", (op("a"),), rollback=(op("ra"),)),
        Step("s02", "backfill", "migrate", "", (op("b"),)),
        Step(
            "s03",
            "deploy",
            "switch",
            "",
            (
                Operation(
                    "m",
                    "manual",
                    "postgresql",
                    "deploy",
                    mutating=False,
                    params={"instructions": "deploy v2"},
                ),
            ),
            requires_confirmation=False,
        ),
        Step(
            "s04",
            "drop old",
            "contract",
            "",
            (op("d", destructive=True),),
            destructive=True,
            reversible=False,
            gates=("validation_passed",),
        ),
    ]
    phases = tuple(Phase(p, p, "", tuple(s for s in steps if s.phase == p))
                   for p in ("expand", "migrate", "switch", "contract"))  # fmt: skip
    return Plan(
        id="p1", spec=ChangeSpec("rename_column", "users", {}), dialect="postgresql",
        database="postgresql://h/db", pattern="expand_contract", pattern_reason="",
        phases=phases, estimates=Estimates(0, {}, {}, {}, 1, "", 0, ""), checklist=(),
        post_validation=(), communication=(), lint=(), created_at="", hash="h" * 64,
    )  # fmt: skip


def states(**status: str) -> dict[str, StepState]:
    return {k: StepState(k, v, 1, None, None, None) for k, v in status.items()}


def test_by_default_only_the_next_pending_step_runs():
    sel = select_steps(plan(), states(s01="done"))
    assert [s.id for s in sel.steps] == ["s02"]


def test_a_step_cannot_run_before_the_steps_it_follows():
    with pytest.raises(ConflictError, match="earlier steps are not done: s01, s02"):
        select_steps(plan(), states(), step="s03")


def test_all_runs_the_remaining_steps_and_names_the_destructive_one_in_the_question():
    sel = select_steps(plan(), states(s01="done", s02="done"), all_steps=True)
    assert [s.id for s in sel.steps] == ["s03", "s04"]
    action = sel.action()
    assert "DESTRUCTIVE" in action.summary and "s04" in action.summary
    assert "deploy v2" in action.summary  # the manual step is the operator's confirmation
    assert action.payload == {"plan": "p1", "hash": "h" * 64, "steps": ["s03", "s04"],
                              "destructive": ["s04"]}  # fmt: skip


def test_a_manual_deploy_step_still_needs_confirmation():
    sel = select_steps(plan(), states(s01="done", s02="done"), step="s03")
    assert sel.mutating


def test_a_done_step_is_not_run_again():
    sel = select_steps(plan(), states(s01="done"), step="s01")
    assert sel.steps == ()


def test_unknown_steps_and_phases_list_what_exists():
    with pytest.raises(NotFoundError) as err:
        select_steps(plan(), {}, step="s9")
    assert "s01 (add column)" in err.value.hint
    with pytest.raises(NotFoundError) as err:
        select_steps(plan(), {}, phase="nope")
    assert "expand, migrate, switch, contract" in err.value.hint


def test_rollback_takes_the_current_step_or_all_applied_steps_in_reverse():
    st = states(s01="done", s02="failed", s03="pending")
    assert [s.id for s in select_rollback(plan(), st).steps] == ["s02"]
    assert [s.id for s in select_rollback(plan(), st, all_steps=True).steps] == ["s02", "s01"]
    with pytest.raises(ConflictError, match="later steps are applied: s02"):
        select_rollback(plan(), st, step="s01")


def test_a_contract_step_that_dropped_data_is_never_rolled_back():
    st = states(s01="done", s02="done", s03="done", s04="done")
    with pytest.raises(ConflictError, match="point of no return") as err:
        select_rollback(plan(), st, all_steps=True)
    assert "backup" in err.value.hint


def test_the_lock_ladder_starts_short_doubles_and_keeps_every_retry_at_the_limit():
    from datamigration.execute.retry import LockLadder

    ladder = LockLadder(start_ms=50)
    assert [ladder.timeout_ms(n, 2000) for n in range(1, 9)] == [
        50, 100, 200, 400, 800, 1600, 2000, 2000,
    ]  # fmt: skip
    # six rungs below 2 s come on top of the 5 retries the plan allows at 2 s
    assert ladder.retries(5, 2000) == 11
    assert ladder.retries(5, None) == 5
    # a limit at or below the first rung: no ladder, the plan's timeout and retries as they are
    assert [LockLadder(start_ms=50).timeout_ms(n, 50) for n in (1, 2)] == [50, 50]
    assert LockLadder(start_ms=50).retries(2, 50) == 2
    assert LockLadder(start_ms=0).timeout_ms(1, 2000) == 2000
