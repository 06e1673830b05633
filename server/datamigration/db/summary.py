"""What `inspect` shows: a compact summary that fits in an assistant's context, detail on request.

A schema of 500 tables dumped in full is hundreds of kilobytes; the model needs names, sizes and
the shape of keys to decide what to look at. `summarize` gives one short line of facts per table
(capped, with `truncated`); `table_detail` gives everything about one table; `render_text`
prints the summary for a terminal. The CLI and the MCP tool both use these, so they agree.
"""

from __future__ import annotations

from typing import Any

from typing_extensions import TypedDict

from datamigration.db.model import Collection, Schema, Table, to_dict
from datamigration.errors import NotFoundError

DEFAULT_MAX_TABLES = 100
#: Column lists are inlined only for small schemas; beyond this, ask for a table's detail.
COLUMNS_INLINE_MAX_TABLES = 25


def _table_line(t: Table, with_columns: bool) -> dict[str, Any]:
    line = {
        "name": t.qualified_name,
        "rows": t.exact_count if t.exact_count is not None else t.row_estimate,
        "rows_exact": t.exact_count is not None,
        "total_bytes": t.total_bytes,
        "column_count": len(t.columns),
        "columns": [f"{c.name} {c.data_type}{'' if c.nullable else ' not null'}" for c in t.columns]
        if with_columns
        else None,
        "primary_key": list(t.primary_key.columns) if t.primary_key else None,
        "foreign_keys": [
            f"({', '.join(f.columns)}) -> {f.ref_table}({', '.join(f.ref_columns)})"
            for f in t.foreign_keys
        ],
        "indexes": len(t.indexes),
        "invalid_indexes": [i.name for i in t.indexes if not i.valid],
        "triggers": len(t.triggers),
    }
    return line


def _collection_line(c: Collection) -> dict[str, Any]:
    return {
        "name": c.name,
        "documents": c.document_count,
        "size_bytes": c.size_bytes,
        "indexes": [i.name for i in c.indexes],
        "has_validator": bool(c.validator),
        "fields": [f.path for f in c.fields][:50],
        "sampled": c.sampled,
    }


class SchemaSummary(TypedDict):
    """What `summarize` returns: the CLI prints it, the MCP tool answers with it."""

    dialect: str
    database: str | None
    server_version: str | None
    table_count: int
    collection_count: int
    tables: list[dict[str, Any]]  # one line of facts per table, at most max_tables
    collections: list[dict[str, Any]]
    enums: dict[str, list[str]]
    sequences: list[str]
    query_count: int
    truncated: bool


def summarize(schema: Schema, *, max_tables: int = DEFAULT_MAX_TABLES) -> SchemaSummary:
    """Compact, JSON-able summary; at most `max_tables` tables and collections (largest first
    when capped, so the ones that matter for a migration stay in view)."""
    max_tables = max(1, int(max_tables))
    tables = list(schema.tables)
    collections = list(schema.collections)
    truncated = len(tables) > max_tables or len(collections) > max_tables
    if len(tables) > max_tables:
        tables = sorted(tables, key=lambda t: -(t.total_bytes or t.row_estimate or 0))
        tables = sorted(tables[:max_tables], key=lambda t: t.qualified_name)
    if len(collections) > max_tables:
        collections = sorted(collections, key=lambda c: -(c.document_count or 0))[:max_tables]
    return {
        "dialect": schema.dialect,
        "database": schema.database,
        "server_version": schema.server_version,
        "table_count": len(schema.tables),
        "collection_count": len(schema.collections),
        "tables": [_table_line(t, len(tables) <= COLUMNS_INLINE_MAX_TABLES) for t in tables],
        "collections": [_collection_line(c) for c in collections],
        "enums": {e.name: list(e.values) for e in schema.enums},
        "sequences": [s.name for s in schema.sequences][:max_tables],
        "query_count": schema.query_count,
        "truncated": truncated,
    }


def table_detail(schema: Schema, name: str) -> dict[str, Any]:
    """Everything the model holds about one table or collection."""
    table = schema.table(name)
    if table is not None:
        return to_dict(table)
    coll = schema.collection(name)
    if coll is not None:
        return to_dict(coll)
    import difflib

    names = [t.qualified_name for t in schema.tables] + [c.name for c in schema.collections]
    close = difflib.get_close_matches(name, names + [t.name for t in schema.tables], n=1)
    raise NotFoundError(
        f"no table or collection named {name!r} in {schema.database}",
        hint=f"Did you mean {close[0]!r}?"
        if close
        else "Run inspect without a table to list them.",
        name=name,
    )


