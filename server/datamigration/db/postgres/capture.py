"""Change data capture from PostgreSQL with logical decoding, read over plain SQL.

psycopg 3 speaks no replication protocol, so the capture reads its slot with
`pg_logical_slot_peek_binary_changes` (pgoutput, protocol 1; decoded by `pgoutput`) and lets go
of what the target holds with `pg_replication_slot_advance`. Peeking never consumes: a crash
before `ack` replays from the slot's confirmed position, never skips.

Positions: `(end LSN of the commit record, index in the transaction)`. The end LSN, not the
commit record's start, because the slot skips a transaction only when its commit starts before
the confirmed position: advancing to the end lets go of that transaction and nothing after it.

Each peek decodes from the confirmed position again, so this object remembers the transactions
it returned but that were not acknowledged yet and skips them (by their Begin's final LSN,
without loading their rows); a new object (after a crash) starts again from the slot.

A primary-key change is two events, as Debezium emits it: a delete of the old key and a create
of the new one, so an applier that writes by key needs no special case.
"""

from __future__ import annotations

import contextlib
import gc
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import psycopg

from datamigration.db.capture import CAPTURE_PREFIX, ChangeCapture, valid_run
from datamigration.db.change_events import UNAVAILABLE, ChangeEvent, Position
from datamigration.db.postgres import capture_catalog as catalog
from datamigration.db.postgres import pgoutput as pgo
from datamigration.db.postgres.connection import split_name
from datamigration.db.trigger_capture import drop_trigger_leftovers, trigger_leftovers
from datamigration.errors import DatabaseError, UserInputError

_PEEK = (
    "SELECT data FROM pg_logical_slot_peek_binary_changes(%s, NULL, %s, "
    "'proto_version', '1', 'publication_names', %s{messages})"
)
#: the prefix of the logical decoding message an idle capture writes to move its slot on
HEARTBEAT_PREFIX = "dm_sync"
_B, _C, _R, _I, _U, _D, _T = (ord(c) for c in "BCRIUDT")
#: how long teardown waits for a session still reading the slot to end after terminating it
TEARDOWN_WAIT_S = 10.0


@dataclass(frozen=True)
class _Tx:
    """A transaction this object returned and the target has not acknowledged yet."""

    final_lsn: int
    end_lsn: int
    events: int
    commit_ts_ms: int
    rows: int  # pgoutput messages it took (to size the next peek)


