"""Change capture with row triggers writing to a change table: the part every database shares.

Where the server offers no log to read (PostgreSQL without `wal_level=logical`, MariaDB/MySQL
without a row binlog, SQLite), an AFTER INSERT/UPDATE/DELETE trigger on each captured table
writes one row per changed row into `dm_sync_<run>_changes` (id, batch, tbl, op, row_key,
before_row, after_row, tx_id, captured_at). Each package's `trigger_capture.py` holds the
dialect's text; this module holds the protocol: key checks, the change table's reading,
acknowledging, lag, teardown and finding leftovers.

Why the reader stamps batches. A change row's id is drawn when the trigger inserts it, not when
its transaction commits, so a transaction that began writing earlier can commit later with a
lower id than rows already read. Reading "ids after the last one returned" would skip it, and
acknowledging "ids up to N" would delete it unread. So `read` stamps the committed, unstamped
rows (lowest ids first, up to the limit) with a batch number drawn from the change table's own
id counter (greater than every id and batch before it) in one short transaction, and returns
stamped rows in (batch, id) order. A change's position is `(batch, 2 * id + 1)` (a key change
is two events, a delete of the old key at `(batch, 2 * id)` and a create of the new one), so
positions grow strictly along the stream, a late lower id included (it lands in a later batch),
and stay the same when a new capture object (after a crash) replays stamped rows that were not
acknowledged. `ack(position)` deletes only stamped rows at or before the position and never
beyond what this object returned: a row nobody read is never deleted.

Why the order of one row's changes holds although ids are not commit order: a writer holds the
row's lock (and the unique key's entry) from its change until its commit, so the next change of
that row is written, and its id drawn, only after the earlier one committed. By then the earlier
change row is visible, so it is stamped in the same batch (lower id first) or an earlier one.
Changes of different rows may come in another order than their commits; applied by key, that
order makes no difference.

Objects are named with `CAPTURE_PREFIX`: `dm_sync_<run>_changes` for the table, per captured
table `dm_sync_<run>_<8 hex of the table name>_<i|u|d>` for triggers (PostgreSQL: `_r`, one row
trigger, and `_t` for TRUNCATE, calling the function `_fn`), so `trigger_leftovers` finds
the objects of a crashed run and `drop_trigger_leftovers` removes them.

`commit_ts_ms` of an event is the time the trigger ran (the database's clock), not the commit
time; `tx_id` is the transaction id where the database exposes one cheaply (PostgreSQL).
"""

from __future__ import annotations

import decimal
import hashlib
import importlib
import json
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

from datamigration.db.capture import CAPTURE_PREFIX, RUN_NAME, ChangeCapture, valid_run
from datamigration.db.change_events import ChangeEvent, Position
from datamigration.db.model import Table
from datamigration.errors import DatabaseError, UserInputError

CHANGES_SUFFIX = "_changes"

#: a row's column values, from the change table's JSON, as the database's own reads give them
RowConverter = Callable[[Mapping[str, Any]], dict[str, Any]]


def limit_sql(limit: int | None) -> str:
    return "" if limit is None else f" LIMIT {int(limit)}"


def table_tag(table: str) -> str:
    """8 hex characters naming a captured table inside trigger names (which must stay within
    the identifier limits and be unique per schema)."""
    return hashlib.sha1(table.encode("utf-8")).hexdigest()[:8]


@dataclass(frozen=True)
class ChangeRow:
    """One row of the change table, its JSON already parsed (numbers as int or Decimal)."""

    id: int
    batch: int
    table: str
    op: str
    before: dict[str, Any] | None
    after: dict[str, Any] | None
    tx_id: int | None
    captured_ms: int | None


def parse_json(text: Any) -> Any:
    """JSON text with exact numbers: a DECIMAL's digits (and scale) survive as a Decimal."""
    if text is None:
        return None
    if isinstance(text, (dict, list)):
        return text
    if isinstance(text, (bytes, bytearray)):
        text = bytes(text).decode("utf-8")
    return json.loads(text, parse_float=decimal.Decimal)


def floats_inside(value: Any) -> Any:
    """A JSON document's numbers as a JSON reader gives them (floats, not Decimals)."""
    if isinstance(value, decimal.Decimal):
        return float(value)
    if isinstance(value, list):
        return [floats_inside(v) for v in value]
    if isinstance(value, dict):
        return {k: floats_inside(v) for k, v in value.items()}
    return value


