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

import datetime as dt
import difflib
import math
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field, replace
from typing import Any

from datamigration.db.dialect import dialect_of
from datamigration.db.mongodb.segments import MongoReader
from datamigration.db.segments import open_reader
from datamigration.db.urls import resolve
from datamigration.errors import UserInputError
from datamigration.validate import results, sqlrender
from datamigration.validate.canonical import Normalisation, combine_kinds, kind_of
from datamigration.validate.sides import (
    BucketSpec,
    Field,
    Key,
    MongoSide,
    Rows,
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


@dataclass
class _Tally:
    """Differences found so far (threads append under the lock); lists capped at max_keys."""

    cap: int
    missing: list[Key] = field(default_factory=list)
    extra: list[Key] = field(default_factory=list)
    changed: dict[Key, list[str]] = field(default_factory=dict)
    missing_count: int = 0
    extra_count: int = 0
    changed_count: int = 0
    deferred: set[Key] = field(default_factory=set)
    segments: int = 0
    rows_fetched: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, kind: str, keys: Sequence[Key], total: int | None = None) -> None:
        with self.lock:
            target = getattr(self, kind)
            room = self.cap - len(target)
            target.extend(keys[: max(room, 0)])
            setattr(self, f"{kind}_count", getattr(self, f"{kind}_count") + (total or len(keys)))


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


def _both(fa: Callable[[], Any], fb: Callable[[], Any], together: bool = True) -> tuple[Any, Any]:
    """Run the two sides' queries at the same time (each side has its own connections), or
    one after the other when the diff must leave cores to a live application."""
    if not together:
        return fa(), fb()
    with ThreadPoolExecutor(max_workers=2) as ex:
        a, b = ex.submit(fa), ex.submit(fb)
        return a.result(), b.result()


