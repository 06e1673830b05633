"""Read each dialect's spelling of a type into its meaning (`Logical`).

Introspection reports types the way each catalog prints them (``character varying(50)``,
``int(10) unsigned``, ``DOUBLE``, BSON ``long``); this module is the one place that knows those
spellings. Explicit `length` / `precision` / `scale` arguments win over modifiers in the text, so
callers may pass either a full spelling or a bare name plus the model's modifier fields.
"""

from __future__ import annotations

from dataclasses import replace

from datamigration.typemap.logical import (
    Logical,
    Spelling,
    _int_mod,
    bson_alias,
    normalize_dialect,
    split_spelling,
    unquote_label,
    with_array,
)

PG_DEFAULT_FSP = 6
MYSQL_MAX_TEXT = {
    "tinytext": 255,
    "text": 65_535,
    "mediumtext": 16_777_215,
    "longtext": 4_294_967_295,
}
MYSQL_MAX_BLOB = {
    "tinyblob": 255,
    "blob": 65_535,
    "mediumblob": 16_777_215,
    "longblob": 4_294_967_295,
}


def to_logical(
    dialect: str,
    spelled: str,
    *,
    length: int | None = None,
    precision: int | None = None,
    scale: int | None = None,
    enum_values: tuple[str, ...] | None = None,
    array_dims: int = 0,
) -> Logical:
    """Meaning of `spelled` in `dialect`; unknown names give kind 'unknown' (never an error)."""
    d = normalize_dialect(dialect)
    sp = split_spelling(spelled)
    parse = {"postgresql": _pg, "mysql": _mysql, "sqlite": _sqlite, "mongodb": _bson}[d]
    base = parse(sp, length, precision, scale, tuple(enum_values or ()))
    return with_array(base, max(sp.array_dims, array_dims))


def _first(explicit: int | None, sp: Spelling, i: int) -> int | None:
    return explicit if explicit is not None else _int_mod(sp.mods, i)


def _pg(sp: Spelling, length, precision, scale, values) -> Logical:
    b, name = sp.base, sp.base
    ints = {
        "smallint": 16, "int2": 16, "smallserial": 16, "serial2": 16,
        "integer": 32, "int": 32, "int4": 32, "serial": 32, "serial4": 32,
        "bigint": 64, "int8": 64, "bigserial": 64, "serial8": 64,
    }  # fmt: skip
    if b in ints:
        return Logical("int", bits=ints[b], name=name)
    if b in ("numeric", "decimal"):
        p = _first(precision, sp, 0)
        s = _first(scale, sp, 1)
        return Logical("decimal", precision=p, scale=(s or 0) if p is not None else None, name=name)
    if b in ("real", "float4"):
        return Logical("float", bits=32, name=name)
    if b in ("double precision", "float8", "double"):
        return Logical("float", bits=64, name=name)
    if b == "float":  # float(p): 1-24 is real, 25-53 double
        p = _first(precision, sp, 0)
        return Logical("float", bits=32 if p is not None and p <= 24 else 64, name=name)
    if b == "money":
        return Logical("decimal", precision=19, scale=2, name=name)
    if b in ("boolean", "bool"):
        return Logical("bool", name=name)
    if b == "text" or b == "citext" or b == "name" or b == "xml":
        return Logical("string", name=name)
    if b in ("character varying", "varchar"):
        return Logical("string", length=_first(length, sp, 0), name=name)
    if b in ("character", "char", "bpchar"):
        n = _first(length, sp, 0)
        return Logical("string", length=n if n is not None else 1, fixed=True, name=name)
    if b == "bytea":
        return Logical("bytes", name=name)
    if b == "date":
        return Logical("date", name=name)
    if b in ("timestamp", "timestamptz", "time", "timetz"):
        tz = b.endswith("tz") or bool(sp.with_tz)
        kind = "time" if b.startswith("time") and not b.startswith("timestamp") else "timestamp"
        fsp = _first(precision, sp, 0)
        return Logical(kind, tz=tz, fsp=PG_DEFAULT_FSP if fsp is None else fsp, name=name)
    if b == "interval":
        return Logical("interval", name=name)
    if b == "uuid":
        return Logical("uuid", name=name)
    if b in ("json", "jsonb"):
        return Logical("json", binary_json=b == "jsonb", name=name)
    if b in ("inet", "cidr", "macaddr", "macaddr8"):
        return Logical(b if b != "macaddr8" else "macaddr", name=name)
    if b in ("bit", "bit varying", "varbit"):
        return Logical("bit", length=_first(length, sp, 0), name=name)
    if values or b in ("enum", "user-defined"):
        return Logical("enum", values=values, name=name)
    return Logical("unknown", name=name)


