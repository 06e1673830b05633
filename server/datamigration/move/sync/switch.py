"""The moment of a cutover (and of its rollback): pause writes, drain, prove equal, flip.

Why a module of its own: the cutover and the rollback after it are the same act in opposite
directions: writes to one side pause (a lock taken by the database, `Backend.pause_writes`, or
the application's flag), the sync run that carries that side's changes to the other is drained
past the position read under the pause, the checksum diff of the two sides must be empty, and
only then is the read/write flag flipped and the pause released. A diff that is not empty, or
a pause that would outlast its bound, releases with nothing flipped.

The sync runs in a process of its own (`move/sync/runner.py`); this module reads its applied
position from `sync_status` and the source's position from the capture (`ChangeCapture`
contract), so the drain works the same for every capture method.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from datamigration.db import connect
from datamigration.errors import ConflictError, DatabaseError

Say = Callable[[str, dict[str, Any]], None]
#: how often the drain looks at the sync's applied position while writes are paused
DRAIN_POLL_S = 0.02
#: how long the application's flag is given to reach every writer before the pause counts
FLAG_GRACE_S = 0.2
#: the lag the run is given a few seconds to reach before the pause begins
CLOSE_LAG_S = 0.2
#: attempts to take the lock before the cutover gives up (each waits its lock timeout)
LOCK_ATTEMPTS = 3


class CutoverAbortedError(ConflictError):
    """The cutover stopped before flipping anything: the source still serves, sync runs on."""


@dataclass(frozen=True)
class Sides:
    """One direction of a switch: writes pause on `origin`, run `run` carries them to `dest`."""

    run: str
    origin: str
    dest: str
    tables: tuple[str, ...]
    method: str = "auto"
    #: resolved document mapping (a MongoDB target), for the mapped diff
    mapping: Any = None
    #: the diff compares source -> target in this order (the original direction)
    diff_pair: tuple[str, str] = ("", "")


@dataclass
class Switch:
    """What one switch did: pause length, drain, diff, flip."""

    pause_ms: float | None = None
    paused_by: dict[str, Any] = field(default_factory=dict)
    drained_to: Any = None
    diff: dict[str, Any] = field(default_factory=dict)
    flipped: bool = False
    reverse_from: Any = None
    #: where the pause went: waiting for the drain, the final diff
    drain_ms: float | None = None
    diff_ms: float | None = None
    #: the run's lag right before the pause
    lag_before_s: float | None = None


def sync_status(run: str, workspace: Any, **where: Any) -> dict[str, Any]:
    """The run's state row, flattened: status, position, applied, lag, apply rate, whether
    the snapshot finished and whether its process is alive (`move.sync.control`)."""
    from datamigration.move.sync.control import sync_status as status

    item = status(workspace, run, **{k: v for k, v in where.items() if v})["runs"][0]
    return flatten(item.get("state") or {}) | {"alive": item.get("alive")}


def flatten(state: Mapping[str, Any]) -> dict[str, Any]:
    info = state.get("info") or {}
    figures = state.get("figures") or {}
    return {
        "status": state.get("status"),
        "position": state.get("position"),
        "applied": state.get("applied"),
        "lag": figures.get("lag") or {},
        "apply_rate": figures.get("rate"),
        "error": figures.get("error"),
        "snapshot_done": bool(info.get("snapshot")),
        "method": info.get("method"),
        "tables": info.get("tables"),
        "updated_at": state.get("updated_at"),
    }


def applied_position(status: Mapping[str, Any]) -> tuple[int, int] | None:
    """The last position the run applied (and committed on its target), or None."""
    pos = status.get("position")
    return (int(pos[0]), int(pos[1])) if pos else None


def lag_seconds(status: Mapping[str, Any]) -> float | None:
    """Seconds behind; 0 when the capture says nothing is pending, None when unknown."""
    lag = status.get("lag") or {}
    if not isinstance(lag, Mapping):
        return None
    if lag.get("seconds") is not None:
        return float(lag["seconds"])
    if lag.get("events") == 0 or lag.get("bytes") == 0:
        return 0.0
    return None


class StateReader:
    """The run's state row read straight from its target, on one connection (the drain looks
    every few milliseconds while writes are paused)."""

    def __init__(self, target: str, workspace: Any) -> None:
        from datamigration.db.syncstate import SYNC_STATE_TABLE

        self.backend = connect(target, workspace)
        self.store = self.backend.sync_state_table(SYNC_STATE_TABLE)

    def __call__(self, run: str) -> dict[str, Any]:
        return flatten(self.store.get(run) or {})

    def close(self) -> None:
        self.backend.close()


def wait_for_lag(
    run: str, workspace: Any, bound_s: float, wait_s: float, say: Say, **where: Any
) -> dict[str, Any]:
    """Poll the run until its lag is at most `bound_s`; refuse when it failed or stopped, or
    when `wait_s` passes first."""
    deadline = time.monotonic() + wait_s
    while True:
        status = sync_status(run, workspace, **where)
        state = str(status.get("status") or "")
        if state == "running" and not status.get("alive"):
            state = "failed"  # the row says running, but no process applies it
        if state in ("failed", "stopped", "cut_over"):
            raise CutoverAbortedError(
                f"sync {run} is {state}: there is nothing to cut over",
                hint=f"Look at `sync status {run}`; start the sync again (sync start) first.",
                run=run,
                status=state,
            )
        lag = lag_seconds(status)
        say("lag", {"run": run, "lag_seconds": lag, "apply_rate": status.get("apply_rate")})
        if lag is not None and lag <= bound_s and status.get("snapshot_done"):
            return status
        if time.monotonic() > deadline:
            raise CutoverAbortedError(
                f"sync {run} lags {lag if lag is not None else 'unknown'} s, over the bound of "
                f"{bound_s:g} s, after waiting {wait_s:g} s; nothing was paused or flipped",
                hint="Wait for a quieter moment, or raise lag_max_s.",
                run=run,
                lag_seconds=lag,
            )
        time.sleep(0.2)


def approach(run: str, workspace: Any, target: str, wait_s: float = 10.0) -> float | None:
    """Right before the pause: give the run a few seconds to get as close as it can (lag
    under `CLOSE_LAG_S`), so the pause drains a moment of writes, not the whole lag bound.
    The lag last seen."""
    state = StateReader(target, workspace)
    deadline = time.monotonic() + wait_s
    try:
        while True:
            lag = lag_seconds(state(run))
            if (lag is not None and lag <= CLOSE_LAG_S) or time.monotonic() > deadline:
                return lag
            time.sleep(DRAIN_POLL_S)
    finally:
        state.close()


@contextmanager
def paused(
    sides: Sides, workspace: Any, how: str, lock_timeout_ms: int, flag: Callable[[bool], Any],
    say: Say,
) -> Iterator[dict[str, Any]]:  # fmt: skip
    """Writes to `sides.tables` on `sides.origin` pause inside the block (see the module
    docstring); yields what paused them."""
    if how == "flag":
        flag(True)
        try:
            time.sleep(FLAG_GRACE_S)
            yield {"method": "flag", "lock": None, "grace_ms": FLAG_GRACE_S * 1000}
        finally:
            flag(False)
        return
    backend = connect(sides.origin, workspace)
    if backend.pause_holds_database:
        backend.close()
        raise CutoverAbortedError(
            "a lock here holds the whole database file, and the capture writes to its change "
            "table as it drains: a lock cannot pause writes for this cutover; nothing was paused",
            hint="Pause writes with the application's flag: write_pause flag (the spec's "
            'cutover.write_pause: "flag"), and have the application hold writes while it is on.',
        )
    try:
        for attempt in range(1, LOCK_ATTEMPTS + 1):
            try:
                pause = backend.pause_writes(sides.tables, lock_timeout_ms)
                taken = pause.__enter__()
                break
            except DatabaseError as exc:
                say("lock_wait", {"attempt": attempt, "error": exc.message})
                if attempt == LOCK_ATTEMPTS:
                    raise CutoverAbortedError(
                        f"the write pause could not take its lock on {', '.join(sides.tables)} "
                        f"in {LOCK_ATTEMPTS} attempts of {lock_timeout_ms} ms: {exc.message}; "
                        "nothing was flipped",
                        hint="A long transaction holds the table; retry the cutover when it "
                        "ends, or pause writes with the application's flag (write_pause flag).",
                    ) from None
        try:
            yield taken
        except BaseException as exc:
            pause.__exit__(type(exc), exc, exc.__traceback__)
            raise
        else:
            pause.__exit__(None, None, None)
    finally:
        backend.close()


def drain(
    sides: Sides, state: StateReader, upto: Any, since: str, deadline: float, say: Say
) -> tuple[int, int] | None:
    """Wait until run `sides.run` has applied everything committed before the pause; refuse
    at `deadline`. Done when its applied position reached `upto` (the capture's position read
    under the pause), or when the run wrote its figures after the pause began (`since`, its
    clock) with nothing pending: its reader reached the end of the stream then, and no write
    can have committed since (a WAL position moves on without events of ours)."""
    while True:
        status = state(sides.run)
        applied = applied_position(status)
        if applied is not None and tuple(upto) <= applied:
            return applied
        lag = status.get("lag") or {}
        if str(status.get("updated_at") or "") > since and lag.get("events") == 0:
            return applied
        if time.monotonic() > deadline:
            raise CutoverAbortedError(
                f"sync {sides.run} did not apply the last changes within the pause bound "
                f"(applied up to {applied}, the source at {tuple(upto)}); released, nothing "
                "was flipped",
                hint="Raise pause_max_ms, or cut over when the write rate is lower.",
                run=sides.run,
            )
        say("draining", {"run": sides.run, "applied": applied})
        time.sleep(DRAIN_POLL_S)


def final_diff(sides: Sides, workspace: Any) -> dict[str, Any]:
    """The checksum diff of every moved table (the mapped diff for a document mapping):
    `identical`, the counts, and a few keys per table."""
    from datamigration.move.mapped_diff import diff_mapped
    from datamigration.validate.diff import diff_tables
    from datamigration.validate.diff_plan import DiffOptions

    source, target = sides.diff_pair
    options = DiffOptions(max_keys=20)
    if sides.mapping is not None:
        report = diff_mapped(source, target, sides.mapping, options, workspace)
        return {k: report[k] for k in ("identical", "missing_count", "extra_count",
                                       "changed_count", "seconds")}  # fmt: skip
    tables = []
    for t in sides.tables:
        r = diff_tables(source, t, target, t, options, workspace)
        tables.append({"table": t, "key": r["key"], "identical": r["identical"],
                       "rows": r["rows_compared"],
                       "missing": r["missing"][:5], "extra": r["extra"][:5],
                       "changed": r["changed"][:5], "seconds": r["seconds"]})  # fmt: skip
    return {"identical": all(t["identical"] for t in tables), "tables": tables}


#: kinds of difference of the final diff, as the refusal names them
_DIFFERENCES = (("changed", "differ"), ("missing", "only on the source"),
                ("extra", "only on the target"))  # fmt: skip


def differing_keys(diff: Mapping[str, Any]) -> str:
    """`accounts (id): differ 7, 9; only on the target 100001` (the first keys of each kind the
    final diff kept), or the counts of a mapped diff, which has no keys per table."""
    parts = []
    for t in diff.get("tables", []):
        kinds = [f"{label} {', '.join(json.dumps(k, default=str) for k in t[kind])}"
                 for kind, label in _DIFFERENCES if t.get(kind)]  # fmt: skip
        if kinds:
            parts.append(f"{t['table']} ({', '.join(t.get('key') or [])}): {'; '.join(kinds)}")
    if not parts:
        parts = [f"{label} {diff.get(kind + '_count', 0)}" for kind, label in _DIFFERENCES]
    return ". ".join(parts)


def switch(
    sides: Sides,
    workspace: Any,
    *,
    how: str,
    pause_max_ms: int,
    pause_flag: Callable[[bool], Any],
    flip: Callable[[], Any],
    reverse: Any,
    say: Say,
) -> Switch:
    """Pause, drain, diff, flip, release (see the module docstring). `reverse` is the capture
    that will carry the other side's writes back (or None): its position at the flip is where
    the way back starts."""
    out = Switch()
    if reverse is not None:  # its bookkeeping of what is there already, done outside the pause
        reverse.current_position()
    out.lag_before_s = approach(sides.run, workspace, sides.dest)
    src = connect(sides.origin, workspace)
    state = StateReader(sides.dest, workspace)
    try:
        capture = src.change_capture(sides.run, sides.tables, method=sides.method)
        lock_ms = max(10, min(pause_max_ms, 2_000))
        started = 0.0
        try:
            with paused(sides, workspace, how, lock_ms, pause_flag, say) as out.paused_by:
                started, since = time.perf_counter(), now_text()
                bound = started + pause_max_ms / 1000
                say("paused", {"by": out.paused_by["method"]})
                out.drained_to = drain(sides, state, capture.current_position(), since,
                                       bound, say)  # fmt: skip
                out.drain_ms = _ms_since(started)
                out.diff = final_diff(sides, workspace)
                out.diff_ms = round(_ms_since(started) - out.drain_ms, 1)
                _check(out, sides, started, pause_max_ms)
                if reverse is not None:
                    out.reverse_from = reverse.current_position()
                    reverse.ack(out.reverse_from)
                flip()
                out.flipped = True
        finally:
            if started:  # a flag holds writes from the moment it is set: its grace counts
                grace = float((out.paused_by or {}).get("grace_ms") or 0)
                out.pause_ms = round((time.perf_counter() - started) * 1000 + grace, 1)
        say("released", {"pause_ms": out.pause_ms, "flipped": out.flipped})
        return out
    finally:
        state.close()
        src.close()


def now_text() -> str:
    """The sync state's clock text (`updated_at`), to compare with the run's figures."""
    from datamigration.db.syncstate import now_text as text

    return text()


def _ms_since(started: float) -> float:
    return round((time.perf_counter() - started) * 1000, 1)


def _check(out: Switch, sides: Sides, started: float, pause_max_ms: int) -> None:
    """Refuse to flip on a difference or an overlong pause (released by the caller's block)."""
    spent = (time.perf_counter() - started) * 1000
    if not out.diff.get("identical"):
        raise CutoverAbortedError(
            f"the final checksum diff of {', '.join(sides.tables)} is not empty under the "
            f"pause ({differing_keys(out.diff)}): released, nothing was flipped",
            hint="A write that bypassed the capture, or someone else writing to the target, "
            "leaves such keys. Rows that differ or are only on the source: write them again on "
            "the source (an UPDATE setting a column to itself) so the sync carries the "
            "source's row over; rows only on the target: delete them there. Then cut over "
            "again (docs/cutover.md, 'A target written by someone else').",
            diff=out.diff,
            pause_ms=round(spent, 1),
        )
    if spent > pause_max_ms:
        raise CutoverAbortedError(
            f"the pause would outlast its bound ({spent:.0f} ms > {pause_max_ms} ms, the final "
            "diff included): released, nothing was flipped",
            hint="Raise pause_max_ms, or pause writes with the application's flag.",
            diff=out.diff,
            pause_ms=round(spent, 1),
        )


def settle(sides: Sides, workspace: Any, wait_s: float = 5.0) -> tuple[int, int] | None:
    """After the release: writes that waited behind the pause commit on the old side a moment
    later; let the run carry them before it stops (bounded; None when it did not)."""
    deadline = time.monotonic() + wait_s
    src = connect(sides.origin, workspace)
    state = StateReader(sides.dest, workspace)
    try:
        capture = src.change_capture(sides.run, sides.tables, method=sides.method)
        time.sleep(0.1)
        since = now_text()
        try:
            return drain(sides, state, capture.current_position(), since, deadline,
                         lambda e, d: None)  # fmt: skip
        except CutoverAbortedError:
            return None
    finally:
        state.close()
        src.close()


def tables_of(value: Sequence[str] | str) -> tuple[str, ...]:
    return (value,) if isinstance(value, str) else tuple(value)
