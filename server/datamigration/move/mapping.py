"""A relational-to-document mapping: parsed, checked against the source schema, resolved.

The mapping file (JSON or YAML, `schemas/document-mapping.schema.json`) is hostile input: it is
parsed with the safe loader, checked against its JSON Schema, and then every name in it is
looked up in the introspected source schema before anything is read or written. A table, a
column or a foreign key that does not exist is refused with its name and the closest names
that do; two columns landing on one field, an `_id` that cannot be built, or nesting deeper
than `MAX_DEPTH` are refused too.

What comes out is plain frozen data (`DocumentMapping` → `CollectionMapping` → `Part`): for
every table part the columns it keeps with their field names and BSON types (the lossless type
map's choice unless the file names one), its embedded arrays and documents with the columns
that join them, and its references. The document builder, the collection setup and the mapped
diff read only this resolved form. `fingerprint` hashes it, so a copy's checkpoints can tell a
changed mapping from the one they were made with.
"""

from __future__ import annotations

import difflib
import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

from datamigration.db.model import Column, ForeignKey, Schema, Table
from datamigration.errors import FileFormatError, UserInputError
from datamigration.safeload import load_json, load_yaml, require_object
from datamigration.typemap import map_type

SCHEMA_NAME = "document-mapping"
#: the BSON types a JSON value becomes (object, array, string, number, boolean)
JSON_VALUE_TYPES = ("object", "array", "string", "double", "int", "long", "bool")
MAX_DEPTH = 4
ID_STRATEGIES = ("primary_key", "wrapped", "uuid5")
SCHEMA_HINT = (
    "See docs/document-mapping.md and server/datamigration/schemas/document-mapping.schema.json;"
    " `datamigration mapping suggest SRC --root TABLE` writes a valid one."
)


class MappingError(UserInputError):
    """A mapping names something the source does not have, or cannot be built as written."""

    default_hint = SCHEMA_HINT


@dataclass(frozen=True)
class FieldMap:
    """One kept column: its field name in the document, its BSON type, NOT NULL or not."""

    column: str
    name: str
    bson_type: str
    nullable: bool
    json_schema: Mapping[str, Any]


@dataclass(frozen=True)
class Reference:
    """A foreign key kept as a field (one value, or {field: value} when composite)."""

    fields: tuple[FieldMap, ...]
    table: str
    name: str

    @property
    def columns(self) -> tuple[str, ...]:
        return tuple(f.column for f in self.fields)


@dataclass(frozen=True)
class Embed:
    """An embedded array (child rows whose `remote` columns equal this row's `local` ones) or
    an embedded document (the parent row whose `remote` columns equal this row's `local`)."""

    kind: str
    name: str
    local: tuple[str, ...]
    remote: tuple[str, ...]
    part: Part
    sort: tuple[tuple[str, str], ...] = ()
    limit: int | None = None
    #: an embedded document whose foreign key may be NULL (then the field is null or absent)
    optional: bool = False


@dataclass(frozen=True)
class Part:
    """One table's share of a document."""

    table: str
    key: tuple[str, ...]
    fields: tuple[FieldMap, ...]
    embeds: tuple[Embed, ...]
    references: tuple[Reference, ...]
    omit_nulls: bool

    def columns_needed(self, extra: Sequence[str] = ()) -> tuple[str, ...]:
        """Every column a read of this table must return (fields, joins, sort, `extra`)."""
        names = [f.column for f in self.fields]
        names += [c for r in self.references for c in r.columns]
        names += [c for e in self.embeds for c in e.local]
        names += [*self.key, *extra]
        return tuple(dict.fromkeys(names))


@dataclass(frozen=True)
class CollectionMapping:
    """A collection: its root table part and how `_id` is made from the root key.

    `id_fields` are the key columns' field maps: `_id` itself (primary_key), the fields of
    the `_id` object (wrapped), or ordinary fields of the document beside a derived UUID."""

    collection: str
    id_strategy: str
    root: Part
    id_fields: tuple[FieldMap, ...]

    @property
    def key_paths(self) -> tuple[str, ...]:
        """Where each root key column lives in a document, as a dotted path."""
        if self.id_strategy == "primary_key":
            return ("_id",)
        if self.id_strategy == "wrapped":
            return tuple(f"_id.{f.name}" for f in self.id_fields)
        return tuple(f.name for f in self.id_fields)


