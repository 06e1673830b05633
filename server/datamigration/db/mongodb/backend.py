"""MongoDB backend (pymongo): collections with counts, sizes, indexes, validators and a sampled
schema; a read-only find/aggregate/count query path; keyset reading by ``_id``.

Introspection samples documents as raw BSON (see `sample`) so int vs long and other
types a migration depends on are exact. The sample is every document when the collection is no
larger than the sample size (deterministic), else ``$sample`` of that size. The sample size
comes from `inspect(sample_size=...)`, else the connection option ``sample_size``, else 1000.

The query path accepts only the three read shapes of `guard` and refuses write stages
and server-side JavaScript before anything is sent; every call carries ``maxTimeMS``.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterator, Sequence
from typing import Any

import pymongo
from bson import json_util
from bson.codec_options import CodecOptions
from bson.raw_bson import RawBSONDocument
from pymongo import errors as pme

from datamigration.db import model as m
from datamigration.db.base import DEFAULT_MAX_ROWS, Backend, register_backend
from datamigration.db.contracts import QueryResult, RowBatch, TableSize, elapsed_ms
from datamigration.db.errors import (
    AuthenticationFailedError,
    ConnectionFailedError,
    QueryTimeoutError,
    translate,
)
from datamigration.db.mongodb.backup import MongoBackup
from datamigration.db.mongodb.bulk import MongoBulk
from datamigration.db.mongodb.dialect import MongoDialect
from datamigration.db.mongodb.guard import MongoQuery, parse_query
from datamigration.db.mongodb.metrics import MongoMetrics
from datamigration.db.mongodb.sample import SchemaSampler
from datamigration.db.readonly import MAX_RESULT_BYTES, clamp_rows, fetch_capped, now
from datamigration.errors import DatabaseError, NotFoundError, UserInputError

DEFAULT_SAMPLE_SIZE = 1000
_RAW = CodecOptions(document_class=RawBSONDocument)
_AUTH_CODES = {18, 13}  # AuthenticationFailed, Unauthorized
_TIMEOUT_CODES = {50}  # MaxTimeMSExpired
_EJSON = json_util.JSONOptions(json_mode=json_util.JSONMode.RELAXED, tz_aware=True)


def to_json_document(doc: Any) -> Any:
    """A document as JSON with BSON types kept visible ({"$oid": ...}, {"$date": ...})."""
    return json.loads(json_util.dumps(doc, json_options=_EJSON))


def new_document_id() -> Any:
    """A fresh ObjectId, the `_id` a MongoDB driver gives a new document (callers outside db/
    never import bson)."""
    from bson import ObjectId

    return ObjectId()


def index_from_spec(spec: dict[str, Any], sizes: dict[str, int] | None = None) -> m.Index:
    """A listIndexes entry as a model Index: ``field:direction`` keys, kind in `method`."""
    key = spec.get("key") or {}
    items = list(key.items()) if hasattr(key, "items") else list(key)
    columns = tuple(f"{f}:{d}" for f, d in items)
    kinds = {str(d) for _, d in items if isinstance(d, str)}
    method = next(iter(kinds)) if kinds else "btree"
    name = str(spec.get("name", "_".join(f"{f}_{d}" for f, d in items)))
    partial = spec.get("partialFilterExpression")
    definition = {k: v for k, v in spec.items() if k not in ("v", "ns")}
    return m.Index(
        name=name,
        columns=columns,
        unique=bool(spec.get("unique")) or name == "_id_",
        method=method,
        predicate=json_util.dumps(partial, json_options=_EJSON) if partial else None,
        primary=name == "_id_",
        size_bytes=(sizes or {}).get(name),
        definition=json_util.dumps(definition, json_options=_EJSON),
    )


def collection_options(info: dict[str, Any]) -> tuple[dict[str, Any] | None, dict[str, Any]]:
    """(validator, other options) from a listCollections entry; options without the validator."""
    options = dict(info.get("options") or {})
    validator = options.pop("validator", None)
    return (dict(validator) if validator else None), options


@register_backend
class MongoBackend(MongoBulk, MongoMetrics, MongoDialect, Backend, MongoBackup):
    schemes = ("mongodb", "mongodb+srv")
    driver = "pymongo"

    server_side_cursors = True  # cursors stream in batches
    concurrent_index = True  # index builds since 4.2 hold an exclusive lock only briefly

    @classmethod
    def segment_reader(cls, url: Any, timeout_ms: int, *, gentle: bool = False) -> Any:
        """The validator's read-only connection (see `segments`)."""
        from datamigration.db.mongodb.segments import MongoReader

        return MongoReader(url, timeout_ms, gentle=gentle)

    def __init__(self, url, **kwargs: Any) -> None:
        super().__init__(url, **kwargs)
        self._client: pymongo.MongoClient | None = None
        opt = url.options.get("sample_size")
        self.sample_size = int(opt) if opt is not None else DEFAULT_SAMPLE_SIZE

    # --- connection ----------------------------------------------------------------------

    def _error(self, exc: Exception, action: str) -> DatabaseError:
        code = getattr(exc, "code", None)
        exc = _shortened(exc)
        kw: dict[str, Any] = {"label": self.label, "action": action, "secrets": self._secrets()}
        if isinstance(exc, pme.ExecutionTimeout) or code in _TIMEOUT_CODES:
            return translate(exc, cls=QueryTimeoutError, **kw)
        if isinstance(exc, pme.OperationFailure) and code in _AUTH_CODES:
            return translate(exc, cls=AuthenticationFailedError, **kw)
        if isinstance(exc, pme.ConnectionFailure | pme.ConfigurationError):
            return translate(exc, cls=ConnectionFailedError, **kw)
        return translate(exc, code=code, **kw)

    def _call(self, action: str, fn: Any, *args: Any, **kwargs: Any) -> Any:
        """Run one driver call; driver errors become ours, redacted and without a chain."""
        self.counter.add(action)
        error: DatabaseError | None = None
        try:
            return fn(*args, **kwargs)
        except pme.PyMongoError as exc:
            error = self._error(exc, action)
        raise error

    def open(self) -> MongoBackend:
        if not self.url.database:
            raise UserInputError(
                f"no database named in {self.label}",
                hint="Name the database in the URL path: mongodb://host:27017/mydb",
            )
        if self._client is None:
            timeout_ms = int(self.connect_timeout * 1000)
            error: DatabaseError | None = None
            try:
                self._client = pymongo.MongoClient(
                    self.url.url,
                    serverSelectionTimeoutMS=timeout_ms,
                    connectTimeoutMS=timeout_ms,
                    appname="datamigration",
                )
            except pme.PyMongoError as exc:
                error = self._error(exc, "connect")
            if error is not None:
                raise error
            failure: DatabaseError | None = None
            try:
                self._call("connect", self._client.admin.command, "ping")
            except DatabaseError as exc:
                failure = exc
            except Exception as exc:  # noqa: BLE001 - a server that breaks the auth handshake
                cls = AuthenticationFailedError if self.url.username else ConnectionFailedError
                failure = translate(
                    RuntimeError(f"the handshake failed ({type(exc).__name__}: {exc})"),
                    label=self.label, action="connect", secrets=self._secrets(), cls=cls,
                )  # fmt: skip
            if failure is not None:
                self.close()
                raise failure
        return self

    @property
    def client(self) -> pymongo.MongoClient:
        if self._client is None:
            self.open()
        assert self._client is not None
        return self._client

    @property
    def db(self) -> Any:
        return self.client[self.url.database or ""]

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None

    def server_version(self) -> str | None:
        info = self._call("buildInfo", self.db.command, "buildInfo")
        return str(info.get("version")) if info.get("version") else None

    # --- introspection -------------------------------------------------------------------

    def inspect(
        self,
        *,
        tables: Sequence[str] | None = None,
        exact_counts: bool = False,
        sample_size: int | None = None,
    ) -> m.Schema:
        start = self.counter.count
        size = self.sample_size if sample_size is None else int(sample_size)
        if size < 0:
            raise UserInputError("sample_size must be 0 or more", hint="Use e.g. 1000.")
        listing = self._call("listCollections", lambda: list(self.db.list_collections()))
        wanted = set(tables) if tables is not None else None
        collections = []
        for info in sorted(listing, key=lambda i: i.get("name", "")):
            name = info.get("name", "")
            if info.get("type", "collection") != "collection" or name.startswith("system."):
                continue
            if wanted is not None and name not in wanted:
                continue
            collections.append(self._inspect_collection(name, info, size, exact_counts))
        if wanted is not None:
            missing = sorted(wanted - {c.name for c in collections})
            if missing:
                raise NotFoundError(
                    f"no collection {', '.join(missing)} in {self.label}",
                    hint="List the collections with: datamigration inspect <url>",
                    missing=missing,
                )
        return m.Schema(
            dialect="mongodb",
            database=self.url.database,
            collections=tuple(collections),
            server_version=self.server_version(),
            query_count=self.counter.count - start,
        )

    def _inspect_collection(
        self, name: str, info: dict[str, Any], sample_size: int, exact: bool
    ) -> m.Collection:
        validator, options = collection_options(info)
        stats = self._coll_stats(name)
        coll = self.db[name]
        count = stats.get("count")
        if exact or count is None:
            count = self._call("countDocuments", coll.count_documents, {})
        sizes = {str(k): int(v) for k, v in (stats.get("indexSizes") or {}).items()}
        specs = self._call("listIndexes", lambda: list(coll.list_indexes()))
        indexes = tuple(index_from_spec(dict(s), sizes) for s in specs)
        sampler = SchemaSampler()
        if sample_size > 0:
            raw = self.db.get_collection(name, codec_options=_RAW)
            if count is not None and count <= sample_size:
                cursor_fn = lambda: raw.find({}, max_time_ms=self.statement_timeout_ms)
            else:
                cursor_fn = lambda: raw.aggregate(
                    [{"$sample": {"size": sample_size}}], maxTimeMS=self.statement_timeout_ms
                )
            self._call("sample", lambda: sampler.add_all(cursor_fn()))
        return m.Collection(
            name=name,
            document_count=int(count) if count is not None else None,
            size_bytes=_int_or_none(stats.get("size")),
            indexes=indexes,
            validator=to_json_document(validator) if validator is not None else None,
            fields=sampler.fields(),
            sampled=sampler.sampled,
            capped=bool(options.get("capped") or stats.get("capped")),
            options=to_json_document(options),
        )

    def _coll_stats(self, name: str) -> dict[str, Any]:
        """collStats (count, size, index sizes); {} when the server refuses it."""
        try:
            return dict(self._call("collStats", self.db.command, "collStats", name))
        except DatabaseError:
            return {}

    def exact_count(self, table: str) -> int:
        return int(self._call("countDocuments", self.db[table].count_documents, {}))

    def table_sizes(self) -> dict[str, TableSize]:
        names = self._call("listCollections", self.db.list_collection_names)
        out = {}
        for name in sorted(n for n in names if not n.startswith("system.")):
            s = self._coll_stats(name)
            out[name] = TableSize(
                table=name,
                row_estimate=_int_or_none(s.get("count")),
                size_bytes=_int_or_none(s.get("size")),
                index_bytes=_int_or_none(s.get("totalIndexSize")),
                total_bytes=_int_or_none(s.get("storageSize")),
            )
        return out

    # --- the read-only query path --------------------------------------------------------

    def query(
        self,
        sql: str,
        *,
        max_rows: int = DEFAULT_MAX_ROWS,
        timeout_ms: int | None = None,
        offset: int = 0,
    ) -> QueryResult:
        """Run one find / aggregate / count given as JSON (see `guard`)."""
        q = parse_query(sql)
        max_rows = clamp_rows(max_rows)
        timeout = int(timeout_ms or self.statement_timeout_ms)
        if q.max_time_ms:
            timeout = min(timeout, q.max_time_ms)
        started = now()
        coll = self.db[q.collection]
        if q.kind == "count":
            kwargs: dict[str, Any] = {"maxTimeMS": timeout}
            if q.limit:
                kwargs["limit"] = q.limit
            if q.skip:
                kwargs["skip"] = q.skip
            n = self._call("count", coll.count_documents, dict(q.filter), **kwargs)
            return QueryResult(("count",), ((int(n),),), False, 1, elapsed_ms(started))
        return self._call(f"{q.kind}", self._fetch, coll, q, max_rows, timeout, offset, started)

    def _fetch(
        self,
        coll: Any,
        q: MongoQuery,
        max_rows: int,
        timeout: int,
        offset: int,
        started: float,
    ) -> QueryResult:
        """At most max_rows documents after the first `offset` (a page), under the same byte
        caps as the SQL backends (one document is one value: up to a whole answer's size it is
        kept as a document, past that cut to text); documents are streamed, never all kept."""
        want = max_rows + 1 + offset
        if q.kind == "find":
            limit = want if q.limit in (None, 0) else min(q.limit, want)
            cursor = coll.find(
                dict(q.filter),
                dict(q.projection) if q.projection is not None else None,
                sort=list(q.sort) or None,
                skip=q.skip,
                limit=limit,
                max_time_ms=timeout,
            )
        else:
            cursor = coll.aggregate(
                [dict(s) for s in q.pipeline], maxTimeMS=timeout, batchSize=min(want, 1000)
            )
        with cursor:
            return fetch_capped(
                _DocumentRows(cursor),
                ("document",),
                max_rows,
                started,
                skip=offset,
                max_value_bytes=MAX_RESULT_BYTES,
            )

    # --- document operations (executor) ---------------------------------------------------

    def apply_document_operation(
        self, op: Any, *, resume: Sequence[Any] | None = None
    ) -> dict[str, Any]:
        """Run one plan document operation (one batch of a batched one; see `operations`):
        the executor's only way to write to MongoDB. Returns plain counts; a batched
        operation also returns ``last_key`` (its checkpoint) and ``finished``."""
        from datamigration.db.mongodb import operations

        return self._call(
            f"document:{op.get('op')}",
            operations.apply,
            self.db,
            op,
            resume=tuple(resume) if resume is not None else None,
            timeout_ms=self.statement_timeout_ms,
        )

    def drop_database(self) -> None:
        """Drop the database the URL names (the demo's throwaway sample database)."""
        self._call("dropDatabase", self.client.drop_database, self.url.database or "")

    def _probe_read(self, target: str | None, timeout_ms: int) -> None:
        """One small read of the collection `target` (the backfill throttle's probe); without
        one, a round trip to the server (the monitor's trivial probe)."""
        if not target:
            self._call("probe", self.db.command, "ping")
            return
        self._call("probe", self.db[target].find_one, {}, {"_id": 1})

    # --- keyset reading (mover, validator) -----------------------------------------------

    def iter_rows(
        self,
        table: str,
        key_columns: Sequence[str] = ("_id",),
        columns: Sequence[str] | None = None,
        batch_size: int = 1000,
        start_after: Sequence[Any] | None = None,
        end_at: Sequence[Any] | None = None,
    ) -> Iterator[RowBatch]:
        """Documents in `_id` order, `batch_size` at a time; each row is (document,)."""
        if tuple(key_columns) != ("_id",):
            raise UserInputError(
                "MongoDB documents are read in _id order only",
                hint='Pass key_columns=("_id",).',
            )
        projection = {c: 1 for c in columns} if columns else None
        coll = self.db[table]
        last = start_after[0] if start_after else None
        while True:
            cond: dict[str, Any] = {}
            if last is not None:
                cond["$gt"] = last
            if end_at:
                cond["$lte"] = end_at[0]
            filt = {"_id": cond} if cond else {}
            docs = self._call(
                "find",
                lambda f=filt: list(
                    coll.find(
                        f,
                        projection,
                        sort=[("_id", 1)],
                        limit=batch_size,
                        max_time_ms=self.statement_timeout_ms,
                    )
                ),
            )
            if not docs:
                return
            last = docs[-1]["_id"]
            yield RowBatch(("document",), [(d,) for d in docs], (last,))
            if len(docs) < batch_size:
                return


def _shortened(exc: Exception) -> Exception:
    """pymongo appends the whole topology description to selection errors; keep the cause."""
    text = str(exc)
    for cut in (", Timeout:", " (configured timeouts"):
        if cut in text:
            text = text.split(cut, 1)[0]
    if text == str(exc):
        return exc
    try:
        return type(exc)(text)
    except Exception:  # noqa: BLE001 - an exception type with another signature
        return RuntimeError(text)


def _int_or_none(value: Any) -> int | None:
    try:
        return int(value) if value is not None else None
    except (TypeError, ValueError):
        return None


class _DocumentRows:
    """A pymongo cursor seen as a DB-API cursor of one-column rows (`fetch_capped` reads it)."""

    def __init__(self, cursor: Any) -> None:
        self._docs = iter(cursor)

    def fetchmany(self, size: int) -> list[tuple[Any]]:
        return [(to_json_document(doc),) for doc in itertools.islice(self._docs, size)]
