"""Bulk reading and writing for the move engine, shared by the SQL backends.

The copy engine (`datamigration.move`) reaches databases only through these backend methods,
so it never compares a dialect's name. Each SQL backend mixes in `SQLBulk` (its package's
`bulk.py` overrides what its database does better: COPY on PostgreSQL, multi-row INSERT on
MySQL); MongoDB has its own (`db/mongodb/bulk.py`).

The contract (all methods are on the backend):

* `create_table_statements(table)` / `after_load_statements(table, present)` /
  `identity_statements(table, maxima)`: DDL of a target table described as a `model.Table`
  whose column `data_type` is already the target spelling and whose `default` is a neutral
  default (`neutral_default`). The primary key is created with the table; unique constraints,
  secondary indexes and foreign keys after the load (those `present` by name are skipped, so a
  resumed run repeats nothing).
* `key_boundaries(table, key, every)`: every `every`-th key in key order, one scan; the copy's
  key-range partitions are cut there.
* `read_range(table, columns, key, lo, hi, batch_size)`: batches (lists of tuples in `columns`
  order) of the rows with `lo < key <= hi` (None: open end), keyset-paged, bounded memory.
* `bulk_writer(table, columns, key)`: a context manager (`BulkWriter`) holding one transaction:
  `write(rows, replace=...)` loads a batch and returns the rows the target refused (found by
  retrying a failed batch row by row), `put_state(...)` writes checkpoint rows in the same
  transaction; leaving the block commits, an exception rolls back.
* `copy_state_table(name)`: the small state table on the target (`CopyStateStore`).
"""

from __future__ import annotations

import datetime as dt
import decimal
import json
import re
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, Self

from datamigration.db.copystate import (  # noqa: F401 - re-exported: the bulk contract
    STATE_COLUMNS,
    CopyStateStore,
    SQLCopyState,
    state_record,
    state_statements,
)
from datamigration.db.model import Column, Table

#: a neutral default: (kind, value); kinds: null, number, string, bool, now, today
NeutralDefault = tuple[str, Any]

_CAST = re.compile(r"::[a-zA-Z_][\w ]*(\(\d+(,\s*\d+)?\))?(\[\])*$")
_NUMBER = re.compile(r"^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$")
_NOW = {
    "now()",
    "current_timestamp",
    "current_timestamp()",
    "localtimestamp",
    "localtimestamp()",
    "transaction_timestamp()",
    "statement_timestamp()",
}
_TODAY = {"current_date", "curdate()", "current_date()"}


def neutral_default(text: str | None) -> NeutralDefault | None:
    """A column default as the database spells it, read into a form every dialect renders;
    None when it does not translate (an expression of the source's own functions).

    Handles the spellings the backends' introspection returns: PostgreSQL casts
    (``'a'::text``), SQLite's and MariaDB's parentheses and quotes, ``now()`` and friends."""
    if text is None:
        return None
    t = text.strip()
    while t.startswith("(") and t.endswith(")") and _balanced(t[1:-1]):
        t = t[1:-1].strip()
    while _CAST.search(t) and not t.endswith("'"):
        t = _CAST.sub("", t).strip()
        while t.startswith("(") and t.endswith(")") and _balanced(t[1:-1]):
            t = t[1:-1].strip()
    low = re.sub(r"current_timestamp\(\d\)", "current_timestamp", t.lower())
    if low == "null":
        return ("null", None)
    if low in _NOW:
        return ("now", None)
    if low in _TODAY:
        return ("today", None)
    if low in ("true", "false"):
        return ("bool", low == "true")
    if _NUMBER.match(t):
        return ("number", t)
    if len(t) >= 2 and t[0] == "'" and t[-1] == "'" and "'" not in t[1:-1].replace("''", ""):
        return ("string", t[1:-1].replace("''", "'"))
    return None


def _balanced(text: str) -> bool:
    depth = 0
    for ch in text:
        depth += (ch == "(") - (ch == ")")
        if depth < 0:
            return False
    return depth == 0


def jsonable_key(values: Sequence[Any] | None) -> Any:
    """A key range bound as JSON (stored in the state table); None stays None."""
    if values is None:
        return None
    out = []
    for v in values:
        if isinstance(v, (dt.date, dt.time, uuid.UUID, decimal.Decimal)):
            v = str(v)
        elif isinstance(v, (bytes, bytearray, memoryview)):
            v = bytes(v).hex()
        out.append(v)
    return out