class _Differ:
    def __init__(self, src: Side, dst: Side, plan: _Plan, options: DiffOptions) -> None:
        self.src, self.dst, self.plan, self.o = src, dst, plan, options
        # Gentle: one side after the other. SQLite reads in-process and cannot share a
        # snapshot, so its sides keep reading side by side (a write between reads is likelier
        # the further apart they are).
        self.together = (
            not options.gentle
            or dialect_of(src.dialect).embedded
            or dialect_of(dst.dialect).embedded
        )
        self.tally = _Tally(cap=options.max_keys)
        self.names = [f["source"] for f in plan.columns]
        self.int_key = plan.key_count == 1 and plan.src_fields[0].kind == "int"
        self.lag_index = self.names.index(options.lag_column) if options.lag_column else None
        self.lag_since = None
        if self.lag_index is not None:
            self.lag_since = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=options.lag_seconds)
        self.bounds: tuple[int, int] = (0, 0)

    # --- steps: each returns further steps, never waits on another step -------------------

    def start(self) -> tuple[int, int]:
        (sc, smin, smax), (dc, dmin, dmax) = _both(self.src.stats, self.dst.stats, self.together)
        counts = (sc, dc)
        if sc == 0 and dc == 0:
            return counts
        biggest = max(counts)
        n = max(1, math.ceil(biggest / self.o.bucket_rows))
        if self.int_key:
            lo = min(int(v) for v in (smin, dmin) if v is not None)
            hi = max(int(v) for v in (smax, dmax) if v is not None) + 1
            self.bounds = (lo, hi)
            n = min(n, 65536)
            spec = BucketSpec(start=lo, width=max(1, math.ceil((hi - lo) / n)), count=n)
        else:
            limit = dialect_of(self.src.dialect).bucket_bounds_limit
            ref = self.src if sc >= dc else self.dst
            spec = BucketSpec(bounds=tuple(ref.boundaries(None, None, biggest, min(n, limit))))
        self._run([("split", None, None, spec)])
        return counts

    def _run(self, first: list[tuple]) -> None:
        workers = 1 if self.o.gentle else max(1, self.o.parallel)
        with ThreadPoolExecutor(max_workers=workers) as ex:
            pending: set[Future] = {ex.submit(self._step, s) for s in first}
            while pending:
                done, pending = wait(pending, return_when=FIRST_COMPLETED)
                for fut in done:
                    for nxt in fut.result():
                        pending.add(ex.submit(self._step, nxt))

    def _step(self, step: tuple) -> list[tuple]:
        kind = step[0]
        if kind == "split":
            return self._split(*step[1:])
        if kind == "rows":
            self._rows(*step[1:])
        return []

    def _split(self, lo: Key | None, hi: Key | None, spec: BucketSpec) -> list[tuple]:
        a, b = _both(
            lambda: self.src.buckets(lo, hi, spec),
            lambda: self.dst.buckets(lo, hi, spec),
            self.together,
        )
        with self.tally.lock:
            self.tally.segments += spec.n
        out = []
        for i, (sa, sb) in enumerate(zip(a, b, strict=True)):
            if sa == sb:
                continue
            b_lo, b_hi = spec.range_of(i, lo, hi)
            if sa[0] == 0 or sb[0] == 0:
                self._one_sided(b_lo, b_hi, "extra" if sa[0] == 0 else "missing")
            elif max(sa[0], sb[0]) <= self.o.row_threshold:
                out.append(("rows", b_lo, b_hi))
            else:
                sub = self._subspec(b_lo, b_hi, sa[0], sb[0])
                # A range that cannot be cut further (one key value wide, or rows beyond the
                # key span a side reported) is compared row by row rather than split forever.
                out.append(("split", b_lo, b_hi, sub) if sub.n > 1 else ("rows", b_lo, b_hi))
        return out

    def _subspec(self, lo: Key | None, hi: Key | None, ca: int, cb: int) -> BucketSpec:
        parts = max(2, self.o.split)
        if self.int_key:
            a = lo[0] if lo is not None else self.bounds[0]
            b = hi[0] if hi is not None else self.bounds[1]
            width = max(1, math.ceil((b - a) / parts))
            return BucketSpec(start=a, width=width, count=max(1, math.ceil((b - a) / width)))
        ref = self.src if ca >= cb else self.dst
        return BucketSpec(bounds=tuple(ref.boundaries(lo, hi, max(ca, cb), parts)))

    def _one_sided(self, lo: Key | None, hi: Key | None, kind: str) -> None:
        side = self.src if kind == "missing" else self.dst
        if self.lag_index is not None:
            rows = side.rows(lo, hi)
            fresh = [k for k, r in rows.items() if self._recent(r)]
            with self.tally.lock:
                self.tally.deferred.update(fresh)
            keys = [k for k in rows if k not in set(fresh)]
            self.tally.add(kind, keys)
            return
        keys, total = side.keys_only(lo, hi, self.o.max_keys)
        self.tally.add(kind, keys, total)

    def _recent(self, *rows: list[str | None] | None) -> bool:
        assert self.lag_index is not None and self.lag_since is not None
        for r in rows:
            text = r[self.lag_index] if r else None
            if not text or text in ("\x1e", "\x1d"):
                continue
            try:
                stamp = dt.datetime.fromisoformat(text).replace(tzinfo=dt.UTC)
            except ValueError:
                continue
            if stamp >= self.lag_since:
                return True
        return False

    def _rows(self, lo: Key | None, hi: Key | None) -> None:
        a, b = _both(lambda: self.src.rows(lo, hi), lambda: self.dst.rows(lo, hi), self.together)
        with self.tally.lock:
            self.tally.rows_fetched += len(a) + len(b)
        self._compare(a, b)

    def _compare(self, a: Rows, b: Rows, *, final: bool = False) -> list[Key]:
        missing, extra, deferred = [], [], []
        changed: dict[Key, list[str]] = {}
        for k, ra in a.items():
            rb = b.get(k)
            if rb == ra:
                continue
            if self.lag_index is not None and self._recent(ra, rb):
                deferred.append(k)
                continue
            if rb is None:
                missing.append(k)
            else:
                changed[k] = [n for n, x, y in zip(self.names, ra, rb, strict=True) if x != y]
        for k, rb in b.items():
            if k not in a:
                if self.lag_index is not None and self._recent(rb):
                    deferred.append(k)
                else:
                    extra.append(k)
        self.tally.add("missing", missing)
        self.tally.add("extra", extra)
        with self.tally.lock:
            self.tally.changed_count += len(changed)
            for k, fields in changed.items():
                if len(self.tally.changed) < self.tally.cap:
                    self.tally.changed[k] = fields
            if not final:
                self.tally.deferred.update(deferred)
        return deferred

    def recheck(self) -> list[Key]:
        """Compare set-aside rows again after the lag window; still-recent ones are lagging."""
        keys = sorted(self.tally.deferred, key=repr)
        if not keys:
            return []
        if self.o.recheck_delay > 0:
            time.sleep(self.o.recheck_delay)
        self.lag_since = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=self.o.lag_seconds)
        a, b = _both(lambda: self.src.rows_for(keys), lambda: self.dst.rows_for(keys))
        return self._compare(a, b, final=True)

    def reconcile(self) -> None:
        """A key listed both missing and extra sat in different segments on the two sides
        (key order disagreed): compare those rows directly."""
        both = set(self.tally.missing) & set(self.tally.extra)
        if not both:
            return
        keys = sorted(both, key=repr)
        a, b = _both(lambda: self.src.rows_for(keys), lambda: self.dst.rows_for(keys))
        with self.tally.lock:
            self.tally.missing = [k for k in self.tally.missing if k not in both]
            self.tally.extra = [k for k in self.tally.extra if k not in both]
            self.tally.missing_count -= len(both)
            self.tally.extra_count -= len(both)
        self._compare(a, b, final=True)


