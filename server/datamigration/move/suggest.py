"""A proposed mapping for one root table, read from the foreign keys of the source schema.

Tables whose foreign key points at the root become embedded arrays (sorted by their primary
key), and, one level down, their own children too; the tables the root points at become
references (the key kept as a field) — or embedded documents with `embed_parents=True`. A
table is never embedded twice on one path (cycles and self-references stay references). The
result is a plain dict that passes the mapping schema, for a person to review and edit: the
suggestion is a starting point, not a decision.
"""

from __future__ import annotations

from typing import Any

from datamigration.db.model import Schema, Table
from datamigration.move.mapping import MAX_DEPTH, MappingError, _near, check_mapping

#: how far down child tables are embedded by default (the users → orders → items shape)
SUGGEST_DEPTH = 2


def _children(schema: Schema, parent: Table) -> list[tuple[Table, tuple[str, ...]]]:
    names = {parent.name, parent.qualified_name}
    out = []
    for t in schema.tables:
        for fk in t.foreign_keys:
            if fk.ref_table in names and t.name != parent.name:
                out.append((t, tuple(fk.columns)))
    return out


def _arrays(
    schema: Schema, table: Table, path: tuple[str, ...], depth: int, limit: int | None
) -> list[dict[str, Any]]:
    out = []
    kids = _children(schema, table)
    for child, fk in kids:
        if child.name in path:
            continue
        several = sum(1 for c, _ in kids if c.name == child.name) > 1
        spec: dict[str, Any] = {"table": child.name, "kind": "array"}
        if several:
            spec["foreign_key"] = list(fk)
            spec["as"] = f"{child.name}_by_{'_'.join(fk)}"
        else:
            spec["as"] = child.name
        if child.primary_key:
            spec["sort"] = [{"column": c} for c in child.primary_key.columns]
        if limit:
            spec["limit"] = limit
        if depth < min(SUGGEST_DEPTH, MAX_DEPTH):
            nested = _arrays(schema, child, (*path, child.name), depth + 1, limit)
            if nested:
                spec["embed"] = nested
        out.append(spec)
    return out


def suggest_mapping(
    schema: Schema,
    root: str,
    *,
    collection: str | None = None,
    embed_parents: bool = False,
    limit: int | None = None,
) -> dict[str, Any]:
    """A mapping (the file's dict form) with `root`'s rows as documents."""
    table = schema.table(root)
    if table is None:
        raise MappingError(
            f"table {root!r} is not in the source database",
            hint=_near(root, [t.name for t in schema.tables]) or "The source has no tables.",
            table=root,
        )
    spec: dict[str, Any] = {"collection": collection or table.name, "root": table.name}
    spec["id"] = "primary_key"
    if table.primary_key and len(table.primary_key.columns) > 1:
        spec["id"] = "wrapped"
    embeds = _arrays(schema, table, (table.name,), 1, limit)
    refs = []
    for fk in table.foreign_keys:
        parent = fk.ref_table.split(".")[-1]
        if embed_parents and parent != table.name:
            embeds.append({"table": parent, "kind": "document", "as": parent,
                           "foreign_key": list(fk.columns)})  # fmt: skip
        else:
            refs.append({"foreign_key": list(fk.columns), "table": parent})
    if embeds:
        spec["embed"] = embeds
    if refs:
        spec["references"] = refs
    out = {"version": 1, "collections": [spec]}
    check_mapping(out, "suggested mapping")
    return out


def suggest_for(
    source: str,
    root: str,
    *,
    workspace: Any = None,
    collection: str | None = None,
    embed_parents: bool = False,
    limit: int | None = None,
) -> dict[str, Any]:
    """`suggest_mapping` for a database given by URL or connection name."""
    from datamigration.db import connect

    with connect(source, workspace) as backend:
        schema = backend.inspect()
    return suggest_mapping(
        schema, root, collection=collection, embed_parents=embed_parents, limit=limit
    )
