"""Durable run state: on the target database, so a run survives a crash or a machine change.

Three small tables, created on first use (portable DDL: PostgreSQL, MariaDB/MySQL, SQLite):

* `datamigration_runs`: one row per plan: hash, status, whether the plan's validation passed;
* `datamigration_steps`: one row per step: pending / running / done / failed / rolled_back;
* `datamigration_checkpoints`: one row per backfill operation: the last key committed, rows and
  batches done. The executor updates it *in the same transaction as the batch*, so after a
  SIGKILL the checkpoint names exactly the last batch that committed and the run resumes there.

A local JSON-lines log under `.datamigration/runs/<plan-id>.jsonl` records every event for people
(and for `run_status` when the database is out of reach); the database is the source of truth.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import socket
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from datamigration.db.base import Backend
from datamigration.db.contracts import Statement
from datamigration.errors import ConflictError
from datamigration.plan.dialects import dialect_class
from datamigration.redact import redact_text

RUNS = "datamigration_runs"
STEPS = "datamigration_steps"
CHECKPOINTS = "datamigration_checkpoints"

STEP_STATUSES = ("pending", "running", "done", "failed", "rolling_back", "rolled_back")

_DDL = (
    (
        f"CREATE TABLE IF NOT EXISTS {RUNS} ("
        " plan_id VARCHAR(120) NOT NULL PRIMARY KEY,"
        " plan_hash VARCHAR(64) NOT NULL,"
        " status VARCHAR(20) NOT NULL,"
        " validation VARCHAR(20),"
        " owner VARCHAR(200),"
        " started_at VARCHAR(40),"
        " updated_at VARCHAR(40))"
    ),
    (
        f"CREATE TABLE IF NOT EXISTS {STEPS} ("
        " plan_id VARCHAR(120) NOT NULL,"
        " step_id VARCHAR(120) NOT NULL,"
        " status VARCHAR(20) NOT NULL,"
        " attempts INTEGER NOT NULL DEFAULT 0,"
        " started_at VARCHAR(40),"
        " finished_at VARCHAR(40),"
        " detail TEXT,"
        " PRIMARY KEY (plan_id, step_id))"
    ),
    (
        f"CREATE TABLE IF NOT EXISTS {CHECKPOINTS} ("
        " plan_id VARCHAR(120) NOT NULL,"
        " step_id VARCHAR(120) NOT NULL,"
        " op_id VARCHAR(120) NOT NULL,"
        " last_key TEXT,"
        " rows_done BIGINT NOT NULL DEFAULT 0,"
        " batches BIGINT NOT NULL DEFAULT 0,"
        " finished INTEGER NOT NULL DEFAULT 0,"
        " updated_at VARCHAR(40),"
        " PRIMARY KEY (plan_id, step_id, op_id))"
    ),
)


def now_iso() -> str:
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def owner_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def encode_key(key: Sequence[Any] | None) -> str | None:
    """A key tuple as JSON text (ints, text; dates and others as their ISO / text form)."""
    if key is None:
        return None
    return json.dumps([v if isinstance(v, int | float | str) or v is None else str(v) for v in key])


def decode_key(text: str | None) -> tuple[Any, ...] | None:
    return None if text is None else tuple(json.loads(text))


@dataclass(frozen=True)
class Checkpoint:
    step_id: str
    op_id: str
    last_key: tuple[Any, ...] | None
    rows_done: int
    batches: int
    finished: bool
    updated_at: str | None

    def to_dict(self) -> dict[str, Any]:
        return {
            "step": self.step_id,
            "operation": self.op_id,
            "last_key": list(self.last_key) if self.last_key is not None else None,
            "rows_done": self.rows_done,
            "batches": self.batches,
            "finished": self.finished,
            "updated_at": self.updated_at,
        }


@dataclass(frozen=True)
class StepState:
    step_id: str
    status: str
    attempts: int
    started_at: str | None
    finished_at: str | None
    detail: str | None

    def to_dict(self) -> dict[str, Any]:
        return {
            "step": self.step_id,
            "status": self.status,
            "attempts": self.attempts,
            "started_at": self.started_at,
            "finished_at": self.finished_at,
            "detail": self.detail,
        }


class RunStore:
    """The state tables of one plan on one target database."""

    def __init__(self, backend: Backend, plan_id: str, plan_hash: str) -> None:
        self.backend = backend
        self.plan_id = plan_id
        self.plan_hash = plan_hash
        self.p = backend.placeholder

    # --- the executor lock ---------------------------------------------------------------------

    #: what to tell a second executor that finds the lock taken
    lock_hint = (
        "Wait for it to finish (datamigration run-status shows progress); a crashed "
        "executor releases its lock when its connection ends."
    )

    @property
    def _lock_name(self) -> str:
        return f"datamigration:{self.plan_id}"

    def try_lock(self) -> bool:
        """The plan's session lock on the target: a crash ends the session and frees it."""
        return self.backend.try_session_lock(self._lock_name)

    def renew_lock(self) -> None:
        """A session lock has no lease to renew."""

    def release_lock(self) -> None:
        self.backend.release_session_lock(self._lock_name)

    # --- setup ---------------------------------------------------------------------------------

    def ensure(self) -> None:
        """Create the state tables when missing (each in its own short statement)."""
        for ddl in _DDL:
            self.backend.execute([(ddl, ())])

    def exists(self) -> bool:
        """Whether the state tables exist (run_status must not create them)."""
        try:
            self.backend.fetch(f"SELECT count(*) FROM {RUNS} WHERE 1 = 0")
        except Exception:  # noqa: BLE001 - any failure here means "no state yet"
            return False
        return True

    def _upsert(self, table: str, keys: dict[str, Any], values: dict[str, Any]) -> list[Statement]:
        """One INSERT that updates the existing row (ON CONFLICT / ON DUPLICATE KEY)."""
        cols = [*keys, *values]
        marks = ", ".join([self.p] * len(cols))
        head = f"INSERT INTO {table} ({', '.join(cols)}) VALUES ({marks})"
        tail = dialect_class(self.backend.dialect).upsert_tail(list(keys), list(values))
        return [(head + tail, [*keys.values(), *values.values()])]

    # --- run -----------------------------------------------------------------------------------

    def begin(self) -> dict[str, Any] | None:
        """Record (or resume) the run; returns the row that was there before, if any."""
        before = self.run()
        refuse_other_hash(before, self.plan_id, self.plan_hash)
        values = {
            "plan_hash": self.plan_hash,
            "status": before["status"] if before else "running",
            "owner": owner_id(),
            "started_at": (before or {}).get("started_at") or now_iso(),
            "updated_at": now_iso(),
        }
        self.backend.execute(self._upsert(RUNS, {"plan_id": self.plan_id}, values))
        return before

    def set_run(self, **values: Any) -> None:
        """Change fields of the existing run row (status, validation)."""
        values["updated_at"] = now_iso()
        sets = ", ".join(f"{k} = {self.p}" for k in values)
        self.backend.execute(
            [
                (
                    f"UPDATE {RUNS} SET {sets} WHERE plan_id = {self.p}",
                    [*values.values(), self.plan_id],
                )
            ],
        )

    def run(self) -> dict[str, Any] | None:
        p = self.p
        rows = self.backend.fetch(
            f"SELECT plan_hash, status, validation, owner, started_at, updated_at FROM {RUNS} "
            f"WHERE plan_id = {p}",
            (self.plan_id,),
        )
        if not rows:
            return None
        names = ("plan_hash", "status", "validation", "owner", "started_at", "updated_at")
        return dict(zip(names, rows[0], strict=True)) | {"plan_id": self.plan_id}

    # --- steps ---------------------------------------------------------------------------------

    def steps(self) -> dict[str, StepState]:
        p = self.p
        rows = self.backend.fetch(
            f"SELECT step_id, status, attempts, started_at, finished_at, detail FROM {STEPS} "
            f"WHERE plan_id = {p}",
            (self.plan_id,),
        )
        return {r[0]: StepState(r[0], r[1], int(r[2]), r[3], r[4], r[5]) for r in rows}

    def step_statements(self, step_id: str, status: str, **extra: Any) -> list[Statement]:
        values: dict[str, Any] = {"status": status}
        if status == "running":
            values["started_at"] = now_iso()
            values["finished_at"] = None
        elif status in ("done", "failed", "rolled_back"):
            values["finished_at"] = now_iso()
        if "detail" in extra:
            values["detail"] = redact_text(str(extra["detail"]))[:2000] if extra["detail"] else None
        return self._upsert(STEPS, {"plan_id": self.plan_id, "step_id": step_id}, values)

    def set_step(self, step_id: str, status: str, **extra: Any) -> None:
        statements = self.step_statements(step_id, status, **extra)
        if status == "running":
            p = self.p
            statements.append(
                (
                    (
                        f"UPDATE {STEPS} SET attempts = attempts + 1 "
                        f"WHERE plan_id = {p} AND step_id = {p}"
                    ),
                    (self.plan_id, step_id),
                )
            )
        self.backend.execute(statements)

    # --- checkpoints ---------------------------------------------------------------------------

    def checkpoint(self, step_id: str, op_id: str) -> Checkpoint | None:
        p = self.p
        rows = self.backend.fetch(
            f"SELECT last_key, rows_done, batches, finished, updated_at FROM {CHECKPOINTS} "
            f"WHERE plan_id = {p} AND step_id = {p} AND op_id = {p}",
            (self.plan_id, step_id, op_id),
        )
        if not rows:
            return None
        r = rows[0]
        return Checkpoint(step_id, op_id, decode_key(r[0]), int(r[1]), int(r[2]), bool(r[3]), r[4])

    def checkpoints(self) -> list[Checkpoint]:
        p = self.p
        rows = self.backend.fetch(
            f"SELECT step_id, op_id, last_key, rows_done, batches, finished, updated_at "
            f"FROM {CHECKPOINTS} WHERE plan_id = {p} ORDER BY step_id, op_id",
            (self.plan_id,),
        )
        return [
            Checkpoint(r[0], r[1], decode_key(r[2]), int(r[3]), int(r[4]), bool(r[5]), r[6])
            for r in rows
        ]

    def start_checkpoint(self, step_id: str, op_id: str) -> Checkpoint:
        """The checkpoint to resume from, creating an empty one for a first run."""
        found = self.checkpoint(step_id, op_id)
        if found is not None:
            return found
        self.backend.execute(
            self._upsert(
                CHECKPOINTS,
                {"plan_id": self.plan_id, "step_id": step_id, "op_id": op_id},
                {"rows_done": 0, "batches": 0, "finished": 0, "updated_at": now_iso()},
            ),
        )
        return Checkpoint(step_id, op_id, None, 0, 0, False, None)

    def advance_statement(
        self,
        step_id: str,
        op_id: str,
        last_key: Sequence[Any] | None,
        rows: int,
        *,
        finished: bool = False,
    ) -> Statement:
        """The checkpoint UPDATE that commits together with a batch."""
        p = self.p
        return (
            (
                f"UPDATE {CHECKPOINTS} SET last_key = {p}, rows_done = rows_done + {p}, "
                f"batches = batches + 1, finished = {p}, updated_at = {p} "
                f"WHERE plan_id = {p} AND step_id = {p} AND op_id = {p}"
            ),
            (
                encode_key(last_key),
                max(0, int(rows)),
                1 if finished else 0,
                now_iso(),
                self.plan_id,
                step_id,
                op_id,
            ),
        )

    def finish_checkpoint(self, step_id: str, op_id: str) -> None:
        p = self.p
        self.backend.execute(
            [
                (
                    (
                        f"UPDATE {CHECKPOINTS} SET finished = 1, updated_at = {p} "
                        f"WHERE plan_id = {p} AND step_id = {p} AND op_id = {p}"
                    ),
                    (now_iso(), self.plan_id, step_id, op_id),
                )
            ],
        )

    def done_statements(self, step_id: str, op_id: str) -> list[Statement]:
        """The statements that mark an operation done, to commit with the operation itself."""
        return self._upsert(
            CHECKPOINTS,
            {"plan_id": self.plan_id, "step_id": step_id, "op_id": op_id},
            {"rows_done": 0, "batches": 0, "finished": 1, "updated_at": now_iso()},
        )

    def mark_done(self, step_id: str, op_id: str) -> None:
        """An operation that is not batched is done (skipped when the step runs again)."""
        self.backend.execute(self.done_statements(step_id, op_id))

    def clear_checkpoints(self, step_id: str) -> None:
        """A rolled-back step backfills from the start when it runs again."""
        p = self.p
        self.backend.execute(
            [
                (
                    f"DELETE FROM {CHECKPOINTS} WHERE plan_id = {p} AND step_id = {p}",
                    (self.plan_id, step_id),
                )
            ],
        )


