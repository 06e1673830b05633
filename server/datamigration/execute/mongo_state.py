"""Durable run state of a MongoDB plan: one small collection on the target, `_datamigration_runs`.

The SQL executor keeps its state in three tables (execute/state.py); a MongoDB target has no
tables, so the same facts live as documents of one collection, told apart by ``kind``:

* ``run``: the plan's hash, status and whether its validation passed;
* ``step``: pending / running / done / failed / rolled_back, attempts, detail;
* ``checkpoint``: per batched operation, the last ``_id`` done (stored as its BSON value, so an
  ObjectId stays an ObjectId), documents and batches done, finished;
* ``lock``: which executor runs the plan (host:pid and a lease), so two never run at once.

MongoDB gives no transaction spanning a batch and its checkpoint on every deployment
(standalone servers have none), so the checkpoint is written right *after* its batch: a crash in
between repeats that one batch on resume, which is harmless because every batched document
operation is idempotent (db/mongodb/operations.py). A lock whose owner is a dead process on this
host, or whose lease ran out, is taken over.
"""

from __future__ import annotations

import datetime as dt
import os
import socket
from typing import Any

from datamigration.execute.state import (
    Checkpoint,
    StepState,
    now_iso,
    owner_id,
    refuse_other_hash,
)
from datamigration.redact import redact_text

COLLECTION = "_datamigration_runs"
LEASE_SECONDS = 60.0


