"""What a database type means, independent of how a dialect spells it.

Type mapping and schema-fidelity checks both need to answer "can this column hold every value of
that one, with the same meaning?". Comparing spellings (``int4`` vs ``INT`` vs BSON ``int``)
cannot answer it, so each dialect's spelling is first parsed into a `Logical` type: a kind plus
the facts that decide fidelity (byte width, precision/scale, length, time zone, fractional
seconds). `holds()` then decides containment once for every pair of dialects.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace

DIALECTS = ("postgresql", "mysql", "sqlite", "mongodb")
_DIALECT_ALIASES = {
    "postgresql": "postgresql",
    "postgres": "postgresql",
    "pg": "postgresql",
    "mysql": "mysql",
    "mariadb": "mysql",
    "sqlite": "sqlite",
    "sqlite3": "sqlite",
    "mongodb": "mongodb",
    "mongo": "mongodb",
    "bson": "mongodb",
}

# BSON type aliases as MongoDB's $type operator spells them.
BSON_TYPES = (
    "double",
    "string",
    "object",
    "array",
    "binData",
    "undefined",
    "objectId",
    "bool",
    "date",
    "null",
    "regex",
    "dbPointer",
    "javascript",
    "symbol",
    "javascriptWithScope",
    "int",
    "timestamp",
    "long",
    "decimal",
    "minKey",
    "maxKey",
)
_BSON_ALIASES = {t.lower(): t for t in BSON_TYPES} | {
    "decimal128": "decimal",
    "int32": "int",
    "int64": "long",
    "boolean": "bool",
    "objectid": "objectId",
    "bindata": "binData",
    "binary": "binData",
    "document": "object",
}


def normalize_dialect(dialect: str) -> str:
    """Canonical dialect name; MariaDB is the mysql dialect (same types, noted where not)."""
    try:
        return _DIALECT_ALIASES[dialect.strip().lower()]
    except KeyError:
        raise ValueError(f"unknown dialect {dialect!r}; expected one of {DIALECTS}") from None


@dataclass(frozen=True)
class Logical:
    """The meaning of a column type.

    kind: int, decimal, float, bool, string, bytes, date, time, timestamp, interval, uuid, json,
    enum, set, array, inet, cidr, macaddr, bit, year, objectid, document, null, any, bson, unknown.
    `bits` is the storage width of int/float; `length` the max characters/bytes (None: no limit);
    `precision`/`scale` for decimals (None: unbounded); `fsp` the fractional-second digits of
    times and timestamps; `tz` whether a time/timestamp is an instant with time zone.
    """

    kind: str
    bits: int | None = None
    unsigned: bool = False
    precision: int | None = None
    scale: int | None = None
    floating_decimal: bool = False  # decimal128: 34 digits, any exponent
    length: int | None = None
    fixed: bool = False
    tz: bool | None = None
    fsp: int | None = None
    values: tuple[str, ...] = ()
    element: Logical | None = None
    binary_json: bool = False
    boolean_like: bool = False  # MySQL tinyint(1), the spelling of BOOLEAN there
    epoch32: bool = False  # MySQL TIMESTAMP: only 1970-01-01 .. 2038-01-19 UTC
    name: str = ""  # original spelling, for messages and the kinds we do not interpret

    def describe(self) -> str:
        """Short human text ("8-byte float", "numeric(10,2)") for reasons and notes."""
        k = self.kind
        if k == "int":
            sign = "unsigned " if self.unsigned else ""
            return f"{sign}{self.bits // 8 if self.bits else '?'}-byte integer"
        if k == "float":
            return f"{(self.bits or 64) // 8}-byte float"
        if k == "decimal":
            if self.floating_decimal:
                return "decimal128 (34 significant digits)"
            if self.precision is None:
                return "unbounded decimal"
            return f"decimal({self.precision},{self.scale or 0})"
        if k in ("string", "bytes"):
            base = ("fixed " if self.fixed else "") + ("text" if k == "string" else "binary")
            return f"{base}({self.length})" if self.length is not None else base
        if k in ("timestamp", "time"):
            zone = "with time zone" if self.tz else "without time zone"
            digits = f", {self.fsp} fractional digits" if self.fsp is not None else ""
            return f"{k} {zone}{digits}"
        if k == "array":
            return f"array of {self.element.describe() if self.element else 'any'}"
        if k in ("bson", "unknown"):
            return self.name or k
        return k


INT_RANGES = {
    (8, False): (-(2**7), 2**7 - 1),
    (16, False): (-(2**15), 2**15 - 1),
    (24, False): (-(2**23), 2**23 - 1),
    (32, False): (-(2**31), 2**31 - 1),
    (64, False): (-(2**63), 2**63 - 1),
    (8, True): (0, 2**8 - 1),
    (16, True): (0, 2**16 - 1),
    (24, True): (0, 2**24 - 1),
    (32, True): (0, 2**32 - 1),
    (64, True): (0, 2**64 - 1),
}


def int_range(t: Logical) -> tuple[int, int]:
    return INT_RANGES[(t.bits or 64, t.unsigned)]


def int_digits(t: Logical) -> int:
    """Decimal digits needed to hold every value of an integer type."""
    lo, hi = int_range(t)
    return max(len(str(abs(lo))), len(str(hi)))


# --- parsing a spelled type into (base name, modifiers, flags) ------------------------------

_MODS = re.compile(r"\(([^()]*)\)")


@dataclass(frozen=True)
class Spelling:
    base: str
    mods: tuple[str, ...] = ()
    array_dims: int = 0
    unsigned: bool = False
    with_tz: bool | None = None


def split_spelling(text: str) -> Spelling:
    """``timestamp(3) with time zone`` -> base 'timestamp', mods ('3',), with_tz True.

    Only the name is lower-cased: modifiers keep their case (enum labels).
    """
    t = " ".join(text.strip().split())
    dims = 0
    while t.endswith("[]"):
        dims += 1
        t = t[:-2].rstrip()
    if t.startswith("_") and not dims:  # PostgreSQL's internal array name: _int4
        t, dims = t[1:], 1
    m = _MODS.search(t)
    mods: tuple[str, ...] = ()
    if m:
        mods = tuple(p.strip() for p in _split_args(m.group(1)))
        t = (t[: m.start()] + " " + t[m.end() :]).strip()
    t = " ".join(t.lower().split())
    with_tz: bool | None = None
    if t.endswith(" with time zone"):
        with_tz, t = True, t[: -len(" with time zone")]
    elif t.endswith(" without time zone"):
        with_tz, t = False, t[: -len(" without time zone")]
    words = t.split()
    unsigned = "unsigned" in words
    t = " ".join(w for w in words if w not in ("unsigned", "signed", "zerofill"))
    return Spelling(t, mods, dims, unsigned, with_tz)


def _split_args(inner: str) -> list[str]:
    """Split on commas outside quotes: enum('a,b','c') -> ["'a,b'", "'c'"]."""
    out, cur, quote = [], "", ""
    for ch in inner:
        if quote:
            cur += ch
            if ch == quote:
                quote = ""
        elif ch in "'\"":
            quote = ch
            cur += ch
        elif ch == ",":
            out.append(cur)
            cur = ""
        else:
            cur += ch
    if cur.strip():
        out.append(cur)
    return out


def unquote_label(s: str) -> str:
    s = s.strip()
    if len(s) >= 2 and s[0] == s[-1] and s[0] in "'\"":
        return s[1:-1].replace(s[0] * 2, s[0])
    return s


def _int_mod(mods: tuple[str, ...], i: int) -> int | None:
    try:
        return int(mods[i])
    except (IndexError, ValueError):
        return None


def bson_alias(name: str) -> str | None:
    return _BSON_ALIASES.get(name.strip().lower())


def with_array(t: Logical, dims: int) -> Logical:
    for _ in range(dims):
        t = Logical("array", element=t, name=f"{t.name}[]")
    return t


def narrowed(t: Logical, **changes: object) -> Logical:
    return replace(t, **changes)
