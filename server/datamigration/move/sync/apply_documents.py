"""Applying captured changes to a MongoDB target through the copy engine's mapping.

Each table plays one or more roles, read from the resolved mapping (`move/mapping.py`):

* the root of a collection: a change sets the root fields of its document (`_id` made as the
  mapping says, so it is the copy's `_id`), keeping the embedded arrays (a new document gets
  them empty); a delete removes the document;
* a child embedded as an array in a root: the element is removed by its key from wherever it
  is and put into its parent's array, sorted and cut as the mapping says; a delete removes it;
* a parent embedded as a document in a root's documents: every document embedding it gets
  the new version; a delete sets it to null;
* a table the mapping does not name (or no mapping): one collection per table, `_id` from
  the key, as the copy engine's unmapped path makes them.

Values become the mapping's BSON types with the same converters the copy uses
(`move/documents.py`). Columns the source did not send (`UNAVAILABLE`) are left as they are.
The operations run through the backend (`db/mongodb/changes.py`); the run's position is
written after the batch: a replay sets the same values again.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Any

from datamigration.db.change_events import UNAVAILABLE, Position
from datamigration.db.mongodb.bulk import bson_value
from datamigration.errors import UserInputError
from datamigration.move.documents import DocumentBuilder, _PartBuilder
from datamigration.move.mapping import CollectionMapping, DocumentMapping, Embed, Part
from datamigration.move.sync.apply import Applier, Step

Op = tuple[str, dict[str, Any]]


def _present(row: Mapping[str, Any]) -> dict[str, Any]:
    return {c: (None if v == UNAVAILABLE else v) for c, v in row.items()}


def _names(part: Part, columns: Sequence[str]) -> list[str]:
    """Field names of these columns in a part (columns kept as fields or references)."""
    out = [f.name for f in part.fields if f.column in columns]
    out += [r.name for r in part.references if set(r.columns) & set(columns)]
    return out


def _field(part: Part, column: str) -> Any:
    return next((f for f in part.fields if f.column == column), None)


class _Plain:
    """A table without a mapping: one document per row, `_id` from the key."""

    def __init__(self, table: str) -> None:
        self.collection = table

    def _id(self, key: Mapping[str, Any]) -> Any:
        values = {k: bson_value(v) for k, v in key.items()}
        return next(iter(values.values())) if len(values) == 1 else values

    def ops(self, step: Step) -> list[Op]:
        if step.kind == "truncate":
            return [(self.collection, {"op": "delete", "filter": {}, "many": True})]
        filt = {"_id": self._id(step.key)}
        if step.kind == "delete":
            return [(self.collection, {"op": "delete", "filter": filt})]
        fields = {c: bson_value(v) for c, v in (step.row or {}).items() if c not in step.missing}
        op = {"op": "set", "filter": filt, "set": fields, "upsert": not step.missing}
        return [(self.collection, op)]


class _Root:
    def __init__(self, cm: CollectionMapping, fetch: Any) -> None:
        self.cm = cm
        self.ids = DocumentBuilder(cm, fetch)
        documents = tuple(e for e in cm.root.embeds if e.kind == "document")
        self.builder = _PartBuilder(replace(cm.root, embeds=documents))
        self.arrays = {e.name: [] for e in cm.root.embeds if e.kind == "array"}
        self.fetch = fetch

    def ops(self, step: Step) -> list[Op]:
        name = self.cm.collection
        if step.kind == "truncate":
            return [(name, {"op": "delete", "filter": {}, "many": True})]
        filt = {"_id": self.ids.document_id(dict(step.key))}
        if step.kind == "delete":
            return [(name, {"op": "delete", "filter": filt})]
        row = _present(step.row or {})
        doc = self.builder.build([row], self.fetch)[0]
        for field in _names(self.cm.root, step.missing):
            doc.pop(field, None)
        op = {"op": "set", "filter": filt, "set": doc, "on_insert": dict(self.arrays),
              "upsert": not step.missing}  # fmt: skip
        return [(name, op)]


class _Array:
    def __init__(self, cm: CollectionMapping, embed: Embed, fetch: Any) -> None:
        self.cm, self.e, self.fetch = cm, embed, fetch
        self.ids = DocumentBuilder(cm, fetch)
        self.builder = _PartBuilder(embed.part)
        keys = [_field(embed.part, k) for k in embed.part.key]
        if not embed.part.key or None in keys:
            raise UserInputError(
                f"{embed.part.table} is embedded in {cm.collection}.{embed.name} without its "
                "key columns, so a change cannot find its element",
                hint="Keep the key in the mapping (keep_foreign_key: true, no exclude of it).",
                table=embed.part.table,
            )
        self.keys = dict(zip(embed.part.key, keys, strict=True))
        self.convert = {f.column: c for f, c in self.builder.fields}
        self.sort = [
            (f.name, -1 if order == "desc" else 1)
            for c, order in embed.sort
            if (f := _field(embed.part, c)) is not None
        ]

    def _match(self, key: Mapping[str, Any]) -> dict[str, Any]:
        return {f.name: self.convert[c](key[c]) for c, f in self.keys.items()}

    def _parent(self, row: Mapping[str, Any]) -> tuple[dict[str, Any], bool]:
        local = {lc: row.get(rc) for lc, rc in zip(self.e.local, self.e.remote, strict=True)}
        if all(k in local for k in self.cm.root.key):
            return {"_id": self.ids.document_id(local)}, True
        names = {lc: (_names(self.cm.root, [lc]) or [lc])[0] for lc in local}
        return {names[c]: v for c, v in local.items()}, False

    def ops(self, step: Step) -> list[Op]:
        name, path = self.cm.collection, self.e.name
        if step.kind == "truncate":
            return [(name, {"op": "array_clear", "path": path})]
        match = self._match(step.key)
        if step.kind == "delete":
            return [(name, {"op": "array_pull", "path": path, "match": match})]
        row = _present(step.row or {})
        parent, upsert = self._parent(row)
        element = self.builder.build([row], self.fetch)[0]
        op = {"op": "array_put", "filter": parent, "upsert": upsert, "path": path,
              "match": match, "element": element, "keep": _names(self.e.part, step.missing),
              "sort": self.sort, "limit": self.e.limit}  # fmt: skip
        return [(name, op)]


class _Embedded:
    """A parent row embedded as a document in the root's documents."""

    def __init__(self, cm: CollectionMapping, embed: Embed, fetch: Any) -> None:
        self.cm, self.e, self.fetch = cm, embed, fetch
        self.builder = _PartBuilder(embed.part)
        self.convert = {f.column: c for f, c in self.builder.fields}

    def _filter(self, key: Mapping[str, Any]) -> dict[str, Any]:
        out = {}
        for lc, rc in zip(self.e.local, self.e.remote, strict=True):
            f = _field(self.e.part, rc)
            if f is not None:
                out[f"{self.e.name}.{f.name}"] = self.convert[rc](key.get(rc))
            else:
                out[(_names(self.cm.root, [lc]) or [lc])[0]] = key.get(rc)
        return out

    def ops(self, step: Step) -> list[Op]:
        name, path = self.cm.collection, self.e.name
        if step.kind == "truncate":
            return [(name, {"op": "set", "filter": {}, "set": {path: None}, "many": True})]
        source = step.row if step.kind == "upsert" else step.key
        filt = self._filter(_present(source or {}))
        if step.kind == "delete":
            return [(name, {"op": "set", "filter": filt, "set": {path: None}, "many": True})]
        doc = self.builder.build([_present(step.row or {})], self.fetch)[0]
        missing = _names(self.e.part, step.missing)
        fields = (
            {f"{path}.{k}": v for k, v in doc.items() if k not in missing}
            if missing
            else {path: doc}
        )
        return [(name, {"op": "set", "filter": filt, "set": fields, "many": True})]


