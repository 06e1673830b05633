"""Copy tables into MongoDB through a mapping: shape the collection, stream, build, write.

`copy_mapped` is the whole path for one mapping, in one process: the collection is created with
its validator and indexes (`collection_setup`), the root table is read in keyset pages, each
page becomes documents (`documents.DocumentBuilder`, one query per embedded table) and the
documents are written by `_id`, replacing what is there, so a rerun or a resumed partition
rewrites the same documents and never adds a second copy. A root row whose values cannot be
stored as mapped is set aside with its key and the reason (the page is rebuilt row by row to
find it), never dropped silently.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from datamigration.db import connect
from datamigration.db.model import Schema
from datamigration.move.collection_setup import setup_collection
from datamigration.move.documents import DocumentBuilder, Fetch, Row, RowRejected
from datamigration.move.mapping import CollectionMapping, DocumentMapping

DEFAULT_BATCH = 10_000


@dataclass
class CopyResult:
    """Counts of one mapped copy; `rejected` holds (key, reason) of the rows set aside."""

    collection: str
    rows: int = 0
    documents: int = 0
    upserted: int = 0
    replaced: int = 0
    rejected: list[dict[str, Any]] = field(default_factory=list)
    seconds: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def build_page(
    builder: DocumentBuilder, rows: Sequence[Row]
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(documents, rejects) of one page: the page at once, or row by row when a value fails."""
    try:
        return builder.build(rows), []
    except RowRejected:
        pass
    docs, rejects = [], []
    key = builder.mapping.root.key
    for row in rows:
        try:
            docs.extend(builder.build([row]))
        except RowRejected as exc:
            rejects.append({"table": builder.mapping.root.table,
                            "key": [row[c] for c in key], "error": exc.message})  # fmt: skip
    return docs, rejects


def write_documents(target: Any, collection: str, docs: list[dict[str, Any]]) -> dict[str, Any]:
    """Write by `_id` through the backend's document door (replace, or insert when new)."""
    op = {"collection": collection, "op": "replace_many", "documents": docs}
    return target.apply_document_operation(op)


def copy_pages(
    target: Any, builder: DocumentBuilder, pages: Iterable[Sequence[Row]], result: CopyResult
) -> CopyResult:
    """Build and write each page of root rows; memory holds one page and its children."""
    for rows in pages:
        docs, rejects = build_page(builder, rows)
        result.rows += len(rows)
        result.rejected += rejects
        if docs:
            got = write_documents(target, builder.mapping.collection, docs)
            refused = {e["index"]: e for e in got.get("errors", [])}
            result.documents += len(docs) - len(refused)
            result.upserted += int(got.get("upserted", 0))
            result.replaced += int(got.get("replaced", 0))
            result.rejected += [
                {"table": builder.mapping.root.table, "id": docs[i]["_id"],
                 "error": f"the target refused the document: {e['message']}"}
                for i, e in sorted(refused.items())
            ]  # fmt: skip
    return result


def copy_mapped(
    source_url: str,
    target_url: str,
    mapping: DocumentMapping,
    schema: Schema,
    *,
    batch_size: int = DEFAULT_BATCH,
    workspace: Any = None,
) -> list[dict[str, Any]]:
    """Copy every mapped collection; returns one result per collection."""
    from datamigration.move.sql_fetch import SQLFetcher

    out = []
    with connect(target_url, workspace) as target, SQLFetcher(source_url, workspace) as fetch:
        for cm in mapping.collections:
            started = time.perf_counter()
            setup = setup_collection(target, cm, schema)
            result = copy_collection(target, cm, fetch, fetch, batch_size)
            result.seconds = round(time.perf_counter() - started, 3)
            out.append({**result.to_dict(), "setup_notes": setup["notes"]})
    return out


def copy_collection(
    target: Any, cm: CollectionMapping, pages_from: Any, fetch: Fetch, batch_size: int
) -> CopyResult:
    """One collection: the root table in keyset pages from `pages_from` (a `SQLFetcher` or
    anything with its `pages` method), built with `fetch`, written to `target`."""
    builder = DocumentBuilder(cm, fetch)
    pages = pages_from.pages(cm.root.table, builder.root_columns, cm.root.key, batch_size)
    return copy_pages(target, builder, pages, CopyResult(cm.collection))
