"""A MongoDB collection as a copy source: its table, the notes of the dry run, its writer.

A collection has no declared schema, so its table comes from the sampled fields
(`db.mongodb.sample`): `_id` is the key; a top-level field whose sampled BSON types have one
common type (`typemap.common_bson_type`: int+long -> long, ...) becomes a column of that type
(the type map spells it for the target: ObjectId -> char(24), Decimal128 -> numeric, date ->
timestamptz(3)); nested documents, arrays and fields of mixed types become JSON columns
(relaxed extended JSON text: `{"$oid": ...}`, `{"$date": ...}` keep the BSON types inside).
Every column but `_id` is nullable: a sample cannot prove that every document has a field.

Into MongoDB the documents travel whole (`WHOLE_DOCUMENT`): nothing is flattened or lost.
Into a SQL target `DocumentRowWriter` flattens each document (`db.mongodb.source.flatten`);
a document with a value that does not fit its column, or a field the sample never saw, is
refused with the reason and goes to the rejects file like any refused row.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import Any, Self

from datamigration.db.bulk import Refused
from datamigration.db.model import Collection, Column, Index, PrimaryKey, Schema, Table
from datamigration.db.mongodb.source import WHOLE_DOCUMENT, flatten, jsonable_row
from datamigration.move.schema import Conversion, TablePlan, plan_table
from datamigration.typemap import common_bson_type

KEY = "document_source"


def _kind(types: dict[str, int]) -> str:
    common, _ = common_bson_type(types)
    return "mixed" if common in (None, "null") else common


def collection_table(coll: Collection, into_documents: bool) -> Table:
    """The source-side table of a collection (column types are BSON type names)."""
    if into_documents:
        cols = (Column("_id", "mixed", "mixed", nullable=False),
                Column(WHOLE_DOCUMENT, "object", "object"))  # fmt: skip
        kept = tuple(ix for ix in coll.indexes if not ix.primary)
        return Table(name=coll.name, columns=cols, primary_key=PrimaryKey(None, ("_id",)),
                     indexes=kept)  # fmt: skip
    top = [f for f in coll.fields if "." not in f.path and "[]" not in f.path]
    by_path = {f.path: f for f in top}
    id_kind = _kind(dict(by_path["_id"].types)) if "_id" in by_path else "objectId"
    id_kind = "long" if id_kind == "int" else id_kind
    cols = [Column("_id", id_kind, id_kind, nullable=False)]
    cols += [
        Column(f.path, _kind(dict(f.types)), _kind(dict(f.types))) for f in top if f.path != "_id"
    ]
    return Table(name=coll.name, columns=tuple(cols), primary_key=PrimaryKey(None, ("_id",)),
                 indexes=tuple(_sql_index(ix) for ix in coll.indexes if not ix.primary))  # fmt: skip


def _sql_index(ix: Index) -> Index:
    """A MongoDB index on plain ascending/descending fields as a SQL index of those columns;
    any other (text, hashed, 2dsphere, partial, on a nested path) keeps its raw keys, so the
    plan lists it as not created."""
    fields = [c.rsplit(":", 1) for c in ix.columns]
    if all(len(f) == 2 and f[1] in ("1", "-1") for f in fields):
        return Index(ix.name, tuple(f[0] for f in fields), unique=ix.unique, predicate=ix.predicate)
    return Index(ix.name, ix.columns, unique=ix.unique, predicate=ix.predicate)


def prepare(src: Any, dst: Any, request: Any) -> Any:
    """The request with the collections' tables (sampled once, here, so every worker flattens
    with the same columns); unchanged for a SQL source."""
    if not src.documents:
        return request
    kept = _resumed(src, dst, request) if request.resume and not request.dry_run else None
    if kept is not None:
        tables = {n: _table_of(d, n) for n, d in kept["tables"].items()}
        return request.with_(extra={**request.extra, KEY: {**kept, "tables": tables}})
    schema = src.inspect(tables=list(request.tables))
    tables = {c.name: collection_table(c, dst.documents) for c in schema.collections}
    types = {c.name: {f.path: sorted(f.types) for f in c.fields} for c in schema.collections}
    return request.with_(extra={**request.extra, KEY: {"tables": tables, "types": types}})


def header_info(request: Any) -> dict[str, Any]:
    """What a run's state header keeps of the sampled tables: a resumed run flattens with the
    columns it started with (a new `$sample` of a large collection may see other fields)."""
    found = request.extra.get(KEY)
    if not found:
        return {}
    tables = {n: _json_of(t) for n, t in found["tables"].items()}
    return {KEY: {"tables": tables, "types": found["types"]}}


def _resumed(src: Any, dst: Any, request: Any) -> dict[str, Any] | None:
    from datamigration.move import state

    store = dst.copy_state_table(request.state_table)
    store.ensure()
    records = store.rows()
    run_id = state.find_run(records, request, src.label, dst.label)
    head = next((r for r in records if r["run_id"] == run_id and r["part"] == state.HEADER), None)
    return ((head or {}).get("info") or {}).get(KEY)


def _json_of(t: Table) -> dict[str, Any]:
    return {
        "columns": [[c.name, c.data_type, c.nullable] for c in t.columns],
        "indexes": [[ix.name, list(ix.columns), ix.unique, ix.predicate, ix.definition]
                    for ix in t.indexes],
    }  # fmt: skip


def _table_of(d: dict[str, Any], name: str = "") -> Table:
    cols = tuple(Column(n, t, t, nullable=nullable) for n, t, nullable in d["columns"])
    indexes = tuple(Index(n, tuple(c), unique=u, predicate=p, definition=df)
                    for n, c, u, p, df in d["indexes"])  # fmt: skip
    return Table(name=name, columns=cols, primary_key=PrimaryKey(None, ("_id",)), indexes=indexes)


def source_tables(request: Any) -> dict[str, Table] | None:
    found = request.extra.get(KEY)
    return found["tables"] if found else None


def plan_notes(request: Any, table: Table, into_documents: bool) -> list[Conversion]:
    return notes(table, request.extra[KEY]["types"].get(table.name, {}), into_documents)


def notes(table: Table, sampled: dict[str, Any], into_documents: bool) -> list[Conversion]:
    """What the dry run says about a flattened collection besides the type map's own list."""
    if into_documents:
        return []
    out = [Conversion(table.name, "*", "sampled fields", "nullable columns",
                      "a sample cannot prove a field is in every document: columns stay "
                      "nullable; fields not seen in the sample are refused per document",
                      False)]  # fmt: skip
    for c in table.columns:
        if c.data_type in ("object", "array"):
            out.append(Conversion(table.name, c.name, c.data_type, "JSON",
                                  "kept as relaxed extended JSON text ($oid, $date mark the "
                                  "BSON types inside)", False))  # fmt: skip
        elif c.data_type == "mixed":
            types = ", ".join(sorted(sampled.get(c.name, {}))) or "null only"
            out.append(Conversion(table.name, c.name, f"mixed ({types})", "JSON",
                                  "the value is kept but not its BSON type", True))  # fmt: skip
    return out


