"""Containment: can a target type hold every value of a source type with the same meaning?

This single decision backs both the mapping table (a mapping is lossless exactly when its target
holds its source) and the schema-fidelity check of the validator, so the two can never disagree.
"Same meaning" covers the guarantees the product promises: integer and float widths, decimal
precision and scale, text and binary lengths, time zone semantics and fractional seconds. Domain
checks a dialect does not enforce (SQLite lengths, uuid syntax in text) are notes, not losses.
"""

from __future__ import annotations

from dataclasses import dataclass

from datamigration.typemap.logical import Logical, int_digits, int_range

JSON_NATIVE = {"int", "bool", "string", "float", "decimal", "json", "null", "document"}


@dataclass(frozen=True)
class Holds:
    ok: bool
    reason: str = ""  # why not, when ok is False
    notes: tuple[str, ...] = ()  # caveats when ok is True (widened, not enforced, ...)


def _yes(*notes: str) -> Holds:
    return Holds(True, "", tuple(n for n in notes if n))


def _no(reason: str) -> Holds:
    return Holds(False, reason)


UNLIMITED = 2**30  # PostgreSQL's largest text/bytea value; LONGTEXT/LONGBLOB go beyond it


def _length_fits(dst: int | None, src: int | None) -> bool:
    return dst is None or dst >= UNLIMITED or (src is not None and dst >= src)


def holds(dst: Logical, src: Logical) -> Holds:
    """Decide whether `dst` keeps every value and the meaning of `src`."""
    if src.kind == "null":
        return _yes()
    if dst.kind == "any":
        return _yes("the target column has no declared type: values are kept as they come")
    if src.kind == "any":
        return _no(
            "the source holds values of any type (no declared type, or mixed types); the "
            "target requires one type"
        )
    if src.kind == "array" or dst.kind == "array":
        return _arrays(dst, src)
    if dst.kind == src.kind:
        return _same_kind(dst, src)
    return _cross_kind(dst, src)


def _arrays(dst: Logical, src: Logical) -> Holds:
    if src.kind == "array" and dst.kind == "array":
        if dst.element is None:
            return _yes("the target array does not constrain its element type")
        if src.element is None:
            return _no(f"source array elements are untyped; target requires {dst.describe()}")
        inner = holds(dst.element, src.element)
        if not inner.ok:
            return _no(f"array elements: {inner.reason}")
        return inner
    if src.kind == "array" and dst.kind in ("json", "document"):
        elem = src.element
        if elem is None or elem.kind in JSON_NATIVE:
            return _yes("array stored as JSON: the element type is not enforced by the target")
        return _no(
            f"array of {elem.describe()} stored as JSON turns its elements into strings; "
            "the element type is lost"
        )
    if src.kind == "set" and dst.kind == "array":
        return _yes("SET stored as an array of its members: the allowed list is not enforced")
    return _no(f"{dst.describe()} cannot hold {src.describe()}")


def _same_kind(dst: Logical, src: Logical) -> Holds:
    k = src.kind
    if k == "int":
        (slo, shi), (dlo, dhi) = int_range(src), int_range(dst)
        if dlo <= slo and dhi >= shi:
            return _yes("widened" if (dlo, dhi) != (slo, shi) else "")
        return _no(f"{dst.describe()} cannot hold the range of {src.describe()} ({slo}..{shi})")
    if k == "float":
        if (dst.bits or 64) >= (src.bits or 64):
            return _yes("widened: every 4-byte float is exact as an 8-byte float"
                        if (dst.bits or 64) > (src.bits or 64) else "")  # fmt: skip
        return _no(
            f"{src.describe()} narrowed to {dst.describe()}: values lose precision "
            "(4999.99 reads back as 4999.990234375)"
        )
    if k == "decimal":
        return _decimals(dst, src)
    if k in ("string", "bytes", "bit"):
        if not _length_fits(dst.length, src.length):
            src_len = "no limit" if src.length is None else src.length
            return _no(f"length {dst.length} is shorter than the source's {src_len}")
        notes = []
        if dst.fixed != src.fixed and k == "string":
            notes.append("fixed-length CHAR pads with spaces where VARCHAR does not")
        if dst.length != src.length:
            notes.append("widened")
        return _yes(*notes)
    if k in ("timestamp", "time"):
        if bool(dst.tz) != bool(src.tz):
            have = "with" if src.tz else "without"
            return _no(
                f"time zone semantics differ: the source is {k} {have} time zone, "
                f"the target {dst.describe()}"
            )
        if dst.epoch32 and not src.epoch32:
            return _no("MySQL TIMESTAMP holds only 1970-01-01 .. 2038-01-19 UTC")
        if src.fsp is not None and dst.fsp is not None and dst.fsp < src.fsp:
            return _no(
                f"fractional seconds: the target keeps {dst.fsp} digits, the source has {src.fsp}"
            )
        return _yes()
    if k == "interval":
        if dst.name == "time" and src.name != "time":
            return _no("MySQL TIME holds only durations within ±838:59:59, without months or days")
        return _yes()
    if k in ("enum", "set"):
        missing = [v for v in src.values if v not in dst.values]
        if dst.values and missing:
            return _no(f"target {k} lacks the labels {missing}")
        return _yes("label order differs" if dst.values and dst.values != src.values else "")
    if k == "json":
        if dst.binary_json and not src.binary_json:
            return _yes("binary JSON does not keep key order, duplicate keys or whitespace")
        return _yes()
    if k in ("bson", "unknown"):
        if dst.name.lower() == src.name.lower():
            return _yes()
        return _no(f"{dst.describe()} is not {src.describe()}")
    return _yes()  # bool, date, uuid, inet, cidr, macaddr, year, objectid, document


