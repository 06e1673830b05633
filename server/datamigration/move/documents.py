"""Documents from rows: a batch of root rows plus their children, one fetch per child table.

`DocumentBuilder.build(batch)` turns one batch of root rows (dicts) into documents. For each
embedded array it asks the fetcher once for the child rows of every parent in the batch
(``WHERE fk IN (...)``, sorted, optionally limited per parent); for each embedded document once
for the parent rows the batch points at; nested embeds repeat this one level down on the rows
just fetched. So a batch costs one fetch per embedded table whatever its size (never one per
row), and memory holds one batch of roots and their children: callers stream batches.

The fetcher is any callable with the signature of `Fetch`; the copy engine's workers pass
`SQLFetcher` (`move/sql_fetch.py`), which reads on a read-only connection of the source.
Values become the mapping's BSON types (`db.mongodb.values`); a row whose value cannot be
stored as asked raises `RowRejected` naming the table, column and reason, so the
caller can set the root row aside and go on.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import Any, Protocol

from datamigration.db.mongodb.values import converter, derived_id, id_value
from datamigration.errors import DataMigrationError
from datamigration.move.mapping import CollectionMapping, Embed, FieldMap, Part

Row = Mapping[str, Any]
Key = tuple[Any, ...]


class Fetch(Protocol):
    def __call__(
        self,
        table: str,
        columns: Sequence[str],
        match: Sequence[str],
        keys: Sequence[Key],
        order_by: Sequence[tuple[str, str]],
        limit: int | None,
    ) -> Iterable[Row]:
        """Rows of `table` (only `columns`) whose `match` columns equal one of `keys`, in
        `order_by` order within each key, at most `limit` per key when given."""
        ...


class RowRejected(DataMigrationError):
    """A row value cannot be stored as its mapped BSON type."""

    default_hint = (
        "Give the column another type in the mapping (fields: {column: {type: string}}), or "
        "fix the row in the source."
    )


def _converters(fields: Sequence[FieldMap]) -> list[tuple[FieldMap, Callable[[Any], Any]]]:
    return [(f, converter(f.bson_type)) for f in fields]


class _PartBuilder:
    """One table part, with its converters made once (not per row)."""

    def __init__(self, part: Part) -> None:
        self.part = part
        self.fields = _converters(part.fields)
        self.refs = [(ref, _converters(ref.fields)) for ref in part.references]
        self.embeds = [(e, _PartBuilder(e.part)) for e in part.embeds]

    def columns(self, extra: Sequence[str] = ()) -> tuple[str, ...]:
        return self.part.columns_needed(extra)

    def value(self, row: Row, f: FieldMap, convert: Callable[[Any], Any]) -> Any:
        try:
            return convert(row[f.column])
        except (ValueError, TypeError, ArithmeticError) as exc:
            raise RowRejected(
                f"{self.part.table}.{f.column}: cannot store {row[f.column]!r} as "
                f"{f.bson_type}: {exc}",
                table=self.part.table,
                column=f.column,
            ) from None

    def document(self, row: Row, children: Mapping[int, Mapping[Key, Any]]) -> dict[str, Any]:
        doc: dict[str, Any] = {}
        omit = self.part.omit_nulls
        for f, convert in self.fields:
            value = self.value(row, f, convert)
            if value is not None or not omit:
                doc[f.name] = value
        for ref, convs in self.refs:
            values = {f.name: self.value(row, f, c) for f, c in convs}
            if len(values) == 1:
                value = next(iter(values.values()))
            else:
                value = None if all(v is None for v in values.values()) else values
            if value is not None or not omit:
                doc[ref.name] = value
        for i, (embed, _) in enumerate(self.embeds):
            key = tuple(row[c] for c in embed.local)
            found = children[i].get(key)
            if embed.kind == "array":
                doc[embed.name] = found or []
            elif found is not None or not omit:
                doc[embed.name] = found
        return doc

    def build(self, rows: Sequence[Row], fetch: Fetch) -> list[dict[str, Any]]:
        """Documents (or embedded parts) for `rows`, fetching each embedded table once."""
        children = [self._children(e, b, rows, fetch) for e, b in self.embeds]
        return [self.document(row, dict(enumerate(children))) for row in rows]

    def _children(
        self, embed: Embed, builder: _PartBuilder, rows: Sequence[Row], fetch: Fetch
    ) -> dict[Key, Any]:
        keys = list(dict.fromkeys(tuple(r[c] for c in embed.local) for r in rows))
        keys = [k for k in keys if all(v is not None for v in k)]
        if not keys:
            return {}
        got = list(
            fetch(
                embed.part.table,
                builder.columns([*embed.remote, *(c for c, _ in embed.sort)]),
                embed.remote,
                keys,
                embed.sort,
                embed.limit,
            )
        )
        built = builder.build(got, fetch)
        out: dict[Key, Any] = {}
        for row, doc in zip(got, built, strict=True):
            key = tuple(row[c] for c in embed.remote)
            if embed.kind == "document":
                out[key] = doc
                continue
            items = out.setdefault(key, [])
            if embed.limit is None or len(items) < embed.limit:
                items.append(doc)
        return out


class DocumentBuilder:
    """Documents of one mapped collection, a batch of root rows at a time."""

    def __init__(self, mapping: CollectionMapping, fetch: Fetch) -> None:
        self.mapping = mapping
        self.fetch = fetch
        self.root = _PartBuilder(mapping.root)
        self.ids = _converters(mapping.id_fields)

    @property
    def root_columns(self) -> tuple[str, ...]:
        """The root table's columns a reader must return for `build`."""
        return self.root.columns(tuple(f.column for f in self.mapping.id_fields))

    def document_id(self, row: Row) -> Any:
        m = self.mapping
        values = [self.root.value(row, f, c) for f, c in self.ids]
        if m.id_strategy == "primary_key":
            return values[0]
        if m.id_strategy == "wrapped":
            return {f.name: v for (f, _), v in zip(self.ids, values, strict=True)}
        raw = tuple(row[f.column] for f in m.id_fields)
        return id_value(derived_id(m.root.table, raw))

    def build(self, rows: Sequence[Row]) -> list[dict[str, Any]]:
        docs = self.root.build(rows, self.fetch)
        return [{"_id": self.document_id(row), **doc} for row, doc in zip(rows, docs, strict=True)]

    def build_isolating(
        self, rows: Sequence[Row]
    ) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        """(documents, rejects) of a page: built at once, or row by row when a value cannot
        be stored, so one bad row is set aside with its key and the reason, not the page."""
        try:
            return self.build(rows), []
        except RowRejected:
            pass
        docs, rejects = [], []
        for row in rows:
            try:
                docs.extend(self.build([row]))
            except RowRejected as exc:
                key = [row[c] for c in self.mapping.root.key]
                rejects.append({"table": self.mapping.root.table, "key": key,
                                "error": exc.message})  # fmt: skip
        return docs, rejects

    def stream(self, batches: Iterable[Sequence[Row]]) -> Iterator[list[dict[str, Any]]]:
        """Documents batch by batch: memory holds one batch and its children."""
        for rows in batches:
            if rows:
                yield self.build(rows)