def columnwise(convert: Mapping[str, Callable[[Any], Any]]) -> RowConverter:
    """A row converter applying each column's function to its non-NULL value, the columns in
    `convert`'s order (the table's; jsonb orders keys its own way)."""

    def row(values: Mapping[str, Any]) -> dict[str, Any]:
        out = {}
        for k, fn in convert.items():
            if k in values:
                v = values[k]
                out[k] = None if v is None else fn(v)
        for k, v in values.items():
            out.setdefault(k, v)
        return out

    return row


def lenient(parse: Callable[[str], Any]) -> Callable[[Any], Any]:
    """A date or time Python cannot hold (PostgreSQL's infinity or year 10000, MariaDB's zero
    date) stays the text the database wrote, rather than failing the whole batch."""

    def read(v: Any) -> Any:
        try:
            return parse(v)
        except (TypeError, ValueError):
            return v

    return read


def capture_key(table: Table) -> tuple[str, ...] | None:
    """The columns that identify a row: the primary key, else a unique key over NOT NULL
    columns (a NULL in a unique key lets two rows share it)."""
    if table.primary_key is not None and table.primary_key.columns:
        return tuple(table.primary_key.columns)
    candidates = [u.columns for u in table.uniques]
    candidates += [ix.columns for ix in table.indexes if ix.unique and not ix.predicate]
    for cols in candidates:
        found = [table.column(c) for c in cols]
        if cols and all(c is not None and not c.nullable for c in found):
            return tuple(cols)
    return None


def _no_key_refusal(table: Table) -> UserInputError:
    not_null = [c.name for c in table.columns if not c.nullable]
    nullable_uniques = [list(u.columns) for u in table.uniques]
    nullable_uniques += [list(ix.columns) for ix in table.indexes if ix.unique]
    choices = []
    if not_null:
        choices.append(
            f"add a primary key on NOT NULL columns that identify a row (among: "
            f"{', '.join(not_null)})"
        )
    else:
        choices.append("add a primary key (e.g. a new identity column)")
    for cols in dict.fromkeys(tuple(c) for c in nullable_uniques):
        choices.append(f"make the unique key ({', '.join(cols)}) NOT NULL")
    choices.append("leave the table out of the sync and copy it once at cutover")
    return UserInputError(
        f"table {table.name} has no primary key and no unique key over NOT NULL columns: its "
        "changes cannot be applied by key",
        hint="Choices: " + "; ".join(choices) + ".",
        table=table.name,
        choices=choices,
    )


def describe_tables(
    backend: Any, tables: Sequence[str]
) -> tuple[dict[str, Table], dict[str, tuple[str, ...]]]:
    """The captured tables, introspected, and the key of each; a table missing or without a
    usable key is refused (every capture method applies changes by key)."""
    schema = backend.inspect(tables=list(tables))
    described: dict[str, Table] = {}
    keys: dict[str, tuple[str, ...]] = {}
    for name in tables:
        table = schema.table(name)
        if table is None:
            raise UserInputError(
                f"table {name} does not exist on {backend.label}",
                hint="Check the table names (the inspect tool lists them).",
                table=name,
            )
        key = capture_key(table)
        if key is None:
            raise _no_key_refusal(table)
        described[name], keys[name] = table, key
    return described, keys