class DocumentApplier(Applier):
    """Changes to a MongoDB target (see the module docstring)."""

    def __init__(
        self,
        target: Any,
        store: Any,
        *,
        mapping: DocumentMapping | None = None,
        fetch: Any = None,
    ) -> None:
        self.b = target
        self.store = store
        self.fetch = fetch or _no_fetch
        self.roles: dict[str, list[Any]] = {}
        for cm in mapping.collections if mapping is not None else ():
            self.roles.setdefault(cm.root.table, []).append(_Root(cm, self.fetch))
            for e in cm.root.embeds:
                if e.part.embeds:
                    raise UserInputError(
                        f"{cm.collection}.{e.name} embeds further tables; sync applies "
                        "mappings one level deep",
                        hint="Map the deeper tables as references or collections of their own.",
                    )
                role = (
                    _Array(cm, e, self.fetch) if e.kind == "array" else _Embedded(cm, e, self.fetch)
                )
                self.roles.setdefault(e.part.table, []).append(role)

    def ops(self, step: Step) -> list[Op]:
        roles = self.roles.get(step.table) or [_Plain(step.table)]
        return [op for role in roles for op in role.ops(step)]

    def write(self, run_id: str, steps: list[Step], position: Position, applied: int) -> None:
        ops = [op for s in steps for op in self.ops(s)]
        i = 0
        while i < len(ops):  # consecutive operations on one collection go together
            j = i
            while j < len(ops) and ops[j][0] == ops[i][0]:
                j += 1
            self.b.apply_document_changes(ops[i][0], [o for _, o in ops[i:j]])
            i = j
        self.store.advance(run_id, position, applied)


def _no_fetch(table: str, *args: Any) -> list[Any]:
    raise UserInputError(
        f"building this document needs rows of {table} from the source, and none is open",
        hint="Give the sync its source database.",
    )