class LogicalCapture(ChangeCapture):
    """A publication and a pgoutput slot, both named `dm_sync_<run>` (`_pub` for the
    publication), read over SQL (see the module docstring)."""

    method = "logical"
    #: WAL a quiet capture lets its slot hold before it writes a heartbeat (see `_heartbeat`)
    idle_advance_bytes = 16 * 2**20

    def __init__(self, backend: Any, name: str, tables: Sequence[str]) -> None:
        super().__init__(backend, valid_run(name), tables)
        self.slot = CAPTURE_PREFIX + self.name
        self.publication = f"{self.slot}_pub"
        self._facts: dict[int, catalog.TableFacts] | None = None
        self._loader: pgo.RowLoader | None = None
        self._pending: list[_Tx] = []
        self._exhausted = False
        self._held_pid: int | None = None
        #: pgoutput messages per change in the last read (Begin, Commit, Relation included),
        #: to size the next peek so that one peek usually holds `limit` changes
        self._rows_per_event = 3.0
        self._messages: bool | None = None

    # --- prepare ---------------------------------------------------------------------------

    def prepare(self) -> dict[str, Any]:
        """Check the server and the tables, then create the publication and the slot (before
        the caller's snapshot copy, so nothing written during the copy is missed). The same
        run with the same tables reuses what exists (a restart); anything else is refused."""
        settings = catalog.check_settings(self.backend)
        facts = self._table_facts()
        oids = {f.oid for f in facts.values()}
        existing = catalog.check_existing(self.backend, self.slot, self.publication, oids)
        self._hold()
        if not existing["publication"]:
            self._create_publication(list(facts.values()))
        start = None
        if not existing["slot"]:
            start = self.backend.fetch(
                "SELECT lsn::text FROM pg_create_logical_replication_slot(%s, 'pgoutput')",
                (self.slot,),
            )[0][0]
        return {
            "method": self.method,
            "slot": self.slot,
            "publication": self.publication,
            "reused": existing["slot"],
            "start_lsn": start,
            "tables": {
                f.given: {"key": list(f.key), "replica_identity": _IDENTITY[f.identity]}
                for f in facts.values()
            },
            "toast_warnings": catalog.toast_warnings(list(facts.values())),
            **settings,
        }

    def _table_facts(self) -> dict[int, catalog.TableFacts]:
        if self._facts is None:
            found = [catalog.table_facts(self.backend, t) for t in self.tables]
            self._facts = {f.oid: f for f in found}
        return self._facts

    def _create_publication(self, facts: list[catalog.TableFacts]) -> None:
        conn = self.backend.conn
        names = ", ".join(split_name(f"{f.schema}.{f.name}").as_string(conn) for f in facts)
        via_root = " WITH (publish_via_partition_root = true)" if any(
            f.partitioned for f in facts
        ) else ""  # fmt: skip
        self.backend.execute(
            [f'CREATE PUBLICATION "{self.publication}" FOR TABLE {names}{via_root}']
        )

    def _hold(self) -> None:
        """Take (once per session) the advisory lock that says a live sync owns this capture."""
        pid = self.backend.conn.info.backend_pid
        if self._held_pid == pid:
            return
        lock = f"SELECT pg_try_advisory_lock(%s, {catalog.LOCK_KEY_SQL})"
        args = (catalog.LOCK_CLASS, self.slot)
        for _ in range(3):
            if self.backend.fetch(lock, args)[0][0]:
                self._held_pid = pid
                return
            catalog.refuse_if_held(self.backend, self.slot)  # waits out a killed sync's read
        raise catalog.CaptureRefusedError(
            f"capture {self.slot} is taken by other sessions again and again",
            hint="Stop the other syncs of this run first.",
        )

    # --- read ------------------------------------------------------------------------------

    def read(self, limit: int = 10_000) -> list[ChangeEvent]:
        """Up to about `limit` events after what this object returned, whole transactions
        only (the last one may take it past `limit`), in commit order."""
        limit = max(1, int(limit))
        self._hold()
        returned = sum(t.events for t in self._pending)
        want = sum(t.rows for t in self._pending) + int(limit * self._rows_per_event) + 16
        while True:
            rows = self._peek(want)
            if len(rows) < want or _changes_in(rows) - returned >= limit:
                break
            want *= 2
        with _without_cyclic_gc():
            done = self._decode(rows, limit)
        got = sum(t.events for t, _ in done)
        if got:
            self._rows_per_event = max(1.0, sum(t.rows for t, _ in done) / got)
        self._exhausted = len(rows) < want and got < limit
        self._pending.extend(t for t, _ in done)
        self._skip_empty()
        if not got and not self._pending and self._exhausted:
            self._heartbeat()
        return [e for _, events in done for e in events]

    def _skip_empty(self) -> None:
        """Move the slot past transactions without a change for us at the head of what is
        unacknowledged (everything before them is acknowledged): other tables' transactions
        on PostgreSQL 14 and older, logical decoding messages, the heartbeat."""
        target = None
        while self._pending and self._pending[0].events == 0:
            target = self._pending.pop(0).end_lsn
        if target is not None:
            self._advance(target)

    def _heartbeat(self) -> None:
        """A quiet capture of a busy database: the slot holds back WAL that has no change for
        it. Past `idle_advance_bytes`, write a logical decoding message in a transaction of
        its own; the next read sees that (empty) transaction and moves the slot past it, as
        Debezium's heartbeat does."""
        if not self._messages:
            return
        rows = self.backend.fetch(
            "SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), confirmed_flush_lsn) > %s "
            "FROM pg_replication_slots WHERE slot_name = %s",
            (self.idle_advance_bytes, self.slot),
        )
        if rows and rows[0][0]:
            self.backend.fetch(
                "SELECT pg_logical_emit_message(true, %s, %s)", (HEARTBEAT_PREFIX, self.slot)
            )

    def _peek(self, n: int) -> list[tuple[bytes]]:
        try:
            with self.backend.conn.cursor(binary=True) as cur:
                self.backend._run(cur, self._peek_sql(), (self.slot, n, self.publication))
                return cur.fetchall()
        except psycopg.Error as exc:
            error = self.backend._fail(exc, f"read the changes of slot {self.slot}")
        raise error

    def _peek_sql(self) -> str:
        """Logical decoding messages (PostgreSQL 14+) are asked for so that the heartbeat's
        transaction reaches the capture, which then moves the slot past it (`_heartbeat`)."""
        if self._messages is None:
            self._messages = self.backend.conn.info.server_version >= 140000
        return _PEEK.format(messages=", 'messages', 'true'" if self._messages else "")

    def _row_loader(self) -> pgo.RowLoader:
        if self._loader is None:
            oids = self.backend.fetch(
                "SELECT DISTINCT atttypid::bigint FROM pg_attribute WHERE attrelid = "
                "ANY(%s::oid[]) AND attnum > 0",
                (list(self._table_facts()),),
            )
            domains = catalog.base_types(self.backend, [o for (o,) in oids])
            catalog.check_encoding(self.backend)
            self._loader = pgo.RowLoader(self.backend.conn, domains)
        return self._loader

    def _decode(self, rows: list[tuple[bytes]], limit: int) -> list[tuple[_Tx, list[ChangeEvent]]]:
        """Whole transactions from the peeked messages, skipping those returned already."""
        facts, loader = self._table_facts(), self._row_loader()
        seen = self._pending[-1].final_lsn if self._pending else -1
        relations: dict[int, pgo.Relation] = {}
        out: list[tuple[_Tx, list[ChangeEvent]]] = []
        total, begin, skip, changes, n = 0, None, True, [], 0
        db = self.backend.url.database
        for (data,) in rows:
            kind = data[0]
            n += 1
            if kind == _B:
                if total >= limit:
                    break
                begin = pgo.begin_fields(data)
                skip, changes, n = begin[0] <= seen, [], 1
            elif kind == _R:
                rel = pgo.parse(data)
                relations[rel.id] = rel
                loader.forget(rel.id)
            elif kind == _C and begin is not None:
                if not skip:
                    _, _, end_lsn, ts_us = pgo.commit_fields(data)
                    ts = pgo.unix_ms(ts_us)
                    events = _events(db, end_lsn, ts, begin[2], changes)
                    out.append((_Tx(begin[0], end_lsn, len(events), ts, n), events))
                    total += len(events)
                begin = None
            elif not skip and kind in _CHANGE_KINDS:
                changes.extend(_changes(pgo.parse(data), relations, facts, loader))
        return out

    # --- ack, position, lag ----------------------------------------------------------------

    def ack(self, position: Position) -> None:
        """Let the slot go of every transaction wholly at or before `position`: to the end of
        the last such transaction this object returned (a position inside a transaction keeps
        that transaction), or to the position's LSN when this object did not return it (a
        position the target stored before a restart)."""
        lsn, index = int(position[0]), int(position[1])
        target: int | None = None
        for tx in self._pending:
            if tx.end_lsn < lsn or (tx.end_lsn == lsn and index >= tx.events - 1):
                target = tx.end_lsn
            elif tx.events == 0 and (target is not None or tx is self._pending[0]):
                target = tx.end_lsn  # an empty transaction right after what was applied
            else:
                break
        if not self._pending or lsn > self._pending[-1].end_lsn:
            target = lsn
        if target is None:
            return
        self._advance(target)
        self._pending = [t for t in self._pending if t.end_lsn > target]

    def _advance(self, target: int) -> None:
        confirmed = self._confirmed()
        if confirmed is None or target > confirmed:
            self.backend.fetch(
                "SELECT pg_replication_slot_advance(%s, %s::pg_lsn)",
                (self.slot, pgo.lsn_text(target)),
            )

    def _confirmed(self) -> int | None:
        rows = self.backend.fetch(
            "SELECT confirmed_flush_lsn::text FROM pg_replication_slots WHERE slot_name = %s",
            (self.slot,),
        )
        if not rows:
            raise DatabaseError(
                f"replication slot {self.slot} is gone",
                hint="The capture was torn down (or its slot dropped by hand): start the sync "
                "again with a new snapshot copy.",
            )
        return pgo.lsn_int(rows[0][0]) if rows[0][0] else None

    def current_position(self) -> Position:
        """The WAL insert position: every transaction committed before this call has an
        event position at or below it."""
        text = self.backend.fetch("SELECT pg_current_wal_insert_lsn()::text")[0][0]
        return (pgo.lsn_int(text), 0)

    def lag(self) -> dict[str, Any]:
        """WAL bytes the slot still holds for us, the age of the oldest unacknowledged change
        by the server's clock, and the pending events this object knows of (exact when its
        last read reached the end of the stream)."""
        row = self.backend.fetch(
            "SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), confirmed_flush_lsn)::bigint, "
            "(extract(epoch FROM clock_timestamp()) * 1000)::bigint "
            "FROM pg_replication_slots WHERE slot_name = %s",
            (self.slot,),
        )
        if not row:
            self._confirmed()  # refuses: the slot is gone
        lag_bytes, now_ms = row[0]
        oldest = next((t.commit_ts_ms for t in self._pending if t.events), None)
        if oldest is None and lag_bytes and not self._exhausted:
            # after a read that reached the end, anything unread is younger than that read:
            # the sync loop calls lag() after every read, so this peek is rarely needed
            oldest = self._oldest_unread()
        seconds = 0.0 if oldest is None else max(0.0, (now_ms - oldest) / 1000)
        pending = sum(t.events for t in self._pending)
        return {
            "bytes": None if lag_bytes is None else int(lag_bytes),
            "seconds": round(seconds, 3),
            "events": pending if self._exhausted else None,
        }

    def _oldest_unread(self) -> int | None:
        """Commit time of the first transaction with changes after what this object returned."""
        seen = self._pending[-1].final_lsn if self._pending else -1
        begin_ms = None
        for (data,) in self._peek(sum(t.rows for t in self._pending) + 1):
            if data[0] == _B:
                begin = pgo.parse(data)
                begin_ms = None if begin.final_lsn <= seen else pgo.unix_ms(begin.commit_ts_us)
            elif data[0] in _CHANGE_KINDS and begin_ms is not None:
                return begin_ms
        return None

    # --- teardown --------------------------------------------------------------------------

    def teardown(self) -> None:
        """Drop the slot (ending a session still reading it) and the publication; nothing to
        drop is fine."""
        deadline = time.monotonic() + TEARDOWN_WAIT_S
        own = self.backend.conn.info.backend_pid
        while True:
            rows = self.backend.fetch(
                "SELECT active_pid FROM pg_replication_slots WHERE slot_name = %s", (self.slot,)
            )
            if not rows:
                break
            pid = rows[0][0]
            if pid and pid != own:
                self.backend.fetch("SELECT pg_terminate_backend(%s)", (pid,))
            try:
                self.backend.fetch("SELECT pg_drop_replication_slot(%s)", (self.slot,))
                break
            except DatabaseError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)  # the terminated session is still letting go of the slot
        self.backend.execute([f'DROP PUBLICATION IF EXISTS "{self.publication}"'])
        if self._held_pid == own:
            with contextlib.suppress(DatabaseError):
                self.backend.fetch(
                    f"SELECT pg_advisory_unlock(%s, {catalog.LOCK_KEY_SQL})",
                    (catalog.LOCK_CLASS, self.slot),
                )
        self._held_pid = None
        self._pending = []


