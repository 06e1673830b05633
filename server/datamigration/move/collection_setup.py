"""A target collection shaped by the source constraints: a `$jsonSchema` validator and indexes.

The validator says what the source promised: every NOT NULL column is a required field with
its BSON type and no null, a nullable one may be null (or absent when NULLs are omitted), enum
labels stay an `enum`, embedded arrays hold objects of the child's shape (at most `limit`
of them), `_id` has the type its strategy gives it. Indexes follow the root table's: unique
ones stay unique (over the nullable columns only where they hold a value, as SQL's UNIQUE
allows many NULLs and a plain unique MongoDB index does not), with the source index names; the
key of every embedded array's rows gets a multikey index, so a change to one child row can find
its document. What cannot be carried over (expression and partial indexes) is listed in
`notes`, never silently dropped.

Everything here is plain data (document operations, see `db/mongo_ops.py`); the copy engine's
hooks (`mapped_copy`) send them through the backend's one write door.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from datamigration.db.model import Schema, Table
from datamigration.move.mapping import CollectionMapping, Embed, FieldMap, Part


def _field_schema(f: FieldMap, omit_nulls: bool) -> dict[str, Any]:
    out = dict(f.json_schema)
    if omit_nulls and f.nullable:
        # a NULL is never written: the field is simply absent
        kinds = [k for k in out["bsonType"] if k != "null"]
        out["bsonType"] = kinds[0] if len(kinds) == 1 else kinds
        if "enum" in out:
            out["enum"] = [v for v in out["enum"] if v is not None]
    return out


def _embed_schema(e: Embed) -> tuple[dict[str, Any], bool]:
    """(schema, required) of one embedded array or document."""
    inner = part_schema(e.part)
    if e.kind == "array":
        out: dict[str, Any] = {"bsonType": "array", "items": inner}
        if e.limit:
            out["maxItems"] = e.limit
        return out, True
    if e.optional:
        inner = {**inner, "bsonType": ["object", "null"]}
    return inner, not e.optional


def part_schema(part: Part) -> dict[str, Any]:
    """The `$jsonSchema` of one table part (fields, references, embeds)."""
    props: dict[str, Any] = {}
    required: list[str] = []
    for f in part.fields:
        props[f.name] = _field_schema(f, part.omit_nulls)
        if not f.nullable:
            required.append(f.name)
    for ref in part.references:
        if len(ref.fields) == 1:
            props[ref.name] = _field_schema(ref.fields[0], part.omit_nulls)
        else:
            props[ref.name] = {
                "bsonType": ["object", "null"],
                "properties": {f.name: _field_schema(f, False) for f in ref.fields},
            }
        if all(not f.nullable for f in ref.fields):
            required.append(ref.name)
    for e in part.embeds:
        props[e.name], needed = _embed_schema(e)
        if needed:
            required.append(e.name)
    out: dict[str, Any] = {"bsonType": "object", "properties": props}
    if required:
        out["required"] = required
    return out


def id_schema(cm: CollectionMapping) -> dict[str, Any]:
    if cm.id_strategy == "primary_key":
        return {"bsonType": cm.id_fields[0].bson_type}
    if cm.id_strategy == "wrapped":
        return {
            "bsonType": "object",
            "required": [f.name for f in cm.id_fields],
            "properties": {f.name: {"bsonType": f.bson_type} for f in cm.id_fields},
        }
    return {"bsonType": "string", "minLength": 36, "maxLength": 36}  # the derived UUID's text


def collection_validator(cm: CollectionMapping) -> dict[str, Any]:
    """The collection's validator: `{"$jsonSchema": ...}` from the source constraints."""
    schema = part_schema(cm.root)
    schema["properties"] = {"_id": id_schema(cm), **schema["properties"]}
    schema["required"] = ["_id", *schema.get("required", [])]
    return {"$jsonSchema": schema}


def _paths(cm: CollectionMapping) -> dict[str, str]:
    """Root column → where it lives in the document."""
    out = {f.column: f.name for f in cm.root.fields}
    out.update({c: p for c, p in zip(cm.root.key, cm.key_paths, strict=True)})
    for ref in cm.root.references:
        for f in ref.fields:
            out[f.column] = ref.name if len(ref.fields) == 1 else f"{ref.name}.{f.name}"
    return out


