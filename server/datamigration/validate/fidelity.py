"""Schema fidelity: does the target table keep what the source table promised?

Copy tools lose guarantees silently (pgloader dropped NOT NULL on two columns, narrowed an
8-byte float to 4 bytes and renamed every index). This check compares the two tables as
introspected by `db` and asks the type map's `equivalent()` for every column pair, so the
validator and the mover share one definition of "lossless". Each problem is one sentence.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from datamigration.db import connect
from datamigration.db.dialect import dialect_of
from datamigration.db.model import Table
from datamigration.errors import NotFoundError

ALL_CHECKS = (
    "columns",
    "types",
    "nullability",
    "defaults",
    "primary_key",
    "uniques",
    "indexes",
    "foreign_keys",
)


def _table(url: str, name: str, workspace: Any) -> tuple[str, Any]:
    with connect(url, workspace) as backend:
        schema = backend.inspect(tables=[name])
        dialect = backend.dialect
    found = schema.collection(name) if dialect_of(dialect).documents else schema.table(name)
    if found is None:
        raise NotFoundError(
            f"{name!r} not found on {backend.url.redacted}", hint="Check the table name."
        )
    return dialect, found


def _unique_sets(t: Table) -> set[tuple[str, ...]]:
    sets = {tuple(u.columns) for u in t.uniques}
    sets |= {tuple(i.columns) for i in t.indexes if i.unique and not i.primary}
    return sets


def schema_fidelity(
    source_url: str,
    source_table: str,
    target_url: str,
    target_table: str,
    checks: Sequence[str] | None = None,
    workspace: Any | None = None,
) -> list[str]:
    """Every way the target table falls short of the source (empty: faithful)."""
    from datamigration.typemap import equivalent

    wanted = set(checks or ALL_CHECKS)
    sd, src = _table(source_url, source_table, workspace)
    td, dst = _table(target_url, target_table, workspace)
    problems: list[str] = []
    if dialect_of(td).documents:
        seen = {f.path for f in dst.fields}
        for c in src.columns:
            if "columns" in wanted and c.name not in seen and c.name not in ("id",):
                problems.append(f"column {c.name} has no field in the sampled documents")
        return problems
    for c in src.columns:
        d = dst.column(c.name)
        if d is None:
            if "columns" in wanted:
                problems.append(f"column {c.name} is missing on the target")
            continue
        if "nullability" in wanted and not c.nullable and d.nullable:
            problems.append(f"column {c.name}: NOT NULL dropped (the target accepts NULL)")
        if "types" in wanted:
            # Nullability is judged above; ask the type map about the type alone.
            import dataclasses

            ok, reason = equivalent(
                dataclasses.replace(c, nullable=True),
                dataclasses.replace(d, nullable=True),
                src_dialect=sd,
                dst_dialect=td,
            )
            if not ok:
                problems.append(f"column {c.name}: {c.data_type} -> {d.data_type}: {reason}")
        if (
            "defaults" in wanted
            and c.default is not None
            and d.default is None
            and not (c.identity or d.identity)
        ):
            problems.append(f"column {c.name}: default {c.default} dropped")
    if "primary_key" in wanted:
        sk = tuple(src.primary_key.columns) if src.primary_key else ()
        dk = tuple(dst.primary_key.columns) if dst.primary_key else ()
        if sk != dk:
            problems.append(f"primary key ({', '.join(sk)}) became ({', '.join(dk) or 'none'})")
    if "uniques" in wanted:
        for cols in sorted(_unique_sets(src) - _unique_sets(dst)):
            problems.append(f"unique ({', '.join(cols)}) is not enforced on the target")
    if "indexes" in wanted:
        dst_idx = {tuple(i.columns) for i in dst.indexes}
        for i in src.indexes:
            if not i.primary and not i.unique and tuple(i.columns) not in dst_idx:
                problems.append(f"index {i.name} on ({', '.join(i.columns)}) is missing")
    if "foreign_keys" in wanted:
        dst_fk = {(tuple(f.columns), f.ref_table) for f in dst.foreign_keys}
        for f in src.foreign_keys:
            if (tuple(f.columns), f.ref_table) not in dst_fk:
                problems.append(f"foreign key ({', '.join(f.columns)}) -> {f.ref_table} is missing")
    return problems
