"""One side of a checksum diff: counts and hash sums per key segment, boundaries, rows.

A side answers the same five questions whatever it is, so the diff algorithm never branches on
a database: how many rows and which key range (`stats`), the count and hash sum of every bucket
of a key range (`buckets`), evenly spaced keys inside a range (`boundaries`), and the canonical
rows of a range or of given keys (`rows`, `rows_for`).

`SQLSide` computes the hash inside PostgreSQL or MySQL when every compared column has an
identical in-database rendering; otherwise (SQLite has no md5, MySQL prints floats its own way)
it streams raw values through a keyset-ordered cursor and hashes on the client, one row in
memory at a time. `MongoSide` always hashes on the client. Each side keeps a small pool of its
own connections so that both sides, and several segments, are queried at the same time.
"""

from __future__ import annotations

import bisect
import contextlib
import queue
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from datamigration.db.dialect import dialect_of
from datamigration.db.mongodb.segments import MongoReader
from datamigration.db.segments import Reader, open_reader
from datamigration.validate import sqlrender
from datamigration.validate.canonical import (
    NULL_MARK,
    Normalisation,
    key_value,
    render,
    row_hash,
)

Key = tuple[Any, ...]
#: A document field that is absent (distinct from null when null_equals_missing is off).
MISSING = object()
MISSING_MARK = "\x1d"
Rows = dict[Key, list[str | None]]


class SharedSnapshot:
    """One snapshot for every reader of a diff whose two sides are the same database.

    Comparing two columns (or two tables) of one live database from two connections reads them
    at different moments: a row the application writes between the two reads looks different
    although the sync trigger kept it equal in every transaction. Readers that share this object
    see one snapshot, so the diff compares one instant however long it takes (and that instant's
    row versions are kept from cleanup until the diff ends).

    PostgreSQL: the first reader exports its snapshot and the others import it
    (`join`). MySQL/MariaDB cannot hand a snapshot to another connection, so both sides borrow one
    connection that holds a consistent-snapshot transaction (`borrow`, one query at a time: only
    for gentle diffs, which run one query at a time anyway).
    """

    def __init__(self, single_connection: bool = False) -> None:
        self._lock = threading.RLock()
        self.id: str | None = None
        self.single_connection = single_connection
        self._reader: Reader | None = None
        #: queries run on the borrowed connection (no side owns it, so the diff adds them)
        self.queries = 0

    def join(self, reader: Reader) -> None:
        with self._lock:
            self.id = reader.hold_snapshot(self.id)

    @contextlib.contextmanager
    def borrow(self, open_one: Callable[[], Reader]) -> Iterator[Reader]:
        with self._lock:
            if self._reader is None:
                reader = open_one()
                try:
                    self.id = reader.hold_snapshot(None)
                except BaseException:
                    reader.close()
                    raise
                self._reader = reader
            yield self._reader

    def close(self) -> None:
        with self._lock:
            if self._reader is not None:
                self.queries = self._reader.queries
                with contextlib.suppress(Exception):
                    self._reader.close()
                self._reader = None


@dataclass(frozen=True)
class Field:
    """A compared column as this side names it, the kind both sides render it in, and this
    side's own declared kind (None when the side declares nothing: SQLite, MongoDB)."""

    name: str
    kind: str
    type_kind: str | None