@dataclass(frozen=True)
class DocumentMapping:
    collections: tuple[CollectionMapping, ...]
    dialect: str

    @property
    def fingerprint(self) -> str:
        text = json.dumps(asdict(self), sort_keys=True, default=str)
        return hashlib.sha256(text.encode()).hexdigest()[:16]

    def for_table(self, table: str) -> CollectionMapping | None:
        return next((c for c in self.collections if c.root.table == table), None)


# --- loading ---------------------------------------------------------------------------------


def load_mapping_file(path: str | Path) -> dict[str, Any]:
    """Parse a mapping file (JSON by its suffix, else YAML) and check it against its schema."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise FileFormatError(
            f"mapping file not found: {p}",
            hint="Write one with: datamigration mapping suggest SRC --root TABLE --out FILE",
        ) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise FileFormatError(f"cannot read mapping file {p}: {exc}", hint=SCHEMA_HINT) from None
    hint = "Fix the syntax at the line shown."
    if p.suffix.lower() == ".json":
        data = load_json(text, source=p.name, hint=hint)
    else:
        data = load_yaml(text, source=p.name, hint=hint)
    check_mapping(data, p.name)
    return data


def check_mapping(data: Any, where: str = "mapping") -> None:
    """The JSON Schema check; a FileFormatError naming the spot when `data` does not match."""
    from datamigration.coordination.schema_check import first_error

    require_object(data, source=where, hint=SCHEMA_HINT)
    problem = first_error(data, SCHEMA_NAME)
    if problem is not None:
        _, message = problem
        raise FileFormatError(
            f"{where}: {message}",
            hint=SCHEMA_HINT,
            path=where,
            problem=message,
        )


# --- resolving against the source schema -----------------------------------------------------


def _near(name: str, options: Sequence[str]) -> str:
    close = difflib.get_close_matches(name, list(options), n=3, cutoff=0.5)
    if close:
        return "Did you mean " + " or ".join(repr(c) for c in close) + "?"
    return "Available: " + ", ".join(list(options)[:20]) + "." if options else ""


class _Resolver:
    def __init__(self, schema: Schema) -> None:
        self.schema = schema

    def table(self, name: str, where: str) -> Table:
        found = self.schema.table(name)
        if found is None:
            names = [t.name for t in self.schema.tables]
            raise MappingError(
                f"{where}: table {name!r} is not in the source database",
                hint=f"{_near(name, names)} {SCHEMA_HINT}".strip(),
                table=name,
            )
        return found

    def column(self, table: Table, name: str, where: str) -> Column:
        found = table.column(name)
        if found is None:
            raise MappingError(
                f"{where}: column {name!r} is not in table {table.name!r}",
                hint=f"{_near(name, table.column_names)} Columns come from the source schema "
                "(datamigration inspect SRC --table " + table.name + ").",
                table=table.name,
                column=name,
            )
        return found

    def columns(self, table: Table, names: Sequence[str], where: str) -> tuple[str, ...]:
        return tuple(self.column(table, n, where).name for n in names)

    def foreign_key(
        self, child: Table, parent: Table, columns: Sequence[str] | None, where: str
    ) -> ForeignKey | None:
        """The declared key from `child` to `parent` (on `columns` when given)."""
        parent_names = {parent.name, parent.qualified_name}
        fks = [fk for fk in child.foreign_keys if fk.ref_table in parent_names]
        if columns:
            fks = [fk for fk in fks if tuple(fk.columns) == tuple(columns)]
        if len(fks) > 1:
            raise MappingError(
                f"{where}: {child.name} has {len(fks)} foreign keys to {parent.name}",
                hint="Name the one to use with foreign_key: [columns].",
            )
        return fks[0] if fks else None

    def bson(self, table: Table, column: Column, rule: Mapping[str, Any]) -> FieldMap:
        mapped = map_type(column, "mongodb", source_dialect=self.schema.dialect)
        chosen = mapped.target.name
        if chosen == "binData" and "uuid" in column.type_name.lower():
            chosen = "string"  # canonical text: reads back as the same uuid everywhere
        chosen = rule.get("type") or chosen
        if chosen in ("mixed", "null"):
            chosen = "string"
        fragment = dict(mapped.json_schema())
        kinds = [chosen]
        if chosen == "object" and mapped.source.logical().kind == "json":
            kinds = list(JSON_VALUE_TYPES)  # a JSON column may hold any JSON value
        fragment["bsonType"] = kinds[0] if len(kinds) == 1 else kinds
        if column.nullable:
            fragment["bsonType"] = [*kinds, "null"]
        if chosen != mapped.target.name:
            fragment.pop("enum", None)
        return FieldMap(column.name, rule.get("name") or column.name, chosen, column.nullable,
                        fragment)  # fmt: skip


def _kept_fields(
    r: _Resolver, table: Table, spec: Mapping[str, Any], where: str, drop: Sequence[str]
) -> tuple[FieldMap, ...]:
    rules = dict(spec.get("fields") or {})
    for name in rules:
        r.column(table, name, f"{where}/fields")
    excluded = set(r.columns(table, spec.get("exclude") or [], f"{where}/exclude"))
    out = []
    for col in table.columns:
        if col.name in excluded or col.name in drop:
            continue
        out.append(r.bson(table, col, rules.get(col.name) or {}))
    return tuple(out)


def _check_names(names: Sequence[str], where: str) -> None:
    seen: dict[str, int] = {}
    for n in names:
        seen[n] = seen.get(n, 0) + 1
    twice = sorted(n for n, k in seen.items() if k > 1)
    if twice:
        raise MappingError(
            f"{where}: field name(s) used twice in one document: {', '.join(twice)}",
            hint="Rename one of them with fields: {column: {name: other}}, or exclude one.",
        )
    if "_id" in seen:
        raise MappingError(
            f"{where}: a field may not be named _id (the id strategy decides _id)",
            hint='Rename the column, or choose id: "primary_key" to make the key the _id.',
        )


def _part(
    r: _Resolver, table: Table, spec: Mapping[str, Any], where: str, depth: int,
    drop: Sequence[str] = (),
) -> Part:  # fmt: skip
    if depth > MAX_DEPTH:
        raise MappingError(
            f"{where}: embedding nests deeper than {MAX_DEPTH} levels",
            hint="Keep the deeper tables as references or collections of their own.",
        )
    key = tuple(table.primary_key.columns) if table.primary_key else ()
    fields = _kept_fields(r, table, spec, where, drop)
    embeds = tuple(
        _embed(r, table, e, f"{where}/embed/{i}", depth)
        for i, e in enumerate(spec.get("embed") or [])
    )
    refs = tuple(
        _reference(r, table, ref, f"{where}/references/{i}")
        for i, ref in enumerate(spec.get("references") or [])
    )
    ref_cols = {c for ref in refs for c in ref.columns}
    fields = tuple(f for f in fields if f.column not in ref_cols)
    _check_names([f.name for f in fields] + [e.name for e in embeds] + [x.name for x in refs],
                 where)  # fmt: skip
    return Part(table.name, key, fields, embeds, refs, spec.get("nulls") == "omit")


def _joins(
    r: _Resolver, local: Table, other: Table, kind: str, spec: Mapping[str, Any], where: str
) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(this row's columns, the other table's columns) that join the two."""
    child, parent = (other, local) if kind == "array" else (local, other)
    given = r.columns(child, spec["foreign_key"], where) if spec.get("foreign_key") else None
    fk = r.foreign_key(child, parent, given, where)
    if spec.get("parent_columns"):
        ref = r.columns(parent, spec["parent_columns"], where)
    elif fk is not None:
        ref = tuple(fk.ref_columns)
    else:
        ref = tuple(parent.primary_key.columns) if parent.primary_key else ()
    fk_cols = given or (tuple(fk.columns) if fk is not None else ())
    if not fk_cols or len(fk_cols) != len(ref):
        raise MappingError(
            f"{where}: no foreign key from {child.name} to {parent.name}",
            hint="Declare the foreign key in the source, or give foreign_key: [child columns] "
            "(and parent_columns: when they are not the parent's primary key).",
            table=child.name,
        )
    return (ref, fk_cols) if kind == "array" else (fk_cols, ref)