class MongoRunStore:
    """The run state of one plan on one MongoDB database (same interface as `RunStore`)."""

    def __init__(self, backend: Any, plan_id: str, plan_hash: str) -> None:
        self.backend = backend
        self.plan_id = plan_id
        self.plan_hash = plan_hash

    def _op(self, op: str, **fields: Any) -> dict[str, Any]:
        return self.backend.apply_document_operation({"collection": COLLECTION, "op": op, **fields})

    def _find(self, flt: dict[str, Any], sort: list[Any] | None = None) -> list[dict[str, Any]]:
        return list(self._op("find", filter=flt, sort=sort)["documents"])

    def _set(self, _id: str, values: dict[str, Any], inc: dict[str, int] | None = None) -> None:
        update: dict[str, Any] = {"$set": values}
        if inc:
            update["$inc"] = inc
        self._op("update_one", filter={"_id": _id}, update=update, upsert=True)

    def _ids(self, *parts: str) -> str:
        return ":".join((parts[0], self.plan_id, *parts[1:]))

    # --- setup and run -----------------------------------------------------------------------

    def ensure(self) -> None:
        """Nothing to create: the collection appears with its first document."""

    def exists(self) -> bool:
        return bool(self._op("count", filter={"plan_id": self.plan_id})["count"])

    def begin(self) -> dict[str, Any] | None:
        before = self.run()
        refuse_other_hash(before, self.plan_id, self.plan_hash)
        self._set(self._ids("run"), {
            "kind": "run", "plan_id": self.plan_id, "plan_hash": self.plan_hash,
            "status": before["status"] if before else "running", "owner": owner_id(),
            "started_at": (before or {}).get("started_at") or now_iso(), "updated_at": now_iso(),
        })  # fmt: skip
        return before

    def set_run(self, **values: Any) -> None:
        self._set(self._ids("run"), {**values, "updated_at": now_iso()})

    def run(self) -> dict[str, Any] | None:
        docs = self._find({"_id": self._ids("run")})
        if not docs:
            return None
        names = ("plan_hash", "status", "validation", "owner", "started_at", "updated_at")
        return {n: docs[0].get(n) for n in names} | {"plan_id": self.plan_id}

    # --- steps ---------------------------------------------------------------------------------

    def steps(self) -> dict[str, StepState]:
        out = {}
        for d in self._find({"kind": "step", "plan_id": self.plan_id}):
            out[d["step_id"]] = StepState(d["step_id"], d["status"], int(d.get("attempts", 0)),
                                          d.get("started_at"), d.get("finished_at"),
                                          d.get("detail"))  # fmt: skip
        return out

    def set_step(self, step_id: str, status: str, **extra: Any) -> None:
        values: dict[str, Any] = {"kind": "step", "plan_id": self.plan_id, "step_id": step_id,
                                  "status": status}  # fmt: skip
        if status == "running":
            values.update(started_at=now_iso(), finished_at=None)
        elif status in ("done", "failed", "rolled_back"):
            values["finished_at"] = now_iso()
        if "detail" in extra:
            values["detail"] = redact_text(str(extra["detail"]))[:2000] if extra["detail"] else None
        self._set(self._ids("step", step_id), values,
                  {"attempts": 1} if status == "running" else None)  # fmt: skip

    # --- checkpoints ---------------------------------------------------------------------------

    @staticmethod
    def _checkpoint(d: dict[str, Any]) -> Checkpoint:
        key = d.get("last_key")
        return Checkpoint(d["step_id"], d["op_id"], tuple(key) if key is not None else None,
                          int(d.get("rows_done", 0)), int(d.get("batches", 0)),
                          bool(d.get("finished")), d.get("updated_at"))  # fmt: skip

    def checkpoint(self, step_id: str, op_id: str) -> Checkpoint | None:
        docs = self._find({"_id": self._ids("checkpoint", step_id, op_id)})
        return self._checkpoint(docs[0]) if docs else None

    def checkpoints(self) -> list[Checkpoint]:
        docs = self._find({"kind": "checkpoint", "plan_id": self.plan_id})
        return sorted((self._checkpoint(d) for d in docs), key=lambda c: (c.step_id, c.op_id))

    def start_checkpoint(self, step_id: str, op_id: str) -> Checkpoint:
        found = self.checkpoint(step_id, op_id)
        if found is not None:
            return found
        self._set(self._ids("checkpoint", step_id, op_id), {
            "kind": "checkpoint", "plan_id": self.plan_id, "step_id": step_id, "op_id": op_id,
            "last_key": None, "rows_done": 0, "batches": 0, "finished": False,
            "updated_at": now_iso(),
        })  # fmt: skip
        return Checkpoint(step_id, op_id, None, 0, 0, False, None)

    def advance(self, step_id: str, op_id: str, last_key: tuple[Any, ...] | None, rows: int,
                *, finished: bool) -> None:  # fmt: skip
        """Record one batch done (right after it: see the module docstring)."""
        self._set(self._ids("checkpoint", step_id, op_id), {
            "kind": "checkpoint", "plan_id": self.plan_id, "step_id": step_id, "op_id": op_id,
            "last_key": list(last_key) if last_key is not None else None, "finished": finished,
            "updated_at": now_iso(),
        }, {"rows_done": max(0, int(rows)), "batches": 1})  # fmt: skip

    def mark_done(self, step_id: str, op_id: str) -> None:
        """An operation that is not batched is done (skipped when the step runs again)."""
        self._set(self._ids("checkpoint", step_id, op_id), {
            "kind": "checkpoint", "plan_id": self.plan_id, "step_id": step_id, "op_id": op_id,
            "finished": True, "updated_at": now_iso(),
        })  # fmt: skip

    def clear_checkpoints(self, step_id: str) -> None:
        self._op("delete_many", filter={"kind": "checkpoint", "plan_id": self.plan_id,
                                        "step_id": step_id})  # fmt: skip

    # --- the executor lock ---------------------------------------------------------------------

    #: what to tell a second executor that finds the lock taken
    lock_hint = (
        "Wait for it to finish (datamigration run-status shows progress); a crashed "
        "executor's lock is taken over once its lease (60 s) ran out, at once when it "
        "ran on this machine."
    )

    def try_lock(self) -> bool:
        """Take the plan's lock: free, ours, expired, or held by a dead process on this host."""
        _id = self._ids("lock")
        now = dt.datetime.now(dt.UTC).replace(tzinfo=None)
        mine = {"kind": "lock", "plan_id": self.plan_id, "owner": owner_id(),
                "host": socket.gethostname(), "pid": os.getpid(),
                "expires_at": now + dt.timedelta(seconds=LEASE_SECONDS)}  # fmt: skip
        for _ in range(2):
            if self._op("insert_one", document={"_id": _id, **mine})["inserted"]:
                return True
            held = self._find({"_id": _id})
            if not held:
                continue  # released in between: try again
            h = held[0]
            if h.get("owner") == mine["owner"]:
                self._set(_id, {"expires_at": mine["expires_at"]})
                return True
            if not _stale(h, now):
                return False
            # compare-and-delete: only the lock we judged stale, not a new owner's
            self._op("delete_one", filter={"_id": _id, "owner": h.get("owner")})
        return False

    def renew_lock(self) -> None:
        expires = dt.datetime.now(dt.UTC).replace(tzinfo=None) + dt.timedelta(seconds=LEASE_SECONDS)
        self._op("update_one", filter={"_id": self._ids("lock"), "owner": owner_id()},
                 update={"$set": {"expires_at": expires}})  # fmt: skip

    def release_lock(self) -> None:
        self._op("delete_one", filter={"_id": self._ids("lock"), "owner": owner_id()})

    def locked_by_other(self) -> bool:
        """True when a live executor (not this process) holds the lock."""
        held = self._find({"_id": self._ids("lock")})
        now = dt.datetime.now(dt.UTC).replace(tzinfo=None)
        return bool(held) and held[0].get("owner") != owner_id() and not _stale(held[0], now)


def _stale(lock: dict[str, Any], now: dt.datetime) -> bool:
    expires = lock.get("expires_at")
    if isinstance(expires, str):  # servers that keep dates as text (nx-27017)
        try:
            expires = dt.datetime.fromisoformat(expires.replace("Z", ""))
        except ValueError:
            expires = None
    if isinstance(expires, dt.datetime):
        expires = expires.replace(tzinfo=None)
        if expires < now:
            return True
    if lock.get("host") == socket.gethostname() and lock.get("pid"):
        try:
            os.kill(int(lock["pid"]), 0)
        except ProcessLookupError:
            return True
        except PermissionError:
            return False
    return expires is None
