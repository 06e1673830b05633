"""Applying row changes to documents: the MongoDB side of the sync's applier.

The engine (`move/sync/apply_documents.py`) turns each change into plain operations on one
collection, through the copy engine's mapping; this module runs them with pymongo:

* `set`: `$set` of fields (`$setOnInsert` for the embedded arrays of a new document), by a
  filter, one or many documents, with or without upsert;
* `delete`: remove the matching document(s);
* `array_put`: put one element into an embedded array: removed by its key from every
  document that holds it (a child that moved to another parent leaves the old one), then
  added to its parent, sorted and cut as the mapping says. On MongoDB this is `$pull` then
  `$push` with `$each`/`$sort`/`$slice`; a wire server that does not keep objects pushed with
  modifiers (nx-27017 stores them as text; a probe finds out) gets the same result by
  reading the array and setting it whole (the applier is the only writer of these documents);
* `array_pull`: remove an element by its key; `array_clear`: empty the array everywhere.

Filters on an object `_id` are written as dotted paths (`_id.a`): nx-27017 refuses an object
as an equality value, and on MongoDB both mean the same for the ids the mapping builds.
`keep` names element fields the change did not carry (an unchanged TOASTed column): they are
taken from the element being replaced.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from pymongo import DeleteMany, DeleteOne, UpdateMany, UpdateOne


def flat_filter(filt: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """Equality on nested objects as equality on their dotted leaves."""
    out: dict[str, Any] = {}
    for k, v in filt.items():
        if isinstance(v, Mapping) and v and not any(str(x).startswith("$") for x in v):
            out.update(flat_filter(v, f"{prefix}{k}."))
        else:
            out[f"{prefix}{k}"] = v
    return out


def _match(path: str, match: Mapping[str, Any]) -> dict[str, Any]:
    """The documents whose array holds the element (`$elemMatch`, not `path.key`: nx-27017
    answers a dotted equality wrongly once an index covers that path)."""
    return {path: {"$elemMatch": dict(match)}}


def _is_element(element: Any, match: Mapping[str, Any]) -> bool:
    return isinstance(element, Mapping) and all(element.get(k) == v for k, v in match.items())


def _sort_key(value: Any) -> tuple[int, Any]:
    return (0, 0) if value is None else (1, value)


def arranged(items: list[Any], sort: Sequence[Sequence[Any]], limit: int | None) -> list[Any]:
    """An array sorted by `sort` ((field, 1 | -1) pairs, the first most significant) and cut
    to `limit`, as `$push` with `$sort` and `$slice` leaves it."""
    for field, order in reversed(list(sort)):
        items.sort(key=lambda e, f=field: _sort_key(e.get(f)), reverse=int(order) < 0)
    return items if limit is None else items[: int(limit)]


class DocumentChanges:
    """Runs a batch's operations on one database, in order."""

    def __init__(self, backend: Any) -> None:
        self.b = backend
        self.native = self._push_keeps_objects()

    def _push_keeps_objects(self) -> bool:
        """Does `$push` with modifiers store an object as an object? Asked once, on a scratch
        document of the state collection's database."""
        coll = self.b.db["_datamigration_probe"]
        ident = "push-probe"
        try:
            coll.replace_one({"_id": ident}, {"_id": ident, "a": []}, upsert=True)
            coll.update_one(
                {"_id": ident}, {"$push": {"a": {"$each": [{"x": 1}], "$sort": {"x": 1}}}}
            )
            found = (coll.find_one({"_id": ident}) or {}).get("a") or []
            coll.drop()
        except Exception:  # noqa: BLE001 - a server that refuses the probe gets the portable path
            return False
        return found == [{"x": 1}]

    def run(self, collection: str, ops: Sequence[Mapping[str, Any]]) -> int:
        """Consecutive sets and deletes go in one ordered `bulk_write`; array operations,
        which read before they write, one at a time."""
        coll = self.b.db[collection]
        pending: list[Any] = []
        for op in ops:
            if op["op"] in ("set", "delete"):
                request = self._request(op)
                if request is not None:
                    pending.append(request)
                continue
            self._flush(coll, pending)
            getattr(self, "_" + op["op"])(coll, op)
        self._flush(coll, pending)
        return len(ops)

    def _flush(self, coll: Any, pending: list[Any]) -> None:
        if pending:
            self._call("apply changes", coll.bulk_write, list(pending), ordered=True)
            pending.clear()

    def _request(self, op: Mapping[str, Any]) -> Any:
        many, filt = bool(op.get("many")), flat_filter(op["filter"])
        if op["op"] == "delete":
            return DeleteMany(filt) if many else DeleteOne(filt)
        update: dict[str, Any] = {}
        if op.get("set"):
            update["$set"] = dict(op["set"])
        if op.get("on_insert") and op.get("upsert"):
            update["$setOnInsert"] = dict(op["on_insert"])
        if not update:
            return None
        cls = UpdateMany if many else UpdateOne
        return cls(filt, update, upsert=bool(op.get("upsert")))

    def _call(self, what: str, fn: Any, *args: Any, **kw: Any) -> Any:
        return self.b._call(what, fn, *args, **kw)

    def _array_clear(self, coll: Any, op: Mapping[str, Any]) -> None:
        self._call("apply changes", coll.update_many, {}, {"$set": {op["path"]: []}})

    def _array_pull(self, coll: Any, op: Mapping[str, Any]) -> dict[str, Any] | None:
        """Remove the element everywhere; the element removed (None when there was none)."""
        path, match = op["path"], op["match"]
        holders = self._call(
            "apply changes", lambda: list(coll.find(_match(path, match), {path: 1}))
        )
        old = next((e for d in holders for e in (d.get(path) or []) if _is_element(e, match)), None)
        if not holders:
            return None
        if self.native:
            self._call("apply changes", coll.update_many, _match(path, match),
                       {"$pull": {path: dict(match)}})  # fmt: skip
            return old
        for doc in holders:
            kept = [e for e in doc.get(path) or [] if not _is_element(e, match)]
            self._call("apply changes", coll.update_one, {"_id": doc["_id"]},
                       {"$set": {path: kept}})  # fmt: skip
        return old

    def _array_put(self, coll: Any, op: Mapping[str, Any]) -> None:
        path = op["path"]
        old = self._array_pull(coll, op)
        element = dict(op["element"])
        for field in op.get("keep") or ():
            if old is not None and field in old:
                element[field] = old[field]
            else:
                element.pop(field, None)
        parent = flat_filter(op["filter"])
        sort = [tuple(s) for s in op.get("sort") or ()]
        if self.native:
            push: dict[str, Any] = {"$each": [element]}
            if sort:
                push["$sort"] = {f: int(o) for f, o in sort}
            if op.get("limit") is not None:
                push["$slice"] = int(op["limit"])
            self._call("apply changes", coll.update_one, parent, {"$push": {path: push}},
                       upsert=bool(op.get("upsert")))  # fmt: skip
            return
        doc = self._call("apply changes", coll.find_one, parent, {path: 1})
        items = list((doc or {}).get(path) or []) + [element]
        items = arranged(items, sort, op.get("limit"))
        if doc is None and not op.get("upsert"):
            return
        self._call("apply changes", coll.update_one, parent if doc is None else {"_id": doc["_id"]},
                   {"$set": {path: items}}, upsert=doc is None)  # fmt: skip
