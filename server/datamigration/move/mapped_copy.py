"""The copy engine's MongoDB path with a document mapping: the hooks `runner`, `worker` and
`finish` call for a table that is the root of a mapped collection.

`prepare` resolves the mapping file against the whole source schema once, at the start of a
run (every name checked before anything is written), and carries the resolved mapping in the
request, so a worker anywhere (thread, process, Dask) builds documents without introspecting.
For a mapped root table: the target is its collection (`target_name`), created with the
`$jsonSchema` validator from the source constraints (`create_target`); a partition's rows
become documents with their embedded rows fetched once per embedded table and batch
(`MappedWriter`, which stores them through the backend's own bulk writer: insert on a first
attempt, replace by `_id` on a retry, so a resumed partition never duplicates); after the load
the indexes are built (`finish`); and validation is the mapped diff (`validate`): the root
table against the documents and every embedded table against its arrays. A table without a
mapping keeps the engine's one-document-per-row path.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Self

from datamigration.db.bulk import Refused
from datamigration.errors import UserInputError
from datamigration.move.collection_setup import collection_indexes, collection_validator
from datamigration.move.mapping import CollectionMapping, DocumentMapping, resolve_mapping

KEY = "document_mapping"


def prepare(src: Any, dst: Any, request: Any) -> Any:
    """The request with its mapping resolved (unchanged when it has none)."""
    if request.mapping is None:
        return request
    if not dst.documents:
        raise UserInputError(
            f"a document mapping applies to MongoDB targets; {dst.label} is not one",
            hint="Copy without the mapping (tables keep their shape), or into MongoDB.",
        )
    schema = src.inspect()
    mapping = resolve_mapping(request.mapping, schema)
    lossy = embedded_conversions(mapping, schema)
    if lossy and not request.accept_conversions and not request.dry_run:
        from datamigration.move.request import ConversionsRefusedError

        raise ConversionsRefusedError(
            f"{len(lossy)} embedded column(s) cannot be kept exactly in the documents; nothing "
            "was copied: " + "; ".join(lossy),
            conversions=lossy,
        )
    roots = [cm.root.table for cm in mapping.collections]
    missing = [t for t in roots if t not in request.tables]
    if missing:
        raise UserInputError(
            f"the mapping makes documents of {', '.join(missing)}, which the copy does not include",
            hint="Add the root tables to the tables to copy (--tables / tables=); embedded "
            "tables are read through their root and need not be listed.",
        )
    return request.with_(extra={**request.extra, KEY: mapping})


def embedded_conversions(mapping: DocumentMapping, schema: Any) -> list[str]:
    """Embedded columns stored in a BSON type that does not keep every value (the root
    tables' columns are checked by the engine's own plan). A type the mapping names
    explicitly is the user's choice and is not listed."""
    from datamigration.typemap import map_type

    out = []

    def walk(part: Any) -> None:
        for e in part.embeds:
            table = schema.table(e.part.table)
            for f in e.part.fields:
                m = map_type(table.column(f.column), "mongodb", source_dialect=schema.dialect)
                if not m.lossless and f.bson_type == m.target.name:
                    out.append(f"{table.name}.{f.column} -> {f.bson_type}: {m.reason}")
            walk(e.part)

    for cm in mapping.collections:
        walk(cm.root)
    return out


def mapped(request: Any, table: str) -> CollectionMapping | None:
    mapping: DocumentMapping | None = request.extra.get(KEY)
    return mapping.for_table(table) if mapping is not None else None


def target_name(request: Any, table: str) -> str:
    cm = mapped(request, table)
    return cm.collection if cm is not None else table


def create_target(dst: Any, request: Any, plan: Any) -> None:
    """The collection with its validator, or the engine's own target for other tables."""
    cm = mapped(request, plan.name)
    if cm is None:
        dst.create_target(plan.target)
        return
    op = {"collection": cm.collection, "op": "create_collection"}
    dst.apply_document_operation({**op, "validator": collection_validator(cm)})


def finish(dst: Any, request: Any, plan: Any, schema_table: Any) -> int:
    """The collection's indexes after the load (existing ones are kept); how many were asked."""
    cm = mapped(request, plan.name)
    assert cm is not None
    ops, _ = collection_indexes(cm, schema_table)
    for op in ops:
        dst.apply_document_operation(op)
    return len(ops)


