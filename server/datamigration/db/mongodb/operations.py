"""Document operations: the plain-data writes of a MongoDB plan, applied with pymongo.

A plan's MongoDB operation is a JSON object (``collection``, ``op``, ``filter``, ``update`` or
``set``, ``keys``, options; their names are `documents.operations`); `apply` runs one of them
and returns plain counts. The executor
never builds its own writes: what a plan shows is what runs here.

Batched operations (``set_fields``, and ``update_many`` with a ``batch_size``) run one keyset
batch per call, over ``_id`` in ascending order: the batch is the next ``batch_size`` matching
documents after the resume key, and the call returns the last ``_id`` done, which the executor
stores as its checkpoint. ``set_fields`` computes each new value on the client with
`transform` and writes it with a guard: the update matches only while the fields it read
still hold the values it read, so a concurrent application write is never overwritten with a
value computed from stale data (the application writes both fields itself during the
migration). A batch that runs twice (a crash between the batch and its checkpoint) writes the
same values again: every batched operation here is idempotent.

Values in filters and updates may use MongoDB extended JSON (``{"$date": ...}``,
``{"$oid": ...}``) and are turned into BSON values before they are sent.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import pymongo
from bson import json_util

from datamigration.db.mongodb.transform import evaluate
from datamigration.documents import transform as tf
from datamigration.documents.operations import PLAN_OPS, SETUP_OPS, STATE_OPS
from datamigration.errors import UserInputError

SAMPLE_IDS = 5


def bson_value(value: Any) -> Any:
    """Plain JSON (with extended-JSON markers) as BSON values."""
    if value is None:
        return None
    return json_util.loads(json_util.dumps(value))  # BSON values (an ObjectId) pass as they are


def _and(*filters: Mapping[str, Any] | None) -> dict[str, Any]:
    parts = [dict(f) for f in filters if f]
    if not parts:
        return {}
    return parts[0] if len(parts) == 1 else {"$and": parts}


def _after(resume: tuple[Any, ...] | None) -> dict[str, Any] | None:
    return {"_id": {"$gt": resume[0]}} if resume else None


def apply(
    db: Any, op: Mapping[str, Any], *, resume: tuple[Any, ...] | None = None, timeout_ms: int
) -> dict[str, Any]:
    """Run one document operation (one batch of a batched one) on database `db`."""
    name = op.get("op")
    if name not in PLAN_OPS and name not in STATE_OPS and name not in SETUP_OPS:
        raise UserInputError(
            f"unknown document operation {name!r}",
            hint="One of: " + ", ".join((*PLAN_OPS, *STATE_OPS, *SETUP_OPS)),
        )
    coll = db[op["collection"]]
    flt = bson_value(op.get("filter")) or {}
    if name == "set_fields":
        return _set_fields(coll, op, flt, resume, timeout_ms)
    if name == "update_many":
        update = bson_value(op["update"])
        if not op.get("batch_size"):
            r = coll.update_many(flt, update)
            return {"matched": r.matched_count, "modified": r.modified_count}
        ids = _next_ids(coll, flt, resume, int(op["batch_size"]), timeout_ms)
        if not ids:
            return {"matched": 0, "modified": 0, "last_key": resume, "finished": True}
        rng = {"_id": {"$gt": resume[0], "$lte": ids[-1]} if resume else {"$lte": ids[-1]}}
        r = coll.update_many(_and(flt, rng), update)
        return {"matched": len(ids), "modified": r.modified_count, "last_key": (ids[-1],),
                "finished": len(ids) < int(op["batch_size"])}  # fmt: skip
    if name == "create_index":
        return _create_index(coll, op)
    if name == "drop_index":
        return _drop_index(coll, op)
    if name == "coll_mod":
        cmd: dict[str, Any] = {"collMod": op["collection"]}
        cmd["validator"] = bson_value(op.get("validator")) or {}
        for key in ("validationLevel", "validationAction"):
            if op.get(key):
                cmd[key] = op[key]
        db.command(cmd)
        return {"collection": op["collection"], "validationAction": op.get("validationAction")}
    if name == "count_mismatches":
        return _count_mismatches(coll, op, flt, timeout_ms)
    if name == "create_collection":
        return _create_collection(db, op)
    return _state(coll, name, op, flt, timeout_ms)


def _create_collection(db: Any, op: Mapping[str, Any]) -> dict[str, Any]:
    """The collection with its validator: created when absent, else its validator replaced."""
    validator = bson_value(op.get("validator")) or {}
    name = op["collection"]
    if name in db.list_collection_names():
        if validator:
            db.command({"collMod": name, "validator": validator})
        return {"collection": name, "created": False}
    db.create_collection(name, **({"validator": validator} if validator else {}))
    return {"collection": name, "created": True}


def _next_ids(
    coll: Any, flt: Mapping[str, Any], resume: tuple[Any, ...] | None, n: int, timeout_ms: int
) -> list[Any]:
    docs = coll.find(_and(flt, _after(resume)), {"_id": 1}, sort=[("_id", 1)], limit=n,
                     max_time_ms=timeout_ms)  # fmt: skip
    return [d["_id"] for d in docs]


def _guard(doc: Mapping[str, Any], fields: list[str]) -> dict[str, Any]:
    """The filter that matches `doc` only while the fields read still hold what was read."""
    out: dict[str, Any] = {"_id": doc["_id"]}
    for f in fields:
        value = tf.get_path(doc, f)
        out[f] = {"$exists": False} if value is tf.MISSING else value
    return out


def _set_fields(
    coll: Any, op: Mapping[str, Any], flt: Mapping[str, Any], resume: tuple[Any, ...] | None,
    timeout_ms: int,
) -> dict[str, Any]:  # fmt: skip
    sets: Mapping[str, Any] = op["set"]
    size = int(op.get("batch_size") or 1000)
    reads = tf.input_fields(list(sets.values()))
    projection = {f: 1 for f in [*reads, *sets]} or {"_id": 1}
    docs = list(coll.find(_and(flt, _after(resume)), projection, sort=[("_id", 1)], limit=size,
                          max_time_ms=timeout_ms))  # fmt: skip
    if not docs:
        return {"matched": 0, "modified": 0, "last_key": resume, "finished": True}
    writes = []
    for doc in docs:
        values = {}
        for field, expr in sets.items():
            try:
                value = evaluate(expr, doc)
            except tf.ConversionError as exc:
                exc.data["document_id"] = json_util.dumps(doc["_id"])
                exc.message = f"document {json_util.dumps(doc['_id'])}: {exc.message}"
                raise
            values[field] = None if value is tf.MISSING else value
        if all(tf.same_value(tf.get_path(doc, f), v) for f, v in values.items()):
            continue  # already right (a re-run, or the application wrote it)
        writes.append(pymongo.UpdateOne(_guard(doc, reads), {"$set": values}))
    modified = coll.bulk_write(writes, ordered=False).modified_count if writes else 0
    return {"matched": len(docs), "modified": modified, "last_key": (docs[-1]["_id"],),
            "finished": len(docs) < size}  # fmt: skip


def _count_mismatches(
    coll: Any, op: Mapping[str, Any], flt: Mapping[str, Any], timeout_ms: int
) -> dict[str, Any]:
    """Documents (matching the filter) whose fields differ from their expected transform."""
    expect: Mapping[str, Any] = op["expect"]
    reads = tf.input_fields(list(expect.values()))
    projection = {f: 1 for f in [*reads, *expect]}
    checked = bad = 0
    sample: list[Any] = []
    last = None
    while True:
        docs = list(coll.find(_and(flt, _after(last)), projection, sort=[("_id", 1)],
                              limit=5000, max_time_ms=timeout_ms))  # fmt: skip
        for doc in docs:
            checked += 1
            try:
                ok = all(tf.same_value(tf.get_path(doc, f), _missing_as_null(evaluate(e, doc)))
                         for f, e in expect.items())  # fmt: skip
            except tf.ConversionError:
                ok = False
            if not ok:
                bad += 1
                if len(sample) < SAMPLE_IDS:
                    sample.append(json.loads(json_util.dumps(doc["_id"])))
        if len(docs) < 5000:
            break
        last = (docs[-1]["_id"],)
    return {"checked": checked, "mismatches": bad, "sample": sample,
            "passed": bad <= int(op.get("max", 0))}  # fmt: skip


def _missing_as_null(value: Any) -> Any:
    return None if value is tf.MISSING else value


def _key_list(keys: Any) -> list[tuple[str, Any]]:
    items = keys.items() if isinstance(keys, Mapping) else keys
    return [(str(k), d) for k, d in items]


def _same_keys(spec: Mapping[str, Any], keys: list[tuple[str, Any]]) -> bool:
    """Same fields in the same order (directions too where the server keeps them)."""
    have = _key_list(spec.get("key") or {})
    return [k for k, _ in have] == [k for k, _ in keys]


def _create_index(coll: Any, op: Mapping[str, Any]) -> dict[str, Any]:
    keys = _key_list(op["keys"])
    options = dict(bson_value(op.get("options")) or {})
    for spec in coll.list_indexes():
        same = spec.get("name") == options.get("name") or _same_keys(spec, keys)
        if same and bool(spec.get("unique")) == bool(options.get("unique")):
            return {"index": spec.get("name"), "created": False,
                        "note": "an index on these keys exists already"}  # fmt: skip
    name = coll.create_index(keys, **options)
    return {"index": name, "created": True}


def _drop_index(coll: Any, op: Mapping[str, Any]) -> dict[str, Any]:
    """By name; else by keys (servers that name indexes themselves: nx-27017). Idempotent."""
    keys = _key_list(op.get("keys") or [])
    specs = list(coll.list_indexes())
    found = next((s for s in specs if s.get("name") == op.get("name")), None)
    if found is None and keys:
        found = next((s for s in specs if _same_keys(s, keys) and s.get("name") != "_id_"), None)
    if found is None:
        return {"index": op.get("name"), "dropped": False, "note": "no such index (already gone)"}
    coll.drop_index(found["name"])
    if any(s.get("name") == found["name"] for s in coll.list_indexes()):
        coll.drop_index(_key_list(found["key"]))  # a server that drops only by key pattern
    return {"index": found["name"], "dropped": True}


def _state(
    coll: Any, name: str, op: Mapping[str, Any], flt: Mapping[str, Any], timeout_ms: int
) -> dict[str, Any]:
    """The small reads and writes of the run state (execute/mongo_state.py) and of sample data."""
    if name == "find":
        docs = coll.find(flt, sort=op.get("sort"), limit=int(op.get("limit") or 0),
                         max_time_ms=timeout_ms)  # fmt: skip
        return {"documents": list(docs)}
    if name == "count":
        return {"count": int(coll.count_documents(flt, maxTimeMS=timeout_ms))}
    if name == "update_one":
        r = coll.update_one(flt, op["update"], upsert=bool(op.get("upsert")))
        return {"matched": r.matched_count, "modified": r.modified_count}
    if name == "insert_one":
        try:
            coll.insert_one(dict(op["document"]))
        except pymongo.errors.DuplicateKeyError:
            return {"inserted": False}
        return {"inserted": True}
    if name == "insert_many":
        return {"inserted": len(coll.insert_many([dict(d) for d in op["documents"]]).inserted_ids)}
    if name == "delete_one":
        return {"deleted": coll.delete_one(flt).deleted_count}
    return {"deleted": coll.delete_many(flt).deleted_count}