@dataclass(frozen=True)
class Refused:
    """A row the target refused, with the database's error (secrets already redacted)."""

    row: tuple[Any, ...]
    error: str


class BulkWriter:
    """One transaction on the target for one partition (see the module docstring)."""

    def __enter__(self) -> Self:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, *exc: object) -> None:
        raise NotImplementedError

    def write(self, rows: Sequence[Sequence[Any]], *, replace: bool = False) -> list[Refused]:
        raise NotImplementedError

    def put_state(self, state_table: str, records: Sequence[Mapping[str, Any]]) -> None:
        raise NotImplementedError

    def write_stream(self, batches: Iterable[Sequence[Sequence[Any]]]) -> int | None:
        """Load every batch of a first attempt in one go, with no round trip between batches
        (PostgreSQL: one COPY for the whole partition, so reading the source and loading
        overlap); the rows loaded, or None when this target has no such path (`batches`
        untouched) or refused a row (nothing of it is kept: the caller loads the range batch by
        batch with `write`, which finds the refused rows)."""
        return None

    def write_raw(self, chunks: Iterable[bytes]) -> int | None:
        """Load a byte stream in the backend's `raw_format` (from a `copy_out` of the same
        format); the rows loaded, or None when the target refused it (nothing of it is kept:
        the caller copies the range row by row to find the refused rows)."""
        return None


class SQLBulkWriter(BulkWriter):
    """A partition's transaction on a DB-API connection: plain BEGIN/SAVEPOINT/COMMIT, batches
    with `executemany`, refused rows found by retrying a failed batch row by row."""

    begin_sql: ClassVar[str] = "BEGIN"

    def __init__(
        self,
        backend: Any,
        table: str,
        columns: Sequence[str],
        key: Sequence[str],
        types: Sequence[str] | None = None,
    ):
        self.b = backend
        self.types = tuple(t.lower() for t in (types or [""] * len(columns)))
        self.table = table
        self.columns = tuple(columns)
        self.key = tuple(key)
        self.key_at = tuple(self.columns.index(k) for k in self.key)
        q = backend.quote_identifier
        self.qtable = q(table)
        cols = ", ".join(q(c) for c in self.columns)
        marks = ", ".join([backend.placeholder] * len(self.columns))
        self.insert_sql = f"INSERT INTO {self.qtable} ({cols}) VALUES ({marks})"
        self.conn = backend.conn
        self.cur = self.conn.cursor()
        self._sp = 0

    def __enter__(self) -> Self:
        self._guarded(lambda: self._exec(self.begin_sql))
        return self

    def __exit__(self, exc_type: type[BaseException] | None, *exc: object) -> None:
        try:
            self._exec("COMMIT" if exc_type is None else "ROLLBACK")
        except self.b.driver_errors as err:
            if exc_type is None:
                raise self.b._fail(err, f"commit a partition of {self.table}") from None
        finally:
            self.cur.close()

    def _exec(self, sql: str, params: Sequence[Any] | None = None) -> Any:
        self.b.counter.add(sql)
        if params is None:
            self.cur.execute(sql)
        else:
            self.cur.execute(sql, tuple(params))
        return self.cur

    def adapt(self, row: Sequence[Any]) -> tuple[Any, ...]:
        """A source value as the driver of this target takes it (backends override)."""
        return tuple(row)

    def adapt_rows(self, rows: Sequence[Sequence[Any]]) -> list[tuple[Any, ...]]:
        """A batch as the driver takes it (`adapt` on each row; a writer with nothing to change
        hands the batch on as is)."""
        return [self.adapt(r) for r in rows]

    def write(self, rows: Sequence[Sequence[Any]], *, replace: bool = False) -> list[Refused]:
        if not rows:
            return []
        adapted = self.adapt_rows(rows)
        if replace:
            self._guarded(lambda: self._delete_keys(adapted))
        self._sp += 1
        sp = f"dm_batch_{self._sp}"
        error = self._try_savepoint(sp, lambda: self._load(adapted))
        if error is None:
            return []
        if self.broken():
            raise error
        refused: list[Refused] = []
        for row in adapted:
            one = self._try_savepoint(sp, lambda row=row: self._load_one(row))
            if one is not None:
                if self.broken():
                    raise one
                refused.append(Refused(row, one.message))
        return refused

    def _try_savepoint(self, sp: str, fn: Any) -> Any:
        """Run `fn` inside a savepoint; our error (rolled back to the savepoint) or None."""
        error = None
        try:
            self._exec(f"SAVEPOINT {sp}")
            fn()
            self._exec(f"RELEASE SAVEPOINT {sp}")
        except self.b.driver_errors as exc:
            error = self.b._fail(exc, f"load rows into {self.table}")
        if error is not None and not self.broken():
            try:
                self._exec(f"ROLLBACK TO SAVEPOINT {sp}")
            except self.b.driver_errors as exc:
                return self.b._fail(exc, f"load rows into {self.table}")
        return error

    def _guarded(self, fn: Any) -> Any:
        return self.b._guard(f"load rows into {self.table}", fn)

    def broken(self) -> bool:
        """Is the connection gone (a refusal of the row is not; a disconnect is)?"""
        return False

    def _load(self, rows: list[tuple[Any, ...]]) -> None:
        self.b.counter.add(self.insert_sql)
        self.cur.executemany(self.insert_sql, rows)

    def _load_one(self, row: tuple[Any, ...]) -> None:
        self._exec(self.insert_sql, row)

    def _delete_keys(self, rows: list[tuple[Any, ...]], chunk: int = 500) -> None:
        q, mark = self.b.quote_identifier, self.b.placeholder
        cols = ", ".join(q(k) for k in self.key)
        one = mark if len(self.key) == 1 else "(" + ", ".join([mark] * len(self.key)) + ")"
        lhs = cols if len(self.key) == 1 else f"({cols})"
        for i in range(0, len(rows), chunk):
            part = rows[i : i + chunk]
            params = [row[j] for row in part for j in self.key_at]
            self._exec(
                f"DELETE FROM {self.qtable} WHERE {lhs} IN ({', '.join([one] * len(part))})", params
            )

    def put_state(self, state_table: str, records: Sequence[Mapping[str, Any]]) -> None:
        for sql, params in state_statements(self.b, state_table, records):
            self._guarded(lambda sql=sql, params=params: self._exec(sql, params))


