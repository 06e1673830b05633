"""Retry a statement that gave up waiting for a lock: exponential backoff with full jitter.

The lock timeout itself climbs a ladder (`LockLadder`): the first attempt waits only 50 ms, the
next 100 ms, and so on up to the operation's limit. While a DDL statement waits for its lock,
every application query that arrives on the table queues behind it, so the wait of the DDL is
the stall the application sees; a short first wait keeps that stall to a few tens of ms in the
usual case (the lock is free between two short application statements) and only a table that
stays busy earns the longer waits. (GitLab's `with_lock_retries` uses the same idea.)

Every DDL statement runs with a short `lock_timeout` (about 2 s): a DDL statement queued behind a
long transaction would otherwise block every later query on the table while it waits. When the
timeout fires (PostgreSQL SQLSTATE 55P03, MySQL 1205, SQLite "database is locked") nothing was
changed, so the statement is simply tried again a little later. The pause grows exponentially and
is drawn at random below that bound ("full jitter"), so several executors, or an executor and a
deploy, do not retry in lockstep. Anything else than a lock timeout is raised at once.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TypeVar

from datamigration.db.errors import is_lock_timeout
from datamigration.errors import LockTimeoutError

T = TypeVar("T")


@dataclass(frozen=True)
class Backoff:
    """Pause before retry n (1-based): uniform in [0, min(cap, base * 2**(n-1))]."""

    base_ms: float = 200.0
    cap_ms: float = 10_000.0
    #: jitter source; tests pass a seeded Random to make pauses reproducible
    rng: random.Random = field(default_factory=random.Random, compare=False)

    def delay_ms(self, attempt: int) -> float:
        bound = min(self.cap_ms, self.base_ms * (2 ** max(0, attempt - 1)))
        return self.rng.uniform(bound / 2, bound)


@dataclass(frozen=True)
class LockLadder:
    """Lock timeout of attempt n (1-based): start_ms * 2**(n-1), never above the limit."""

    start_ms: int = 50

    def timeout_ms(self, attempt: int, limit_ms: int) -> int:
        if self.start_ms <= 0 or self.start_ms >= limit_ms:
            return limit_ms
        return min(limit_ms, self.start_ms * 2 ** max(0, attempt - 1))

    def retries(self, retries_at_limit: int, limit_ms: int | None) -> int:
        """Attempts below the limit come on top of the operation's retries at the limit, so
        the ladder never makes a busy table fail sooner than the plan promised."""
        if not limit_ms:
            return retries_at_limit
        rungs = 0
        while self.timeout_ms(rungs + 1, limit_ms) < limit_ms:
            rungs += 1
        return retries_at_limit + rungs


def schedule(
    retries_at_limit: int,
    limit_ms: int | None,
    ladder: LockLadder | None = None,
    backoff: Backoff | None = None,
) -> dict[str, object]:
    """What a blocked statement does, as the plan states it and the executor does it: the
    retries (ladder rungs included), the lock timeout of each attempt, and the longest total
    wait (every lock timeout plus every pause at its upper bound) before it gives up."""
    ladder, backoff = ladder or LockLadder(), backoff or Backoff()
    retries = ladder.retries(retries_at_limit, limit_ms) if limit_ms else 0
    timeouts = [ladder.timeout_ms(n, limit_ms) for n in range(1, retries + 2)] if limit_ms else []
    pauses = [min(backoff.cap_ms, backoff.base_ms * 2 ** (n - 1)) for n in range(1, retries + 1)]
    return {
        "retries": retries,
        "attempts": retries + 1,
        "lock_timeout_ms_per_attempt": timeouts,
        "max_wait_seconds": round((sum(timeouts) + sum(pauses)) / 1000.0, 1),
    }


@dataclass
class RetryLog:
    """What the retries cost: the attempts and each pause (reported in the step result)."""

    attempts: int = 0
    pauses_ms: list[float] = field(default_factory=list)
    #: the lock timeout of each attempt, when the caller climbs a LockLadder
    timeouts_ms: list[int] = field(default_factory=list)

    def to_dict(self) -> dict[str, object]:
        out: dict[str, object] = {
            "attempts": self.attempts,
            "lock_timeouts": len(self.pauses_ms),
            "waited_ms": round(sum(self.pauses_ms), 1),
        }
        if self.timeouts_ms:
            out["lock_timeout_ms_per_attempt"] = list(self.timeouts_ms)
        return out


def with_lock_retry(
    fn: Callable[[], T],
    *,
    retries: int,
    backoff: Backoff | None = None,
    sleep: Callable[[float], None] = time.sleep,
    log: RetryLog | None = None,
    what: str = "statement",
    on_retry: Callable[[int, float], None] | None = None,
) -> T:
    """Call `fn`; on a lock timeout pause and call again, at most `retries` more times.

    After the last attempt a LockTimeoutError says what kept the lock and what to do.
    """
    backoff = backoff or Backoff()
    log = log if log is not None else RetryLog()
    last: BaseException | None = None
    for attempt in range(1, max(0, retries) + 2):
        log.attempts = attempt
        try:
            return fn()
        except Exception as exc:
            if not is_lock_timeout(exc):
                raise
            last = exc
        if attempt > retries:
            break
        pause = backoff.delay_ms(attempt)
        log.pauses_ms.append(pause)
        if on_retry is not None:
            on_retry(attempt, pause)
        sleep(pause / 1000.0)
    raise LockTimeoutError(
        f"{what} could not get its lock after {log.attempts} attempts "
        f"({round(sum(log.pauses_ms) / 1000.0, 1)} s of pauses): {last}",
        hint="A long transaction holds a conflicting lock. Find it in pg_stat_activity / "
        "pg_locks (or SHOW PROCESSLIST), let it finish or end it, then run the step again: "
        "it resumes where it stopped.",
        attempts=log.attempts,
    )