def _index_op(
    cm: CollectionMapping,
    name: str | None,
    columns: Sequence[str],
    unique: bool,
    table: Table,
) -> dict[str, Any]:
    paths = _paths(cm)
    keys = [[paths[c], 1] for c in columns]
    options: dict[str, Any] = {"name": name} if name else {}
    if unique:
        options["unique"] = True
        nullable = {f.column: f for f in (*cm.root.fields, *cm.id_fields)}
        partial = {
            paths[c]: {"$type": nullable[c].bson_type}
            for c in columns
            if (col := table.column(c)) is not None and col.nullable and c in nullable
        }
        if partial:
            options["partialFilterExpression"] = partial
    return {"collection": cm.collection, "op": "create_index", "keys": keys, "options": options}


def collection_indexes(cm: CollectionMapping, table: Table) -> tuple[list[dict], list[str]]:
    """(create_index operations, notes on what could not be carried over)."""
    paths = _paths(cm)
    ops: list[dict[str, Any]] = []
    notes: list[str] = []
    seen: set[tuple[str, ...]] = set()
    key = tuple(cm.root.key)
    if cm.id_strategy != "uuid5":
        seen.add(key)  # the _id index holds the key already
    wanted = [(i.name, tuple(i.columns), i.unique, i.predicate, i.primary) for i in table.indexes]
    wanted += [(u.name, tuple(u.columns), True, None, False) for u in table.uniques]
    if cm.id_strategy == "uuid5":
        wanted.insert(0, (f"{table.name}_key", key, True, None, False))
    for name, cols, unique, predicate, primary in wanted:
        if primary and cm.id_strategy != "uuid5":
            continue
        if cols in seen:
            continue
        if predicate or any(c not in paths for c in cols):
            notes.append(f"index {name} on {table.name} ({', '.join(cols)}) is partial, on an "
                         "expression or on an excluded column: not created")  # fmt: skip
            continue
        seen.add(cols)
        ops.append(_index_op(cm, name, cols, unique, table))
    ops += _embedded_key_indexes(cm.collection, cm.root, "")
    return ops, notes


def _embedded_key_indexes(collection: str, part: Part, prefix: str) -> list[dict[str, Any]]:
    out = []
    for e in part.embeds:
        if e.kind != "array":
            continue
        names = {f.column: f.name for f in e.part.fields}
        path = f"{prefix}{e.name}."
        if e.part.key and all(c in names for c in e.part.key):
            keys = [[path + names[c], 1] for c in e.part.key]
            out.append({"collection": collection, "op": "create_index", "keys": keys,
                        "options": {"name": f"{collection}_{path.replace('.', '_')}key"}})  # fmt: skip
        out += _embedded_key_indexes(collection, e.part, path)
    return out


def setup_operations(cm: CollectionMapping, schema: Schema) -> tuple[list[dict], list[str]]:
    """The document operations that shape the collection, and the notes."""
    table = schema.table(cm.root.table)
    assert table is not None  # resolve_mapping checked it
    create = {"collection": cm.collection, "op": "create_collection",
              "validator": collection_validator(cm)}  # fmt: skip
    indexes, notes = collection_indexes(cm, table)
    return [create, *indexes], notes + embedded_unique_notes(cm.root, schema)


def embedded_unique_notes(part: Part, schema: Schema, prefix: str = "") -> list[str]:
    """Unique constraints of embedded tables, which no index can enforce inside a document's
    array (a unique multikey index holds across documents only): listed, not dropped silently."""
    out = []
    for e in part.embeds:
        table = schema.table(e.part.table)
        path = f"{prefix}{e.name}"
        key = tuple(table.primary_key.columns) if table and table.primary_key else ()
        uniques = [tuple(u.columns) for u in (table.uniques if table else ())]
        uniques += [tuple(i.columns) for i in (table.indexes if table else ()) if i.unique]
        for cols in dict.fromkeys(u for u in uniques if u != key):
            out.append(f"{e.part.table} unique ({', '.join(cols)}) embedded in {path}: not "
                       "enforced (MongoDB unique indexes hold across documents, not inside one)")  # fmt: skip
        out += embedded_unique_notes(e.part, schema, path + ".")
    return out
