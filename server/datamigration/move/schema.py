"""The target schema of a copy, planned from the introspected source through the type map.

For each source table this module decides, before anything is written: the target column
types (`typemap.map_type`: NOT NULL, float width, numeric precision/scale and time zones
kept), the defaults that translate (`db.bulk.neutral_default`), identity columns, the key the
partitions are cut on (the primary key, else a unique key on NOT NULL columns), the names of
the primary key, unique constraints, indexes and foreign keys, and every place where the
target cannot keep the source exactly (`Conversion`). The target is a `model.Table` whose
column `data_type` is the target spelling and whose `default` holds the neutral default as
JSON, which is what the backends' DDL methods take.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, replace

from datamigration.db.bulk import neutral_default
from datamigration.db.model import Column, ForeignKey, Index, PrimaryKey, Table, UniqueConstraint
from datamigration.move.request import KeylessTableError
from datamigration.typemap import equivalent, map_type
from datamigration.typemap.parse import to_logical


@dataclass(frozen=True)
class Conversion:
    """A column (or object) the target cannot keep exactly, and why."""

    table: str
    column: str
    source: str
    target: str
    reason: str
    blocking: bool = True

    def to_dict(self) -> dict[str, object]:
        return dict(self.__dict__)


@dataclass(frozen=True)
class TablePlan:
    """One table's copy: the target model, the key, the columns in load order."""

    name: str
    target: Table
    key: tuple[str, ...]
    columns: tuple[str, ...]
    types: tuple[str, ...]
    conversions: tuple[Conversion, ...]
    rows: int = 0
    #: the source's spellings of the same columns
    source_types: tuple[str, ...] = ()
    #: a byte format both ends share, used when every column keeps its type (see Partition)
    raw: str | None = None

    def identity_columns(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.target.columns if c.identity)

    def to_dict(self) -> dict[str, object]:
        return {
            "table": self.name,
            "key": list(self.key),
            "rows": self.rows,
            "columns": [
                {
                    "name": c.name,
                    "type": c.data_type,
                    "nullable": c.nullable,
                    "default": json.loads(c.default) if c.default else None,
                    "identity": bool(c.identity),
                }
                for c in self.target.columns
            ],
            "conversions": [c.to_dict() for c in self.conversions],
        }


def choose_key(table: Table) -> tuple[str, ...]:
    """The primary key, else the first unique key whose columns are all NOT NULL."""
    if table.primary_key is not None and table.primary_key.columns:
        return tuple(table.primary_key.columns)
    for u in table.uniques:
        cols = [table.column(c) for c in u.columns]
        if all(c is not None and not c.nullable for c in cols):
            return tuple(u.columns)
    for ix in table.indexes:
        cols = [table.column(c) for c in ix.columns]
        if ix.unique and not ix.predicate and all(c is not None and not c.nullable for c in cols):
            return tuple(ix.columns)
    raise KeylessTableError(
        f"table {table.name} has no primary key and no unique key on NOT NULL columns: a copy "
        "cannot be cut into key ranges nor resumed without one",
        table=table.name,
    )


def plan_table(
    source: Table, source_dialect: str, target_dialect: str, copied: set[str], rows: int = 0
) -> TablePlan:
    """The target table for `source` (see the module docstring)."""
    key = choose_key(source)
    conversions: list[Conversion] = []
    columns = [
        _target_column(source.name, c, source_dialect, target_dialect, conversions)
        for c in source.columns
    ]
    pk = None
    if source.primary_key is not None:
        name = source.primary_key.name
        pk = PrimaryKey(None if name in (None, "PRIMARY") else name, source.primary_key.columns)
    else:
        pk = PrimaryKey(None, key)
    uniques = tuple(
        UniqueConstraint(u.name, u.columns)
        for u in source.uniques
        if tuple(u.columns) != tuple(pk.columns)
    )
    unique_names = {u.name for u in source.uniques if u.name}
    indexes = tuple(_indexes(source, unique_names, pk, conversions))
    fks = []
    for fk in source.foreign_keys:
        if fk.ref_table in copied:
            fks.append(
                ForeignKey(
                    fk.name,
                    fk.columns,
                    fk.ref_table,
                    fk.ref_columns,
                    on_delete=fk.on_delete,
                    on_update=fk.on_update,
                )
            )
        else:
            conversions.append(
                Conversion(
                    source.name,
                    ",".join(fk.columns),
                    f"references {fk.ref_table}",
                    "no foreign key",
                    f"{fk.ref_table} is not copied",
                    False,
                )
            )
    target = Table(
        name=source.name,
        columns=tuple(columns),
        primary_key=pk,
        uniques=uniques,
        indexes=indexes,
        foreign_keys=tuple(fks),
    )
    return TablePlan(
        name=source.name,
        target=target,
        key=key,
        columns=tuple(c.name for c in columns),
        types=tuple(c.data_type for c in columns),
        conversions=tuple(conversions),
        rows=rows,
        source_types=tuple(c.data_type for c in source.columns),
    )