@dataclass(frozen=True)
class BucketSpec:
    """How a key range is cut: evenly by width (single integer key) or at boundary keys."""

    start: int = 0
    width: int = 0
    count: int = 0
    bounds: tuple[Key, ...] = ()

    @property
    def n(self) -> int:
        return self.count if self.width else len(self.bounds) + 1

    def index(self, key: Key) -> int:
        if self.width:
            return min(max((key[0] - self.start) // self.width, 0), self.count - 1)
        return bisect.bisect_right(self.bounds, key)

    def range_of(self, i: int, lo: Key | None, hi: Key | None) -> tuple[Key | None, Key | None]:
        """Key range [lo, hi) of bucket i inside the parent range [lo, hi)."""
        if self.width:
            b_lo = (self.start + i * self.width,) if i > 0 else lo
            b_hi = (self.start + (i + 1) * self.width,) if i < self.count - 1 else hi
            return b_lo, b_hi
        b_lo = self.bounds[i - 1] if i > 0 else lo
        b_hi = self.bounds[i] if i < len(self.bounds) else hi
        return b_lo, b_hi


class Side:
    """Base: a pool of readers and the key helpers shared by SQL and MongoDB sides."""

    dialect = ""

    def __init__(
        self,
        url: str,
        table: str,
        fields: Sequence[Field],
        key_count: int,
        norm: Normalisation,
        *,
        pool_size: int = 2,
        workspace: Any | None = None,
        gentle: bool = False,
        snapshot: SharedSnapshot | None = None,
    ) -> None:
        self.url = url
        self.gentle = gentle
        self.snapshot = snapshot
        self.table = table
        self.fields = tuple(fields)
        self.key_count = key_count  # the first key_count fields are the key
        self.norm = norm
        self.workspace = workspace
        self._pool: queue.Queue[Reader] = queue.Queue()
        self._created = 0
        self._limit = max(1, pool_size)
        self._lock = threading.Lock()
        self._all: list[Reader] = []
        self.hashing = "client"
        self.hashing_reason = ""
        self.queries = 0

    @contextlib.contextmanager
    def reader(self) -> Iterator[Any]:
        if self.snapshot is not None and self.snapshot.single_connection:
            with self.snapshot.borrow(self._open) as shared:
                yield shared
            return
        with self._lock:
            make = self._pool.empty() and self._created < self._limit
            if make:
                self._created += 1
        if make:
            r = self._open()
            if self.snapshot is not None:
                try:
                    self.snapshot.join(r)
                except BaseException:
                    r.close()
                    raise
            with self._lock:
                self._all.append(r)
        else:
            r = self._pool.get()
        try:
            yield r
        finally:
            self._pool.put(r)

    def _open(self) -> Reader:
        return open_reader(self.url, self.workspace, gentle=self.gentle)

    def close(self) -> None:
        for r in self._all:
            with contextlib.suppress(Exception):
                r.close()
        self.queries = sum(r.queries for r in self._all)
        self._all.clear()

    @property
    def key_fields(self) -> tuple[Field, ...]:
        return self.fields[: self.key_count]

    def render_row(self, values: Sequence[Any]) -> list[str | None]:
        return [
            None if v is None else MISSING_MARK if v is MISSING else render(v, f.kind, self.norm)
            for v, f in zip(values, self.fields, strict=True)
        ]

    def raw_key(self, raw: Sequence[Any]) -> Key:
        """The key of a key read as the database returns it (`ordered_keys`)."""
        return self.key_of([None if v is None else render(v, f.kind, self.norm)
                            for v, f in zip(raw, self.key_fields, strict=True)])  # fmt: skip

    def key_of(self, texts: Sequence[str | None]) -> Key:
        return tuple(
            key_value(t if t is not None else "", f.kind)
            for t, f in zip(texts[: self.key_count], self.key_fields, strict=True)
        )

    def _hash_stream(
        self, rows: Iterable[Sequence[Any]], spec: BucketSpec
    ) -> list[tuple[int, int]]:
        out = [[0, 0] for _ in range(spec.n)]
        for raw in rows:
            texts = self.render_row(raw)
            slot = out[spec.index(self.key_of(texts))]
            slot[0] += 1
            slot[1] += row_hash([NULL_MARK if t is None else t for t in texts])
        return [(c, s) for c, s in out]

    # Subclasses implement: stats, buckets, boundaries, rows, rows_for, keys_only.


class SQLSide(Side):
    def __init__(self, *args: Any, dialect: str, in_db: bool, reason: str = "", **kw: Any):
        super().__init__(*args, **kw)
        self.dialect = dialect
        self.in_db = in_db
        self.hashing = "database" if in_db else "client"
        self.hashing_reason = reason
        d = dialect
        self.quoted = [sqlrender.quote_ident(f.name, d) for f in self.fields]
        self.from_ = sqlrender.quote_table(self.table, d)
        self.keys = sqlrender.key_sql(
            d, self.quoted[: self.key_count], [(f.kind, f.type_kind) for f in self.key_fields]
        )
        if in_db:
            exprs = [
                sqlrender.field_expr(d, q, f.kind, f.type_kind, self.norm)
                for q, f in zip(self.quoted, self.fields, strict=True)
            ]
            self.exprs = [e for e in exprs if e is not None]
            assert len(self.exprs) == len(exprs)
            self.hash = sqlrender.hash_expr(d, sqlrender.row_text_expr(d, self.exprs))

    def stats(self) -> tuple[int, Any, Any]:
        k = self.keys.exprs[0]
        # min/max only matter (and only exist for every type) for integer keys.
        span = f"min({k}), max({k})" if self.key_fields[0].kind == "int" else "NULL, NULL"
        with self.reader() as r:
            row = r.rows(f"SELECT count(*), {span} FROM {self.from_}")[0]
        return int(row[0]), row[1], row[2]

    def buckets(self, lo: Key | None, hi: Key | None, spec: BucketSpec) -> list[tuple[int, int]]:
        where, params = self.keys.range(lo, hi)
        if not self.in_db:
            return self._hash_stream(self._stream_raw(where, params), spec)
        if spec.width:
            bucket, bparams = self.keys.bucket_by_width(spec.start, spec.width, spec.count), []
        else:
            bucket, bparams = self.keys.bucket_by_bounds(spec.bounds)
        sql = (
            f"SELECT {bucket} AS b, count(*), sum({self.hash}) FROM {self.from_} "
            f"WHERE {where} GROUP BY 1"
        )
        with self.reader() as r:
            got = r.rows(sql, bparams + params)
        out = [(0, 0)] * spec.n
        for b, c, s in got:
            out[int(b)] = (int(c), int(s or 0))
        return out

    def _stream_raw(self, where: str, params: list) -> Iterator[tuple]:
        sql = (
            f"SELECT {', '.join(self.quoted)} FROM {self.from_} WHERE {where} "
            f"ORDER BY {self.keys.order_by()}"
        )
        with self.reader() as r:
            yield from r.stream(sql, params)

    def boundaries(self, lo: Key | None, hi: Key | None, count: int, n: int) -> list[Key]:
        """About n-1 keys splitting [lo, hi) into n parts of equal row counts."""
        step = max(1, -(-count // n))
        where, params = self.keys.range(lo, hi)
        keycols = ", ".join(self.quoted[: self.key_count])
        sql = (
            f"SELECT {keycols} FROM (SELECT {keycols}, row_number() OVER (ORDER BY "
            f"{self.keys.order_by()}) AS dm_rn FROM {self.from_} WHERE {where}) dm_s "
            f"WHERE {self._mod('dm_rn', step)} = 1 AND dm_rn > 1 ORDER BY dm_rn"
        )
        with self.reader() as r:
            got = r.rows(sql, params)
        keys = []
        for row in got:
            texts = [
                render(v, f.kind, self.norm) for v, f in zip(row, self.key_fields, strict=True)
            ]
            keys.append(self.key_of(texts))
        return keys

    def random_keys(self, n: int) -> list[Key]:
        rand = dialect_of(self.dialect).random_function
        keycols = ", ".join(self.quoted[: self.key_count])
        with self.reader() as r:
            got = r.rows(f"SELECT {keycols} FROM {self.from_} ORDER BY {rand} LIMIT {int(n)}")
        return [
            self.key_of(
                [render(v, f.kind, self.norm) for v, f in zip(row, self.key_fields, strict=True)]
            )
            for row in got
        ]

    def _mod(self, expr: str, n: int) -> str:
        return dialect_of(self.dialect).modulo(expr, n)

    def rows(self, lo: Key | None, hi: Key | None) -> Rows:
        where, params = self.keys.range(lo, hi)
        return self._rows(where, params)

    def rows_for(self, keys: Sequence[Key]) -> Rows:
        out: Rows = {}
        for i in range(0, len(keys), 500):
            where, params = self.keys.in_list(list(keys[i : i + 500]))
            out.update(self._rows(where, params))
        return out

    def _rows(self, where: str, params: list) -> Rows:
        out: Rows = {}
        if self.in_db:
            sql = (
                f"SELECT {', '.join(self.exprs)} FROM {self.from_} WHERE {where} "
                f"ORDER BY {self.keys.order_by()}"
            )
            with self.reader() as r:
                for texts in r.rows(sql, params):
                    out[self.key_of(texts)] = list(texts)
            return out
        for raw in self._stream_raw(where, params):
            texts = self.render_row(raw)
            out[self.key_of(texts)] = texts
        return out

    def ordered_keys(self) -> Iterator[tuple[Any, ...]]:
        """Every key in key order as the driver returns it, streamed (a few bytes a row):
        what a spread sample of keys is drawn from (validate/shadow); `raw_key` makes the
        few drawn ones keys."""
        keycols = ", ".join(self.quoted[: self.key_count])
        sql = f"SELECT {keycols} FROM {self.from_} ORDER BY {self.keys.order_by()}"
        with self.reader() as r:
            yield from r.stream(sql)

    def keys_only(self, lo: Key | None, hi: Key | None, cap: int) -> tuple[list[Key], int]:
        where, params = self.keys.range(lo, hi)
        keycols = ", ".join(self.quoted[: self.key_count])
        sql = (
            f"SELECT {keycols} FROM {self.from_} WHERE {where} "
            f"ORDER BY {self.keys.order_by()} LIMIT {int(cap)}"
        )
        with self.reader() as r:
            got = r.rows(sql, params)
            total = int(r.scalar(f"SELECT count(*) FROM {self.from_} WHERE {where}", params))
        keys = [
            self.key_of(
                [render(v, f.kind, self.norm) for v, f in zip(row, self.key_fields, strict=True)]
            )
            for row in got
        ]
        return keys, total


class MongoSide(Side):
    """Documents as the mapped form of rows: one document per row, fields named like columns
    (or as `Field.name` says), the key either a field of that name or `_id`."""

    dialect = "mongodb"

    def __init__(self, *args: Any, key_types: Mapping[str, str] | None = None, **kw: Any) -> None:
        super().__init__(*args, **kw)
        #: how the collection stores each key field ("objectId": ranges need ObjectIds back)
        self.key_types = dict(key_types or {})
        self.hashing = "client"
        self.hashing_reason = "MongoDB has no server-side md5: hashed on the client, streaming"
        self.names = [f.name for f in self.fields]
        self.key_names = self.names[: self.key_count]

    def _stored(self, key: Key) -> Key:
        return tuple(
            MongoReader.stored(v, self.key_types.get(n))
            for v, n in zip(key, self.key_names, strict=True)
        )

    def _filter(self, lo: Key | None, hi: Key | None) -> dict[str, Any]:
        parts: list[dict[str, Any]] = []
        if lo is not None:
            parts.append(self._compare(lo, "$gt", "$gte"))
        if hi is not None:
            parts.append(self._compare(hi, "$lt", "$lt"))
        if not parts:
            return {}
        return parts[0] if len(parts) == 1 else {"$and": parts}

    def _compare(self, key: Key, strict: str, last: str) -> dict[str, Any]:
        """Row-value comparison (a, b) op (x, y) spelled as MongoDB's $or of prefixes."""
        names = self.key_names
        key = self._stored(key)
        if len(names) == 1:
            return {names[0]: {last: key[0]}}
        ors = []
        for i in range(len(names)):
            cond = {names[j]: key[j] for j in range(i)}
            cond[names[i]] = {strict if i < len(names) - 1 else last: key[i]}
            ors.append(cond)
        return {"$or": ors}

    def _docs(self, filter: dict[str, Any], names: Sequence[str] | None = None) -> Iterator[tuple]:
        names = list(names or self.names)
        sort = [(n, 1) for n in self.key_names]
        with self.reader() as r:
            assert isinstance(r, MongoReader)
            absent = None if self.norm.null_equals_missing else MISSING
            for doc in r.find(self.table, filter, names, sort):
                yield tuple(doc.get(n, absent) for n in names)

    def stats(self) -> tuple[int, Any, Any]:
        k = self.key_names[0]
        with self.reader() as r:
            count = r.count(self.table)
            first = next(r.find(self.table, {}, [k], [(k, 1)], limit=1), None)
            last = next(r.find(self.table, {}, [k], [(k, -1)], limit=1), None)
        return count, (first or {}).get(k), (last or {}).get(k)

    def buckets(self, lo: Key | None, hi: Key | None, spec: BucketSpec) -> list[tuple[int, int]]:
        return self._hash_stream(self._docs(self._filter(lo, hi)), spec)

    def boundaries(self, lo: Key | None, hi: Key | None, count: int, n: int) -> list[Key]:
        step = max(1, -(-count // n))
        out = []
        for i, raw in enumerate(self._docs(self._filter(lo, hi), self.key_names)):
            if i and i % step == 0:
                out.append(
                    tuple(
                        key_value(render(v, f.kind, self.norm), f.kind)
                        for v, f in zip(raw, self.key_fields, strict=True)
                    )
                )
        return out

    def random_keys(self, n: int) -> list[Key]:
        """Keys of `n` documents picked by the server (`$sample`)."""
        project = {name: 1 for name in self.key_names}
        pipeline = [{"$sample": {"size": int(n)}}, {"$project": project}]
        with self.reader() as r:
            assert isinstance(r, MongoReader)
            docs = r.aggregate(self.table, pipeline)
        return [
            tuple(
                key_value(render(d.get(f.name), f.kind, self.norm), f.kind) for f in self.key_fields
            )
            for d in docs
        ]

    def ordered_keys(self) -> Iterator[tuple[Any, ...]]:
        """Every key in key order as stored, streamed (see SQLSide.ordered_keys)."""
        yield from self._docs({}, self.key_names)

    def rows(self, lo: Key | None, hi: Key | None) -> Rows:
        out: Rows = {}
        for raw in self._docs(self._filter(lo, hi)):
            texts = self.render_row(raw)
            out[self.key_of(texts)] = texts
        return out

    def rows_for(self, keys: Sequence[Key]) -> Rows:
        out: Rows = {}
        for i in range(0, len(keys), 500):
            chunk = [self._stored(k) for k in keys[i : i + 500]]
            if self.key_count == 1:
                flt: dict[str, Any] = {self.key_names[0]: {"$in": [k[0] for k in chunk]}}
            else:
                flt = {"$or": [dict(zip(self.key_names, k, strict=True)) for k in chunk]}
            for raw in self._docs(flt):
                texts = self.render_row(raw)
                out[self.key_of(texts)] = texts
        return out

    def keys_only(self, lo: Key | None, hi: Key | None, cap: int) -> tuple[list[Key], int]:
        keys = []
        total = 0
        for raw in self._docs(self._filter(lo, hi), self.key_names):
            total += 1
            if len(keys) < cap:
                keys.append(
                    tuple(
                        key_value(render(v, f.kind, self.norm), f.kind)
                        for v, f in zip(raw, self.key_fields, strict=True)
                    )
                )
        return keys, total