def plan_collections(
    src: Any, dst: Any, request: Any, tables: dict[str, Table]
) -> tuple[list[TablePlan], Schema]:
    """The plans of the copied collections (their sampled tables through the type map)."""
    plans = []
    for name in request.tables:
        t = tables[name]
        p = plan_table(t, src.dialect, dst.dialect, set(request.tables), src.exact_count(name))
        extra = tuple(plan_notes(request, t, dst.documents))
        mine = {c.column for c in extra}
        spelled = {c.name: c.data_type for c in p.target.columns}
        extra = tuple(replace(c, target=spelled.get(c.column, c.target)) for c in extra)
        kept = tuple(c for c in p.conversions if c.column not in mine)
        if dst.documents:  # the collection's own index definitions, rebuilt as they are
            p = replace(p, target=replace(p.target, indexes=t.indexes))
            kept = tuple(c for c in kept if not c.source.startswith("index "))
        elif not dst.indexes_unbounded_text:
            p, dropped = _without_text_indexes(p, t)
            kept += dropped
        plans.append(replace(p, conversions=kept + extra))
    return plans, Schema(dialect=src.dialect, database=None, tables=tuple(tables.values()))


def _without_text_indexes(p: TablePlan, t: Table) -> tuple[TablePlan, tuple[Conversion, ...]]:
    """Indexes over strings or binary data left out where the target cannot index them whole."""
    unbounded = {c.name for c in t.columns if c.data_type in ("string", "binData")}
    keep = tuple(ix for ix in p.target.indexes if not unbounded & set(ix.columns))
    gone = tuple(
        Conversion(p.name, ",".join(ix.columns), f"index {ix.name}", "not created",
                   "the target cannot index unbounded text without a prefix length", False)
        for ix in p.target.indexes if ix not in keep
    )  # fmt: skip
    return replace(p, target=replace(p.target, indexes=keep)), gone


