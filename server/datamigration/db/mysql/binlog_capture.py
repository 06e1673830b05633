"""MariaDB/MySQL change capture from the row binlog (`log_bin=ON`, `binlog_format=ROW`), read
with the `mysql-replication` package as a replica would, instead of triggers: the application's
writes pay nothing more than the binlog they already write.

The server keeps no reader position for us (there is no slot), so the capture keeps its own:
one row in `dm_sync_<run>_binlog` on the source holds the binlog file and offset after the last
acknowledged transaction. `read` starts there (or after what this object already returned),
reads without blocking up to the end of the binlog, and returns whole committed transactions
only (events are held until their XID, or COMMIT for a non-transactional table). A crash
replays from the acknowledged offset; `ack` moves it. Positions are Debezium's binlog encoding
`(file number << 40 | end offset of the commit, index in the transaction)`, so they grow along
the stream, across file rotations too.

Preconditions `prepare` checks, each refused with the statement that fixes it:
`binlog_row_image=FULL` (before images of every column), `binlog_row_metadata=FULL` (column
names and character sets in the binlog, MariaDB 10.5+ / MySQL 8.0; without them the reader
cannot name columns), the REPLICATION SLAVE/CLIENT grants (the server refuses otherwise).
A binlog purged before it was read is refused at `read`, not skipped: the gap cannot be filled.

Values: the reader decodes the binlog into the Python values PyMySQL gives (Decimal, datetime,
timedelta, bytes, str) except TIMESTAMP (turned into the reader's local time as a SELECT on the
backend's connection shows it), BIT (bytes, as PyMySQL returns them) and a negative TIME with a
fraction (which the reader gets wrong).
"""

from __future__ import annotations

import datetime as dt
import random
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from datamigration.db.capture import CAPTURE_PREFIX, ChangeCapture
from datamigration.db.change_events import ChangeEvent, Position
from datamigration.db.model import Table
from datamigration.db.mysql.trigger_capture import Instant, resolve_instants
from datamigration.db.trigger_capture import (
    TriggerCaptureSupport,
    describe_tables,
    drop_trigger_leftovers,
    valid_run,
)
from datamigration.errors import DatabaseError, UserInputError

_EPOCH = dt.datetime(1970, 1, 1)
_OFFSET_BITS = 40
_SETTINGS = (
    "SELECT @@log_bin, @@binlog_format, @@binlog_row_image, "
    "COALESCE(@@binlog_row_metadata, 'MINIMAL')"
)


def binlog_ready(backend: Any) -> list[str]:
    """What keeps this server from binlog capture, as fixes to run (empty: ready)."""
    try:
        import pymysqlreplication  # noqa: F401
    except ImportError:
        return ["pip install mysql-replication (the binlog reader)"]
    try:
        log_bin, fmt, image, metadata = backend.fetch(_SETTINGS)[0]
    except DatabaseError:
        return ["a server with binlog_row_metadata (MariaDB 10.5+, MySQL 8.0)"]
    fixes = []
    if str(log_bin) not in ("1", "ON"):
        fixes.append("start the server with log_bin=ON (a restart) and binlog_format=ROW")
    elif str(fmt).upper() != "ROW":
        fixes.append("SET GLOBAL binlog_format = 'ROW' (and in the server's configuration)")
    if str(log_bin) in ("1", "ON") and str(image).upper() != "FULL":
        fixes.append("SET GLOBAL binlog_row_image = 'FULL'")
    if str(log_bin) in ("1", "ON") and str(metadata).upper() != "FULL":
        fixes.append("SET GLOBAL binlog_row_metadata = 'FULL'")
    return fixes