def _events(
    db: str | None, end_lsn: int, ts: int, xid: int, changes: list[tuple[Any, ...]]
) -> list[ChangeEvent]:
    """One transaction's changes as events at (its commit's end LSN, index)."""
    return [
        ChangeEvent(
            op=op,
            table=table,
            key=key,
            before=before,
            after=after,
            position=(end_lsn, i),
            commit_ts_ms=ts,
            tx_id=xid,
            source={
                "db": db,
                "schema": schema,
                "table": name,
                "lsn": end_lsn,
                "txId": xid,
                "ts_ms": ts,
            },
        )
        for i, (op, table, schema, name, key, before, after) in enumerate(changes)
    ]


@contextlib.contextmanager
def _without_cyclic_gc() -> Iterator[None]:
    """Decoding builds a few small dicts and tuples per change, tens of thousands per read;
    Python's cyclic collector then walks them again and again while they are built (nearly
    2x the decode time, measured). None of them form cycles, so reference counting frees
    them alike; the collector is switched back on after the read (process-wide, so a thread
    reading at the same time only runs slower, never wrong)."""
    was_on = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_on:
            gc.enable()


def _changes_in(rows: list[tuple[bytes]]) -> int:
    """Change messages among peeked rows (their first byte), without decoding them."""
    return sum(1 for (data,) in rows if data[0] in _CHANGE_KINDS)


