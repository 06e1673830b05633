"""Rules compiled to each database's own language: SQL through sqlglot, MongoDB filters.

A rule is data (`{"type": "not_null", "table": "users", "columns": ["email"]}`); this module
turns it into the query that measures it on one side: a SQL statement built as a sqlglot tree
and printed for the dialect (PostgreSQL, MySQL, SQLite), or a MongoDB filter / aggregation.
Every measurement is a count plus a few offending keys, so the query pairs are uniform: one
`count` query and one `keys` query with a LIMIT. User-written SQL conditions (`filter`) are
parsed by sqlglot and re-printed for the target dialect, so one rules file serves both sides.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Sequence
from typing import Any

import sqlglot
from sqlglot import exp

from datamigration.db.dialect import dialect_of
from datamigration.errors import UserInputError


def _sqlglot(dialect: str) -> str:
    """The dialect's name in sqlglot."""
    return dialect_of(dialect).sqlglot_dialect


def _col(name: str) -> exp.Column:
    return exp.column(name, quoted=True)


def _table(name: str, alias: str | None = None) -> exp.Table:
    parts = name.split(".")
    t = exp.Table(
        this=exp.to_identifier(parts[-1], quoted=True),
        db=exp.to_identifier(parts[-2], quoted=True) if len(parts) > 1 else None,
    )
    return t.as_(alias) if alias else t  # type: ignore[return-value]


def condition(text: str | None) -> exp.Expression | None:
    """A user-written SQL condition as a sqlglot tree (any dialect sqlglot reads)."""
    if not text:
        return None
    try:
        return sqlglot.condition(text)
    except sqlglot.errors.ParseError as exc:
        raise UserInputError(
            f"cannot parse the filter {text!r}: {str(exc).splitlines()[0]}",
            hint="Write a plain SQL condition, e.g. \"status = 'active' AND deleted_at IS NULL\".",
        ) from None


def _and(*conds: exp.Expression | None) -> exp.Expression | None:
    parts = [c for c in conds if c is not None]
    if not parts:
        return None
    out = parts[0]
    for c in parts[1:]:
        out = exp.and_(out, c)
    return out


def _or(conds: Sequence[exp.Expression]) -> exp.Expression:
    out = conds[0]
    for c in conds[1:]:
        out = exp.or_(out, c)
    return out


def _literal(value: Any) -> exp.Expression:
    if value is None:
        return exp.null()
    if isinstance(value, bool):
        return exp.true() if value else exp.false()
    if isinstance(value, int | float):
        return exp.Literal.number(value)
    if isinstance(value, dt.datetime):
        return exp.Literal.string(value.strftime("%Y-%m-%d %H:%M:%S"))
    return exp.Literal.string(str(value))


def count_sql(dialect: str, table: str, where: exp.Expression | None) -> str:
    q = exp.select(exp.Count(this=exp.Star())).from_(_table(table))
    if where is not None:
        q = q.where(where)
    return q.sql(dialect=_sqlglot(dialect))


def keys_sql(
    dialect: str, table: str, key: Sequence[str], where: exp.Expression | None, limit: int
) -> str:
    q = exp.select(*[_col(k) for k in key]).from_(_table(table))
    if where is not None:
        q = q.where(where)
    return q.order_by(*[_col(k) for k in key]).limit(limit).sql(dialect=_sqlglot(dialect))


# --- per rule type: the "offending row" condition ----------------------------------------


def null_condition(columns: Sequence[str]) -> exp.Expression:
    return _or([_col(c).is_(exp.null()) for c in columns])


def after_condition(columns: Sequence[str], bound: Any) -> exp.Expression:
    return _or([exp.GT(this=_col(c), expression=_literal(bound)) for c in columns])


def outside_condition(columns: Sequence[str], lo: Any, hi: Any) -> exp.Expression:
    parts = []
    for c in columns:
        if lo is not None:
            parts.append(exp.LT(this=_col(c), expression=_literal(lo)))
        if hi is not None:
            parts.append(exp.GT(this=_col(c), expression=_literal(hi)))
    if not parts:
        raise UserInputError("a range rule needs min, max or both", hint="Add min: / max:.")
    return _or(parts)


def not_in_condition(column: str, values: Sequence[Any]) -> exp.Expression:
    inside = exp.In(this=_col(column), expressions=[_literal(v) for v in values])
    return _and(_col(column).is_(exp.null()).not_(), exp.Not(this=inside))  # type: ignore


