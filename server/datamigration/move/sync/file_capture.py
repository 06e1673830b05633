"""Debezium JSON lines as a capture: the applier's input for teams running Debezium and
Kafka Connect (Kafka Connect's file sink, `kcat -e`, or our own `to_debezium` output).

The file is read whole and checked before anything from it is applied: a line that is not an
event stops the sync with its line number, and nothing of that read is applied. Events come
out in position order; `read` returns those after the last acknowledged position, and `ack`
keeps the position in the sync state (which the applier already wrote, on SQL targets in
the batch's own transaction). A file that grows is read again from its start (positions make
the overlap harmless).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from datamigration.db.capture import ChangeCapture
from datamigration.db.change_events import ChangeEvent, Position, read_debezium_lines
from datamigration.errors import UserInputError


class DebeziumFileCapture(ChangeCapture):
    method = "debezium-file"

    def __init__(self, path: str | Path, name: str, tables: Sequence[str], store: Any) -> None:
        super().__init__(None, name, tables)
        self.path = Path(path)
        self.store = store
        self._events: list[ChangeEvent] = []
        self._stamp: tuple[int, int] | None = None
        self._acked: Position | None = None

    def prepare(self) -> dict[str, Any]:
        if not self.path.is_file():
            raise UserInputError(
                f"events file {self.path} not found",
                hint="Give a file of Debezium JSON events, one per line, in the workspace.",
            )
        state = self.store.get(self.name) or {}
        self._acked = state.get("position")
        return {"method": self.method, "file": str(self.path)}

    def _load(self) -> None:
        st = self.path.stat()
        stamp = (st.st_size, st.st_mtime_ns)
        if stamp == self._stamp:
            return
        events = list(read_debezium_lines(self.path))  # refuses a bad line before any apply
        wanted = set(self.tables)
        self._events = sorted(
            (e for e in events if e.table in wanted or e.table.rsplit(".", 1)[-1] in wanted),
            key=lambda e: e.position,
        )
        self._stamp = stamp

    def read(self, limit: int = 10_000) -> list[ChangeEvent]:
        self._load()
        after = self._acked
        fresh = [e for e in self._events if after is None or e.position > after]
        return fresh[:limit]

    def ack(self, position: Position) -> None:
        self._acked = tuple(position)  # type: ignore[assignment]

    def current_position(self) -> Position:
        self._load()
        return self._events[-1].position if self._events else (0, 0)

    def lag(self) -> dict[str, Any]:
        self._load()
        after = self._acked
        pending = [e for e in self._events if after is None or e.position > after]
        oldest = next((e.commit_ts_ms for e in pending if e.commit_ts_ms), None)
        seconds = (
            max(0.0, time.time() - oldest / 1000) if oldest else (0.0 if not pending else None)
        )
        return {"bytes": None, "events": len(pending), "seconds": seconds}

    def teardown(self) -> None:
        return None