def _decimals(dst: Logical, src: Logical) -> Holds:
    if dst.floating_decimal:
        if src.floating_decimal or (src.precision is not None and src.precision <= 34):
            return _yes("decimal128 keeps the digits and the scale of each value")
        return _no(f"{src.describe()} may need more than the 34 significant digits of decimal128")
    if dst.precision is None:
        return _yes("" if src.precision is None else "widened")
    if src.precision is None or src.floating_decimal:
        return _no(f"{dst.describe()} cannot hold every value of {src.describe()}")
    s_scale, d_scale = src.scale or 0, dst.scale or 0
    if d_scale < s_scale:
        return _no(f"scale {d_scale} is smaller than the source's {s_scale}: digits are rounded")
    if dst.precision - d_scale < src.precision - s_scale:
        return _no(
            f"{dst.describe()} has fewer integer digits than {src.describe()}: large values "
            "overflow"
        )
    return _yes("widened" if (dst.precision, d_scale) != (src.precision, s_scale) else "")


_AS_TEXT_MIN = {"uuid": 36, "objectid": 24, "inet": 43, "cidr": 43, "macaddr": 23}
_AS_BYTES_MIN = {"uuid": 16, "objectid": 12}


def _cross_kind(dst: Logical, src: Logical) -> Holds:
    s, d = src.kind, dst.kind
    if s == "bool" and d == "int":
        return _yes("boolean stored as the integers 0 and 1")
    if s == "int" and d == "bool" and src.boolean_like:
        return _yes("MySQL tinyint(1) read as boolean: assumes it holds only 0 and 1")
    if s == "bool" and d == "bit" and (dst.length or 1) >= 1:
        return _yes("boolean stored as bit(1)")
    if s == "bit" and d == "bool" and (src.length or 1) == 1:
        return _yes("bit(1) read as boolean")
    if s == "bit" and d == "bytes":
        return _yes("bits packed into bytes")
    if s == "time" and d == "interval" and dst.name == "time" and not src.tz:
        return _yes("time of day stored in MySQL TIME (a duration type)")
    if s == "int" and d == "decimal":
        room = 34 if dst.floating_decimal else (
            None if dst.precision is None else dst.precision - (dst.scale or 0))  # fmt: skip
        if room is None or room >= int_digits(src):
            return _yes("widened: integer stored as an exact decimal")
        return _no(f"{dst.describe()} has too few integer digits for {src.describe()}")
    if s == "year" and d == "int":
        if int_range(dst)[1] >= 2155:
            return _yes("YEAR stored as an integer")
        return _no(f"{dst.describe()} cannot hold years up to 2155")
    if s == "date" and d == "timestamp" and dst.name == "date" and dst.tz:
        return _yes("date stored as a BSON date at midnight UTC")
    if d == "string" and s in _AS_TEXT_MIN:
        if _length_fits(dst.length, _AS_TEXT_MIN[s]):
            return _yes(f"{s} stored as its text form: the syntax is not checked by the target")
        return _no(f"length {dst.length} is too short for {s} text ({_AS_TEXT_MIN[s]})")
    if d == "bytes" and s in _AS_BYTES_MIN:
        if _length_fits(dst.length, _AS_BYTES_MIN[s]):
            return _yes(f"{s} stored as its {_AS_BYTES_MIN[s]} raw bytes")
        return _no(f"{dst.describe()} is too short for a {s}")
    if s in ("enum", "set") and d == "string":
        longest = max((len(v) for v in src.values), default=0)
        if s == "set":
            longest = sum(len(v) + 1 for v in src.values)
        if _length_fits(dst.length, longest):
            return _yes(f"{s.upper()} stored as text: the allowed labels are not enforced")
        return _no(f"length {dst.length} is too short for the labels of the {s}")
    if s == "json" and d == "document":
        return _yes("JSON stored as an embedded document (non-object JSON stays a value)")
    if s == "document" and d == "json":
        return _yes("document stored as JSON: BSON-only types use canonical Extended JSON")
    if s == "json" and d == "string" and dst.length is None:
        return _yes("JSON stored as text: validity is not checked by the target")
    if s == "bson" and d in ("json", "document"):
        return _yes(f"BSON {src.name} stored as canonical Extended JSON")
    if s in ("timestamp", "date", "time", "interval") and d == "string":
        lost = "ordering and arithmetic" if s == "interval" else (
            "ordering, arithmetic and time zone semantics")  # fmt: skip
        return _no(f"{src.describe()} kept as text: {lost} are lost")
    return _no(f"{dst.describe()} cannot hold {src.describe()}")
