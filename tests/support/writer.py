"""A small application for cutover tests: a thread that inserts, updates and deletes rows of
one table on whichever side the read/write flag names, and records every write it tried.

Each write first asks the flagd file which side serves (`flag` on: the target), as an
application behind a flag does, then writes there in autocommit. A write that raises is
recorded as failed with its time, so a test can check that none failed, and that the writes
the pause held only waited (their duration is recorded too).
"""

from __future__ import annotations

import random
import threading
import time
from dataclasses import dataclass, field
from typing import Any

import psycopg

from datamigration.errors import DataMigrationError
from datamigration.safety import flags


@dataclass
class Write:
    side: str
    op: str
    key: int
    ok: bool
    started: float
    seconds: float
    error: str = ""


@dataclass
class Writer:
    """Writes to `table` (id int PRIMARY KEY, balance int, note text) of `source` or `target`."""

    source: str
    target: str
    workspace: Any
    flag: str
    table: str = "accounts"
    first_id: int = 100_000
    pause_s: float = 0.005
    writes: list[Write] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="writer", daemon=True)
        self._rng = random.Random(7)
        self._next = self.first_id
        self._mine: list[int] = []

    def start(self) -> Writer:
        self._thread.start()
        return self

    def stop(self) -> list[Write]:
        self._stop.set()
        self._thread.join(timeout=30)
        return self.writes

    def on_target(self) -> bool:
        try:
            return bool(flags.evaluate(self.workspace, self.flag, {"targetingKey": "app"})["value"])
        except DataMigrationError:
            return False  # no flag yet: the source serves

    def count(self, side: str | None = None) -> int:
        return sum(1 for w in self.writes if w.ok and (side is None or w.side == side))

    def failed(self) -> list[Write]:
        return [w for w in self.writes if not w.ok]

    def _loop(self) -> None:
        conns = {"source": psycopg.connect(self.source, autocommit=True),
                 "target": psycopg.connect(self.target, autocommit=True)}  # fmt: skip
        try:
            while not self._stop.is_set():
                side = "target" if self.on_target() else "source"
                self._one(conns[side], side)
                time.sleep(self.pause_s)
        finally:
            for c in conns.values():
                c.close()

    def _one(self, conn: psycopg.Connection, side: str) -> None:
        roll = self._rng.random()
        t = self.table
        if roll < 0.5 or not self._mine:
            op, key = "insert", self._next
            sql, params = f"INSERT INTO {t} (id, balance, note) VALUES (%s, %s, %s)", (
                key, self._rng.randint(0, 1000), f"{side} insert")  # fmt: skip
        elif roll < 0.85:
            op, key = "update", self._rng.choice(self._mine)
            sql, params = f"UPDATE {t} SET balance = balance + 1, note = %s WHERE id = %s", (
                f"{side} update", key)  # fmt: skip
        else:
            op, key = "delete", self._mine[-1]
            sql, params = f"DELETE FROM {t} WHERE id = %s", (key,)
        started = time.perf_counter()
        try:
            conn.execute(sql, params)
        except psycopg.Error as exc:
            self.writes.append(Write(side, op, key, False, started,
                                     time.perf_counter() - started, str(exc)[:200]))  # fmt: skip
            return
        self.writes.append(Write(side, op, key, True, started, time.perf_counter() - started))
        if op == "insert":
            self._mine.append(key)
            self._next += 1
        elif op == "delete":
            self._mine.pop()