class RunLog:
    """`.datamigration/runs/<plan-id>.jsonl`: one redacted JSON event per line, append-only."""

    def __init__(self, state_dir: Path, plan_id: str) -> None:
        self.path = state_dir / "runs" / f"{plan_id}.jsonl"

    def write(self, event: str, **data: Any) -> dict[str, Any]:
        record = {"ts": now_iso(), "event": event, **data}
        line = redact_text(json.dumps(record, default=str, sort_keys=True))
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self.path.open("a", encoding="utf-8") as fh:
            fh.write(line + "\n")
            fh.flush()
        return record

    def read(self, limit: int = 200) -> tuple[list[dict[str, Any]], bool]:
        """The last `limit` events (malformed lines skipped) and whether older ones were cut."""
        if not self.path.is_file():
            return [], False
        events = []
        for line in self.path.read_text(encoding="utf-8").splitlines():
            try:
                event = json.loads(line)
            except (ValueError, RecursionError):
                continue
            if isinstance(event, dict):  # a hand-edited line may hold anything
                events.append(event)
        return events[-limit:], len(events) > limit


def local_runs(state_dir: Path) -> list[str]:
    """Plan ids that have a local run log, newest first."""
    folder = state_dir / "runs"
    if not folder.is_dir():
        return []
    files = sorted(folder.glob("*.jsonl"), key=lambda f: f.stat().st_mtime, reverse=True)
    return [f.stem for f in files]


