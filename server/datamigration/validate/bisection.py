"""The bisection behind the checksum diff: both sides' buckets compared, differing ones split
or fetched row by row, and the tally of what differs turned into the report.

`diff.diff_tables` prepares two sides of tables it finds by URL; `validate.mapped` prepares
sides of a mapped collection (a root table and its embedded arrays). Both hand them to
`compare_sides`, so every diff report has one shape and one algorithm behind it.
"""

from __future__ import annotations

import datetime as dt
import math
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from datamigration.db.dialect import dialect_of
from datamigration.validate.sides import BucketSpec, Key, Rows, SharedSnapshot, Side

if TYPE_CHECKING:
    from datamigration.validate.diff import DiffOptions, _Plan


@dataclass
class Tally:
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


def run_both(
    fa: Callable[[], Any], fb: Callable[[], Any], together: bool = True
) -> tuple[Any, Any]:
    """Run the two sides' queries at the same time (each side has its own connections), or
    one after the other when the diff must leave cores to a live application."""
    if not together:
        return fa(), fb()
    with ThreadPoolExecutor(max_workers=2) as ex:
        a, b = ex.submit(fa), ex.submit(fb)
        return a.result(), b.result()


class Differ:
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
        self.tally = Tally(cap=options.max_keys)
        self.names = [f["source"] for f in plan.columns]
        self.int_key = plan.key_count == 1 and plan.src_fields[0].kind == "int"
        self.lag_index = self.names.index(options.lag_column) if options.lag_column else None
        self.lag_since = None
        if self.lag_index is not None:
            self.lag_since = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=options.lag_seconds)
        self.bounds: tuple[int, int] = (0, 0)

    # --- steps: each returns further steps, never waits on another step -------------------

    def start(self) -> tuple[int, int]:
        (sc, smin, smax), (dc, dmin, dmax) = run_both(self.src.stats, self.dst.stats, self.together)
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
        a, b = run_both(
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
        a, b = run_both(lambda: self.src.rows(lo, hi), lambda: self.dst.rows(lo, hi), self.together)
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
        a, b = run_both(lambda: self.src.rows_for(keys), lambda: self.dst.rows_for(keys))
        return self._compare(a, b, final=True)

    def reconcile(self) -> None:
        """A key listed both missing and extra sat in different segments on the two sides
        (key order disagreed): compare those rows directly."""
        both = set(self.tally.missing) & set(self.tally.extra)
        if not both:
            return
        keys = sorted(both, key=repr)
        a, b = run_both(lambda: self.src.rows_for(keys), lambda: self.dst.rows_for(keys))
        with self.tally.lock:
            self.tally.missing = [k for k in self.tally.missing if k not in both]
            self.tally.extra = [k for k in self.tally.extra if k not in both]
            self.tally.missing_count -= len(both)
            self.tally.extra_count -= len(both)
        self._compare(a, b, final=True)


def key_json(key: Key) -> Any:
    return key[0] if len(key) == 1 else list(key)


def compare_sides(
    src: Side, dst: Side, plan: _Plan, o: DiffOptions, key: Sequence[str],
    labels: tuple[dict[str, Any], dict[str, Any]], snapshot: SharedSnapshot | None = None,
    started: float | None = None,
) -> dict[str, Any]:  # fmt: skip
    """Run the diff of two prepared sides (closed afterwards) and return its report; `labels`
    hold each side's redacted url and table name."""
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
    report = {
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


def _side_report(label: dict[str, Any], side: Side, rows: int) -> dict[str, Any]:
    return {**label, "dialect": side.dialect, "rows": rows, "hashing": side.hashing,
            "hashing_reason": side.hashing_reason}  # fmt: skip
