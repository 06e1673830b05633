"""Checksum diff of a table across databases: bisect only where the two sides differ.

Both sides cut the key range into the same buckets and return a count and a hash sum per
bucket, in one grouped query each, run at the same time (this is one parallel scan of each
table: the physical floor of a full comparison). Only buckets whose numbers differ are looked at
again: split further while large, fetched and compared row by row once small. A clean pair
therefore costs two scans; a few differences add a few small range queries.

Values are compared in their canonical text form (`canonical`), so a numeric scale, timestamp
precision or print format difference is not a difference; the normalisation used and how each
side was hashed (in the database or on the client, and why) are part of the report.

Lag-aware mode (`lag_column` + `lag_seconds`): a difference whose row changed within the window
on either side is set aside, re-checked after `recheck_delay` seconds, and reported as
`lagging` (not as a difference) if it is still recent then.
"""

from __future__ import annotations

import difflib
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from datamigration.db.dialect import dialect_of
from datamigration.db.mongodb.segments import MongoReader
from datamigration.db.segments import open_reader
from datamigration.db.urls import resolve
from datamigration.errors import UserInputError
from datamigration.validate import sqlrender
from datamigration.validate.bisection import Differ, compare_sides, key_json, run_both
from datamigration.validate.canonical import Normalisation, combine_kinds, kind_of
from datamigration.validate.sides import (
    Field,
    MongoSide,
    SharedSnapshot,
    Side,
    SQLSide,
)

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


def _side_columns(url: str, table: str, workspace: Any) -> tuple[str, list[tuple[str, str, bool]]]:
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