def validate(request: Any, ws: Any, table: str) -> list[dict[str, Any]]:
    """The mapped diff of one collection: one summary per compared table (the root's lists
    the tables not compared and why)."""
    from datamigration.move.mapped_diff import diff_collection
    from datamigration.validate.diff import DiffOptions

    cm = mapped(request, table)
    assert cm is not None
    out: list[dict[str, Any]] = []
    skipped = []
    for r in diff_collection(request.source, request.target, cm, DiffOptions(), ws):
        where = f"{r['collection']}.{r['path']}" if r["path"] else r["collection"]
        if not r["compared"]:
            skipped.append({"table": r["table"], "collection": where, "reason": r["reason"]})
            continue
        out.append({
            "table": r["table"], "collection": where,
            "source_rows": r["source"]["rows"], "target_rows": r["target"]["rows"],
            "identical": r["identical"], "missing_count": r["missing_count"],
            "extra_count": r["extra_count"], "changed_count": r["changed_count"],
            "missing": r["missing"][:20], "extra": r["extra"][:20], "changed": r["changed"][:20],
        })  # fmt: skip
    out[0]["not_compared"] = skipped
    return out


def dry_run_ddl(request: Any, plan: Any, src: Any) -> list[str] | None:
    """What a dry run shows for a mapped collection: its setup operations as JSON."""
    import json

    from datamigration.move.collection_setup import setup_operations

    cm = mapped(request, plan.name)
    if cm is None:
        return None
    ops, notes = setup_operations(cm, src.inspect(tables=[plan.name]))
    return [json.dumps(op, default=str) for op in ops] + [f"-- {n}" for n in notes]


class MappedWriter:
    """A partition's writer for a mapped root table: rows in, documents out (same contract
    as the backends' bulk writers: `write(rows, replace=)` returns the refused rows)."""

    def __init__(self, request: Any, dst: Any, part: Any, cm: CollectionMapping) -> None:
        from datamigration.move.documents import DocumentBuilder
        from datamigration.move.sql_fetch import SQLFetcher
        from datamigration.workspace.root import Workspace

        self.columns = tuple(part.columns)
        self.fetch = SQLFetcher(request.source, Workspace.open(request.workspace))
        self.builder = DocumentBuilder(cm, self.fetch)
        missing = [c for c in self.builder.root_columns if c not in self.columns]
        if missing:  # the engine reads every column of the table; this is a bug guard
            raise UserInputError(f"columns {missing} are not read for {cm.root.table}")
        self.inner = dst.bulk_writer(cm.collection, part.columns, part.key, part.types)

    def __enter__(self) -> Self:
        self.inner.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        try:
            self.inner.__exit__(*exc)
        finally:
            self.fetch.close()

    def write(self, rows: Sequence[Sequence[Any]], *, replace: bool = False) -> list[Refused]:
        dicts = [dict(zip(self.columns, r, strict=True)) for r in rows]
        docs, rejects = self.builder.build_isolating(dicts)
        key = self.builder.mapping.root.key
        bad = {tuple(r["key"]) for r in rejects}
        kept = [r for r, d in zip(rows, dicts, strict=True) if tuple(d[k] for k in key) not in bad]
        refused = [
            Refused(tuple(r), x["error"])
            for r, d in zip(rows, dicts, strict=True)
            for x in rejects
            if tuple(d[k] for k in key) == tuple(x["key"])
        ]
        return refused + self.inner.write_documents(docs, kept, replace=replace)

    def put_state(self, state_table: str, records: Any) -> None:
        self.inner.put_state(state_table, records)


def writer(request: Any, dst: Any, part: Any) -> Any:
    """The writer for a partition: mapped documents for a mapped root, else the backend's."""
    from datamigration.move.from_documents import DocumentRowWriter, source_tables

    collections = source_tables(request)
    if collections is not None:
        return DocumentRowWriter(dst, part, collections[part.table])
    cm = mapped(request, part.table)
    if cm is None:
        return dst.bulk_writer(part.table, part.columns, part.key, part.types)
    return MappedWriter(request, dst, part, cm)
