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

Three modules, one per stage: `diff_plan` settles what is compared (key, column pairs, kinds)
before any row is read, `diff_bisect` walks the buckets, and this one opens the two sides
(hashing in the database or on the client), runs the walk and writes the report.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Any

from datamigration.db.dialect import dialect_of
from datamigration.db.urls import resolve
from datamigration.errors import UserInputError
from datamigration.validate import results, sqlrender
from datamigration.validate.diff_bisect import Differ, run_both
from datamigration.validate.diff_plan import (
    DiffOptions,
    DiffPlan,
    plan_columns,
    settle_key,
    side_columns,
)
from datamigration.validate.sides import Field, Key, MongoSide, SharedSnapshot, Side, SQLSide


def make_side(
    url: str,
    table: str,
    dialect: str,
    fields: tuple[Field, ...],
    plan: DiffPlan,
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


def one_snapshot(
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


def key_json(key: Key) -> Any:
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
    metas = run_both(
        lambda: side_columns(source_url, source_table, workspace),
        lambda: side_columns(target_url, target_table, workspace),
    )
    key, src_meta, dst_meta, stored = settle_key(
        source_url, source_table, target_url, target_table, metas, o, workspace, "compare"
    )
    plan = plan_columns(src_meta, dst_meta, o, key)
    if o.lag_column and o.columns and o.lag_column not in [c["source"] for c in plan.columns]:
        plan = plan_columns(src_meta, dst_meta, replace(o, columns=(*o.columns, o.lag_column)), key)
    snapshot = one_snapshot(source_url, target_url, o, workspace)
    src = make_side(
        source_url, source_table, src_meta[0], plan.src_fields, plan, o, workspace, stored[0],
        snapshot,
    )  # fmt: skip
    dst = make_side(
        target_url, target_table, dst_meta[0], plan.dst_fields, plan, o, workspace, stored[1],
        snapshot,
    )  # fmt: skip
    labels = (
        _label(source_url, source_table, workspace),
        _label(target_url, target_table, workspace),
    )
    return compare_sides(src, dst, plan, o, key, labels, snapshot, started)


def compare_sides(
    src: Side,
    dst: Side,
    plan: DiffPlan,
    o: DiffOptions,
    key: Sequence[str],
    labels: tuple[dict[str, Any], dict[str, Any]],
    snapshot: SharedSnapshot | None = None,
    started: float | None = None,
) -> results.DiffReport:
    """Run the walk over two opened sides (closed afterwards) and write the report. `labels`
    hold each side's redacted url and table name. The mapped diff of a document copy
    (`move/mapped_diff.py`) opens its own sides and shares this walk and report."""
    started = time.perf_counter() if started is None else started
    differ = Differ(src, dst, plan, o)
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
        "source": _side_report(labels[0], src, counts[0]),
        "target": _side_report(labels[1], dst, counts[1]),
        "key": list(key),
        "columns": list(plan.columns),
        "columns_only_in_source": list(plan.only_source),
        "columns_only_in_target": list(plan.only_target),
        "normalisation": plan.norm.to_dict(),
        "missing": [key_json(k) for k in t.missing],
        "extra": [key_json(k) for k in t.extra],
        "changed": [key_json(k) for k in changed_keys],
        "changed_fields": [{"key": key_json(k), "fields": t.changed[k]} for k in changed_keys],
        "lagging": [key_json(k) for k in lagging],
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


def _label(url: str, table: str, workspace: Any) -> dict[str, Any]:
    return {"url": resolve(url, workspace).redacted, "table": table}


def _side_report(label: dict[str, Any], side: Side, rows: int) -> results.DiffSide:
    return {
        "url": label["url"],
        "table": label["table"],
        "dialect": side.dialect,
        "rows": rows,
        "hashing": side.hashing,
        "hashing_reason": side.hashing_reason,
    }


def open_sides(
    source_url: str,
    source_table: str,
    target_url: str,
    target_table: str,
    o: DiffOptions,
    workspace: Any | None = None,
    snapshot: SharedSnapshot | None = None,
) -> tuple[Side, Side, DiffPlan, list[str]]:
    """The two sides of a comparison by key (the key settled, the columns paired), opened
    but not walked: a sample or a shadow read asks them for given keys (`rows_for`); with
    `snapshot` (`one_snapshot`), both read one instant of one database."""
    metas = (
        side_columns(source_url, source_table, workspace),
        side_columns(target_url, target_table, workspace),
    )
    key, src_meta, dst_meta, stored = settle_key(
        source_url, source_table, target_url, target_table, metas, o, workspace, "sample"
    )
    plan = plan_columns(src_meta, dst_meta, o, key)
    src = make_side(
        source_url, source_table, src_meta[0], plan.src_fields, plan, o, workspace, stored[0],
        snapshot,
    )  # fmt: skip
    dst = make_side(
        target_url, target_table, dst_meta[0], plan.dst_fields, plan, o, workspace, stored[1],
        snapshot,
    )  # fmt: skip
    return src, dst, plan, list(key)


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
    src, dst, plan, _ = open_sides(source_url, source_table, target_url, target_table, o, workspace)
    differ = Differ(src, dst, plan, o)
    try:
        keys = src.random_keys(n)
        a, b = run_both(lambda: src.rows_for(keys), lambda: dst.rows_for(keys))
        differ.compare(a, b, final=True)
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
