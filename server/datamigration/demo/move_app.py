"""The move chapter's application: it writes users on whichever side the read/write flag names.

Why its own writer (and not live.py's `DemoApp`): the rename chapter's application switches
columns per user; this one switches databases for everyone at once, as an application behind
the cutover's flag (`users_reads_from_target`) does. Each write first asks the flagd file
which side serves, then inserts, updates or deletes one row there in autocommit (a document
on a MongoDB target), through the db layer like everything else. Every write is recorded with
its side, its start and its duration, so the chapter can say how many failed and whether any
failed outside the cutover's write pause, and how many reached the target after the cutover.
"""

from __future__ import annotations

import random
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Self

from datamigration import db
from datamigration.errors import DataMigrationError

FLAG = "users_reads_from_target"
#: the cutover's pause by flag (a SQLite source cannot lock one table): writes wait while on
PAUSE_FLAG = "users_writes_paused"
#: application writes per second (a small shop at its busiest minute)
RATE = 60.0
FIRST_ID = 100_000


@dataclass(frozen=True)
class Write:
    side: str  # "source" | "target"
    op: str  # "insert" | "update" | "delete"
    key: int
    ok: bool
    started: float  # time.monotonic()
    seconds: float
    error: str = ""


@dataclass
class MoveApp:
    """Start with `with MoveApp(...) as app:`; the writes are in `app.writes`."""

    source: str
    target: str
    workspace: Any
    users: int
    documents: bool = False  # the target is a document store
    writes: list[Write] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="demo-move-app", daemon=True)
        self._rng = random.Random(20261207)
        self._next = FIRST_ID
        self._mine: list[int] = []

    def __enter__(self) -> Self:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=30)

    def on_target(self) -> bool:
        return self._flag(FLAG)

    def _flag(self, key: str) -> bool:
        from datamigration.safety import flags

        try:
            served = flags.evaluate(self.workspace, key, {"targetingKey": "app"})
        except DataMigrationError:
            return False  # no flag yet: the old variant (the source serves, no pause)
        return bool(served["value"])

    def count(self, side: str | None = None, *, since: float = 0.0) -> int:
        return sum(1 for w in self.writes if w.ok and w.started >= since and side in (None, w.side))

    def failed(self) -> list[Write]:
        return [w for w in self.writes if not w.ok]

    def wait_for(self, side: str, n: int, since: float, timeout_s: float = 20.0) -> int:
        """Block until `n` writes reached `side` after `since` (or the timeout); the count."""
        deadline = time.monotonic() + timeout_s
        while self.count(side, since=since) < n and time.monotonic() < deadline:
            time.sleep(0.05)
        return self.count(side, since=since)

    def _loop(self) -> None:
        with (
            db.connect(self.source, self.workspace) as src,
            db.connect(self.target, self.workspace) as dst,
        ):
            started = time.monotonic()
            k = 0
            while not self._stop.is_set():
                wait = started + k / RATE - time.monotonic()
                if wait > 0 and self._stop.wait(wait):
                    break
                k += 1
                while self._flag(PAUSE_FLAG) and not self._stop.wait(0.01):
                    pass  # the cutover paused writes: hold this one until it ends
                side = "target" if self.on_target() else "source"
                self._one(dst if side == "target" else src, side)

    def _one(self, backend: Any, side: str) -> None:
        roll = self._rng.random()
        if roll < 0.4 or not self._mine:
            op, key = "insert", self._next
        elif roll < 0.85:
            op, key = "update", self._rng.choice(self._mine + [self._rng.randint(1, self.users)])
        else:
            op, key = "delete", self._mine[-1]
        started = time.monotonic()
        try:
            if side == "target" and self.documents:
                backend.apply_document_operation(_document_write(op, key, side))
            else:
                backend.execute([_sql_write(op, key, side)], autocommit=True)
        except DataMigrationError as exc:
            self.writes.append(
                Write(side, op, key, False, started, time.monotonic() - started, exc.message[:200])
            )
            return
        self.writes.append(Write(side, op, key, True, started, time.monotonic() - started))
        if op == "insert":
            self._mine.append(key)
            self._next += 1
        elif op == "delete":
            self._mine.pop()


def _sql_write(op: str, key: int, side: str) -> str:
    """One statement; every value is an int or a fixed word, so nothing needs quoting."""
    if op == "insert":
        return (
            "INSERT INTO users (id, email, full_name, country, created_at) VALUES "
            f"({key}, 'new{key}@example.com', 'New user {key}', 'DE', "
            "'2026-12-01T12:00:00Z')"
        )
    if op == "update":
        return f"UPDATE users SET full_name = 'Renamed on the {side} {key}' WHERE id = {key}"
    return f"DELETE FROM users WHERE id = {key}"


def _document_write(op: str, key: int, side: str) -> dict[str, Any]:
    if op == "insert":
        doc = {
            "_id": key,
            "email": f"new{key}@example.com",
            "full_name": f"New user {key}",
            "country": "DE",
            "created_at": "2026-12-01T12:00:00Z",
        }
        return {"collection": "users", "op": "insert_one", "document": doc}
    if op == "update":
        return {
            "collection": "users",
            "op": "update_one",
            "filter": {"_id": key},
            "update": {"$set": {"full_name": f"Renamed on the {side} {key}"}},
        }
    return {"collection": "users", "op": "delete_one", "filter": {"_id": key}}