def _embed(r: _Resolver, table: Table, spec: Mapping[str, Any], where: str, depth: int) -> Embed:
    other = r.table(spec["table"], where)
    kind = spec["kind"]
    local, remote = _joins(r, table, other, kind, spec, where)
    drop = remote if kind == "array" and not spec.get("keep_foreign_key") else ()
    part = _part(r, other, spec, where, depth + 1, drop)
    sort = tuple(
        (r.column(other, s["column"], f"{where}/sort").name, s.get("order", "asc"))
        for s in spec.get("sort") or []
    )
    if kind == "document" and (sort or spec.get("limit")):
        raise MappingError(
            f"{where}: sort and limit apply to embedded arrays only",
            hint="An embedded document is the one row the foreign key points at.",
        )
    optional = kind == "document" and any(
        (c := table.column(n)) is None or c.nullable for n in local
    )
    return Embed(kind, spec.get("as") or other.name, local, remote, part, sort, spec.get("limit"),
                 optional)  # fmt: skip


def _reference(r: _Resolver, table: Table, spec: Mapping[str, Any], where: str) -> Reference:
    cols = r.columns(table, spec["foreign_key"], where)
    target = spec.get("table")
    if target is not None:
        parent = r.table(target, where)
        if r.foreign_key(table, parent, cols, where) is None:
            raise MappingError(
                f"{where}: {table.name}({', '.join(cols)}) does not reference {parent.name}",
                hint="Name the columns of a declared foreign key, or leave out table:.",
            )
    else:
        fk = next((fk for fk in table.foreign_keys if tuple(fk.columns) == cols), None)
        target = fk.ref_table if fk is not None else ""
    fields = tuple(r.bson(table, r.column(table, c, where), {}) for c in cols)
    return Reference(fields, target, spec.get("as") or cols[0])