def _size(n: int | None) -> str:
    if n is None:
        return "?"
    for unit in ("B", "kB", "MB", "GB", "TB"):
        if n < 1024 or unit == "TB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return "?"


def render_text(summary: dict[str, Any]) -> str:
    lines = [
        f"{summary['dialect']} database {summary['database']} "
        f"(server {summary['server_version'] or '?'}): {summary['table_count']} tables"
        + (f", {summary['collection_count']} collections" if summary["collection_count"] else "")
    ]
    for t in summary["tables"]:
        rows = "?" if t["rows"] is None else f"{t['rows']}{'' if t['rows_exact'] else '~'}"
        pk = ", ".join(t["primary_key"]) if t["primary_key"] else "none"
        lines.append(
            f"  {t['name']}: {rows} rows, {_size(t['total_bytes'])}, "
            f"{t['column_count']} columns, pk ({pk}), {t['indexes']} indexes"
            + (f", {len(t['foreign_keys'])} fks" if t["foreign_keys"] else "")
            + (f", INVALID indexes {t['invalid_indexes']}" if t["invalid_indexes"] else "")
        )
    for c in summary["collections"]:
        lines.append(
            f"  {c['name']}: {c['documents']} documents, {_size(c['size_bytes'])}, "
            f"{len(c['indexes'])} indexes, {len(c['fields'])} fields sampled"
        )
    if summary["enums"]:
        lines.append(
            "  enums: " + "; ".join(f"{k} ({', '.join(v)})" for k, v in summary["enums"].items())
        )
    if summary["truncated"]:
        lines.append("  (truncated: more tables exist; pass --max-tables or --table NAME)")
    return "\n".join(lines)


def render_table_text(detail: dict[str, Any]) -> str:
    """Readable detail of one table for the terminal."""
    if "columns" not in detail or "documents" in detail:
        import json

        return json.dumps(detail, indent=2, default=str)
    lines = [f"table {detail.get('schema') + '.' if detail.get('schema') else ''}{detail['name']}"]
    for c in detail["columns"]:
        extra = []
        if not c["nullable"]:
            extra.append("not null")
        if c["default"] is not None:
            extra.append(f"default {c['default']}")
        if c["identity"]:
            extra.append(f"identity {c['identity']}")
        if c["generated"]:
            extra.append(f"generated as ({c['generated']})")
        lines.append(f"  {c['name']} {c['data_type']}{' ' + ', '.join(extra) if extra else ''}")
    if detail["primary_key"]:
        lines.append(f"  primary key ({', '.join(detail['primary_key']['columns'])})")
    for u in detail["uniques"]:
        lines.append(f"  unique {u['name'] or ''} ({', '.join(u['columns'])})")
    for f in detail["foreign_keys"]:
        lines.append(
            f"  foreign key {f['name'] or ''} ({', '.join(f['columns'])}) -> "
            f"{f['ref_table']}({', '.join(f['ref_columns'])}) on delete "
            f"{f['on_delete']} on update {f['on_update']}"
        )
    for k in detail["checks"]:
        lines.append(f"  check {k['name'] or ''} ({k['expression']})")
    for i in detail["indexes"]:
        flags = [w for w, on in (("unique", i["unique"]), ("INVALID", not i["valid"])) if on]
        lines.append(
            f"  index {i['name']} {i['method'] or ''} ({', '.join(i['columns'])})"
            + (f" where {i['predicate']}" if i["predicate"] else "")
            + (f" [{', '.join(flags)}]" if flags else "")
        )
    for t in detail["triggers"]:
        lines.append(f"  trigger {t['name']} {t['timing']} {' or '.join(t['events'])}")
    rows = detail["exact_count"] if detail["exact_count"] is not None else detail["row_estimate"]
    lines.append(
        f"  rows {rows if rows is not None else '?'}, size {_size(detail['total_bytes'])}"
        + (
            f", replica identity {detail['replica_identity']}"
            if detail.get("replica_identity")
            else ""
        )
    )
    return "\n".join(lines)
