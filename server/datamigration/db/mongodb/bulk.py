"""MongoDB as a copy target (see `db.bulk` for the contract the SQL backends share).

One document per row: the row's columns become fields and `_id` is the primary key's value
(a composite key becomes an embedded document of its columns), so a rerun replaces instead
of duplicating. A first attempt loads with `insert_many(ordered=False)`; a retried partition
(`replace=True`) with `replace_one(upsert=True)` batches through `bulk_write`. MongoDB has no
multi-document transaction on every deployment, so a partition's documents and its state are
written one after the other; a retry replaces what an interrupted attempt left.

The relational-to-document mapping (embedded arrays, references, renames) builds on this
writer: it decides the documents, this module stores them (`write_documents`).
"""

from __future__ import annotations

import datetime as dt
import decimal
import json
import uuid
from collections.abc import Mapping, Sequence
from typing import Any, Self

from bson import Binary, Decimal128, json_util
from pymongo import ReplaceOne
from pymongo import errors as pme

from datamigration.db.bulk import BulkWriter, CopyStateStore, Refused, state_record
from datamigration.db.model import Table
from datamigration.db.mongodb.source import MongoSource


def bson_value(v: Any) -> Any:
    """A SQL driver's value as the BSON type the type map chose (Decimal128 for numeric,
    dates for timestamps, binData subtype 4 for uuid)."""
    if isinstance(v, decimal.Decimal):
        return Decimal128(v)
    if isinstance(v, dt.datetime):
        return v
    if isinstance(v, dt.date):
        return dt.datetime(v.year, v.month, v.day)
    if isinstance(v, (dt.time, dt.timedelta)):
        return str(v)
    if isinstance(v, uuid.UUID):
        return Binary.from_uuid(v)
    if isinstance(v, memoryview):
        return bytes(v)
    return v


class MongoBulkWriter(BulkWriter):
    def __init__(
        self,
        backend: Any,
        table: str,
        columns: Sequence[str],
        key: Sequence[str],
        types: Sequence[str] | None = None,
    ) -> None:
        self.b = backend
        self.table = table
        self.columns = tuple(columns)
        self.key_at = tuple(self.columns.index(k) for k in key)
        self.key = tuple(key)
        self.coll = backend.db[table]

    def __enter__(self) -> Self:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, *exc: object) -> None:
        return None

    def document(self, row: Sequence[Any]) -> dict[str, Any]:
        doc = {c: bson_value(v) for c, v in zip(self.columns, row, strict=True)}
        if len(self.key) == 1:
            doc["_id"] = doc.get(self.key[0])
        else:
            doc["_id"] = {k: doc.get(k) for k in self.key}
        return doc

    def write(self, rows: Sequence[Sequence[Any]], *, replace: bool = False) -> list[Refused]:
        docs = [self.document(r) for r in rows]
        return self.write_documents(docs, rows, replace=replace)

    def write_documents(
        self, docs: Sequence[dict[str, Any]], rows: Sequence[Any], *, replace: bool = False
    ) -> list[Refused]:
        """Store prepared documents (each with its `_id`); `rows[i]` is what a refusal of
        `docs[i]` reports."""
        if not docs:
            return []
        try:
            self.b.counter.add("bulk_write" if replace else "insert_many")
            if replace:
                ops = [ReplaceOne({"_id": d["_id"]}, d, upsert=True) for d in docs]
                self.coll.bulk_write(ops, ordered=False)
            else:
                self.coll.insert_many(docs, ordered=False)
        except pme.BulkWriteError as exc:
            errors = exc.details.get("writeErrors", [])
            return [
                Refused(tuple(rows[e["index"]]), str(e.get("errmsg", ""))[:500]) for e in errors
            ]
        except pme.PyMongoError as exc:
            raise self.b._error(exc, f"load documents into {self.table}") from None
        return []

    def put_state(self, state_table: str, records: Sequence[Mapping[str, Any]]) -> None:
        MongoCopyState(self.b, state_table).put(records)


