"""Dual write: a small helper for an application that writes to both systems itself.

The order is the whole point: the old database is the source of truth, so it is written first
and its failure is the application's failure (the exception goes back to the caller, the new
side is not touched). The new side is written second, and its failure never fails the
application's write: it is recorded (table, key, op, error, time) in a reconcile log, and
`reconcile()` later copies each recorded key from old to new again and clears it.

The reconcile log is a JSONL file in the workspace's state folder,
`.datamigration/dual_write/<name>.jsonl`: append-only, one line per failure, written under an
`flock` so several processes of the application share it, and never holding a password (the
error text is redacted). `reconcile()` moves the log aside before it starts (failures recorded
meanwhile go to a fresh log), re-copies every key it names (the row as the old side has it
now: upserted through the copy engine's bulk writer, or deleted on the new side when the old
side no longer has it) and puts back only the keys that fail again. A crash in the middle
leaves the moved-aside file, which the next `reconcile()` picks up: a key is copied twice at
worst, never lost, and copying is idempotent.

Writes: `insert` / `update` / `delete` build one parameterised statement per side from the
table and column names (quoted by each backend); `write(table, op, key, old, new)` runs the
application's own callables instead, for anything else (an ORM session, a MongoDB write).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import fcntl
import json
import os
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, Self, TypeVar

from datamigration.db import connect
from datamigration.db.base import Backend
from datamigration.errors import UserInputError
from datamigration.redact import redact_text

T = TypeVar("T")
OPS = ("insert", "update", "delete")
#: how long a write to the new side may wait for a lock before it is recorded instead
NEW_SIDE_LOCK_MS = 2000
NEW_SIDE_TIMEOUT_MS = 5000


class DualWriter:
    """Writes old then new; records the new side's failures; `reconcile()` repairs them."""

    def __init__(
        self, old: str, new: str, *, workspace: Any, name: str = "dual_write",
        new_lock_timeout_ms: int = NEW_SIDE_LOCK_MS,
    ) -> None:  # fmt: skip
        if not name.replace("_", "").replace("-", "").isalnum():
            raise UserInputError(
                f"bad dual-write name {name!r}", hint="Use letters, digits, _ or -."
            )
        self.workspace = workspace
        self.old: Backend = connect(old, workspace)
        self.new: Backend = connect(new, workspace)
        self.lock_ms = new_lock_timeout_ms
        folder = Path(workspace.state_dir) / "dual_write"
        folder.mkdir(parents=True, exist_ok=True)
        self.log_path = folder / f"{name}.jsonl"
        self._lock_path = folder / f"{name}.lock"
        self._columns: dict[str, list[str]] = {}

    def close(self) -> None:
        self.old.close()
        self.new.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- writing -------------------------------------------------------------------------------

    def write(
        self, table: str, op: str, key: Mapping[str, Any],
        old: Callable[[Backend], T], new: Callable[[Backend], Any],
    ) -> T:  # fmt: skip
        """Run `old` (its failure is raised), then `new` (its failure is recorded)."""
        if op not in OPS:
            raise UserInputError(f"unknown op {op!r}", hint=f"Use one of: {', '.join(OPS)}.")
        result = old(self.old)
        try:
            new(self.new)
        except Exception as exc:  # noqa: BLE001 - the new side never fails the application
            self._record(table, op, key, exc)
        return result

    def insert(self, table: str, row: Mapping[str, Any], key: Sequence[str] = ("id",)) -> None:
        cols = list(row)

        def stmt(b: Backend) -> tuple[str, list[Any]]:
            names = ", ".join(map(b.quote_identifier, cols))
            marks = ", ".join([b.placeholder] * len(cols))
            sql = f"INSERT INTO {b.quote_identifier(table)} ({names}) VALUES ({marks})"
            return sql, [row[c] for c in cols]

        self._both(table, "insert", {k: row[k] for k in key}, stmt)

    def update(self, table: str, key: Mapping[str, Any], values: Mapping[str, Any]) -> None:
        def stmt(b: Backend) -> tuple[str, list[Any]]:
            sets = ", ".join(f"{b.quote_identifier(c)} = {b.placeholder}" for c in values)
            where, params = _where(b, key)
            return f"UPDATE {b.quote_identifier(table)} SET {sets} WHERE {where}", [
                *values.values(), *params,
            ]  # fmt: skip

        self._both(table, "update", key, stmt)

    def delete(self, table: str, key: Mapping[str, Any]) -> None:
        def stmt(b: Backend) -> tuple[str, list[Any]]:
            where, params = _where(b, key)
            return f"DELETE FROM {b.quote_identifier(table)} WHERE {where}", params

        self._both(table, "delete", key, stmt)

    def _both(
        self, table: str, op: str, key: Mapping[str, Any],
        stmt: Callable[[Backend], tuple[str, list[Any]]],
    ) -> None:  # fmt: skip
        wrote: list[int] = []

        def old(b: Backend) -> None:
            wrote.append(b.execute([stmt(b)]).rowcounts[0])

        def new(b: Backend) -> None:
            done = b.execute([stmt(b)], lock_timeout_ms=self.lock_ms,
                             timeout_ms=max(NEW_SIDE_TIMEOUT_MS, self.lock_ms * 2))  # fmt: skip
            if done.rowcounts[0] != wrote[0]:  # e.g. the row's insert failed there earlier
                raise LookupError(f"{op} changed {done.rowcounts[0]} row(s) on the new side, "
                                  f"{wrote[0]} on the old")  # fmt: skip

        self.write(table, op, key, old, new)

    # --- the reconcile log ---------------------------------------------------------------------

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        with open(self._lock_path, "a") as fh:
            fcntl.flock(fh, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(fh, fcntl.LOCK_UN)

    def _record(self, table: str, op: str, key: Mapping[str, Any], exc: BaseException) -> None:
        line = {
            "at": dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds"),
            "table": table, "op": op, "key": {k: _plain(v) for k, v in key.items()},
            "error": redact_text(f"{type(exc).__name__}: {exc}")[:500],
        }  # fmt: skip
        self._append([line])

    def _append(self, lines: Sequence[Mapping[str, Any]]) -> None:
        if not lines:
            return
        text = "".join(json.dumps(x, sort_keys=True, default=str) + "\n" for x in lines)
        with self._locked(), open(self.log_path, "a", encoding="utf-8") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())

    def pending(self) -> list[dict[str, Any]]:
        """The failures recorded and not reconciled yet (the moved-aside ones included)."""
        out: list[dict[str, Any]] = []
        for path in [*self._aside(), self.log_path]:
            if path.exists():
                out += _read_lines(path)
        return out

    def _aside(self) -> list[Path]:
        return sorted(self.log_path.parent.glob(self.log_path.name + ".reconciling-*"))

    def reconcile(self) -> dict[str, Any]:
        """Copy every recorded key from old to new again; clear those that now succeed."""
        with self._locked():
            if self.log_path.exists():
                self.log_path.rename(self.log_path.with_name(
                    f"{self.log_path.name}.reconciling-{dt.datetime.now(dt.UTC):%Y%m%d%H%M%S%f}"
                ))  # fmt: skip
        taken = self._aside()
        entries = [e for p in taken for e in _read_lines(p)]
        todo: dict[tuple[str, str], dict[str, Any]] = {}
        for e in entries:  # one copy per key, however often it failed
            todo[(e["table"], json.dumps(e["key"], sort_keys=True))] = e
        upserted = deleted = 0
        still: list[dict[str, Any]] = []
        for e in todo.values():
            try:
                if self._copy_key(e["table"], e["key"]):
                    upserted += 1
                else:
                    deleted += 1
            except Exception as exc:  # noqa: BLE001 - kept for the next reconcile
                still.append({**e, "error": redact_text(f"{type(exc).__name__}: {exc}")[:500]})
        self._append(still)
        for p in taken:
            p.unlink()
        return {"recorded": len(entries), "keys": len(todo), "upserted": upserted,
                "deleted": deleted, "still_failing": still}  # fmt: skip

    def _copy_key(self, table: str, key: Mapping[str, Any]) -> bool:
        """The old side's row for `key` written to the new side (True), or the key deleted
        there when the old side has no such row (False)."""
        if self.new.documents:
            raise UserInputError(
                "reconcile copies rows between SQL databases; a MongoDB side is kept by the "
                "change-data-capture applier",
                hint="Reconcile to MongoDB with the sync engine.",
            )
        cols = self._columns.get(table)
        if cols is None:
            cols = [c.name for c in self.old.inspect(tables=[table]).tables[0].columns]
            self._columns[table] = cols
        where, params = _where(self.old, key)
        q = self.old.quote_identifier
        rows = self.old.fetch(
            f"SELECT {', '.join(map(q, cols))} FROM {q(table)} WHERE {where}", params
        )
        if not rows:
            where, params = _where(self.new, key)
            self.new.execute([(f"DELETE FROM {self.new.quote_identifier(table)} WHERE {where}",
                               params)], lock_timeout_ms=self.lock_ms)  # fmt: skip
            return False
        with self.new.bulk_writer(table, cols, list(key)) as w:
            refused = w.write(rows, replace=True)
        if refused:
            raise RuntimeError(refused[0].error)
        return True


def _where(b: Backend, key: Mapping[str, Any]) -> tuple[str, list[Any]]:
    if not key:
        raise UserInputError("a dual write needs the row's key", hint="e.g. key={'id': 42}")
    parts = [f"{b.quote_identifier(k)} = {b.placeholder}" for k in key]
    return " AND ".join(parts), list(key.values())


def _plain(value: Any) -> Any:
    return value if isinstance(value, int | str | float | bool) or value is None else str(value)


def _read_lines(path: Path) -> list[dict[str, Any]]:
    out = []
    for line in path.read_text(encoding="utf-8").splitlines():
        with contextlib.suppress(json.JSONDecodeError):  # a torn last line of a crash
            out.append(json.loads(line))
    return out