def regex_condition(dialect: str, column: str, pattern: str) -> exp.Expression:
    try:
        re.compile(pattern)
    except re.error as exc:
        raise UserInputError(
            f"bad regex {pattern!r}: {exc}", hint="Use POSIX-style syntax."
        ) from None
    if not dialect_of(dialect).regexp:
        # No REGEXP function (SQLite, unless an extension defines one): checked on the client.
        raise _ClientSide()
    match = exp.RegexpLike(this=_col(column), expression=exp.Literal.string(pattern))
    return _and(_col(column).is_(exp.null()).not_(), exp.Not(this=match))  # type: ignore


class _ClientSide(Exception):
    """The dialect cannot express this rule; the engine evaluates it on the client."""


def duplicates_sql(
    dialect: str, table: str, columns: Sequence[str], where: exp.Expression | None, limit: int
) -> tuple[str, str]:
    """(number of duplicated value groups, first groups with their counts)."""
    cols = [_col(c) for c in columns]
    not_null = _and(*[c.is_(exp.null()).not_() for c in cols])
    inner = exp.select(*cols, exp.Count(this=exp.Star()).as_("n")).from_(_table(table))
    inner = inner.where(_and(where, not_null)).group_by(*cols)
    inner = inner.having(exp.GT(this=exp.Count(this=exp.Star()), expression=exp.Literal.number(1)))
    count = exp.select(exp.Count(this=exp.Star())).from_(inner.subquery("dups"))
    return (
        count.sql(dialect=_sqlglot(dialect)),
        inner.order_by(*cols).limit(limit).sql(dialect=_sqlglot(dialect)),
    )


def orphans_sql(
    dialect: str,
    child: str,
    columns: Sequence[str],
    parent: str,
    ref_columns: Sequence[str],
    where: exp.Expression | None,
    key: Sequence[str],
    limit: int,
) -> tuple[str, str]:
    """Child rows whose non-NULL foreign key has no parent row (same database)."""
    join = _and(
        *[
            exp.EQ(this=exp.column(r, "p", quoted=True), expression=exp.column(c, "c", quoted=True))
            for c, r in zip(columns, ref_columns, strict=True)
        ]
    )
    exists = exp.Exists(this=exp.select("1").from_(_table(parent, "p")).where(join))
    not_null = _and(*[exp.column(c, "c", quoted=True).is_(exp.null()).not_() for c in columns])
    cond = _and(where, not_null, exp.Not(this=exists))
    count = exp.select(exp.Count(this=exp.Star())).from_(_table(child, "c")).where(cond)
    cols = [exp.column(k, "c", quoted=True) for k in key]
    keys = exp.select(*cols).from_(_table(child, "c")).where(cond).order_by(*cols).limit(limit)
    return count.sql(dialect=_sqlglot(dialect)), keys.sql(dialect=_sqlglot(dialect))


# --- MongoDB -------------------------------------------------------------------------------


def mongo_null(columns: Sequence[str]) -> dict[str, Any]:
    """Null or missing: what required_fields means. `{field: {$in: [null]}}` matches both in
    MongoDB (as `{field: null}` does), and it is also what servers that only speak MongoDB's
    protocol count right (nx-27017 miscounts `{field: null}` and the `$exists` spelling)."""
    conds = [{c: {"$in": [None]}} for c in columns]
    return conds[0] if len(conds) == 1 else {"$or": conds}


def mongo_after(columns: Sequence[str], bound: Any) -> dict[str, Any]:
    conds = [{c: {"$gt": bound}} for c in columns]
    return conds[0] if len(conds) == 1 else {"$or": conds}


def mongo_outside(columns: Sequence[str], lo: Any, hi: Any) -> dict[str, Any]:
    conds = []
    for c in columns:
        if lo is not None:
            conds.append({c: {"$lt": lo}})
        if hi is not None:
            conds.append({c: {"$gt": hi}})
    return conds[0] if len(conds) == 1 else {"$or": conds}


def mongo_not_in(column: str, values: Sequence[Any]) -> dict[str, Any]:
    return {"$and": [{column: {"$ne": None}}, {column: {"$nin": list(values)}}]}


def mongo_and(*filters: dict[str, Any] | None) -> dict[str, Any]:
    parts = [f for f in filters if f]
    if not parts:
        return {}
    return parts[0] if len(parts) == 1 else {"$and": parts}
