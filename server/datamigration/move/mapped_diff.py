"""The checksum diff of a mapped collection: the root table against the documents, and every
embedded table against the arrays that hold its rows.

A document is turned back into the rows it was built from: the root row (its key read from
`_id`, the wrapped `_id` or its own fields, as the mapping's id strategy put it) and, for each
embedded array, one row per element with the parent's key as the child's foreign key. Those
rows are then compared with the source table by the same bisection as every other diff
(`validate/diff_bisect.py`): counts and hash sums per key bucket, row by row only where a bucket
differs. So "the copy is complete" means each table's row count and checksum agree, including
which parent every child row sits under.

The document side is hashed on the client (MongoDB has no md5); each read streams the
collection once (root rows: narrowed on the server to the key range). Arrays with a `limit` hold only part of their table and embedded
documents are copies of parent rows: both are listed as not compared, with the reason.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import replace
from typing import Any

from datamigration.db.mongodb.segments import MongoReader
from datamigration.db.urls import resolve
from datamigration.move.mapping import CollectionMapping, DocumentMapping, Embed, Part
from datamigration.validate.canonical import key_value, render
from datamigration.validate.diff import compare_sides, make_side
from datamigration.validate.diff_plan import DiffOptions, DiffPlan, plan_columns, side_columns
from datamigration.validate.sides import BucketSpec, Key, Rows, Side

Extract = Callable[[Mapping[str, Any]], Iterator[dict[str, Any]]]


def _part_row(part: Part, obj: Mapping[str, Any]) -> dict[str, Any]:
    row = {f.column: obj.get(f.name) for f in part.fields}
    for ref in part.references:
        value = obj.get(ref.name)
        if len(ref.fields) == 1:
            row[ref.fields[0].column] = value
            continue
        for f in ref.fields:
            row[f.column] = value.get(f.name) if isinstance(value, Mapping) else None
    return row


def _root_row(cm: CollectionMapping, doc: Mapping[str, Any]) -> dict[str, Any]:
    row = _part_row(cm.root, doc)
    if cm.id_strategy == "primary_key":
        row[cm.root.key[0]] = doc.get("_id")
    elif cm.id_strategy == "wrapped":
        wrapped = doc.get("_id")
        for f in cm.id_fields:
            row[f.column] = wrapped.get(f.name) if isinstance(wrapped, Mapping) else None
    return row


def rows_of(cm: CollectionMapping, chain: Sequence[Embed]) -> Extract:
    """The rows of the table at the end of `chain` (the root when empty) held in a document."""

    def walk(row: dict[str, Any], obj: Mapping[str, Any], rest: Sequence[Embed]) -> Iterator:
        if not rest:
            yield row
            return
        e = rest[0]
        items = obj.get(e.name)
        for elem in items if isinstance(items, list) else []:
            if not isinstance(elem, Mapping):
                continue
            child = _part_row(e.part, elem)
            for local, remote in zip(e.local, e.remote, strict=True):
                child.setdefault(remote, row.get(local))
            yield from walk(child, elem, rest[1:])

    return lambda doc: walk(_root_row(cm, doc), doc, list(chain))


class DocumentRowsSide(Side):
    """A diff side whose rows are unwound from the documents of one collection."""

    dialect = "mongodb"

    def __init__(self, *args: Any, extract: Extract, key_path: str | None, **kw: Any) -> None:
        super().__init__(*args, **kw)
        self.extract = extract
        self.key_path = key_path
        self.hashing = "client"
        self.hashing_reason = "rows unwound from the documents and hashed on the client"

    def _narrow(self, lo: Key | None, hi: Key | None) -> dict[str, Any]:
        if self.key_path is None or (lo is None and hi is None):
            return {}
        cond = {}
        if lo is not None:
            cond["$gte"] = lo[0]
        if hi is not None:
            cond["$lt"] = hi[0]
        return {self.key_path: cond}

    def _key(self, raw: Sequence[Any]) -> Key:
        return tuple(
            key_value(render(v, f.kind, self.norm) if v is not None else "", f.kind)
            for v, f in zip(raw[: self.key_count], self.key_fields, strict=True)
        )

    def _scan(self, lo: Key | None = None, hi: Key | None = None) -> Iterator[tuple[Key, tuple]]:
        names = [f.name for f in self.fields]
        with self.reader() as r:
            assert isinstance(r, MongoReader)
            for doc in r.find(self.table, self._narrow(lo, hi)):
                for row in self.extract(doc):
                    raw = tuple(row.get(n) for n in names)
                    key = self._key(raw)
                    if (lo is None or key >= lo) and (hi is None or key < hi):
                        yield key, raw

    def stats(self) -> tuple[int, Any, Any]:
        count, lo, hi = 0, None, None
        for key, _ in self._scan():
            count += 1
            k = key[0]
            if isinstance(k, int):
                lo = k if lo is None else min(lo, k)
                hi = k if hi is None else max(hi, k)
        return count, lo, hi

    def buckets(self, lo: Key | None, hi: Key | None, spec: BucketSpec) -> list[tuple[int, int]]:
        return self._hash_stream((raw for _, raw in self._scan(lo, hi)), spec)

    def boundaries(self, lo: Key | None, hi: Key | None, count: int, n: int) -> list[Key]:
        step = max(1, -(-count // n))
        keys = sorted(k for k, _ in self._scan(lo, hi))  # keys only: a few bytes a row
        return [k for i, k in enumerate(keys) if i and i % step == 0]

    def random_keys(self, n: int) -> list[Key]:
        picked: list[Key] = []
        for i, (key, _) in enumerate(self._scan()):
            if i < n:
                picked.append(key)
            elif (j := random.randrange(i + 1)) < n:
                picked[j] = key
        return picked

    def rows(self, lo: Key | None, hi: Key | None) -> Rows:
        return {key: self.render_row(raw) for key, raw in self._scan(lo, hi)}

    def rows_for(self, keys: Sequence[Key]) -> Rows:
        wanted = set(keys)
        return {k: self.render_row(raw) for k, raw in self._scan() if k in wanted}

    def keys_only(self, lo: Key | None, hi: Key | None, cap: int) -> tuple[list[Key], int]:
        keys, total = [], 0
        for key, _ in self._scan(lo, hi):
            total += 1
            if len(keys) < cap:
                keys.append(key)
        return keys, total


def _compared_columns(part: Part, chain: Sequence[Embed], cm: CollectionMapping) -> list[str]:
    cols = [*part.key, *(f.column for f in part.fields)]
    cols += [c for ref in part.references for c in ref.columns]
    if chain:
        cols += list(chain[-1].remote)
    return list(dict.fromkeys(cols))


def _key_path(cm: CollectionMapping, chain: Sequence[Embed], part: Part) -> str | None:
    """Where the root key sits in a document, when one value can narrow a server read.

    Rows of embedded arrays are not narrowed on the server: a range on an array path matches
    a document when any element meets each bound (not one element both), and the test server
    (nx-27017) matches none; the client-side range check is exact either way."""
    if chain or len(part.key) != 1:
        return None
    return cm.key_paths[0]


def mapped_parts(cm: CollectionMapping) -> Iterator[tuple[list[Embed], Part, str | None]]:
    """(chain of embeds, part, why not compared) for the root and every embedded table."""
    yield [], cm.root, None

    def walk(chain: list[Embed], part: Part, above: str | None) -> Iterator:
        for e in part.embeds:
            path = [*chain, e]
            reason = above
            if reason is None and e.kind == "document":
                reason = "an embedded document copies a parent row; not compared"
            elif reason is None and e.limit is not None:
                reason = f"the array keeps at most {e.limit} rows per parent"
            elif reason is None and not e.part.key:
                reason = f"{e.part.table} has no primary key to compare by"
            yield path, e.part, reason
            yield from walk(path, e.part, reason and f"inside {e.name}: {reason}")

    yield from walk([], cm.root, None)


def part_sides(
    source_url: str,
    target_url: str,
    cm: CollectionMapping,
    chain: Sequence[Embed],
    part: Part,
    options: DiffOptions,
    workspace: Any = None,
) -> tuple[Side, DocumentRowsSide, DiffPlan, DiffOptions, list[str]]:
    """The source table's side and the side of the rows the collection holds for it (with
    the plan and options they compare under and the key), opened but not walked."""
    columns = _compared_columns(part, chain, cm)
    src_meta = side_columns(source_url, part.table, workspace)
    dst_meta = ("mongodb", [(c, "", True) for c in columns])
    key = list(part.key)
    o = replace(options, key=tuple(key), columns=tuple(columns), field_map={})
    plan = plan_columns(src_meta, dst_meta, o, key)
    src = make_side(source_url, part.table, src_meta[0], plan.src_fields, plan, o, workspace)
    common = {"pool_size": 1, "workspace": workspace}
    dst = DocumentRowsSide(
        target_url, cm.collection, plan.dst_fields, plan.key_count, plan.norm,
        extract=rows_of(cm, chain), key_path=_key_path(cm, chain, part), **common,
    )  # fmt: skip
    return src, dst, plan, o, key


def diff_part(
    source_url: str,
    target_url: str,
    cm: CollectionMapping,
    chain: Sequence[Embed],
    part: Part,
    options: DiffOptions,
    workspace: Any = None,
) -> dict[str, Any]:
    """Diff one source table against the rows the collection holds for it."""
    started = time.perf_counter()
    src, dst, plan, o, key = part_sides(source_url, target_url, cm, chain, part, options, workspace)
    where = ".".join(e.name for e in chain) or "(documents)"
    labels = (
        {"url": resolve(source_url, workspace).redacted, "table": part.table},
        {"url": resolve(target_url, workspace).redacted, "table": f"{cm.collection}:{where}"},
    )
    return compare_sides(src, dst, plan, o, key, labels, None, started)


def diff_collection(
    source_url: str,
    target_url: str,
    cm: CollectionMapping,
    options: DiffOptions,
    workspace: Any = None,
) -> list[dict[str, Any]]:
    """One entry per mapped table of one collection: its diff report, or why not compared."""
    out = []
    for chain, part, skipped in mapped_parts(cm):
        entry: dict[str, Any] = {
            "collection": cm.collection,
            "table": part.table,
            "path": ".".join(e.name for e in chain),
        }
        if skipped:
            out.append({**entry, "compared": False, "reason": skipped})
            continue
        report = diff_part(source_url, target_url, cm, chain, part, options, workspace)
        out.append({**entry, "compared": True, **report})
    return out


def diff_mapped(
    source_url: str,
    target_url: str,
    mapping: DocumentMapping,
    options: DiffOptions | None = None,
    workspace: Any = None,
) -> dict[str, Any]:
    """Diff every mapped table: each collection's root and embedded arrays; one report."""
    o = options or DiffOptions()
    started = time.perf_counter()
    tables = [
        t for cm in mapping.collections
        for t in diff_collection(source_url, target_url, cm, o, workspace)
    ]  # fmt: skip
    compared = [t for t in tables if t["compared"]]
    return {
        "tables": tables,
        "identical": all(t["identical"] for t in compared),
        "missing_count": sum(t["missing_count"] for t in compared),
        "extra_count": sum(t["extra_count"] for t in compared),
        "changed_count": sum(t["changed_count"] for t in compared),
        "seconds": round(time.perf_counter() - started, 3),
    }
