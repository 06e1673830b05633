"""MongoDB document operations as plan data: what each change does to a collection, and its undo.

A MongoDB plan holds no statements: each operation is ``kind: "document"`` and its `params` are
the document operation itself (``collection``, ``op``, ``filter``, ``update`` / ``set`` /
``keys``, options), plain JSON, so plan.json and plan.md show exactly what the executor sends
(through ``Backend.apply_document_operation``, db/mongodb/operations.py) and the plan hash covers it.
Every operation carries its reverse, like the SQL primitives of ops_base.py.

MongoDB has no triggers: during an expand-contract the *application* writes both fields, which
the plan states as a manual deploy step (`dual_write_instructions`).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from datamigration.plan.model import DEFAULT_BATCH_SIZE, Operation
from datamigration.plan.ops_base import Dialect

KIND = "document"


class MongoDocuments(Dialect):
    """The planner's dialect object for MongoDB (document operations, no SQL)."""

    name = "mongodb"
    lint_dialect = ""
    documents = True
    code_fence = "js"
    downtime_note = (
        "none planned: document writes run in keyset batches and lock single documents; "
        "index builds hold an exclusive collection lock only at their start and end"
    )

    def q(self, name: str) -> str:
        return name


def doc_op(
    description: str,
    document: Mapping[str, Any],
    *,
    reverse: Sequence[Operation] = (),
    mutating: bool = True,
    destructive: bool = False,
    lock: str = "none: document writes take only document-level locks",
) -> Operation:
    """One document operation (see documents/operations.py for the vocabulary)."""
    return Operation(
        id="",
        kind=KIND,
        dialect="mongodb",
        description=description,
        reverse=tuple(reverse),
        transactional=False,
        lock_timeout_ms=None,
        mutating=mutating,
        destructive=destructive,
        rerunnable=True,
        lock=lock,
        params=dict(document),
    )


def set_fields(
    collection: str,
    sets: Mapping[str, Any],
    flt: Mapping[str, Any] | None,
    description: str,
    *,
    batch_size: int = DEFAULT_BATCH_SIZE,
    estimated: int | None = None,
    reverse: Sequence[Operation] = (),
) -> Operation:
    """Keyset batches over _id: each document's fields set to the transform of its own."""
    doc: dict[str, Any] = {"collection": collection, "op": "set_fields", "filter": dict(flt or {}),
                           "set": dict(sets), "batch_size": batch_size}  # fmt: skip
    if estimated is not None:
        doc["estimated_documents"] = estimated
    return doc_op(description, doc, reverse=reverse)


def update_many(
    collection: str,
    flt: Mapping[str, Any],
    update: Mapping[str, Any],
    description: str,
    *,
    batch_size: int = DEFAULT_BATCH_SIZE,
    estimated: int | None = None,
    reverse: Sequence[Operation] = (),
    destructive: bool = False,
) -> Operation:
    """An update applied in keyset batches over _id (never one long collection-wide write)."""
    doc: dict[str, Any] = {"collection": collection, "op": "update_many", "filter": dict(flt),
                           "update": dict(update), "batch_size": batch_size}  # fmt: skip
    if estimated is not None:
        doc["estimated_documents"] = estimated
    return doc_op(description, doc, reverse=reverse, destructive=destructive)


def unset_field(collection: str, field: str, *, batch_size: int, estimated: int | None,
                destructive: bool = False, reverse: Sequence[Operation] = ()) -> Operation:  # fmt: skip
    return update_many(
        collection,
        {field: {"$exists": True}},
        {"$unset": {field: ""}},
        f"remove {collection}.{field}",
        batch_size=batch_size,
        estimated=estimated,
        destructive=destructive,
        reverse=reverse,
    )


def count_mismatches(collection: str, expect: Mapping[str, Any], flt: Mapping[str, Any] | None,
                     description: str) -> Operation:  # fmt: skip
    """A read-only check: the step fails unless every document's fields equal their transform."""
    return doc_op(
        description,
        {
            "collection": collection,
            "op": "count_mismatches",
            "filter": dict(flt or {}),
            "expect": dict(expect),
            "max": 0,
        },
        mutating=False,
        lock="none: reads only",
    )


def index_keys(columns: Sequence[str]) -> list[list[Any]]:
    """``["email", "created_at:-1"]`` -> ``[["email", 1], ["created_at", -1]]``."""
    out: list[list[Any]] = []
    for c in columns:
        name, _, direction = c.partition(":")
        d: Any = direction or 1
        if isinstance(d, str) and d.lstrip("-").isdigit():
            d = int(d)
        out.append([name, d])
    return out


