"""The knobs of one executor run, in a module of their own so the operation runners
(execute/operations.py) can name them without importing the executor that runs them.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from datamigration.execute.retry import Backoff, LockLadder
from datamigration.safety.throttle import ThrottlePolicy


@dataclass
class RunOptions:
    """Knobs of one run. Tests and rehearsals shrink batches; the CLI exposes a few."""

    batch_size: int | None = None
    batch_pause_ms: float = 0.0
    #: replication lag (s) above which a backfill pauses; overrides the step's monitoring
    max_lag_s: float | None = None
    throttle: ThrottlePolicy | None = None
    backoff: Backoff = field(default_factory=Backoff)
    #: the executor's own statements never start parallel workers (Backend.keep_to_one_core)
    one_core: bool = True
    #: lock timeouts of DDL start short and climb to the operation's limit (execute/retry.py)
    lock_ladder: LockLadder = field(default_factory=LockLadder)
    sleep: Callable[[float], None] = time.sleep
    #: called with (event, data) for progress (MCP progress notifications, CLI lines)
    progress: Callable[[str, dict[str, Any]], None] | None = None
    #: run the final validation and ask for in-review when the plan completes
    finish_story: bool = True
    #: how long to wait for another executor's session lock (a crashed one frees it quickly)
    lock_wait_s: float = 10.0
    #: how often a failed validation rule is run again before the failure counts
    validation_rechecks: int = 2
    #: post phase changes on the bus and the story (off for a staging rehearsal)
    announce: bool = True
    #: name of the local run log (default: the plan id)
    log_name: str | None = None
    #: check for a verified backup before a step that can lose data (off for a rehearsal,
    #: which runs on staging or a throwaway copy); `[backup] required` can turn it off too
    backup_gate: bool = True
    #: run such a step without a verified backup: the reason (confirmed, recorded, posted)
    without_backup: str | None = None
    #: watch long steps while they run and roll them back when a trigger fires (execute/watching.py)
    watch: bool = True
    #: trigger thresholds for this run, over the plan's ([safety] names, safety/watch.py)
    safety: dict[str, Any] | None = None
    #: run heavy work (backfill, index build) even outside the maintenance windows
    now: bool = False