def _key_json(key: Key) -> Any:
    return key[0] if len(key) == 1 else list(key)


def diff_tables(
    source_url: str,
    source_table: str,
    target_url: str,
    target_table: str,
    options: DiffOptions | None = None,
    workspace: Any | None = None,
) -> results.DiffReport:
    """Compare a table (or collection) on two databases; returns the JSON report."""
    o = options or DiffOptions()
    started = time.perf_counter()
    if o.lag_column and o.lag_seconds <= 0:
        raise UserInputError(
            "lag-aware mode needs lag_seconds > 0",
            hint="Give the window in seconds: --lag 30 on the CLI, lag_seconds=30 in the tool.",
        )
    (src_meta, dst_meta) = _both(
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
    differ = _Differ(src, dst, plan, o)
    try:
        counts = differ.start()
        differ.reconcile()
        lagging = differ.recheck()
    finally:
        src.close()
        dst.close()
        if snapshot is not None:
            snapshot.close()
    t = differ.tally
    changed_keys = list(t.changed)
    report: results.DiffReport = {
        "source": _side_report(source_url, source_table, src, counts[0], workspace),
        "target": _side_report(target_url, target_table, dst, counts[1], workspace),
        "key": list(key),
        "columns": list(plan.columns),
        "columns_only_in_source": list(plan.only_source),
        "columns_only_in_target": list(plan.only_target),
        "normalisation": plan.norm.to_dict(),
        "missing": [_key_json(k) for k in t.missing],
        "extra": [_key_json(k) for k in t.extra],
        "changed": [_key_json(k) for k in changed_keys],
        "changed_fields": [{"key": _key_json(k), "fields": t.changed[k]} for k in changed_keys],
        "lagging": [_key_json(k) for k in lagging],
        "missing_count": t.missing_count,
        "extra_count": t.extra_count,
        "changed_count": t.changed_count,
        "lagging_count": len(lagging),
        "rows_compared": max(counts),
        "rows_fetched": t.rows_fetched,
        "segments_checked": t.segments,
        "queries": src.queries + dst.queries + (snapshot.queries if snapshot else 0),
        "truncated": max(t.missing_count, t.extra_count, t.changed_count) > o.max_keys,
        "identical": not (t.missing_count or t.extra_count or t.changed_count),
        # both sides read one snapshot of one database: no difference is a write in between
        "consistent_snapshot": snapshot is not None and snapshot.id is not None,
        "seconds": round(time.perf_counter() - started, 3),
    }
    if o.lag_column:
        report["lag"] = {"column": o.lag_column, "seconds": o.lag_seconds}
    return report


def _side_report(url: str, table: str, side: Side, rows: int, workspace: Any) -> results.DiffSide:
    return {
        "url": resolve(url, workspace).redacted,
        "table": table,
        "dialect": side.dialect,
        "rows": rows,
        "hashing": side.hashing,
        "hashing_reason": side.hashing_reason,
    }


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
    differ = _Differ(src, dst, plan, o)
    try:
        keys = src.random_keys(n)
        a, b = _both(lambda: src.rows_for(keys), lambda: dst.rows_for(keys))
        differ._compare(a, b, final=True)
    finally:
        src.close()
        dst.close()
    t = differ.tally
    return {
        "sampled": len(keys),
        "missing": [_key_json(k) for k in t.missing],
        "changed_fields": [{"key": _key_json(k), "fields": f} for k, f in t.changed.items()],
        "differences": t.missing_count + t.changed_count,
        "seconds": round(time.perf_counter() - started, 3),
    }
