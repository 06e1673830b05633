"""The preferred target spelling for a source type's meaning, one function per dialect.

Each function picks the narrowest target that still holds every source value (the lossless
choice) and, where a dialect has no such type, the closest one. It does not judge the result:
`mapping.map_type` parses the chosen spelling back and asks `holds()`, so a wrong choice here
shows up as a lossy mapping with its reason rather than a silent loss. Notes carry what the
target dialect will not enforce or what a writer must do (create the enum, write offsets).
"""

from __future__ import annotations

from datamigration.typemap.logical import Logical, int_digits

MYSQL_TEXTS = ("tinytext", "text", "mediumtext", "longtext")
MYSQL_BLOBS = ("tinyblob", "blob", "mediumblob", "longblob")
Choice = tuple[str, tuple[str, ...]]  # (target spelling, notes)


def _ints(t: Logical, names: dict[int, str], unsigned_ok: bool) -> str | None:
    bits = t.bits or 64
    if t.unsigned and not unsigned_ok:
        bits *= 2  # an unsigned value needs the next signed width
    for width in (8, 16, 24, 32, 64):
        if width >= bits and width in names:
            return names[width]
    return None


def to_postgresql(t: Logical, identity: bool) -> Choice:
    k = t.kind
    if k == "int":
        if t.boolean_like:
            return "smallint", (("MySQL tinyint(1) is its BOOLEAN: use boolean once the values "
                                "are checked to be 0/1"),)  # fmt: skip
        name = _ints(t, {16: "smallint", 32: "integer", 64: "bigint"}, unsigned_ok=False)
        if name is None:
            return f"numeric({int_digits(t)},0)", ("unsigned 64-bit has no PostgreSQL integer",)
        return name, ()
    if k == "year":
        return "smallint", ()
    if k == "decimal":
        if t.precision is None or t.floating_decimal or t.precision > 1000:
            return "numeric", ()
        return f"numeric({t.precision},{t.scale or 0})", ()
    if k == "float":
        return ("real" if t.bits == 32 else "double precision"), ()
    if k == "bool":
        return "boolean", ()
    if k == "string":
        if t.length is None or t.length > 10_485_760 or t.name in MYSQL_TEXTS:  # MySQL TEXT
            return "text", ()
        return (f"character({t.length})" if t.fixed else f"character varying({t.length})"), ()
    if k == "bytes":
        return "bytea", ()
    if k == "date":
        return "date", ()
    if k in ("time", "timestamp"):
        fsp = 6 if t.fsp is None else min(t.fsp, 6)
        zone = "with time zone" if t.tz else "without time zone"
        return f"{k}({fsp}) {zone}", ()
    if k == "interval":
        return "interval", ()
    if k in ("uuid", "inet", "cidr", "macaddr"):
        return k, ()
    if k == "json":
        return "jsonb", ()
    if k == "document":
        return "jsonb", ("BSON-only values inside use canonical Extended JSON",)
    if k == "enum":
        return "enum", ("create the enum type (CREATE TYPE ... AS ENUM) with the same labels",)
    if k == "set":
        return "text[]", ()
    if k == "bit":
        return f"bit({t.length or 1})", ()
    if k == "objectid":
        return "character(24)", ()
    if k == "bson":
        return "jsonb", ()
    if k == "array":
        if t.element is None or t.element.kind in ("array", "document", "any", "bson"):
            return "jsonb", ()
        inner, notes = to_postgresql(t.element, False)
        return f"{inner}[]", notes
    if k == "null":
        return "text", ()
    if k == "any":
        return "jsonb", ()
    return "text", (f"unknown type {t.name!r}",)


def to_mysql(t: Logical, identity: bool) -> Choice:
    k = t.kind
    if k == "int":
        if t.boolean_like:
            return "TINYINT(1)", ()
        names = {8: "TINYINT", 16: "SMALLINT", 24: "MEDIUMINT", 32: "INT", 64: "BIGINT"}
        name = names[min(w for w in names if w >= (t.bits or 64))]
        return f"{name}{' UNSIGNED' if t.unsigned else ''}", ()
    if k == "year":
        return "YEAR", ()
    if k == "decimal":
        if t.floating_decimal or t.precision is None:
            return "DECIMAL(65,30)", ()
        return f"DECIMAL({t.precision},{t.scale or 0})", ()
    if k == "float":
        return ("FLOAT" if t.bits == 32 else "DOUBLE"), ()
    if k == "bool":
        return "BOOLEAN", ("MySQL BOOLEAN is tinyint(1): values are stored as 0 and 1",)
    if k == "string":
        if t.name in MYSQL_TEXTS and t.length is not None:
            return t.name.upper(), ()
        if t.fixed and t.length is not None and t.length <= 255:
            return f"CHAR({t.length})", ("MySQL strips trailing spaces from CHAR values",)
        if t.length is not None and t.length <= 16_383:
            return f"VARCHAR({t.length})", ()
        for name, limit in (("MEDIUMTEXT", 16_777_215), ("LONGTEXT", 4_294_967_295)):
            if t.length is not None and 4 * t.length <= limit:  # utf8mb4: up to 4 bytes a char
                return name, ()
        return "LONGTEXT", ("LONGTEXT columns can be indexed only by a prefix",)
    if k == "bytes":
        if t.name in MYSQL_BLOBS and t.length is not None:
            return t.name.upper(), ()
        if t.length is not None and t.length <= 65_535:
            return (f"BINARY({t.length})" if t.fixed and t.length <= 255
                    else f"VARBINARY({t.length})"), ()  # fmt: skip
        return "LONGBLOB", ()
    if k == "date":
        return "DATE", ("MySQL DATE covers the years 1000-9999 only",)
    if k == "timestamp":
        fsp = 6 if t.fsp is None else min(t.fsp, 6)
        if t.epoch32:
            return f"TIMESTAMP({fsp})", ()
        if t.tz:
            return f"DATETIME({fsp})", (
                (
                    "write instants normalised to UTC; MySQL TIMESTAMP would convert by session "
                    "time zone and ends in 2038"
                ),
            )
        return f"DATETIME({fsp})", ()
    if k == "time":
        return f"TIME({6 if t.fsp is None else min(t.fsp, 6)})", ()
    if k == "interval":
        if t.name == "time":
            return f"TIME({t.fsp or 0})", ()
        return "VARCHAR(64)", ()
    if k == "uuid":
        return "CHAR(36)", ("MariaDB 10.7+ has a native UUID type",)
    if k in ("inet", "cidr"):
        return "VARCHAR(43)", ()
    if k == "macaddr":
        return "VARCHAR(23)", ()
    if k in ("json", "document", "bson"):
        return "JSON", ("MariaDB's JSON is LONGTEXT with a JSON_VALID check",)
    if k in ("enum", "set"):
        labels = ",".join("'" + v.replace("'", "''") + "'" for v in t.values)
        return f"{k.upper()}({labels})", ()
    if k == "bit":
        return f"BIT({min(t.length or 1, 64)})", ()
    if k == "objectid":
        return "CHAR(24)", ()
    if k == "array":
        return "JSON", ()
    if k == "null":
        return "LONGTEXT", ()
    if k == "any":
        return "JSON", ()
    return "LONGTEXT", (f"unknown type {t.name!r}",)