_CHANGE_KINDS = frozenset((_I, _U, _D, _T))
_IDENTITY = {"d": "default", "f": "full", "i": "index", "n": "nothing"}


def _changes(
    msg: Any,
    relations: dict[int, pgo.Relation],
    facts: dict[int, catalog.TableFacts],
    loader: pgo.RowLoader,
) -> list[tuple[Any, ...]]:
    """One decoded change as (op, table, schema, name, key, before, after) tuples."""
    if isinstance(msg, pgo.Truncate):
        return [_named(relations[r], facts, "t", {}, None, None) for r in msg.relation_ids]
    rel = relations.get(msg.relation_id)
    if rel is None:
        raise pgo._bad(f"a change of relation {msg.relation_id} came before its description")
    key_cols = _key_columns(rel, facts)
    if isinstance(msg, pgo.Insert):
        after = loader.row(rel, msg.new)
        return [_named(rel, facts, "c", _pick(after, key_cols), None, after)]
    if isinstance(msg, pgo.Delete):
        before = _old_row(loader.row(rel, msg.old), msg.old_kind, rel)
        return [_named(rel, facts, "d", _pick(before, key_cols), before, None)]
    after = loader.row(rel, msg.new)
    before = None if msg.old is None else _old_row(loader.row(rel, msg.old), msg.old_kind, rel)
    if before is not None and msg.old_kind == "O":
        for col, value in after.items():  # FULL: the old row has what the new one left out
            if value is UNAVAILABLE and before.get(col) is not UNAVAILABLE:
                after[col] = before.get(col)
    new_key = _pick(after, key_cols)
    if before is not None:
        old_key = _pick(before, key_cols)
        if any(v is UNAVAILABLE for v in new_key.values()):
            new_key = old_key
        elif old_key != new_key:
            return [_named(rel, facts, "d", old_key, before, None),
                    _named(rel, facts, "c", new_key, None, after)]  # fmt: skip
    return [_named(rel, facts, "u", new_key, before, after)]


