"""The sync's state on the target: one row per sync run in `_datamigration_sync`.

Why on the target: the last applied position must commit in the same transaction as the
changes it covers (SQL targets), so a crash at any moment leaves position and data in step and
a restarted run neither skips nor repeats a change. The row also carries what `sync status`
shows (status, applied count, lag, apply rate) and the fingerprint of the tables and mapping
the run was started with, so a changed mapping under the same run name is refused.

Columns: run_id, status (running, stopping, stopped, cut_over, failed), fingerprint,
position (JSON pair, None before the first batch), applied, updated_at (ISO text), info
(JSON: redacted source and target, tables, capture name and method, started), figures (JSON:
lag and apply rate). The per-batch write is an UPDATE that leaves `status` alone, so a
`stopping` set by `sync stop` from another process is never overwritten by the applier.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Mapping, Sequence
from typing import Any

from datamigration.db.copystate import create_state_table

SYNC_STATE_TABLE = "_datamigration_sync"
SYNC_COLUMNS = (
    "run_id", "status", "fingerprint", "position", "applied", "updated_at", "info", "figures",
)  # fmt: skip
_JSON = ("position", "info", "figures")


def now_text() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds")


def encode_position(position: Sequence[int] | None) -> str | None:
    return None if position is None else json.dumps([int(p) for p in position])


def sync_record(**fields: Any) -> dict[str, Any]:
    """A full state row (missing fields None, applied 0)."""
    base: dict[str, Any] = dict.fromkeys(SYNC_COLUMNS)
    base.update(applied=0, info={}, figures={}, updated_at=now_text())
    base.update(fields)
    return base


def decode_record(rec: dict[str, Any]) -> dict[str, Any]:
    for k in _JSON:
        if isinstance(rec.get(k), str):
            rec[k] = json.loads(rec[k])
    if rec.get("position") is not None:
        rec["position"] = tuple(int(p) for p in rec["position"])
    rec["applied"] = int(rec.get("applied") or 0)
    return rec


class SyncStateStore:
    """The contract both stores meet (SQL table here, MongoDB collection in db/mongodb)."""

    def ensure(self) -> None:
        raise NotImplementedError

    def get(self, run_id: str) -> dict[str, Any] | None:
        raise NotImplementedError

    def all(self) -> list[dict[str, Any]]:
        raise NotImplementedError

    def put(self, record: Mapping[str, Any]) -> None:
        """Write the whole row (a new run, or a restart that takes it over)."""
        raise NotImplementedError

    def update(self, run_id: str, **fields: Any) -> None:
        """Change some columns (status, figures, ...) of the run's row."""
        raise NotImplementedError

    def advance(self, run_id: str, position: Sequence[int], applied: int) -> None:
        """Record a batch applied (position and count) outside any batch transaction."""
        self.update(run_id, position=position, applied=applied)

    def drop(self, run_id: str) -> None:
        raise NotImplementedError


class SQLSyncState(SyncStateStore):
    """The state table on a SQL target, through the backend's transaction door."""

    def __init__(self, backend: Any, name: str = SYNC_STATE_TABLE) -> None:
        self.b = backend
        self.name = name
        self.q = backend.quote_identifier(name)

    def _col(self, name: str) -> str:
        return self.b.quote_identifier(name)

    def ensure(self) -> None:
        cols = (
            "run_id VARCHAR(64) NOT NULL PRIMARY KEY, status VARCHAR(16) NOT NULL, "
            "fingerprint VARCHAR(64), position VARCHAR(64), applied BIGINT NOT NULL, "
            "updated_at VARCHAR(40), info TEXT, figures TEXT"
        )
        for word in ("position", "status", "info"):
            cols = cols.replace(f"{word} ", f"{self._col(word)} ", 1)
        create_state_table(self.b, self.name, f"CREATE TABLE IF NOT EXISTS {self.q} ({cols})")

    def _select(self) -> str:
        return f"SELECT {', '.join(self._col(c) for c in SYNC_COLUMNS)} FROM {self.q}"

    def get(self, run_id: str) -> dict[str, Any] | None:
        rows = self.b.fetch(f"{self._select()} WHERE run_id = {self.b.placeholder}", (run_id,))
        return decode_record(dict(zip(SYNC_COLUMNS, rows[0], strict=True))) if rows else None

    def all(self) -> list[dict[str, Any]]:
        rows = self.b.fetch(f"{self._select()} ORDER BY run_id")
        return [decode_record(dict(zip(SYNC_COLUMNS, r, strict=True))) for r in rows]

    def put(self, record: Mapping[str, Any]) -> None:
        full = sync_record(**record)
        mark = self.b.placeholder
        values = tuple(_stored(c, full[c]) for c in SYNC_COLUMNS)
        names = ", ".join(self._col(c) for c in SYNC_COLUMNS)
        self.b.execute(
            [
                (f"DELETE FROM {self.q} WHERE run_id = {mark}", (full["run_id"],)),
                (f"INSERT INTO {self.q} ({names}) VALUES ({', '.join([mark] * len(values))})",
                 values),
            ]
        )  # fmt: skip

    def update_statement(self, run_id: str, **fields: Any) -> tuple[str, tuple[Any, ...]]:
        fields = {**fields, "updated_at": now_text()}
        mark = self.b.placeholder
        sets = ", ".join(f"{self._col(k)} = {mark}" for k in fields)
        params = tuple(_stored(k, v) for k, v in fields.items()) + (run_id,)
        return f"UPDATE {self.q} SET {sets} WHERE run_id = {mark}", params

    def update(self, run_id: str, **fields: Any) -> None:
        self.b.execute([self.update_statement(run_id, **fields)])

    def advance_statement(
        self, run_id: str, position: Sequence[int], applied: int
    ) -> tuple[str, tuple[Any, ...]]:
        """The state row's part of a batch transaction."""
        return self.update_statement(run_id, position=position, applied=applied)

    def drop(self, run_id: str) -> None:
        self.b.execute([(f"DELETE FROM {self.q} WHERE run_id = {self.b.placeholder}", (run_id,))])


def _stored(column: str, value: Any) -> Any:
    if column == "position":
        return encode_position(value)
    if column in _JSON and value is not None:
        return json.dumps(value, default=str, sort_keys=True)
    return value