def resolve_mapping(data: Mapping[str, Any], schema: Schema) -> DocumentMapping:
    """The checked mapping file resolved against the source `schema` (names, keys, types)."""
    check_mapping(data)
    r = _Resolver(schema)
    out = []
    seen: set[str] = set()
    for i, spec in enumerate(data["collections"]):
        where = f"collections/{i}"
        if spec["collection"] in seen:
            raise MappingError(
                f"{where}: collection {spec['collection']!r} is mapped twice",
                hint="Map each collection once; embed or reference the other tables in it.",
            )
        seen.add(spec["collection"])
        table = r.table(spec["root"], where)
        strategy = spec.get("id") or "primary_key"
        key = tuple(table.primary_key.columns) if table.primary_key else ()
        if not key:
            raise MappingError(
                f"{where}: table {table.name!r} has no primary key to build _id from",
                hint="Add a primary key to the source table (a copy needs one to partition "
                "and to rerun without duplicates).",
                table=table.name,
            )
        if strategy == "primary_key" and len(key) > 1:
            strategy = "wrapped"  # a composite key is always wrapped
        excluded = sorted(set(key) & set(spec.get("exclude") or []))
        if excluded:
            raise MappingError(
                f"{where}: the key column(s) {', '.join(excluded)} are excluded, but _id is "
                "built from them",
                hint="Keep the key columns (remove them from exclude).",
            )
        root = _part(r, table, spec, where, 1)
        rules = spec.get("fields") or {}
        id_fields = tuple(r.bson(table, r.column(table, c, where), rules.get(c) or {}) for c in key)
        if strategy != "uuid5":
            root = replace(root, fields=tuple(f for f in root.fields if f.column not in key))
        out.append(CollectionMapping(spec["collection"], strategy, root, id_fields))
    return DocumentMapping(tuple(out), schema.dialect)


def mapping_for(
    source: str, path: str | Path, workspace: Any = None
) -> tuple[DocumentMapping, Schema]:
    """The mapping file at `path` resolved against the schema of `source` (URL or name)."""
    from datamigration.db import connect

    data = load_mapping_file(path)
    with connect(source, workspace) as backend:
        schema = backend.inspect()
    return resolve_mapping(data, schema), schema


def describe(mapping: DocumentMapping) -> list[str]:
    """A few lines per collection for a terminal: where each table's rows end up."""
    lines = []
    for cm in mapping.collections:
        lines.append(f"{cm.collection}: documents from {cm.root.table} (_id: {cm.id_strategy}, "
                     f"{len(cm.root.fields)} fields)")  # fmt: skip

        def walk(part: Part, prefix: str) -> None:
            for e in part.embeds:
                how = "array of" if e.kind == "array" else "document from"
                extra = f", sorted by {', '.join(c for c, _ in e.sort)}" if e.sort else ""
                extra += f", at most {e.limit}" if e.limit else ""
                lines.append(f"  {prefix}{e.name}: {how} {e.part.table} "
                             f"({', '.join(e.remote)} = {', '.join(e.local)}{extra})")  # fmt: skip
                walk(e.part, f"{prefix}{e.name}.")
            for ref in part.references:
                lines.append(f"  {prefix}{ref.name}: reference to {ref.table or '?'} "
                             f"({', '.join(ref.columns)})")  # fmt: skip

        walk(cm.root, "")
    return lines