def create_index(collection: str, name: str, keys: list[list[Any]],
                 options: Mapping[str, Any] | None = None) -> Operation:  # fmt: skip
    opts = {"name": name, **dict(options or {})}
    drop = doc_op(f"drop index {name}",
                  {"collection": collection, "op": "drop_index", "name": name, "keys": keys})  # fmt: skip
    return doc_op(
        f"build index {name} on {collection}",
        {"collection": collection, "op": "create_index", "keys": keys, "options": opts},
        reverse=(drop,),
        lock="exclusive collection lock only at the start and end of the build (4.2+)",
    )


def drop_index(collection: str, name: str, keys: list[list[Any]],
               options: Mapping[str, Any]) -> Operation:  # fmt: skip
    rebuild = doc_op(
        f"rebuild index {name}",
        {
            "collection": collection,
            "op": "create_index",
            "keys": keys,
            "options": {"name": name, **dict(options)},
        },
    )
    return doc_op(
        f"drop index {name}",
        {"collection": collection, "op": "drop_index", "name": name, "keys": keys},
        reverse=(rebuild,),
    )


def coll_mod(collection: str, validator: Mapping[str, Any] | None, level: str, action: str,
             description: str, previous: Mapping[str, Any]) -> Operation:  # fmt: skip
    """Set the collection's validator; the reverse puts the previous one (or none) back."""
    back = doc_op(
        f"restore the validator of {collection}",
        {
            "collection": collection,
            "op": "coll_mod",
            "validator": previous.get("validator"),
            "validationLevel": previous.get("validationLevel") or "strict",
            "validationAction": previous.get("validationAction") or "error",
        },
    )
    return doc_op(
        description,
        {
            "collection": collection,
            "op": "coll_mod",
            "validator": dict(validator or {}),
            "validationLevel": level,
            "validationAction": action,
        },
        reverse=(back,),
        lock="exclusive collection lock, brief (metadata only)",
    )


def dual_write_instructions(collection: str, old: str, new: str, expr: Any) -> str:
    """The application-side sync that replaces SQL's triggers."""
    how = "a copy of" if expr == f"${old}" else f"{render_expr(expr)} of"
    return (
        f"Deploy the application version that, on every insert and update of {collection}, "
        f"writes {new} ({how} {old}) together with {old}, in the same write. MongoDB has no "
        f"triggers: the application keeps both fields in step during the rolling deploy; it "
        f"still reads {old}. Confirm once every instance runs this version."
    )


def render_expr(expr: Any) -> str:
    return json.dumps(expr, ensure_ascii=False, separators=(", ", ": "))


def render(op: Operation) -> str:
    """mongosh-like text of a document operation, for plan.md and people."""
    p = op.params
    coll = f"db.{p.get('collection')}"
    j = render_expr
    name = p.get("op")
    batch = p.get("batch_size")
    keyset = (
        f"// keyset batches of {batch:,} documents by _id: each batch adds "
        '{"_id": {"$gt": <last _id>, "$lte": <last _id of the batch>}} to the filter\n'
        if batch
        else ""
    )
    if name == "update_many":
        return f"{keyset}{coll}.updateMany({j(p.get('filter', {}))}, {j(p.get('update', {}))})"
    if name == "set_fields":
        return (
            f"{keyset}// each document: new values computed from its own fields, written only "
            "while the fields read are unchanged\n"
            f'{coll}.updateMany({j(p.get("filter", {}))}, [{{"$set": {j(p.get("set", {}))}}}])'
        )
    if name == "create_index":
        return f"{coll}.createIndex({j(dict(p['keys']))}, {j(p.get('options', {}))})"
    if name == "drop_index":
        return f"{coll}.dropIndex({j(p.get('name'))})  // keys {j(dict(p.get('keys') or []))}"
    if name == "coll_mod":
        body = {k: p.get(k) for k in ("validator", "validationLevel", "validationAction")}
        return f"db.runCommand({j({'collMod': p.get('collection'), **body})})"
    if name == "count_mismatches":
        return (
            f"// must be {p.get('max', 0)}: documents whose fields differ from the expected value\n"
            f"{coll}.countDocuments({j(p.get('filter', {}))}) where NOT {j(p.get('expect', {}))}"
        )
    return f"{coll}: {j(dict(p))}"