def compared_columns(request: Any, plan: TablePlan, dst: Any) -> tuple[tuple[str, ...], list[str]]:
    """The columns the checksum diff compares (() = all) and why the others are not: a mixed
    field's JSON text is not its BSON value, and a document or array stored in a column the
    diff reads as plain text (MariaDB's JSON is LONGTEXT) has no canonical form to compare
    with the document's (the document counts are still checked)."""
    from datamigration.validate.canonical import kind_of

    tables = source_tables(request)
    if tables is None or WHOLE_DOCUMENT in plan.columns:
        return (), []
    present, _ = dst.describe_target(plan.name)
    have = {c.name: c.data_type for c in present.columns} if present is not None else {}
    skipped = []
    for c in tables[plan.name].columns:
        if c.data_type == "mixed":
            skipped.append(f"{c.name}: mixed BSON types stored as JSON")
        elif (
            c.data_type in ("object", "array") and kind_of(have.get(c.name), dst.dialect) != "json"
        ):
            skipped.append(f"{c.name}: JSON stored as {have.get(c.name)}, compared as text")
    names = {s.split(":")[0] for s in skipped}
    kept = tuple(c for c in plan.columns if c not in names)
    return (kept if skipped else ()), skipped


class DocumentRowWriter:
    """A partition's writer when the source is a collection: documents in, rows (SQL target)
    or whole documents (MongoDB target) out; the `write(rows, replace=)` contract of the bulk
    writers, refusals reported as rows of the partition's columns."""

    def __init__(self, dst: Any, part: Any, table: Table) -> None:
        self.columns = tuple(part.columns)
        self.kinds = tuple(table.column(c).data_type for c in self.columns)  # type: ignore[union-attr]
        self.whole = WHOLE_DOCUMENT in self.columns
        self.inner = dst.bulk_writer(part.table, part.columns, part.key, part.types)

    def __enter__(self) -> Self:
        self.inner.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        self.inner.__exit__(*exc)

    def _row(self, doc: dict[str, Any]) -> tuple[Any, ...]:
        return jsonable_row([doc if c == WHOLE_DOCUMENT else doc.get(c) for c in self.columns])

    def write(self, docs: Sequence[dict[str, Any]], *, replace: bool = False) -> list[Refused]:
        if self.whole:
            return self.inner.write_documents(docs, [self._row(d) for d in docs], replace=replace)
        rows, refused = [], []
        for d in docs:
            try:
                rows.append(flatten(d, self.columns, self.kinds))
            except ValueError as exc:
                refused.append(Refused(self._row(d), str(exc)))
        out = self.inner.write(rows, replace=replace) if rows else []
        return refused + out

    def put_state(self, state_table: str, records: Any) -> None:
        self.inner.put_state(state_table, records)