#: Run-log events that settle a step's status, and the status each one leaves it in.
_LOG_STATUS = {
    "step_started": "running",
    "step_done": "done",
    "step_failed": "failed",
    "rollback_failed": "failed",
    "rolled_back": "rolled_back",
}


def steps_from_log(events: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Each step's last known status from the local run log (oldest event first).

    The database's run tables are the truth; this is what `run-status` shows when the database
    cannot be reached, so a user is not told that finished steps are pending.
    """
    out: dict[str, dict[str, Any]] = {}
    for ev in events:
        status = _LOG_STATUS.get(str(ev.get("event")))
        step = ev.get("step")
        if status is None or not isinstance(step, str):
            continue
        out[step] = {"status": status, "at": ev.get("ts")}
        if ev.get("error"):
            out[step]["detail"] = ev["error"]
    return out


def refuse_other_hash(before: dict[str, Any] | None, plan_id: str, plan_hash: str) -> None:
    """The run recorded on the database belongs to this plan id but another hash: refuse, so a
    plan edited after it started never resumes someone else's half-done run."""
    if before is not None and before["plan_hash"] != plan_hash:
        raise ConflictError(
            f"plan {plan_id} already ran on this database with hash "
            f"{before['plan_hash'][:12]}..., not {plan_hash[:12]}...",
            hint="A plan that changed is a new plan: plan again (new id) or roll back the "
            "earlier run first with `datamigration rollback`.",
            plan=plan_id,
        )