class TriggerCapture(ChangeCapture):
    """Triggers and a change table (see the module docstring); the dialect subclasses in each
    package supply the SQL through the hooks below."""

    method = "trigger"
    #: what `prepare` says about the cost for the application's writes
    overhead_note: ClassVar[str] = (
        "Each captured write also inserts a change row: the application's writes get slower."
    )
    #: SQL of the change table's columns read back (dialects cast where needed)
    read_columns: ClassVar[str] = "id, batch, tbl, op, before_row, after_row, tx_id, captured_at"

    def __init__(self, backend: Any, name: str, tables: Sequence[str]) -> None:
        super().__init__(backend, valid_run(name), tables)
        self.change_table = f"{CAPTURE_PREFIX}{self.name}{CHANGES_SUFFIX}"
        self._last: Position | None = None
        self._described: dict[str, Table] | None = None
        self._keys: dict[str, tuple[str, ...]] = {}
        self._converters: dict[str, RowConverter] = {}

    # --- dialect hooks ---------------------------------------------------------------------

    @classmethod
    def catalog(cls, backend: Any) -> list[dict[str, Any]]:
        """Capture objects on the database: dicts with kind (trigger, function, change_table),
        name, table (the table a trigger is on, else None)."""
        raise NotImplementedError

    def change_table_statements(self) -> list[str]:
        raise NotImplementedError

    def trigger_statements(self, given: str, table: Table, key: tuple[str, ...]) -> list[str]:
        """Create the triggers of table `given` (as the caller named it; `table` is its
        introspected form) writing changes keyed by `key`."""
        raise NotImplementedError

    def trigger_names(self, table: str) -> tuple[str, ...]:
        """The trigger names `trigger_statements` creates for `table`."""
        tag = table_tag(table)
        return tuple(f"{CAPTURE_PREFIX}{self.name}_{tag}_{op}" for op in "iud")

    @classmethod
    def drop_statements(cls, backend: Any, objects: list[dict[str, Any]]) -> list[str]:
        """Triggers first, then the change table (MariaDB/MySQL and SQLite name triggers
        database-wide; PostgreSQL overrides this: its triggers belong to tables and call
        functions)."""
        q = backend.quote_part
        triggers = [o for o in objects if o["kind"] == "trigger"]
        tables = [o for o in objects if o["kind"] != "trigger"]
        return [f"DROP TRIGGER IF EXISTS {q(o['name'])}" for o in triggers] + [
            f"DROP TABLE IF EXISTS {q(o['name'])}" for o in tables
        ]

    def change_inserts(
        self,
        changes: str,
        given: str,
        table: Table,
        key: tuple[str, ...],
        build: Callable[[list[str]], str],
        value: Callable[[str, Any], str],
    ) -> dict[str, str]:
        """The INSERT into `changes` each row trigger runs, per trigger name (i, u, d), for
        databases with one trigger per operation: `build` makes a JSON object of
        name/expression pairs, `value` the expression of a column of NEW or OLD."""
        q, lit = self.backend.quote_part, self.backend.string_literal

        def obj(ref: str, columns: Sequence[str]) -> str:
            pairs = []
            for c in columns:
                pairs += [lit(c), value(f"{ref}.{q(c)}", table.column(c))]
            return build(pairs)

        names = table.column_names
        head = f"INSERT INTO {changes} (tbl, op, row_key, before_row, after_row) VALUES "
        rows = {
            "i": f"({lit(given)}, 'c', {obj('NEW', key)}, NULL, {obj('NEW', names)})",
            "u": f"({lit(given)}, 'u', {obj('NEW', key)}, {obj('OLD', names)}, "
            f"{obj('NEW', names)})",
            "d": f"({lit(given)}, 'd', {obj('OLD', key)}, {obj('OLD', names)}, NULL)",
        }
        return {name: head + rows[name[-1]] for name in self.trigger_names(given)}

    def stamp_statements(self, limit: int | None) -> list[str]:
        """Statements (one transaction) stamping up to `limit` (None: all) unstamped rows,
        lowest ids first, with a batch number drawn from the id counter."""
        raise NotImplementedError

    def row_converter(self, given: str, table: Table) -> RowConverter:
        raise NotImplementedError

    def size_bytes(self) -> int | None:
        return None

    #: SQL: seconds since the oldest row of the change table was written
    oldest_age_sql: ClassVar[str] = ""

    def write(self, statements: Sequence[Any]) -> None:
        """Run the reader's writes (stamping, acknowledging) in one transaction."""
        self.backend.execute(list(statements))

    def convert_rows(self, rows: list[ChangeRow]) -> list[ChangeRow]:
        """Column values as the database's own reads give them (dialects may finish a batch
        with one more query)."""
        out = []
        for r in rows:
            convert = self._converter(r.table)
            before = convert(r.before) if r.before is not None else None
            after = convert(r.after) if r.after is not None else None
            out.append(
                ChangeRow(r.id, r.batch, r.table, r.op, before, after, r.tx_id, r.captured_ms)
            )
        return out

    # --- prepare ---------------------------------------------------------------------------

    def prepare(self) -> dict[str, Any]:
        """Check keys, refuse a run name in use for other tables, then create the change table
        and the missing triggers. Idempotent for the same run and tables (a restart).

        Triggers are created table by table (MariaDB commits each one on its own): a write
        between two of them may go uncaptured, which is harmless because `prepare` runs
        before the snapshot copy, and the copy reads the row after every trigger exists."""
        described = self._describe()
        mine = [o for o in self.catalog(self.backend) if self._owns(o["name"])]
        on = {o["table"] for o in mine if o["kind"] == "trigger"}
        wanted = set(self.tables)
        if on and on != wanted:
            raise UserInputError(
                f"run {self.name!r} already captures {', '.join(sorted(on))}, not "
                f"{', '.join(sorted(wanted))}",
                hint="Use another run name, or stop that run first (sync stop removes its "
                "triggers and change table).",
                run=self.name,
                tables=sorted(on),
            )
        have = {o["name"] for o in mine}
        statements = [] if self.change_table in have else self.change_table_statements()
        created = []
        for name in self.tables:
            if not set(self.trigger_names(name)) <= have:
                statements += self.trigger_statements(name, described[name], self._keys[name])
                created.append(name)
        if statements:
            self.backend.execute(statements, lock_timeout_ms=10_000)
        return {
            "method": self.method,
            "change_table": self.change_table,
            "reused": not created and self.change_table in have,
            "tables": {
                t: {"key": list(self._keys[t]), "triggers": list(self.trigger_names(t))}
                for t in self.tables
            },
            "warning": self.overhead_note,
        }

    def _owns(self, object_name: str) -> bool:
        return run_of(object_name) == self.name

    def _describe(self) -> dict[str, Table]:
        """The captured tables (introspected once per object) and their keys."""
        if self._described is None:
            self._described, self._keys = describe_tables(self.backend, self.tables)
        return self._described

    def _converter(self, table: str) -> RowConverter:
        if table not in self._converters:
            described = self._describe()
            if table not in described:
                raise DatabaseError(
                    f"change table {self.change_table} holds a change of {table}, which run "
                    f"{self.name!r} does not capture",
                    hint="Stop the run (sync stop) and start it again with its tables.",
                    table=table,
                )
            self._converters[table] = self.row_converter(table, described[table])
        return self._converters[table]

    # --- reading ---------------------------------------------------------------------------

    def read(self, limit: int = 10_000) -> list[ChangeEvent]:
        """Up to `limit` events after the last one this object returned: first rows stamped
        earlier and not acknowledged (a crash replays them), then a newly stamped batch."""
        limit = max(1, int(limit))
        rows = self._fetch(self._last, limit)
        if len(rows) < limit:
            self.write(self.stamp_statements(limit - len(rows)))
            after = (rows[-1].batch, 2 * rows[-1].id + 1) if rows else self._last
            rows += self._fetch(after, limit - len(rows))
        events = [e for r in self.convert_rows(rows) for e in self._events(r)]
        events = [e for e in events if self._last is None or e.position > self._last][:limit]
        if events:
            self._last = events[-1].position
        return events

    def _fetch(self, after: Position | None, limit: int) -> list[ChangeRow]:
        q, mark = self.backend.quote_identifier, self.backend.placeholder
        where, params = "batch IS NOT NULL", []
        if after is not None:
            where += f" AND (batch > {mark} OR (batch = {mark} AND id > {mark}))"
            params = [after[0], after[0], (after[1] - 1) // 2]
        sql = (
            f"SELECT {self.read_columns} FROM {q(self.change_table)} WHERE {where} "
            f"ORDER BY batch, id LIMIT {int(limit)}"
        )
        return [
            ChangeRow(
                int(i),
                int(b),
                str(t),
                str(op),
                parse_json(before),
                parse_json(after_),
                None if tx is None else int(tx),
                None if ms is None else int(ms),
            )
            for i, b, t, op, before, after_, tx, ms in self.backend.fetch(sql, params)
        ]

    def _events(self, row: ChangeRow) -> list[ChangeEvent]:
        key = self._keys[row.table] if row.op != "t" else ()
        source = {
            "db": self.backend.url.database,
            "table": row.table,
            "change_id": row.id,
            "batch": row.batch,
            "method": self.method,
        }

        def event(op: str, part: int, before: Any, after: Any) -> ChangeEvent:
            found = after if after is not None else before
            return ChangeEvent(
                op=op,
                table=row.table,
                key={c: found[c] for c in key} if found is not None else {},
                before=before,
                after=after,
                position=(row.batch, 2 * row.id + part),
                commit_ts_ms=row.captured_ms,
                tx_id=row.tx_id,
                source=source,
            )

        before, after = row.before, row.after
        if row.op == "u" and before and after and any(before[c] != after[c] for c in key):
            return [event("d", 0, row.before, None), event("c", 1, None, row.after)]
        return [event(row.op, 1, row.before, row.after)]

    # --- acknowledging, positions, lag -----------------------------------------------------

    def ack(self, position: Position) -> None:
        """Delete the stamped rows at or before `position`, never beyond what this object
        returned (rows nobody read stay); a key change's row goes when both halves are in."""
        if self._last is None:
            return
        batch, index = min(tuple(position), self._last)
        q, mark = self.backend.quote_identifier, self.backend.placeholder
        sql = (
            f"DELETE FROM {q(self.change_table)} WHERE batch IS NOT NULL AND "
            f"(batch < {mark} OR (batch = {mark} AND id <= {mark}))"
        )
        self.write([(sql, (batch, batch, (index - 1) // 2))])

    def current_position(self) -> Position:
        """The position of the last change committed before this call: it stamps every
        committed, unstamped row (so they all sit at or before the answer, and everything
        committed later comes after it). Once `read` has returned this position, every change
        committed before the call has been returned: a cutover with writes paused drains
        up to it. (0, 0) when the change table is empty."""
        self.write(self.stamp_statements(None))
        q = self.backend.quote_identifier
        rows = self.backend.fetch(
            f"SELECT batch, id FROM {q(self.change_table)} WHERE batch IS NOT NULL "
            "ORDER BY batch DESC, id DESC LIMIT 1"
        )
        return (int(rows[0][0]), 2 * int(rows[0][1]) + 1) if rows else (0, 0)

    def lag(self) -> dict[str, Any]:
        """Rows not acknowledged (read or not), the age of the oldest, the table's size."""
        q = self.backend.quote_identifier
        count, age = self.backend.fetch(
            f"SELECT COUNT(*), {self.oldest_age_sql} FROM {q(self.change_table)}"
        )[0]
        return {
            "events": int(count),
            "seconds": round(float(age), 3) if age is not None else 0.0,
            "bytes": self.size_bytes(),
        }

    # --- teardown --------------------------------------------------------------------------

    def teardown(self) -> None:
        """Drop the run's triggers (whatever tables they are on) and its change table."""
        drop_run(self.backend, type(self), self.name)


def run_of(object_name: str) -> str | None:
    """The run an object belongs to, from its name (None: not a trigger capture's)."""
    if not object_name.startswith(CAPTURE_PREFIX):
        return None
    rest = object_name[len(CAPTURE_PREFIX) :]
    for pattern in (r"^(.+)_(?:changes|binlog)$", r"^(.+)_[0-9a-f]{8}_(?:[iudrt]|fn)$"):
        m = re.match(pattern, rest)
        if m and RUN_NAME.fullmatch(m.group(1)):
            return m.group(1)
    return None


def capture_class(backend: Any) -> type[TriggerCapture]:
    """The trigger capture of a backend's package (`db/<package>/trigger_capture.py`, whose
    `CAPTURE` names it), looked up as `db.base.backend_class` finds backends."""
    for klass in type(backend).__mro__:
        package, _, _leaf = klass.__module__.rpartition(".")
        if package.startswith("datamigration.db.") and package.count(".") == 2:
            try:
                module = importlib.import_module(f"{package}.trigger_capture")
            except ModuleNotFoundError:
                break
            return module.CAPTURE
    raise DatabaseError(
        f"{backend.label}: no trigger capture for this database",
        hint="Capture changes from PostgreSQL, MariaDB/MySQL or SQLite.",
    )


def trigger_leftovers(backend: Any) -> list[dict[str, Any]]:
    """Triggers, trigger functions and change tables named with `CAPTURE_PREFIX` on this
    database, live or abandoned: kind, name, run, detail."""
    found = []
    for obj in capture_class(backend).catalog(backend):
        run = run_of(obj["name"])
        if run is None:
            continue
        detail = f"on table {obj['table']}" if obj.get("table") else ""
        found.append({"kind": obj["kind"], "name": obj["name"], "run": run, "detail": detail})
    return found


def drop_trigger_leftovers(backend: Any, run: str) -> list[str]:
    """Drop every trigger capture object of run `run`; the names dropped."""
    return drop_run(backend, capture_class(backend), valid_run(run))


def drop_run(backend: Any, cls: type[TriggerCapture], run: str) -> list[str]:
    objects = [o for o in cls.catalog(backend) if run_of(o["name"]) == run]
    if objects:
        backend.execute(cls.drop_statements(backend, objects), lock_timeout_ms=10_000)
    return [o["name"] for o in objects]


class TriggerCaptureSupport:
    """The backend side for databases whose only capture is triggers (mixed into a backend
    class before `Backend`)."""

    capture_methods: ClassVar[tuple[str, ...]] = ("trigger",)

    def change_capture(
        self, name: str, tables: Sequence[str], method: str = "auto"
    ) -> TriggerCapture:
        if method not in ("auto", *self.capture_methods):
            raise UserInputError(
                f"capture method {method!r} is not available here",
                hint=f"Use auto or one of: {', '.join(self.capture_methods)}.",
                method=method,
            )
        return capture_class(self)(self, name, tables)

    def capture_leftovers(self) -> list[dict[str, Any]]:
        return trigger_leftovers(self)

    def drop_capture_leftovers(self, run: str) -> list[str]:
        return drop_trigger_leftovers(self, run)
