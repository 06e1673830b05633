"""PostgreSQL facts the rules need: type names, which type changes rewrite, which defaults are
volatile, and how to print names and expressions back as SQL.

The no-rewrite table follows PostgreSQL's binary-coercion rules (see the reference facts): a
type change the server does in place must not be reported, or users learn to ignore the linter.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from pglast import ast
from pglast.stream import RawStream
from pglast.visitors import maybe_double_quote_name

_ALIASES = {
    "int": "int4",
    "integer": "int4",
    "int4": "int4",
    "smallint": "int2",
    "int2": "int2",
    "bigint": "int8",
    "int8": "int8",
    "serial": "serial4",
    "serial4": "serial4",
    "bigserial": "serial8",
    "serial8": "serial8",
    "smallserial": "serial2",
    "serial2": "serial2",
    "character varying": "varchar",
    "varchar": "varchar",
    "character": "bpchar",
    "char": "bpchar",
    "bpchar": "bpchar",
    "text": "text",
    "timestamp": "timestamp",
    "timestamptz": "timestamptz",
    "time": "time",
    "timetz": "timetz",
    "interval": "interval",
    "numeric": "numeric",
    "decimal": "numeric",
    "json": "json",
    "jsonb": "jsonb",
    "citext": "citext",
    "inet": "inet",
    "cidr": "cidr",
}
SERIALS = {"serial2", "serial4", "serial8"}

#: Functions whose value differs per row: a default using them rewrites the table.
VOLATILE_FUNCTIONS = {
    "random",
    "gen_random_uuid",
    "uuid_generate_v1",
    "uuid_generate_v1mc",
    "uuid_generate_v4",
    "clock_timestamp",
    "timeofday",
    "nextval",
    "setseed",
    "gen_random_bytes",
    "uuidv7",
    "uuidv4",
    "random_normal",
    "txid_current",
}
#: Functions known to be stable or immutable (evaluated once for ADD COLUMN ... DEFAULT).
SAFE_FUNCTIONS = {
    "now",
    "transaction_timestamp",
    "statement_timestamp",
    "current_date",
    "lower",
    "upper",
    "coalesce",
    "jsonb_build_object",
    "json_build_object",
    "to_jsonb",
    "array",
    "make_date",
    "make_interval",
    "interval",
    "length",
    "concat",
    "md5",
    "trim",
    "btrim",
    "to_timestamp",
    "date_trunc",
    "abs",
    "round",
    "floor",
    "ceil",
    "greatest",
    "least",
    "nullif",
    "current_setting",
    "jsonb_build_array",
    "array_fill",
    "timezone",
    "date",
}


@dataclass(frozen=True)
class PgType:
    name: str  # canonical base name (int4, varchar, ...)
    mods: tuple[int, ...] = ()
    array: bool = False

    def __str__(self) -> str:
        m = f"({', '.join(map(str, self.mods))})" if self.mods else ""
        return f"{self.name}{m}{'[]' if self.array else ''}"


def pg_type(tn: ast.TypeName | None) -> PgType:
    if tn is None or not tn.names:
        return PgType("unknown")
    raw = tn.names[-1].sval.lower()
    mods: list[int] = []
    for m in tn.typmods or ():
        val = getattr(m, "val", None)
        if isinstance(val, ast.Integer):
            mods.append(val.ival)
    return PgType(_ALIASES.get(raw, raw), tuple(mods), bool(tn.arrayBounds))


def rewrites(old: PgType, new: PgType, *, utc: bool = False) -> bool:
    """True when ALTER COLUMN old -> new TYPE rewrites the table (no USING clause)."""
    if old.array != new.array:
        return True
    if old == new:
        return False
    o, n = old.name, new.name
    if o == "varchar" and n in ("varchar", "text"):
        return bool(new.mods) and n == "varchar" and (not old.mods or new.mods[0] < old.mods[0])
    if o == "text" and n in ("varchar", "citext"):
        return bool(new.mods)
    if o == "citext" and n == "text":
        return False
    if o == n == "numeric":
        if not new.mods:
            return False
        if len(old.mods) >= 1 and len(new.mods) >= 1:
            old_scale = old.mods[1] if len(old.mods) > 1 else 0
            new_scale = new.mods[1] if len(new.mods) > 1 else 0
            return not (new.mods[0] >= old.mods[0] and new_scale == old_scale)
        return True
    if o == n and o in ("timestamp", "timestamptz", "time", "timetz", "interval"):
        return bool(new.mods) and (not old.mods or new.mods[0] < old.mods[0])
    if {o, n} == {"timestamp", "timestamptz"}:
        return not utc
    return not (o == "cidr" and n == "inet")


#: Targets for which *some* source type changes in place; with an unknown source we warn.
MAYBE_IN_PLACE_TARGETS = {
    "varchar",
    "text",
    "citext",
    "numeric",
    "timestamp",
    "timestamptz",
    "time",
    "timetz",
    "interval",
    "inet",
}


def walk(node: object) -> Iterator[ast.Node]:
    """Every AST node below `node` (depth first), including it."""
    stack = [node]
    while stack:
        cur = stack.pop()
        if isinstance(cur, ast.Node):
            yield cur
            for slot in cur.__slots__:
                stack.append(getattr(cur, slot, None))
        elif isinstance(cur, (list, tuple)):
            stack.extend(cur)


def default_volatility(expr: object) -> tuple[str, str]:
    """('volatile'|'unknown'|'safe', function name) for a DEFAULT expression."""
    verdict, culprit = "safe", ""
    for node in walk(expr):
        if isinstance(node, ast.FuncCall):
            fname = node.funcname[-1].sval.lower()
            if fname in VOLATILE_FUNCTIONS:
                return "volatile", fname
            if fname not in SAFE_FUNCTIONS and verdict == "safe":
                verdict, culprit = "unknown", fname
    return verdict, culprit


def q(name: str) -> str:
    """An identifier as PostgreSQL would need it written."""
    return maybe_double_quote_name(name)


def rel(rv: ast.RangeVar) -> str:
    return (q(rv.schemaname) + "." if rv.schemaname else "") + q(rv.relname)


def rel_key(rv: ast.RangeVar) -> str:
    """Lookup key for a relation: lower-cased, schema-qualified only when written so."""
    return (f"{rv.schemaname}." if rv.schemaname else "") + rv.relname


def sql(node: ast.Node) -> str:
    return RawStream()(node)


def lit(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"