def _mysql(sp: Spelling, length, precision, scale, values) -> Logical:
    b, name = sp.base, sp.base
    ints = {"tinyint": 8, "smallint": 16, "mediumint": 24, "int": 32, "integer": 32, "bigint": 64}
    if b in ints:
        width = _int_mod(sp.mods, 0)
        boolean_like = b == "tinyint" and width == 1 and not sp.unsigned
        return Logical(
            "int", bits=ints[b], unsigned=sp.unsigned, boolean_like=boolean_like, name=name
        )
    if b in ("bool", "boolean"):
        return Logical("bool", name=name)
    if b == "serial":  # BIGINT UNSIGNED NOT NULL AUTO_INCREMENT UNIQUE
        return Logical("int", bits=64, unsigned=True, name=name)
    if b in ("decimal", "numeric", "dec", "fixed"):
        p = _first(precision, sp, 0)
        s = _first(scale, sp, 1)
        return Logical("decimal", precision=p if p is not None else 10, scale=s or 0, name=name)
    if b == "float":
        p = _first(precision, sp, 0) if len(sp.mods) == 1 else None
        return Logical("float", bits=64 if p is not None and p > 24 else 32, name=name)
    if b in ("double", "double precision", "real"):
        return Logical("float", bits=64, name=name)
    if b in ("char", "varchar", "character", "character varying", "nchar", "nvarchar"):
        fixed = b in ("char", "character", "nchar")
        n = _first(length, sp, 0)
        return Logical("string", length=n if n is not None else (1 if fixed else None),
                       fixed=fixed, name=name)  # fmt: skip
    if b in MYSQL_MAX_TEXT:
        return Logical("string", length=MYSQL_MAX_TEXT[b], name=name)
    if b in ("binary", "varbinary"):
        n = _first(length, sp, 0)
        return Logical("bytes", length=n if n is not None else 1, fixed=b == "binary", name=name)
    if b in MYSQL_MAX_BLOB:
        return Logical("bytes", length=MYSQL_MAX_BLOB[b], name=name)
    if b == "date":
        return Logical("date", name=name)
    if b in ("datetime", "timestamp", "time"):
        fsp = _first(precision, sp, 0) or 0
        if b == "time":
            # MySQL TIME is a signed duration (-838:59:59 .. 838:59:59), not a time of day.
            return Logical("interval", fsp=fsp, name=name)
        # TIMESTAMP is stored as a UTC instant; DATETIME is a wall-clock value.
        return Logical("timestamp", tz=b == "timestamp", fsp=fsp, epoch32=b == "timestamp",
                       name=name)  # fmt: skip
    if b == "year":
        return Logical("year", name=name)
    if b == "json":
        return Logical("json", binary_json=True, name=name)
    if b == "uuid":  # MariaDB 10.7+
        return Logical("uuid", name=name)
    if b in ("inet4", "inet6"):  # MariaDB 10.10+
        return Logical("inet", name=name)
    if b == "bit":
        return Logical("bit", length=_first(length, sp, 0) or 1, name=name)
    if b in ("enum", "set"):
        labels = values or tuple(unquote_label(m) for m in sp.mods)
        return Logical(b, values=labels, name=name)
    return Logical("unknown", name=name)


def _sqlite(sp: Spelling, length, precision, scale, values) -> Logical:
    """SQLite keeps the declared type text; we read the declared meaning, then affinity."""
    b, name = sp.base, sp.base.upper()
    if b == "":
        return Logical("any", name="(none)")
    exact = {
        "tinyint": ("int", 8), "smallint": ("int", 16), "int2": ("int", 16),
        "mediumint": ("int", 24), "bigint": ("int", 64), "int8": ("int", 64),
    }  # fmt: skip
    if b in exact:
        kind, bits = exact[b]
        return Logical(kind, bits=bits, unsigned=sp.unsigned, name=name)
    if b in ("boolean", "bool"):
        return Logical("bool", name=name)
    if b == "date":
        return Logical("date", name=name)
    if b in ("datetime", "timestamp"):
        return Logical("timestamp", tz=bool(sp.with_tz), fsp=_first(precision, sp, 0), name=name)
    if b in ("timestamptz",):
        return Logical("timestamp", tz=True, fsp=_first(precision, sp, 0), name=name)
    if b in ("time", "timetz"):
        return Logical("time", tz=b == "timetz" or bool(sp.with_tz), name=name)
    if b in ("decimal", "numeric"):
        p = _first(precision, sp, 0)
        s = _first(scale, sp, 1)
        return Logical("decimal", precision=p, scale=(s or 0) if p is not None else None, name=name)
    if b in ("uuid",):
        return Logical("uuid", name=name)
    if b in ("json", "jsonb"):
        return Logical("json", name=name)
    # Affinity rules of https://www.sqlite.org/datatype3.html section 3.1, in order.
    if "int" in b:
        return Logical("int", bits=64, name=name)  # every INTEGER is stored in up to 8 bytes
    if "char" in b or "clob" in b or "text" in b:
        n = _first(length, sp, 0)
        return Logical("string", length=n, fixed=b in ("char", "character", "nchar"), name=name)
    if "blob" in b:
        return Logical("bytes", name=name)
    if "real" in b or "floa" in b or "doub" in b:
        return Logical("float", bits=64, name=name)  # SQLite REAL is always 8 bytes
    return Logical("decimal", name=name)  # NUMERIC affinity


def _bson(sp: Spelling, length, precision, scale, values) -> Logical:
    t = bson_alias(sp.base)
    simple = {
        "double": Logical("float", bits=64),
        "string": Logical("string"),
        "object": Logical("document"),
        "array": Logical("array"),
        "binData": Logical("bytes"),
        "objectId": Logical("objectid"),
        "bool": Logical("bool"),
        "date": Logical("timestamp", tz=True, fsp=3),  # UTC milliseconds since the epoch
        "null": Logical("null"),
        "int": Logical("int", bits=32),
        "long": Logical("int", bits=64),
        "decimal": Logical("decimal", precision=34, floating_decimal=True),
    }
    if t in simple:
        return replace(simple[t], name=t)
    if sp.base == "mixed":  # a sampled field with several types and no common one
        return Logical("any", name="mixed")
    if t is not None:
        return Logical("bson", name=t)  # regex, javascript, timestamp, minKey, ...
    return Logical("unknown", name=sp.base)
