"""Infer a MongoDB collection's schema from sampled documents: field paths, BSON types with
frequencies, required-ness, nested documents and arrays.

Types are read from the raw BSON bytes, not from decoded Python values, because decoding loses
exactly what a migration needs: pymongo decodes both int32 and int64 to `int`, and a UUID or a
generic binary both to bytes. Walking the bytes gives the true BSON type of every value.

Path spelling: nested document fields are joined with dots (``address.city``); the elements of
an array are ``tags[]`` (so ``orders[].sku`` is a field of documents inside the ``orders``
array, and ``matrix[][]`` the elements of a nested array). Every count is a number of sampled
documents: a document that has ``tags`` with three strings counts once for ``tags[]`` string.
"""

from __future__ import annotations

import struct
from collections import defaultdict
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

from datamigration.db.model import FieldStat

# BSON element type byte -> MongoDB $type alias.
TYPE_NAMES = {
    0x01: "double",
    0x02: "string",
    0x03: "object",
    0x04: "array",
    0x05: "binData",
    0x06: "undefined",
    0x07: "objectId",
    0x08: "bool",
    0x09: "date",
    0x0A: "null",
    0x0B: "regex",
    0x0C: "dbPointer",
    0x0D: "javascript",
    0x0E: "symbol",
    0x0F: "javascriptWithScope",
    0x10: "int",
    0x11: "timestamp",
    0x12: "long",
    0x13: "decimal",
    0xFF: "minKey",
    0x7F: "maxKey",
}
_FIXED_SIZE = {0x01: 8, 0x06: 0, 0x07: 12, 0x08: 1, 0x09: 8, 0x0A: 0, 0x10: 4, 0x11: 8,
               0x12: 8, 0x13: 16, 0xFF: 0, 0x7F: 0}  # fmt: skip
_INT32 = struct.Struct("<i")
MAX_DEPTH = 32  # deeper nesting is reported as "object"/"array" without descending further


class BsonFormatError(ValueError):
    """The bytes are not a well-formed BSON document."""


def _cstring_end(data: bytes, pos: int) -> int:
    end = data.find(b"\x00", pos)
    if end < 0:
        raise BsonFormatError(f"unterminated name at byte {pos}")
    return end


def iter_elements(data: bytes, start: int = 0) -> Iterator[tuple[str, int, int, int]]:
    """Yield (name, type byte, value start, value end) of each element of the document at
    `start`. Only lengths are read, so this is cheap however large the values are."""
    size = _INT32.unpack_from(data, start)[0]
    pos, stop = start + 4, start + size - 1
    if size < 5 or stop >= len(data) or data[stop] != 0:
        raise BsonFormatError(f"bad document length {size} at byte {start}")
    while pos < stop:
        etype = data[pos]
        name_end = _cstring_end(data, pos + 1)
        name = data[pos + 1 : name_end].decode("utf-8", "replace")
        vstart = name_end + 1
        if etype in _FIXED_SIZE:
            vend = vstart + _FIXED_SIZE[etype]
        elif etype in (0x02, 0x0D, 0x0E):  # string, javascript, symbol: int32 length + bytes
            vend = vstart + 4 + _INT32.unpack_from(data, vstart)[0]
        elif etype in (0x03, 0x04, 0x0F):  # document, array, code with scope: int32 total
            vend = vstart + _INT32.unpack_from(data, vstart)[0]
        elif etype == 0x05:  # binary: int32 length + subtype + bytes
            vend = vstart + 5 + _INT32.unpack_from(data, vstart)[0]
        elif etype == 0x0B:  # regex: two cstrings
            vend = _cstring_end(data, _cstring_end(data, vstart) + 1) + 1
        elif etype == 0x0C:  # dbPointer: string + 12-byte id
            vend = vstart + 4 + _INT32.unpack_from(data, vstart)[0] + 12
        else:
            raise BsonFormatError(f"unknown BSON type 0x{etype:02x} at byte {pos}")
        if vend > stop:
            raise BsonFormatError(f"element {name!r} runs past the end of its document")
        yield name, etype, vstart, vend
        pos = vend


def document_paths(data: bytes) -> dict[tuple[str, str], None]:
    """Every (path, BSON type) present in one raw BSON document, each pair once, in document
    order (depth first), as an ordered set."""
    seen: dict[tuple[str, str], None] = {}
    _walk(data, 0, "", seen, 0)
    return seen


def _walk(data: bytes, start: int, prefix: str, seen: dict, depth: int) -> None:
    for name, etype, vstart, _vend in iter_elements(data, start):
        path = f"{prefix}.{name}" if prefix else name
        _value(data, etype, vstart, path, seen, depth)


def _value(data: bytes, etype: int, vstart: int, path: str, seen: dict, depth: int) -> None:
    seen[(path, TYPE_NAMES.get(etype, f"0x{etype:02x}"))] = None
    if depth >= MAX_DEPTH:
        return
    if etype == 0x03:
        _walk(data, vstart, path, seen, depth + 1)
    elif etype == 0x04:
        for _name, et, vs, _ve in iter_elements(data, vstart):
            _value(data, et, vs, f"{path}[]", seen, depth + 1)


def raw_bytes(doc: Any) -> bytes:
    """The BSON bytes of a RawBSONDocument, bytes, or a plain mapping (encoded here)."""
    raw = getattr(doc, "raw", None)
    if raw is not None:
        return bytes(raw)
    if isinstance(doc, bytes | bytearray | memoryview):
        return bytes(doc)
    import bson

    return bson.encode(doc)


class SchemaSampler:
    """Accumulates sampled documents into per-path type counts."""

    def __init__(self) -> None:
        self.sampled = 0
        self._types: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
        self._present: dict[str, int] = defaultdict(int)
        self._order: dict[str, int] = {}

    def add(self, doc: Any) -> None:
        pairs = document_paths(raw_bytes(doc))
        self.sampled += 1
        for path in dict.fromkeys(p for p, _ in pairs):
            self._order.setdefault(path, len(self._order))
            self._present[path] += 1
        for path, typ in pairs:
            self._types[path][typ] += 1

    def add_all(self, docs: Iterable[Any]) -> SchemaSampler:
        for doc in docs:
            self.add(doc)
        return self

    def fields(self) -> tuple[FieldStat, ...]:
        """One FieldStat per path in first-seen order (a parent comes before its children)."""
        out = []
        for path in sorted(self._present, key=self._order.__getitem__):
            count = self._present[path]
            types = dict(sorted(self._types[path].items(), key=lambda kv: (-kv[1], kv[0])))
            freq = round(count / self.sampled, 4) if self.sampled else 0.0
            out.append(FieldStat(path=path, types=types, count=count, frequency=freq))
        return tuple(out)


def is_required(stat: FieldStat, sampled: int) -> bool:
    """Present in every sampled document (MongoDB's sense of "required": null still counts)."""
    return sampled > 0 and stat.count >= sampled


def infer_fields(docs: Iterable[Any]) -> tuple[tuple[FieldStat, ...], int]:
    """Sample statistics of `docs`: (fields, number of documents sampled)."""
    sampler = SchemaSampler().add_all(docs)
    return sampler.fields(), sampler.sampled


def summarize(fields: Iterable[FieldStat], sampled: int) -> list[Mapping[str, Any]]:
    """Compact rows for people: path, types, frequency, required (for CLI/MCP output)."""
    return [
        {
            "path": f.path,
            "types": dict(f.types),
            "frequency": f.frequency,
            "required": is_required(f, sampled),
        }
        for f in fields
    ]