def _target_column(
    table: str, col: Column, source_dialect: str, target_dialect: str, conversions: list[Conversion]
) -> Column:
    m = map_type(col, target_dialect, source_dialect=source_dialect)
    spelling = m.target.render()
    if not m.lossless:
        conversions.append(Conversion(table, col.name, col.data_type, spelling, m.reason))
    if col.generated:
        conversions.append(
            Conversion(
                table,
                col.name,
                f"generated as {col.generated}",
                spelling,
                "copied as a plain column: the expression is not kept",
            )
        )
    default = None
    identity = bool(col.identity)
    if col.default is not None and not identity:
        neutral = neutral_default(col.default)
        if neutral is None and "nextval(" in col.default:
            identity = True
        elif neutral is None:
            conversions.append(
                Conversion(
                    table,
                    col.name,
                    f"DEFAULT {col.default}",
                    "no default",
                    "the default expression does not translate",
                )
            )
        else:
            default = json.dumps(neutral)
    type_name = spelling.split("(")[0].strip().lower()
    if m.target.enum_values and spelling == "enum":
        # a named enum type: the source's own name where it has one, else table_column
        named = re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", col.data_type) and col.data_type != "enum"
        type_name = col.data_type if named else f"{table}_{col.name}"
    return Column(
        name=col.name,
        data_type=spelling,
        type_name=type_name,
        nullable=col.nullable,
        default=default,
        identity="by default" if identity else None,
        ordinal=col.ordinal,
        enum_values=tuple(m.target.enum_values) or None,
    )


def _indexes(
    source: Table, unique_names: set[str], pk: PrimaryKey, conversions: list[Conversion]
) -> list[Index]:
    names = set(source.column_names)
    out = []
    for ix in source.indexes:
        if (
            ix.primary
            or ix.name in unique_names
            or ix.constraint
            or tuple(ix.columns) == pk.columns
        ):
            continue
        if ix.name.startswith("sqlite_autoindex"):
            continue
        cols = tuple(re.sub(r"\(\d+\)$", "", c) for c in ix.columns)  # MySQL prefix indexes
        if ix.predicate or not set(cols) <= names:
            conversions.append(
                Conversion(
                    source.name,
                    ",".join(ix.columns),
                    f"index {ix.name}",
                    "not created",
                    "partial or expression indexes are not copied",
                    False,
                )
            )
            continue
        out.append(Index(ix.name, cols, unique=ix.unique))
    return out


def compatibility(
    plan: TablePlan, present: Table, source: Table, source_dialect: str, target_dialect: str
) -> list[str]:
    """Why an existing target table cannot take this copy (empty: it can)."""
    problems = []
    planned = {c.name: c.data_type.lower() for c in plan.target.columns}
    for col in source.columns:
        have = present.column(col.name)
        if have is None:
            problems.append(f"column {col.name} is missing")
            continue
        if have.data_type.lower() == planned.get(col.name):
            continue  # exactly the column this copy creates (its conversion was listed)
        ok, why = equivalent(col, have, src_dialect=source_dialect, dst_dialect=target_dialect)
        if not ok:
            problems.append(f"column {col.name} ({have.data_type}): {why}")
    return problems


def with_raw_format(plan: TablePlan, fmt: str | None, dialect: str | None = None) -> TablePlan:
    """Stream the table as bytes when both ends share `fmt` (and so `dialect`) and every type
    is kept as is."""
    same = len(plan.source_types) == len(plan.types) and all(
        _same_type(s, t, dialect) for s, t in zip(plan.source_types, plan.types, strict=True)
    )
    return replace(plan, raw=fmt if fmt and same else None)


def _same_type(a: str, b: str, dialect: str | None) -> bool:
    """One type, spelled alike or two ways: `timestamp with time zone` comes back from the type
    map as `timestamp(6) with time zone` (the default precision written out), and `timestamptz`
    is the same type again. Only times and timestamps are matched by meaning: other kinds
    that read alike (text and xml, numeric(19,2) and money) differ in bytes."""
    if a.lower() == b.lower():
        return True
    if dialect is None:
        return False
    x, y = to_logical(dialect, a), to_logical(dialect, b)
    return x.kind in ("timestamp", "time") and replace(x, name="") == replace(y, name="")