def _old_row(row: dict[str, Any], kind: str | None, rel: pgo.Relation) -> dict[str, Any]:
    """A 'K' tuple carries only the replica identity's columns (the rest are NULL there)."""
    if kind == "K":
        return {c.name: row[c.name] for c in rel.columns if c.key}
    return row


def _key_columns(rel: pgo.Relation, facts: dict[int, catalog.TableFacts]) -> tuple[str, ...]:
    found = facts.get(rel.id)
    if found is not None:
        return found.key
    return tuple(c.name for c in rel.columns if c.key)


def _pick(row: dict[str, Any], columns: tuple[str, ...]) -> dict[str, Any]:
    return {c: row.get(c) for c in columns}


def _named(
    rel: pgo.Relation,
    facts: dict[int, catalog.TableFacts],
    op: str,
    key: dict[str, Any],
    before: dict[str, Any] | None,
    after: dict[str, Any] | None,
) -> tuple[Any, ...]:
    found = facts.get(rel.id)
    table = found.given if found is not None else f"{rel.schema}.{rel.name}"
    return (op, table, rel.schema, rel.name, key, before, after)


class PostgresCaptureSupport:
    """The PostgreSQL backend's side of change capture (mixed into `PostgresBackend`)."""

    capture_methods = ("logical", "trigger")

    def logical_decoding_on(self) -> bool:
        rows = self.fetch("SELECT current_setting('wal_level')")  # type: ignore[attr-defined]
        return bool(rows) and rows[0][0] == "logical"

    def change_capture(
        self, name: str, tables: Sequence[str], method: str = "auto"
    ) -> ChangeCapture:
        """Logical decoding when `wal_level` is logical (`auto` or `logical`; `logical` on a
        server without it is refused with the fix), else triggers."""
        if method not in ("auto", "logical", "trigger"):
            raise UserInputError(
                f"capture method {str(method)[:40]!r} is not one PostgreSQL offers",
                hint="Use auto, logical or trigger.",
            )
        if method == "logical" or (method == "auto" and self.logical_decoding_on()):
            if method == "logical":
                catalog.check_settings(self)
            return LogicalCapture(self, name, tables)
        # the trigger capture (helper `triggers`); imported here so the logical path never
        # depends on it
        from datamigration.db.postgres.trigger_capture import PostgresTriggerCapture

        return PostgresTriggerCapture(self, name, tables)

    def capture_leftovers(self) -> list[dict[str, Any]]:
        """Slots and publications named `dm_sync_*` (with `live`: a running sync holds them),
        then the trigger captures' objects."""
        return catalog.leftovers(self) + list(trigger_leftovers(self))

    def drop_capture_leftovers(self, run: str) -> list[str]:
        """Remove run `run`'s slot, publication and trigger objects."""
        run = valid_run(run)
        mine = [x["name"] for x in catalog.leftovers(self) if x["run"] == run]
        LogicalCapture(self, run, ()).teardown()
        return mine + list(drop_trigger_leftovers(self, run))
