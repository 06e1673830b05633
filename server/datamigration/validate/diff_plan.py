"""What a diff compares, settled before any row is read: the options, the key, the column pairs.

Both sides' columns are read first (a MongoDB collection's from a sample of documents), the key
is the one named or the primary key, and MongoDB key fields are typed from how documents store
them so key ranges can be asked for in the stored type. Then each source column is paired with
its target column (through `field_map`) and given the kind both sides are compared as. Every
mistake a caller can make here (a key or mapped column that does not exist, a key that cannot
be ranged) is refused with a hint before any scan starts.
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from datamigration.db.dialect import dialect_of
from datamigration.db.mongodb.segments import MongoReader
from datamigration.db.segments import open_reader
from datamigration.errors import UserInputError
from datamigration.validate.canonical import Normalisation, combine_kinds, kind_of
from datamigration.validate.sides import Field

KEY_KINDS = ("int", "text", "uuid")

#: Hints name every face's spelling: the same engine error reaches the CLI, the MCP tool and a
#: rules file, and a hint that names only a CLI flag misleads the model calling the tool.
KEY_HINT = (
    "Name the key column(s) to compare by: --key on the CLI (comma-separated), key= in the "
    "diff_data tool, key: in a rules file."
)
MAP_HINT = (
    "Map source names to target names: --map SRC=DST on the CLI, field_map= in the diff_data "
    "tool, field_map: in a rules file."
)


@dataclass(frozen=True)
class DiffOptions:
    """What to compare and how. `field_map` renames source columns on the target."""

    key: tuple[str, ...] = ()
    columns: tuple[str, ...] = ()
    field_map: Mapping[str, str] = field(default_factory=dict)
    normalisation: Normalisation | None = None  # None: defaults, ms precision with MongoDB
    bucket_rows: int = 2000
    row_threshold: int = 2000
    split: int = 16
    max_keys: int = 1000
    lag_column: str | None = None
    lag_seconds: float = 0.0
    recheck_delay: float = 1.0
    parallel: int = 2
    client_hash: bool = False  # force hashing on the client (for testing both paths)
    #: share the database with a live application: one query at a time across both sides,
    #: no parallel workers (a migration run's validation gates use this)
    gentle: bool = False


def side_columns(url: str, table: str, workspace: Any) -> tuple[str, list[tuple[str, str, bool]]]:
    """(dialect, [(name, declared type, nullable)]) — MongoDB fields have no type."""
    with open_reader(url, workspace) as r:
        if isinstance(r, MongoReader):
            names = r.field_names(table)
            # Every document has an _id, even when the sample saw none (an empty collection).
            names = names if "_id" in names else ["_id", *names]
            return "mongodb", [(n, "", True) for n in names]
        return r.dialect, r.columns(table)  # type: ignore[attr-defined]


def _typed_mongo_key(
    meta: tuple[str, list[tuple[str, str, bool]]],
    url: str,
    table: str,
    key: Sequence[str],
    workspace: Any,
) -> tuple[tuple[str, list[tuple[str, str, bool]]], dict[str, str]]:
    """A MongoDB side's key fields typed from how a document stores them.

    Fields of a collection declare no type, so a key would otherwise compare as text: fine for
    equality, but key ranges must be asked for in the stored type (an integer `_id` is never
    `>= "1000"`, an ObjectId never equals its hex text). Integer keys become `bigint` here (so
    they compare as integers); the stored types go to the side to convert range bounds back."""
    dialect, cols = meta
    if not dialect_of(dialect).documents:
        return meta, {}
    with open_reader(url, workspace) as r:
        assert isinstance(r, MongoReader)
        stored = r.value_types(table, list(key))
    typed = [(n, "bigint" if stored.get(n) == "int" else t, z) for n, t, z in cols]
    return (dialect, typed), stored


def _primary_key(url: str, table: str, workspace: Any) -> list[str]:
    with open_reader(url, workspace) as r:
        return [] if isinstance(r, MongoReader) else r.primary_key(table)  # type: ignore


def typed_keys(
    src_meta: tuple[str, list],
    dst_meta: tuple[str, list],
    source_url: str,
    source_table: str,
    target_url: str,
    target_table: str,
    key: Sequence[str],
    o: DiffOptions,
    workspace: Any,
) -> tuple[tuple[str, list], tuple[str, list], tuple[dict[str, str], dict[str, str]]]:
    """Both sides' metadata with MongoDB key fields typed, and each side's stored key types
    (named as that side names them: the target's through field_map, `_id` by default)."""
    src_meta, src_stored = _typed_mongo_key(src_meta, source_url, source_table, key, workspace)
    dst_names = {n for n, _, _ in dst_meta[1]}
    dst_key = [o.field_map.get(k, k) for k in key]
    if dialect_of(dst_meta[0]).documents and len(key) == 1 and dst_key[0] not in dst_names:
        dst_key = ["_id"]
    dst_meta, dst_stored = _typed_mongo_key(dst_meta, target_url, target_table, dst_key, workspace)
    return src_meta, dst_meta, (src_stored, dst_stored)


def default_key(
    source_url: str,
    source_table: str,
    target_url: str,
    target_table: str,
    src_dialect: str,
    dst_dialect: str,
    workspace: Any,
) -> list[str]:
    """The key when none was named: the source's primary key, else the target's; between two
    MongoDB collections, `_id` (the one key every document has)."""
    if dialect_of(src_dialect).documents and dialect_of(dst_dialect).documents:
        return ["_id"]
    key = _primary_key(source_url, source_table, workspace)
    if not key and not dialect_of(dst_dialect).documents:
        key = _primary_key(target_url, target_table, workspace)
    return key


def _nearest_hint(name: str, names: Mapping[str, Any] | Sequence[str]) -> str:
    """'Did you mean ...?' with the closest existing names, or the list when it is short."""
    options = list(names)
    close = difflib.get_close_matches(name, options, n=3, cutoff=0.5)
    if close:
        return "Did you mean " + " or ".join(repr(c) for c in close) + "?"
    if options and len(options) <= 12:
        return "Available: " + ", ".join(options) + "."
    return ""


def _check_field_map(
    fmap: Mapping[str, str],
    src_types: Mapping[str, str],
    dst_types: Mapping[str, str],
    dst_dialect: str,
) -> None:
    """Refuse a field_map entry that names no column: silently ignored, it would compare
    something other than what the caller asked for (or drop the column from the comparison).

    A MongoDB target's field names come from a sample of documents, so a field absent there
    may still exist; only the source side and SQL targets are checked."""
    for src, dst in fmap.items():
        if src not in src_types:
            raise UserInputError(
                f"field_map names {src!r}, which is not a column of the source table",
                hint=f"{_nearest_hint(src, src_types)} The keys of the map are source "
                f"column names. {MAP_HINT}".strip(),
                column=src,
            )
        if not dialect_of(dst_dialect).documents and dst not in dst_types:
            raise UserInputError(
                f"field_map maps {src!r} to {dst!r}, which is not a column of the target table",
                hint=f"{_nearest_hint(dst, dst_types)} The values of the map are target "
                f"column names. {MAP_HINT}".strip(),
                column=dst,
            )


@dataclass(frozen=True)
class DiffPlan:
    """The paired columns (key first) as each side reads them, and how values are normalised."""

    src_fields: tuple[Field, ...]
    dst_fields: tuple[Field, ...]
    key_count: int
    norm: Normalisation
    columns: tuple[dict[str, Any], ...]
    only_source: tuple[str, ...]
    only_target: tuple[str, ...]


def plan_columns(
    src: tuple[str, list], dst: tuple[str, list], options: DiffOptions, key: Sequence[str]
) -> DiffPlan:
    """Pair the columns, pick each one's kind, and order the key first."""
    (src_dialect, src_cols), (dst_dialect, dst_cols) = src, dst
    src_types = {n: t for n, t, _ in src_cols}
    dst_types = {n: t for n, t, _ in dst_cols}
    fmap = dict(options.field_map)
    _check_field_map(fmap, src_types, dst_types, dst_dialect)
    mongo_target = dialect_of(dst_dialect).documents
    if mongo_target:
        for k in key:
            if fmap.get(k, k) not in dst_types and "_id" in dst_types and len(key) == 1:
                fmap[k] = "_id"  # the row's key became the document's _id
    wanted = list(options.columns) or [n for n, _, _ in src_cols]
    for k in key:
        if k not in src_types:
            raise UserInputError(
                f"key column {k!r} is not in the source table",
                hint=f"{KEY_HINT} {_nearest_hint(k, src_types)}".strip(),
            )
    ordered = list(key) + [c for c in wanted if c not in key]
    unknown = [c for c in ordered if c not in src_types]
    if unknown:
        raise UserInputError(
            f"column(s) not in the source table: {', '.join(unknown)}",
            hint="Available: " + ", ".join(src_types),
        )
    only_source = tuple(c for c in ordered if fmap.get(c, c) not in dst_types and not mongo_target)
    if any(k in only_source for k in key):
        raise UserInputError(
            f"the key {', '.join(key)} is not on the target",
            hint=f"The target names its key differently? {MAP_HINT}",
        )
    paired = [c for c in ordered if c not in only_source]
    mapped_dst = {fmap.get(c, c) for c in paired}
    only_target = tuple(n for n, _, _ in dst_cols if n not in mapped_dst and n != "_id")
    norm = options.normalisation or Normalisation(
        timestamp_precision=min(
            dialect_of(src_dialect).timestamp_precision, dialect_of(dst_dialect).timestamp_precision
        )
    )
    src_fields, dst_fields, described = [], [], []
    for c in paired:
        d = fmap.get(c, c)
        sk, dk = kind_of(src_types.get(c), src_dialect), kind_of(dst_types.get(d), dst_dialect)
        kind = combine_kinds(sk, dk)
        if c in key and kind not in KEY_KINDS:
            if kind == "numeric":
                kind = "int"
            else:
                raise UserInputError(
                    f"key column {c!r} compares as {kind}; keys must be integers, text or uuid",
                    hint="Use an integer, text or uuid key (a unique column works too).",
                )
        src_fields.append(Field(c, kind, sk))
        dst_fields.append(Field(d, kind, dk))
        described.append({"source": c, "target": d, "kind": kind})
    return DiffPlan(
        tuple(src_fields),
        tuple(dst_fields),
        len(key),
        norm,
        tuple(described),
        only_source,
        only_target,
    )


def settle_key(
    source_url: str,
    source_table: str,
    target_url: str,
    target_table: str,
    metas: tuple[tuple[str, list], tuple[str, list]],
    o: DiffOptions,
    workspace: Any,
    purpose: str,
) -> tuple[list[str], tuple[str, list], tuple[str, list], tuple[dict[str, str], dict[str, str]]]:
    """The key (as named, else the primary key) and both sides' metadata with key fields typed,
    plus each side's stored key types. `purpose` names the act in the error (compare, sample)."""
    src_meta, dst_meta = metas
    key = list(o.key) or default_key(
        source_url, source_table, target_url, target_table, src_meta[0], dst_meta[0], workspace
    )
    if not key:
        raise UserInputError(f"{source_table} has no primary key to {purpose} by", hint=KEY_HINT)
    src_meta, dst_meta, stored = typed_keys(
        src_meta, dst_meta, source_url, source_table, target_url, target_table, key, o, workspace
    )
    return key, src_meta, dst_meta, stored