def _typed_keys(
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


def _default_key(
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
class _Plan:
    src_fields: tuple[Field, ...]
    dst_fields: tuple[Field, ...]
    key_count: int
    norm: Normalisation
    columns: tuple[dict[str, Any], ...]
    only_source: tuple[str, ...]
    only_target: tuple[str, ...]


def plan_columns(
    src: tuple[str, list], dst: tuple[str, list], options: DiffOptions, key: Sequence[str]
) -> _Plan:
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
    return _Plan(
        tuple(src_fields),
        tuple(dst_fields),
        len(key),
        norm,
        tuple(described),
        only_source,
        only_target,
    )


def _make_side(
    url: str,
    table: str,
    dialect: str,
    fields: tuple[Field, ...],
    plan: _Plan,
    options: DiffOptions,
    workspace: Any,
    stored: Mapping[str, str] | None = None,
    snapshot: SharedSnapshot | None = None,
) -> Side:
    common = {
        "pool_size": 1 if options.gentle else options.parallel,
        "workspace": workspace,
        "gentle": options.gentle,
        "snapshot": snapshot,
    }
    d = dialect_of(dialect)
    if d.documents:
        return MongoSide(
            url, table, fields, plan.key_count, plan.norm, key_types=stored or {}, **common
        )
    client_cols = []
    if d.hashes_in_database:
        for f in fields:
            expr = sqlrender.field_expr(dialect, "x", f.kind, f.type_kind, plan.norm)
            if expr is None:
                client_cols.append(f"{f.name} ({f.kind})")
    if not d.hashes_in_database:
        reason = "SQLite has no md5(): hashed on the client, streaming in key order"
    elif options.client_hash:
        reason = "client hashing was requested"
    elif client_cols:
        reason = (
            f"{dialect} cannot print {', '.join(client_cols)} in the canonical form: "
            "hashed on the client, streaming in key order"
        )
    else:
        reason = ""
    in_db = d.hashes_in_database and not client_cols and not options.client_hash
    return SQLSide(
        url,
        table,
        fields,
        plan.key_count,
        plan.norm,
        dialect=dialect,
        in_db=in_db,
        reason=reason,
        **common,
    )


def _one_snapshot(
    source_url: str, target_url: str, o: DiffOptions, workspace: Any
) -> SharedSnapshot | None:
    """A shared snapshot when both sides are one PostgreSQL database (columns of one live
    table, a copy beside its original): then a difference is never a write caught between two
    reads (MySQL/MariaDB: in gentle mode, through one connection). Not in lag-aware mode, whose
    re-check must see later writes."""
    src, dst = resolve(source_url, workspace), resolve(target_url, workspace)
    if o.lag_column or src.url != dst.url:
        return None
    how = dialect_of(src.dialect).shared_snapshot
    if how == "export":
        return SharedSnapshot()
    if how == "connection" and o.gentle:
        return SharedSnapshot(single_connection=True)
    return None


def diff_tables(
    source_url: str,
    source_table: str,
    target_url: str,
    target_table: str,
    options: DiffOptions | None = None,
    workspace: Any | None = None,
) -> dict[str, Any]:
    """Compare a table (or collection) on two databases; returns the JSON report."""
    o = options or DiffOptions()
    started = time.perf_counter()
    if o.lag_column and o.lag_seconds <= 0:
        raise UserInputError(
            "lag-aware mode needs lag_seconds > 0",
            hint="Give the window in seconds: --lag 30 on the CLI, lag_seconds=30 in the tool.",
        )
    (src_meta, dst_meta) = run_both(
        lambda: _side_columns(source_url, source_table, workspace),
        lambda: _side_columns(target_url, target_table, workspace),
    )
    key = list(o.key) or _default_key(
        source_url, source_table, target_url, target_table, src_meta[0], dst_meta[0], workspace
    )
    if not key:
        raise UserInputError(f"{source_table} has no primary key to compare by", hint=KEY_HINT)
    src_meta, dst_meta, stored = _typed_keys(
        src_meta, dst_meta, source_url, source_table, target_url, target_table, key, o, workspace
    )
    plan = plan_columns(src_meta, dst_meta, o, key)
    if o.lag_column and o.lag_column not in [c["source"] for c in plan.columns]:
        plan = (
            plan_columns(src_meta, dst_meta, replace(o, columns=(*o.columns, o.lag_column)), key)
            if o.columns
            else plan
        )
    snapshot = _one_snapshot(source_url, target_url, o, workspace)
    src = _make_side(
        source_url, source_table, src_meta[0], plan.src_fields, plan, o, workspace, stored[0],
        snapshot,
    )  # fmt: skip
    dst = _make_side(
        target_url, target_table, dst_meta[0], plan.dst_fields, plan, o, workspace, stored[1],
        snapshot,
    )  # fmt: skip
    labels = (
        _label(source_url, source_table, workspace),
        _label(target_url, target_table, workspace),
    )
    return compare_sides(src, dst, plan, o, key, labels, snapshot, started)


def _label(url: str, table: str, workspace: Any) -> dict[str, Any]:
    return {"url": resolve(url, workspace).redacted, "table": table}


def sample_compare(
    source_url: str,
    source_table: str,
    target_url: str,
    target_table: str,
    n: int,
    options: DiffOptions | None = None,
    workspace: Any | None = None,
) -> dict[str, Any]:
    """Pick `n` random source keys and compare those rows field by field on both sides."""
    o = options or DiffOptions()
    started = time.perf_counter()
    src_meta = _side_columns(source_url, source_table, workspace)
    dst_meta = _side_columns(target_url, target_table, workspace)
    key = list(o.key) or _default_key(
        source_url, source_table, target_url, target_table, src_meta[0], dst_meta[0], workspace
    )
    if not key:
        raise UserInputError(f"{source_table} has no primary key to sample by", hint=KEY_HINT)
    src_meta, dst_meta, stored = _typed_keys(
        src_meta, dst_meta, source_url, source_table, target_url, target_table, key, o, workspace
    )
    plan = plan_columns(src_meta, dst_meta, o, key)
    src = _make_side(
        source_url, source_table, src_meta[0], plan.src_fields, plan, o, workspace, stored[0]
    )
    dst = _make_side(
        target_url, target_table, dst_meta[0], plan.dst_fields, plan, o, workspace, stored[1]
    )
    differ = Differ(src, dst, plan, o)
    try:
        keys = src.random_keys(n)
        a, b = run_both(lambda: src.rows_for(keys), lambda: dst.rows_for(keys))
        differ._compare(a, b, final=True)
    finally:
        src.close()
        dst.close()
    t = differ.tally
    return {
        "sampled": len(keys),
        "missing": [key_json(k) for k in t.missing],
        "changed_fields": [{"key": key_json(k), "fields": f} for k, f in t.changed.items()],
        "differences": t.missing_count + t.changed_count,
        "seconds": round(time.perf_counter() - started, 3),
    }