class MongoCopyState(CopyStateStore):
    def __init__(self, backend: Any, name: str) -> None:
        self.b = backend
        self.coll = backend.db[name]

    def ensure(self) -> None:
        return None

    def rows(self, run_id: str | None = None) -> list[dict[str, Any]]:
        filt = {} if run_id is None else {"run_id": run_id}
        out = []
        for d in self.b._call("find state", lambda: list(self.coll.find(filt))):
            d.pop("_id", None)
            for k in ("lo", "hi", "info"):
                if isinstance(d.get(k), str):
                    d[k] = json.loads(d[k])
            out.append(state_record(**d))
        return out

    def put(self, records: Sequence[Mapping[str, Any]]) -> None:
        ops = []
        for rec in records:
            full = state_record(**rec)
            for k in ("lo", "hi", "info"):
                if full[k] is not None:
                    full[k] = json.dumps(full[k], default=str)
            ident = f"{full['run_id']}/{full['tbl']}/{full['part']}"
            ops.append(ReplaceOne({"_id": ident}, {"_id": ident, **full}, upsert=True))
        if ops:
            self.b._call("write state", self.coll.bulk_write, ops)

    def drop_run(self, run_id: str) -> None:
        self.b._call("drop state", self.coll.delete_many, {"run_id": run_id})
        if not self.b._call("count state", self.coll.count_documents, {}):
            self.b._call("drop state", self.coll.drop)


class MongoBulk(MongoSource):
    """The copy-target (and, through `MongoSource`, copy-source) methods of the MongoDB backend (mixed into `MongoBackend`)."""

    raw_format: str | None = None  # documents are built per row, never streamed as bytes
    parallel_after_load = False  # one createIndex after the other

    def create_table_statements(self, table: Table) -> list[str]:
        return [f"db.createCollection({json.dumps(table.name)})"]

    def after_load_statements(self, table: Table, present: Table | None) -> list[str]:
        return [
            f"db.{table.name}.createIndex({json_util.dumps(spec)}, {json_util.dumps(opts)})"
            for spec, opts in _index_specs(table)
        ]

    def identity_statements(self, table: Table, maxima: Mapping[str, Any]) -> list[str]:
        return []

    def create_target(self, table: Table) -> None:
        names = self._call("listCollections", self.db.list_collection_names)  # type: ignore[attr-defined]
        if table.name not in names:
            self._call("createCollection", self.db.create_collection, table.name)  # type: ignore[attr-defined]

    def finish_target(self, table: Table, present: Table | None, maxima: Mapping[str, Any]) -> int:
        specs = _index_specs(table)
        coll = self.db[table.name]  # type: ignore[attr-defined]
        for spec, opts in specs:
            self._call("createIndex", coll.create_index, list(spec.items()), **opts)  # type: ignore[attr-defined]
        return len(specs)

    def describe_target(self, name: str) -> tuple[Table | None, int]:
        names = self._call("listCollections", self.db.list_collection_names)  # type: ignore[attr-defined]
        if name not in names:
            return None, 0
        return Table(name=name), self.exact_count(name)  # type: ignore[attr-defined]

    def truncate_targets(self, names: Sequence[str]) -> None:
        for name in names:
            self._call("deleteMany", self.db[name].delete_many, {})  # type: ignore[attr-defined]

    def bulk_writer(
        self,
        table: str,
        columns: Sequence[str],
        key: Sequence[str],
        types: Sequence[str] | None = None,
    ) -> MongoBulkWriter:
        return MongoBulkWriter(self, table, columns, key, types)

    def copy_state_table(self, name: str) -> MongoCopyState:
        return MongoCopyState(self, name)

    def release_foreign_keys(self, present: Table, copied: Sequence[str]) -> list[str]:
        return []

    def sync_state_table(self, name: str) -> Any:
        from datamigration.db.mongodb.syncstate import MongoSyncState

        return MongoSyncState(self, name)

    def apply_document_changes(self, collection: str, ops: Sequence[Mapping[str, Any]]) -> int:
        """Run the applier's operations on `collection` in order (`db.mongodb.changes`)."""
        from datamigration.db.mongodb.changes import DocumentChanges

        if getattr(self, "_changes", None) is None:
            self._changes = DocumentChanges(self)
        return self._changes.run(collection, ops)

    def before_load(self) -> None:
        return None


def _index_specs(table: Table) -> list[tuple[dict[str, int], dict[str, Any]]]:
    out: list[tuple[dict[str, int], dict[str, Any]]] = []
    for u in table.uniques:
        out.append(
            ({c: 1 for c in u.columns}, {"unique": True, "name": u.name or "_".join(u.columns)})
        )
    for ix in table.indexes:
        if ix.definition and ix.definition.startswith("{"):  # a MongoDB index, copied whole
            spec = dict(json_util.loads(ix.definition))
            out.append((dict(spec.pop("key")), spec))
            continue
        out.append(({c: 1 for c in ix.columns}, {"unique": ix.unique, "name": ix.name}))
    return out