def _negative_fraction_fixed(value: dt.timedelta) -> dt.timedelta:
    """mysql-replication 1.0 reads a negative TIME with a fraction one second and a fraction
    off (-12:30:00.250 as -12:30:00.750: it undoes the two's complement of the whole seconds
    only); put it right."""
    micros = -(value // dt.timedelta(microseconds=1))
    if micros <= 0 or micros % 1_000_000 == 0:
        return value
    whole = -(-micros // 1_000_000) * 1_000_000
    return -dt.timedelta(microseconds=2 * whole - 1_000_000 - micros)


def encode(file: str, offset: int) -> int:
    number = file.rsplit(".", 1)[-1]
    return (int(number) if number.isdigit() else 0) << _OFFSET_BITS | int(offset)


class BinlogCapture(ChangeCapture):
    """The row binlog read as a replica (see the module docstring)."""

    method = "binlog"

    def __init__(self, backend: Any, name: str, tables: Sequence[str]) -> None:
        super().__init__(backend, valid_run(name), tables)
        self.state_table = f"{CAPTURE_PREFIX}{self.name}_binlog"
        self._described: dict[str, Table] | None = None
        self._keys: dict[str, tuple[str, ...]] = {}
        #: (position of a transaction's last event, binlog file, end offset) of what was
        #: returned and not acknowledged, oldest first
        self._returned: list[tuple[Position, str, int]] = []
        self._next: tuple[str, int] | None = None

    # --- prepare ---------------------------------------------------------------------------

    def prepare(self) -> dict[str, Any]:
        fixes = binlog_ready(self.backend)
        if fixes:
            raise UserInputError(
                "the binlog cannot be read for change capture: " + "; ".join(fixes),
                hint="Run: " + "; ".join(fixes) + ". Or capture with triggers (method trigger).",
                fixes=fixes,
            )
        self._describe()
        q = self.backend.quote_part
        create = (
            f"CREATE TABLE IF NOT EXISTS {q(self.state_table)} (id TINYINT PRIMARY KEY, "
            "tables_json TEXT NOT NULL, log_file VARCHAR(255) NOT NULL, log_pos BIGINT NOT NULL, "
            "updated_at TIMESTAMP(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6))"
        )
        self.backend.execute([create])
        tables = ",".join(sorted(self.tables))
        rows = self.backend.fetch(
            f"SELECT tables_json, log_file, log_pos FROM {q(self.state_table)}"
        )
        if rows and rows[0][0] != tables:
            raise UserInputError(
                f"run {self.name!r} already captures {rows[0][0]}, not {tables}",
                hint="Use another run name, or stop that run first (sync stop).",
                run=self.name,
            )
        if not rows:
            file, offset = self._master()
            insert = (
                f"INSERT INTO {q(self.state_table)} (id, tables_json, log_file, log_pos) "
                "VALUES (1, %s, %s, %s)"
            )
            self.backend.execute([(insert, (tables, file, offset))])
        else:
            file, offset = str(rows[0][1]), int(rows[0][2])
        return {
            "method": self.method,
            "position_table": self.state_table,
            "reused": bool(rows),
            "start": {"file": file, "pos": offset},
            "tables": {t: {"key": list(self._keys[t])} for t in self.tables},
        }

    def _describe(self) -> dict[str, Table]:
        if self._described is None:
            self._described, self._keys = describe_tables(self.backend, self.tables)
        return self._described

    def _master(self) -> tuple[str, int]:
        row = self.backend.fetch("SHOW MASTER STATUS")
        if not row:
            raise UserInputError(
                "the server writes no binlog", hint="Start it with log_bin=ON, or use triggers."
            )
        return str(row[0][0]), int(row[0][1])

    def _acked(self) -> tuple[str, int]:
        q = self.backend.quote_part
        rows = self.backend.fetch(f"SELECT log_file, log_pos FROM {q(self.state_table)}")
        if not rows:
            raise UserInputError(
                f"run {self.name!r} has no binlog position on {self.backend.label}",
                hint="Prepare the capture first (sync start).",
            )
        return str(rows[0][0]), int(rows[0][1])

    # --- reading ---------------------------------------------------------------------------

    @contextmanager
    def _stream(self, start: tuple[str, int]) -> Iterator[Any]:
        from pymysqlreplication import BinLogStreamReader
        from pymysqlreplication.event import QueryEvent, XidEvent
        from pymysqlreplication.row_event import DeleteRowsEvent, UpdateRowsEvent, WriteRowsEvent

        self._check_retained(start[0])
        u = self.backend.url
        stream = BinLogStreamReader(
            connection_settings={"host": u.host or "127.0.0.1", "port": u.port or 3306,
                                 "user": u.username or "root", "password": u.password or ""},
            server_id=random.randint(100_000, 2**31 - 1), blocking=False, resume_stream=True,
            log_file=start[0], log_pos=start[1], only_schemas=[u.database],
            only_events=[WriteRowsEvent, UpdateRowsEvent, DeleteRowsEvent, XidEvent, QueryEvent],
            is_mariadb=False,
        )  # fmt: skip
        try:
            yield stream
        finally:
            stream.close()

    def _check_retained(self, file: str) -> None:
        logs = [str(r[0]) for r in self.backend.fetch("SHOW BINARY LOGS")]
        if file not in logs:
            raise DatabaseError(
                f"binlog {file}, where run {self.name!r} must go on reading, is gone (purged)",
                hint="Changes after it are lost to this capture: stop the run (sync stop) and "
                "start it again (a new snapshot copy); keep binlogs longer "
                "(binlog_expire_logs_seconds) for the next run.",
                file=file,
            )

    def _transactions(self, start: tuple[str, int]) -> Iterator[tuple[list[Any], str, int, int]]:
        """(row events of our tables, binlog file, end offset, commit time) per committed
        transaction from `start` to the end of the binlog."""
        wanted = {t.rpartition(".")[2]: t for t in self.tables}
        with self._stream(start) as stream:
            pending: list[Any] = []
            for ev in stream:
                kind = type(ev).__name__
                if kind == "QueryEvent":
                    if ev.query.strip().upper() != "COMMIT":
                        continue
                elif kind != "XidEvent":
                    if ev.table in wanted:
                        pending.extend((wanted[ev.table], kind, row) for row in ev.rows)
                    continue
                yield pending, stream.log_file, int(ev.packet.log_pos), int(ev.timestamp)
                pending = []

    def read(self, limit: int = 10_000) -> list[ChangeEvent]:
        """Whole transactions from where this object stopped (or the acknowledged offset),
        until `limit` events are reached (a transaction is never cut) or the binlog ends."""
        self._describe()
        start = self._next or self._acked()
        out: list[ChangeEvent] = []
        for rows, file, end, ts in self._transactions(start):
            self._next = (file, end)
            commit = encode(file, end)
            events = [e for i, (table, kind, row) in enumerate(rows)
                      for e in self._events(table, kind, row, commit, i, ts, file, end)]  # fmt: skip
            if events:
                out.extend(events)
                self._returned.append((events[-1].position, file, end))
            if len(out) >= limit:
                break
        self._finish(out)
        return out

    def _events(
        self, table: str, kind: str, row: dict[str, Any], commit: int, index: int, ts: int,
        file: str, end: int,
    ) -> list[ChangeEvent]:  # fmt: skip
        key = self._keys[table]
        source = {"db": self.backend.url.database, "table": table, "file": file, "pos": end,
                  "method": self.method}  # fmt: skip

        def event(op: str, part: int, before: Any, after: Any) -> ChangeEvent:
            found = after if after is not None else before
            return ChangeEvent(op=op, table=table, key={c: found[c] for c in key},
                               before=before, after=after, position=(commit, 2 * index + part),
                               commit_ts_ms=ts * 1000, source=source)  # fmt: skip

        if kind == "WriteRowsEvent":
            return [event("c", 1, None, dict(row["values"]))]
        if kind == "DeleteRowsEvent":
            return [event("d", 1, dict(row["values"]), None)]
        before, after = dict(row["before_values"]), dict(row["after_values"])
        if any(before[c] != after[c] for c in key):
            return [event("d", 0, before, None), event("c", 1, None, after)]
        return [event("u", 1, before, after)]

    def _finish(self, events: list[ChangeEvent]) -> None:
        """TIMESTAMP and BIT values as PyMySQL's SELECT gives them."""
        described = self._describe()
        rows = []
        for e in events:
            table = described[e.table]
            for values in (e.before, e.after):
                if values is None:
                    continue
                for c in table.columns:
                    v = values.get(c.name)
                    if v is None:
                        continue
                    if c.type_name == "timestamp" and isinstance(v, dt.datetime):
                        values[c.name] = Instant(  # type: ignore[index]
                            (v - _EPOCH) // dt.timedelta(microseconds=1) / 1_000_000
                        )
                    elif c.type_name == "time" and isinstance(v, dt.timedelta):
                        values[c.name] = _negative_fraction_fixed(v)  # type: ignore[index]
                    elif c.type_name == "bit" and isinstance(v, str):
                        size = max(1, ((c.length or 1) + 7) // 8)
                        values[c.name] = int(v, 2).to_bytes(size, "big")  # type: ignore[index]
                rows.append(values)
        resolve_instants(self.backend, rows)  # type: ignore[arg-type]

    # --- positions, ack, lag, teardown -----------------------------------------------------

    def ack(self, position: Position) -> None:
        """Move the stored offset to the end of the last returned transaction that is whole
        at or before `position` (a transaction acknowledged in part is read again)."""
        done = [r for r in self._returned if r[0] <= tuple(position)]
        if not done:
            return
        _, file, end = done[-1]
        self._returned = self._returned[len(done) :]
        q = self.backend.quote_part
        update = (
            f"UPDATE {q(self.state_table)} SET log_file = %s, log_pos = %s, "
            "updated_at = CURRENT_TIMESTAMP(6) WHERE id = 1"
        )
        self.backend.execute([(update, (file, end))])

    def current_position(self) -> Position:
        """The last captured change committed before this call (scanning the binlog from where
        this object stopped, keeping nothing): once `read` has returned it, everything
        committed before the call has been returned. What this object returned last when
        nothing new touched the captured tables; (0, 0) when it returned nothing."""
        last = self._returned[-1][0] if self._returned else (0, 0)
        for rows, file, end, _ in self._transactions(self._next or self._acked()):
            if rows:
                last = (encode(file, end), 2 * len(rows) - 1)
        return last

    def lag(self) -> dict[str, Any]:
        """Binlog bytes after the acknowledged offset; the age of the first captured change
        after it (reading the binlog up to it)."""
        file, offset = self._acked()
        sizes = [(str(r[0]), int(r[1])) for r in self.backend.fetch("SHOW BINARY LOGS")]
        total = sum(size for name, size in sizes if name >= file) - offset
        seconds: float | None = 0.0
        for rows, _, _, ts in self._transactions((file, offset)):
            if rows:
                seconds = round(max(0.0, dt.datetime.now(dt.UTC).timestamp() - ts), 3)
                break
        pending = seconds != 0.0 or self._returned
        return {"bytes": max(0, total), "events": None if pending else 0, "seconds": seconds}

    def teardown(self) -> None:
        drop_trigger_leftovers(self.backend, self.name)


class MySQLCaptureSupport(TriggerCaptureSupport):
    """The backend side: the binlog where the server writes a row binlog (`auto`), else
    triggers."""

    capture_methods = ("binlog", "trigger")

    def change_capture(
        self, name: str, tables: Sequence[str], method: str = "auto"
    ) -> ChangeCapture:
        if method == "binlog" or (method == "auto" and not binlog_ready(self)):
            return BinlogCapture(self, name, tables)
        return super().change_capture(name, tables, "trigger" if method == "auto" else method)