class SQLBulk:
    """The bulk methods every SQL backend shares (mixed into the backend classes)."""

    writer_class: ClassVar[type[SQLBulkWriter]] = SQLBulkWriter
    #: text of an auto-numbered column's clause in CREATE TABLE ("" where the database has none)
    identity_clause: ClassVar[str] = ""
    #: does the target keep a foreign key added after the load (SQLite: only in CREATE TABLE)
    alter_foreign_keys: ClassVar[bool] = True
    #: can a unique constraint be added after the load (SQLite: a unique index only)
    alter_uniques: ClassVar[bool] = True
    #: a byte format this database both produces (`copy_out`) and loads (`write_raw`); a copy
    #: between two backends with the same format and identical column types streams it as is
    raw_format: ClassVar[str | None] = None
    #: can the after-load chains of the copied tables run side by side, each on its own
    #: connection (PostgreSQL: each statement takes the locks it needs and waits for them)
    parallel_after_load: ClassVar[bool] = False
    #: session settings run before a connection's after-load statements (index builds)
    after_load_session: ClassVar[tuple[str, ...]] = ()

    # --- DDL ---------------------------------------------------------------------------------

    def render_default(self, neutral: NeutralDefault, column: Column) -> str:
        kind, value = neutral
        if kind == "null":
            return "NULL"
        if kind == "number":
            return str(value)
        if kind == "string":
            return self.string_literal(value)  # type: ignore[attr-defined]
        if kind == "bool":
            return self.boolean_literal(value)  # type: ignore[attr-defined]
        if kind == "today":
            return "CURRENT_DATE"
        return "CURRENT_TIMESTAMP"

    def column_sql(self, table: Table, col: Column) -> str:
        q = self.quote_identifier  # type: ignore[attr-defined]
        parts = [q(col.name), col.data_type]
        if col.identity and self.identity_clause:
            parts.append(self.identity_clause)
        if not col.nullable:
            parts.append("NOT NULL")
        if col.default is not None and not col.identity:
            parts.append("DEFAULT " + self.render_default(json.loads(col.default), col))
        return " ".join(parts)

    def primary_key_sql(self, table: Table) -> str:
        q = self.quote_identifier  # type: ignore[attr-defined]
        pk = table.primary_key
        assert pk is not None
        name = f"CONSTRAINT {q(pk.name)} " if pk.name else ""
        return f"{name}PRIMARY KEY ({', '.join(q(c) for c in pk.columns)})"

    def foreign_key_sql(self, fk: Any) -> str:
        q = self.quote_identifier  # type: ignore[attr-defined]
        text = (
            f"FOREIGN KEY ({', '.join(q(c) for c in fk.columns)}) REFERENCES {q(fk.ref_table)} "
            f"({', '.join(q(c) for c in fk.ref_columns)})"
        )
        for verb, action in (("DELETE", fk.on_delete), ("UPDATE", fk.on_update)):
            if action and action != "NO ACTION":
                text += f" ON {verb} {action}"
        return (f"CONSTRAINT {q(fk.name)} " if fk.name else "") + text

    def create_table_statements(self, table: Table) -> list[str]:
        items = [self.column_sql(table, c) for c in table.columns]
        if table.primary_key is not None and not self._pk_inline(table):
            items.append(self.primary_key_sql(table))
        if not self.alter_foreign_keys:
            items += [self.foreign_key_sql(fk) for fk in table.foreign_keys]
        q = self.quote_identifier  # type: ignore[attr-defined]
        return [f"CREATE TABLE {q(table.name)} (\n  " + ",\n  ".join(items) + "\n)"]

    def _pk_inline(self, table: Table) -> bool:
        return False

    def after_load_statements(self, table: Table, present: Table | None) -> list[str]:
        """Unique constraints, secondary indexes and foreign keys, skipping those `present`
        (and finishing those a crash left half built)."""
        return [s for _, chain in self.after_load_chains(table, present) for s in chain]

    def after_load_chains(self, table: Table, present: Table | None) -> list[tuple[Any, list[str]]]:
        """`after_load_statements` cut into chains that may run side by side (each on its own
        connection where `parallel_after_load`): one per unique constraint, index and foreign
        key, its statements in order; the first item is the foreign key (model) of a foreign
        key's chain, else None (that chain must wait for the referenced table's uniques when
        it references other columns than that table's primary key)."""
        q = self.quote_identifier  # type: ignore[attr-defined]
        indexes = {ix.name for ix in present.indexes} if present is not None else set()
        out: list[tuple[Any, list[str]]] = []
        for u in table.uniques:
            name = u.name or f"{table.name}_{'_'.join(u.columns)}_key"
            out.append((None, self.unique_statements(table, name, u.columns, present)))
        for ix in table.indexes:
            if ix.name in indexes:
                continue
            unique = "UNIQUE " if ix.unique else ""
            cols = ", ".join(q(c) for c in ix.columns)
            out.append((None, [f"CREATE {unique}INDEX {q(ix.name)} ON {q(table.name)} ({cols})"]))
        if self.alter_foreign_keys:
            for fk in table.foreign_keys:
                out.append((fk, self.foreign_key_statements(table, fk, present)))
        return [(fk, chain) for fk, chain in out if chain]

    def unique_statements(
        self, table: Table, name: str, columns: Sequence[str], present: Table | None = None
    ) -> list[str]:
        q = self.quote_identifier  # type: ignore[attr-defined]
        cols = ", ".join(q(c) for c in columns)
        if not self.alter_uniques:
            if name in _names(present):
                return []
            return [f"CREATE UNIQUE INDEX {q(name)} ON {q(table.name)} ({cols})"]
        if present is not None and any(u.name == name for u in present.uniques):
            return []
        return [f"ALTER TABLE {q(table.name)} ADD CONSTRAINT {q(name)} UNIQUE ({cols})"]

    def foreign_key_statements(
        self, table: Table, fk: Any, present: Table | None = None
    ) -> list[str]:
        q = self.quote_identifier  # type: ignore[attr-defined]
        if fk.name and fk.name in _names(present):
            return []
        return [f"ALTER TABLE {q(table.name)} ADD {self.foreign_key_sql(fk)}"]

    def identity_statements(self, table: Table, maxima: Mapping[str, Any]) -> list[str]:
        """Move auto-numbering past the copied maximum (nothing where the database does it)."""
        return []

    def create_target(self, table: Table) -> None:
        """Create the target table (with its primary key) before the load."""
        self.execute(self.create_table_statements(table))  # type: ignore[attr-defined]

    def finish_target(self, table: Table, present: Table | None, maxima: Mapping[str, Any]) -> int:
        """After the load: constraints, indexes, foreign keys, identity past the maximum. Each
        statement commits on its own, so a crash in between leaves named objects that the
        resumed run skips. Returns how many statements ran."""
        statements = self.after_load_statements(table, present)
        statements += self.identity_statements(table, maxima)
        if statements:
            self.execute(statements, autocommit=True)  # type: ignore[attr-defined]
        return len(statements)

    def describe_target(self, name: str) -> tuple[Table | None, int]:
        """The target table as it is (None when absent) and how many rows it holds."""
        table = self.inspect(tables=[name]).table(name)  # type: ignore[attr-defined]
        if table is None:
            return None, 0
        return table, self.exact_count(name)  # type: ignore[attr-defined]

    def release_foreign_keys(self, present: Table, copied: Sequence[str]) -> list[str]:
        """Let an existing target table be loaded in any order: its foreign keys to the tables
        being copied are dropped (and rebuilt by `finish_target`) where the database checks
        them during a load; returns their names. Databases that can suspend the checks for a
        session (`before_load`) keep them."""
        return []

    def truncate_targets(self, names: Sequence[str]) -> None:
        """Empty these tables, together (children before parents where they reference each
        other; `names` come in that order)."""
        self.execute(self.truncate_statements(names))  # type: ignore[attr-defined]

    def truncate_statements(self, names: Sequence[str]) -> list[str]:
        return [f"DELETE FROM {self.quote_identifier(n)}" for n in names]  # type: ignore[attr-defined]

    # --- reading -----------------------------------------------------------------------------

    def key_boundaries(self, table: str, key: Sequence[str], every: int) -> list[tuple[Any, ...]]:
        q = self.quote_identifier  # type: ignore[attr-defined]
        cols = ", ".join(q(k) for k in key)
        sql = (
            f"SELECT {cols} FROM (SELECT {cols}, ROW_NUMBER() OVER (ORDER BY {cols}) AS dm_rn "
            f"FROM {q(table)}) dm_numbered WHERE dm_rn % {int(every)} = 0 ORDER BY {cols}"
        )
        return [tuple(r) for r in self.fetch(sql)]  # type: ignore[attr-defined]

    def column_maxima(self, table: str, columns: Sequence[str]) -> dict[str, Any]:
        if not columns:
            return {}
        q = self.quote_identifier  # type: ignore[attr-defined]
        sql = f"SELECT {', '.join(f'MAX({q(c)})' for c in columns)} FROM {q(table)}"
        row = self.fetch(sql)[0]  # type: ignore[attr-defined]
        return dict(zip(columns, row, strict=True))

    def read_range(
        self,
        table: str,
        columns: Sequence[str],
        key: Sequence[str],
        lo: Sequence[Any] | None,
        hi: Sequence[Any] | None,
        batch_size: int,
    ) -> Iterator[list[tuple[Any, ...]]]:
        for batch in self.iter_rows(  # type: ignore[attr-defined]
            table, key, columns=columns, batch_size=batch_size, start_after=lo, end_at=hi
        ):
            yield batch.rows

    def copy_out(
        self,
        table: str,
        columns: Sequence[str],
        key: Sequence[str],
        lo: Sequence[Any] | None,
        hi: Sequence[Any] | None,
    ) -> Iterator[bytes]:
        """The rows with `lo < key <= hi` as a byte stream in `raw_format`."""
        raise self._unsupported("copy_out")  # type: ignore[attr-defined]

    # --- writing -----------------------------------------------------------------------------

    def bulk_writer(
        self,
        table: str,
        columns: Sequence[str],
        key: Sequence[str],
        types: Sequence[str] | None = None,
    ) -> BulkWriter:
        """A partition's transaction on `table`; `types` are the target columns' spellings
        (a writer that must shape a value for its column, JSON for instance, reads them)."""
        return self.writer_class(self, table, columns, key, types)

    def copy_state_table(self, name: str) -> CopyStateStore:
        return SQLCopyState(self, name)

    def before_load(self) -> None:
        """Session settings for loading (SQLite: foreign keys are checked after the load)."""

    # --- applying changes (the sync's applier, `move/sync/apply.py`) -------------------------

    def sync_state_table(self, name: str) -> Any:
        from datamigration.db.syncstate import SQLSyncState

        return SQLSyncState(self, name)

    def upsert_sql(
        self, table: str, columns: Sequence[str], key: Sequence[str], rows: int = 1
    ) -> str:
        """INSERT of `rows` rows (distinct keys) that updates a row with the same key instead
        (each database package spells it)."""
        raise self._unsupported("upsert")  # type: ignore[attr-defined]

    def update_sql(self, table: str, columns: Sequence[str], key: Sequence[str]) -> str:
        """UPDATE of `columns` of the row with this key (params: columns, then key)."""
        q, mark = self.quote_identifier, self.placeholder  # type: ignore[attr-defined]
        sets = ", ".join(f"{q(c)} = {mark}" for c in columns)
        return f"UPDATE {q(table)} SET {sets} WHERE {_key_match(self, key)}"

    def delete_sql(self, table: str, key: Sequence[str], rows: int = 1) -> str:
        """DELETE of `rows` rows by key (params: each row's key values in turn)."""
        q, mark = self.quote_identifier, self.placeholder  # type: ignore[attr-defined]
        if len(key) == 1 and rows > 1:
            where = f"{q(key[0])} IN ({', '.join([mark] * rows)})"
        else:
            where = " OR ".join([f"({_key_match(self, key)})"] * rows)
        return f"DELETE FROM {q(table)} WHERE {where}"

    def apply_prefix(self) -> list[str]:
        """Statements that open each applied batch's transaction (PostgreSQL: the replica
        role, so foreign keys and user triggers act as on a logical replica)."""
        return []

    def value_adapter(
        self, table: str, columns: Sequence[str], types: Sequence[str]
    ) -> Callable[[Sequence[Any]], tuple[Any, ...]]:
        """A row as this database's writer shapes it for a load (JSON, time zones, ...)."""
        writer = self.writer_class(self, table, columns, (), types)
        writer.cur.close()
        return writer.adapt