def to_sqlite(t: Logical, identity: bool) -> Choice:
    k = t.kind
    unenforced = ("SQLite does not enforce the declared length",)
    if k == "int":
        if identity:
            return "INTEGER", ("only an INTEGER PRIMARY KEY column auto-increments in SQLite",)
        if t.unsigned and (t.bits or 64) >= 64:
            return "NUMERIC(20,0)", ()
        return "INTEGER", ()
    if k == "year":
        return "INTEGER", ()
    if k == "decimal":
        if t.floating_decimal or t.precision is None:
            return "NUMERIC", ()
        return f"NUMERIC({t.precision},{t.scale or 0})", ()
    if k == "float":
        return "REAL", ()
    if k == "bool":
        return "BOOLEAN", ("SQLite stores booleans as the integers 0 and 1",)
    if k == "string":
        if t.length is None or t.name in MYSQL_TEXTS:
            return "TEXT", ()
        return (f"CHAR({t.length})" if t.fixed else f"VARCHAR({t.length})"), unenforced
    if k == "bytes":
        return "BLOB", ()
    if k == "date":
        return "DATE", ("stored as ISO-8601 text",)
    if k == "timestamp":
        if t.tz:
            return "TIMESTAMPTZ", ("stored as ISO-8601 text; write the UTC offset with each value",)
        return "DATETIME", ("stored as ISO-8601 text",)
    if k == "time":
        return ("TIMETZ" if t.tz else "TIME"), ("stored as ISO-8601 text",)
    if k == "interval":
        return "TEXT", ()
    if k in ("uuid", "inet", "cidr", "macaddr", "objectid", "enum", "set"):
        return "TEXT", ()
    if k in ("json", "document", "bson", "array"):
        return "JSON", ("SQLite stores JSON as text; json_valid() is not checked by default",)
    if k == "bit":
        return "INTEGER" if (t.length or 1) <= 63 else "BLOB", ()
    if k in ("null", "any"):
        return "", ()  # no declared type: any storage class
    return "TEXT", (f"unknown type {t.name!r}",)


def to_mongodb(t: Logical, identity: bool) -> Choice:
    k = t.kind
    notes: tuple[str, ...] = ()
    if identity:
        notes = (("MongoDB has no auto-increment: existing values are kept; new ones need a "
                 "counter or an ObjectId"),)  # fmt: skip
    if k == "int":
        if t.boolean_like:
            return "int", notes
        lo_ok = (t.bits or 64) < 32 or ((t.bits or 64) == 32 and not t.unsigned)
        if lo_ok:
            return "int", notes
        if (t.bits or 64) < 64 or not t.unsigned:
            return "long", notes
        return "decimal", notes
    if k == "year":
        return "int", ()
    if k == "decimal":
        return "decimal", ()
    if k == "float":
        return "double", ()
    if k == "bool":
        return "bool", ()
    if k in ("string", "uuid", "inet", "cidr", "macaddr", "interval", "time"):
        if k == "uuid":
            return "binData", ("uuid stored as binData subtype 4",)
        return "string", ()
    if k in ("enum", "set"):
        return ("string" if k == "enum" else "array"), (
            "enforce the labels with a $jsonSchema enum in the collection validator",
        )
    if k in ("bytes", "bit"):
        return "binData", ()
    if k in ("date", "timestamp"):
        extra = () if t.tz or k == "date" else ("wall-clock values are stored as if UTC",)
        return "date", extra
    if k in ("json", "document"):
        return "object", ()
    if k == "objectid":
        return "objectId", ()
    if k == "array":
        return "array", ()
    if k == "bson":
        return t.name, ()
    if k == "null":
        return "null", ()
    if k == "any":
        return "mixed", ("values keep their own BSON types",)
    return "string", (f"unknown type {t.name!r}",)


CHOOSERS = {
    "postgresql": to_postgresql,
    "mysql": to_mysql,
    "sqlite": to_sqlite,
    "mongodb": to_mongodb,
}
