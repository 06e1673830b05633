"""MongoDB as a copy source: key ranges over `_id` and documents flattened into rows.

`key_boundaries` walks `_id` in order (an index-only scan of `{_id: 1}`) and keeps every
`every`-th value; bounds are stored as relaxed extended JSON (`{"$oid": ...}`, `{"$date":
...}`), so the state table on any target holds them and a resumed run reads the same ranges
back (`decode_key`). MongoDB's range operators only match values of the bound's BSON type, so
a collection whose smallest and largest `_id` differ in type is never cut (one partition).
`read_range` streams the documents of `lo < _id <= hi` with a cursor of `batch` documents.

`flatten(doc, columns, bson_types)` makes one row for a SQL target: each top-level field in
the column's type (ObjectId as its 24 hex digits, Decimal128 as a decimal, dates as UTC
timestamps), nested documents, arrays and mixed fields as relaxed extended JSON text. A value
whose BSON type is not the column's, or a field with no column, is an error for that document
(the caller sets it aside), never a silent drop.
"""

from __future__ import annotations

import datetime as dt
import decimal
import json
from collections.abc import Iterator, Sequence
from typing import Any

from bson import Binary, Decimal128, ObjectId, json_util

#: the pseudo column that carries the whole document (a MongoDB to MongoDB copy)
WHOLE_DOCUMENT = "$document"

_JSON_KINDS = ("object", "array", "mixed")


def encode_key(values: Sequence[Any]) -> tuple[Any, ...]:
    return tuple(json.loads(json_util.dumps(v)) for v in values)


def decode_key(values: Sequence[Any] | None) -> Any:
    return None if values is None else json_util.loads(json.dumps(values[0]))


def as_json(v: Any) -> str:
    return json_util.dumps(v, json_options=json_util.RELAXED_JSON_OPTIONS)


def jsonable_row(row: Sequence[Any]) -> tuple[Any, ...]:
    """A row as plain JSON values (for the rejects file)."""
    return tuple(json.loads(as_json(v)) for v in row)


def _decimal(v: Any) -> Any:
    if isinstance(v, Decimal128):
        return v.to_decimal()
    if isinstance(v, (int, float)) and not isinstance(v, bool):
        return decimal.Decimal(v)
    return None


def _scalar(kind: str, v: Any) -> Any:
    """`v` as the column's SQL value; raises ValueError when its BSON type is another."""
    ok = {
        "objectId": lambda: str(v) if isinstance(v, ObjectId) else None,
        "string": lambda: v if isinstance(v, str) else None,
        "bool": lambda: v if isinstance(v, bool) else None,
        "int": lambda: v if isinstance(v, int) and not isinstance(v, bool) else None,
        "long": lambda: v if isinstance(v, int) and not isinstance(v, bool) else None,
        "double": lambda: (
            float(v) if isinstance(v, (int, float)) and not isinstance(v, bool) else None
        ),
        "decimal": lambda: _decimal(v),
        "date": lambda: v.replace(tzinfo=dt.UTC) if isinstance(v, dt.datetime) else None,
        "binData": lambda: bytes(v) if isinstance(v, (bytes, Binary)) else None,
    }.get(kind)
    out = ok() if ok is not None else None
    if out is None:
        raise ValueError(f"{type(v).__name__} value {as_json(v)[:80]} does not fit a {kind} column")
    return out


def flatten(doc: dict[str, Any], columns: Sequence[str], kinds: Sequence[str]) -> tuple[Any, ...]:
    """One document as a row of `columns` (see the module docstring); ValueError on a misfit."""
    extra = [k for k in doc if k not in columns]
    if extra:
        raise ValueError(f"field(s) {', '.join(extra)} have no column (not seen when sampling)")
    row = []
    for c, kind in zip(columns, kinds, strict=True):
        v = doc.get(c)
        if v is None:
            row.append(None)
        elif kind in _JSON_KINDS:
            if (kind == "object" and not isinstance(v, dict)) or (
                kind == "array" and not isinstance(v, list)
            ):
                raise ValueError(f"{c}: {type(v).__name__} value does not fit a {kind} column")
            row.append(as_json(v))
        else:
            try:
                row.append(_scalar(kind, v))
            except ValueError as exc:
                raise ValueError(f"{c}: {exc}") from None
    return tuple(row)


class MongoSource:
    """The copy-source methods of the MongoDB backend (mixed into `MongoBackend`)."""

    def column_maxima(self, table: str, columns: Sequence[str]) -> dict[str, Any]:
        return {}  # a collection has no identity columns to move past the copied maximum

    def key_boundaries(self, table: str, key: Sequence[str], every: int) -> list[tuple[Any, ...]]:
        coll = self.db[table]  # type: ignore[attr-defined]

        def scan() -> list[tuple[Any, ...]]:
            ends = [d["_id"] for s in (1, -1) for d in coll.find({}, {"_id": 1}).sort("_id", s).limit(1)]  # fmt: skip
            if len(ends) < 2 or type(ends[0]) is not type(ends[1]):
                return []
            picked = set()
            for i, d in enumerate(coll.find({}, {"_id": 1}).sort("_id", 1).batch_size(10_000)):
                if (i + 1) % every == 0:
                    picked.add(d["_id"])
            # sorted here too: the bounds must rise for the ranges to cover each key once,
            # whatever order the server returned them in
            return [encode_key([v]) for v in sorted(picked)]

        return self._call("find _id bounds", scan)  # type: ignore[attr-defined]

    def read_range(
        self,
        table: str,
        columns: Sequence[str],
        key: Sequence[str],
        lo: Sequence[Any] | None,
        hi: Sequence[Any] | None,
        batch: int,
    ) -> Iterator[list[dict[str, Any]]]:
        """The documents of `lo < _id <= hi` in `_id` order, `batch` at a time (the rows of
        a collection are its documents; the copy's writer flattens them)."""
        rng: dict[str, Any] = {}
        if lo is not None:
            rng["$gt"] = decode_key(lo)
        if hi is not None:
            rng["$lte"] = decode_key(hi)
        cursor = self.db[table].find({"_id": rng} if rng else {}).sort("_id", 1).batch_size(batch)  # type: ignore[attr-defined]
        out: list[dict[str, Any]] = []
        for doc in cursor:
            out.append(doc)
            if len(out) >= batch:
                yield out
                out = []
        if out:
            yield out