def _names(table: Table | None) -> set[str]:
    if table is None:
        return set()
    names = {ix.name for ix in table.indexes}
    names |= {u.name for u in table.uniques if u.name}
    names |= {fk.name for fk in table.foreign_keys if fk.name}
    return names


def _key_match(backend: Any, key: Sequence[str]) -> str:
    q, mark = backend.quote_identifier, backend.placeholder
    return " AND ".join(f"{q(k)} = {mark}" for k in key)


def values_rows(backend: Any, columns: int, rows: int) -> str:
    one = "(" + ", ".join([backend.placeholder] * columns) + ")"
    return ", ".join([one] * rows)


def on_conflict_upsert(
    backend: Any, table: str, columns: Sequence[str], key: Sequence[str], rows: int = 1
) -> str:
    """INSERT ... ON CONFLICT (key) DO UPDATE (PostgreSQL and SQLite spell it alike)."""
    q = backend.quote_identifier
    rest = [c for c in columns if c not in key]
    action = (
        "DO UPDATE SET " + ", ".join(f"{q(c)} = EXCLUDED.{q(c)}" for c in rest)
        if rest
        else "DO NOTHING"
    )
    return (
        f"INSERT INTO {q(table)} ({', '.join(q(c) for c in columns)}) "
        f"VALUES {values_rows(backend, len(columns), rows)} "
        f"ON CONFLICT ({', '.join(q(k) for k in key)}) {action}"
    )


def plain_value(v: Any) -> Any:
    """A value for a driver without rich types: JSON for documents, text for the rest."""
    if isinstance(v, (dict, list)):
        return json.dumps(v, default=str, sort_keys=False)
    if isinstance(v, (uuid.UUID,)):
        return str(v)
    return v
