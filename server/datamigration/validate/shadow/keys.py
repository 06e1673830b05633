"""Shadow reads by key: sample keys of the source table, read those rows on both sides,
compare value by value.

The two sides are the checksum diff's (`validate/diff.open_sides`: SQL to SQL, a flat
collection; `move/mapped_diff.part_sides`: a mapped collection, each embedded table read back
out of its documents), so a value compares exactly as in the diff: rendered to its kind's
canonical text under the same normalisation (the type map's kinds, the timestamp precision of
a MongoDB side).

The sample is spread over the whole key range and repeatable: the source's keys are streamed
in key order (a few bytes a row), cut into `n` equal strata by position, and one key is drawn
in each stratum with a generator seeded by `seed`. The same seed on the same rows reads the
same keys; a larger table is sampled evenly from its first key to its last, not its first
`n` rows.
"""

from __future__ import annotations

import contextlib
import itertools
import random
from collections.abc import Iterable, Iterator, Sequence
from typing import Any, TypeVar

from datamigration.move.mapped_diff import mapped_parts, part_sides
from datamigration.move.mapping import CollectionMapping
from datamigration.validate.diff import key_json, one_snapshot, open_sides
from datamigration.validate.diff_bisect import run_both
from datamigration.validate.diff_plan import DiffOptions
from datamigration.validate.shadow.tally import Tally
from datamigration.validate.sides import Key, Rows, SharedSnapshot, Side

T = TypeVar("T")


def strata_positions(count: int, n: int, seed: int) -> list[int]:
    """Sorted positions in [0, count): one drawn in each of `n` equal strata (all when
    count <= n)."""
    if count <= n:
        return list(range(count))
    rng = random.Random(seed)
    bounds = [i * count // n for i in range(n + 1)]  # n disjoint, non-empty strata
    return [lo + rng.randrange(hi - lo) for lo, hi in itertools.pairwise(bounds)]


def spread_sample(keys: Iterable[T], count: int, n: int, seed: int) -> list[T]:
    """The keys at `strata_positions` of a key-ordered stream (read until the last one)."""
    wanted = strata_positions(count, n, seed)
    if not wanted:
        return []
    out: list[T] = []
    stream = iter(keys)
    with contextlib.closing(stream) if hasattr(stream, "close") else contextlib.nullcontext():
        j = 0
        for pos, key in enumerate(stream):
            if pos == wanted[j]:
                out.append(key)
                j += 1
                if j == len(wanted):
                    break
    return out


def compare_reads(
    tally: Tally, where: str, names: Sequence[str], keys: Sequence[Key], a: Rows, b: Rows
) -> tuple[int, int]:
    """(reads, mismatches) of the sampled keys: a key gone from the source since it was
    sampled is not a read; one the target lacks, or with a column that differs, is a
    mismatch (one per key, an example per column)."""
    reads = mismatches = 0
    for k in keys:
        ra = a.get(k)
        if ra is None:
            continue
        reads += 1
        rb = b.get(k)
        if rb == ra:
            continue
        mismatches += 1
        if rb is None:
            tally.example(where, key_json(k), "(row)", "present", "missing")
            continue
        for name, x, y in zip(names, ra, rb, strict=True):
            if x != y:
                tally.example(where, key_json(k), name, x, y)
    return reads, mismatches


def read_sides(
    tally: Tally, where: str, src: Side, dst: Side, names: Sequence[str], n: int, seed: int,
    snapshot: SharedSnapshot | None = None, **extra: Any,
) -> None:  # fmt: skip
    """Sample `n` keys of `src`, read them on both sides, add the part to the tally."""
    try:
        count = src.stats()[0]
        keys = [src.raw_key(k) for k in spread_sample(_ordered(src), count, n, seed)]
        a, b = run_both(lambda: src.rows_for(keys), lambda: dst.rows_for(keys))
    finally:
        src.close()
        dst.close()
        if snapshot is not None:
            snapshot.close()
    reads, mismatches = compare_reads(tally, where, names, keys, a, b)
    tally.part(where, reads, mismatches, min(n, count), sampled=len(keys), rows=count, **extra)


def _ordered(side: Side) -> Iterator[tuple[Any, ...]]:
    return side.ordered_keys()  # type: ignore[attr-defined]  # SQL and MongoDB sides have it


def table_reads(
    tally: Tally,
    source: str,
    table: str,
    target: str,
    target_table: str,
    options: DiffOptions,
    n: int,
    seed: int,
    workspace: Any = None,
) -> None:
    """Shadow reads of one table against a table or flat collection (`options`: key,
    columns and field_map as in the diff)."""
    # one database (old column vs new column): both sides read one snapshot, so a write
    # landing between the two reads is not a mismatch
    snapshot = one_snapshot(source, target, options, workspace)
    src, dst, plan, key = open_sides(
        source, table, target, target_table, options, workspace, snapshot
    )
    names = [c["source"] for c in plan.columns]
    where = table if target_table == table else f"{table} -> {target_table}"
    if options.field_map:
        pairs = ", ".join(f"{a} -> {b}" for a, b in options.field_map.items())
        where += f" ({pairs})"
    read_sides(tally, where, src, dst, names, n, seed, snapshot, key=key)


def mapped_reads(
    tally: Tally,
    source: str,
    target: str,
    cm: CollectionMapping,
    options: DiffOptions,
    n: int,
    seed: int,
    workspace: Any = None,
) -> None:
    """Shadow reads of every table a mapped collection holds: its root rows and the rows of
    each embedded array, read back out of the documents."""
    for chain, part, skipped in mapped_parts(cm):
        path = ".".join(e.name for e in chain)
        where = f"{part.table} -> {cm.collection}" + (f".{path}" if path else "")
        if skipped:
            tally.skip(where, skipped)
            continue
        src, dst, plan, _, key = part_sides(source, target, cm, chain, part, options, workspace)
        names = [c["source"] for c in plan.columns]
        read_sides(tally, where, src, dst, names, n, seed, key=key)
