"""A decoder of pgoutput (protocol version 1) messages, as the SQL slot functions return them.

Why here and hand-written: psycopg 3 has no replication protocol, so the capture reads its slot
with `pg_logical_slot_peek_binary_changes(...)`, whose `data` column holds one pgoutput message
per row. The layouts are PostgreSQL's "Logical Replication Message Formats" (protocol chapter):
network byte order, strings NUL-terminated, LSNs and timestamps as 64-bit integers.

`parse(data)` turns one message into a small frozen object; tuple values stay raw (bytes of
the type's text output, None for NULL, `UNCHANGED` for a TOASTed value the server did not send).
`RowLoader` turns a raw tuple into a dict of Python values with psycopg's own loaders of the
capture's connection, so a change carries exactly what a SELECT on that connection gives.
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from psycopg.adapt import Transformer
from psycopg.pq import Format

from datamigration.db.change_events import UNAVAILABLE
from datamigration.errors import DatabaseError

#: microseconds between the Unix epoch and PostgreSQL's (2000-01-01)
PG_EPOCH_US = 946_684_800_000_000

_I16 = struct.Struct("!h").unpack_from
_I32 = struct.Struct("!i").unpack_from
_U32 = struct.Struct("!I").unpack_from
_I64 = struct.Struct("!q").unpack_from
_U64 = struct.Struct("!Q").unpack_from


class _Unchanged:
    """A TOASTed value the server did not send ('u'): the column did not change."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "UNCHANGED"


UNCHANGED = _Unchanged()
RawTuple = tuple[Any, ...]


@dataclass(frozen=True)
class RelColumn:
    name: str
    type_oid: int
    typmod: int
    key: bool  # part of the replica identity


@dataclass(frozen=True)
class Relation:
    id: int
    schema: str
    name: str
    replica_identity: str  # d(efault), n(othing), f(ull), i(ndex)
    columns: tuple[RelColumn, ...]


@dataclass(frozen=True)
class Begin:
    final_lsn: int
    commit_ts_us: int
    xid: int


@dataclass(frozen=True)
class Commit:
    flags: int
    commit_lsn: int
    end_lsn: int
    commit_ts_us: int


@dataclass(frozen=True)
class Origin:
    lsn: int
    name: str


@dataclass(frozen=True)
class TypeInfo:
    oid: int
    schema: str
    name: str


@dataclass(frozen=True)
class Insert:
    relation_id: int
    new: RawTuple


@dataclass(frozen=True)
class Update:
    relation_id: int
    old_kind: str | None  # 'K' (key columns only), 'O' (whole old row), None (not sent)
    old: RawTuple | None
    new: RawTuple


@dataclass(frozen=True)
class Delete:
    relation_id: int
    old_kind: str
    old: RawTuple


@dataclass(frozen=True)
class Truncate:
    relation_ids: tuple[int, ...]
    cascade: bool
    restart_identity: bool


@dataclass(frozen=True)
class LogicalMessage:
    transactional: bool
    lsn: int
    prefix: str
    content: bytes


Message = (
    Begin | Commit | Origin | Relation | TypeInfo | Insert | Update | Delete | Truncate
) | LogicalMessage


def _string(data: bytes, pos: int) -> tuple[str, int]:
    end = data.index(0, pos)
    return data[pos:end].decode("utf-8"), end + 1


def _tuple(data: bytes, pos: int) -> tuple[RawTuple, int]:
    """TupleData: Int16 column count, then per column a kind byte (n, u, t, b) and the value."""
    (count,) = _I16(data, pos)
    pos += 2
    out: list[Any] = []
    append = out.append
    for _ in range(count):
        kind = data[pos]
        pos += 1
        if kind == 0x74 or kind == 0x62:  # 't' text, 'b' binary (not asked for in v1)
            (size,) = _I32(data, pos)
            pos += 4
            if pos + size > len(data):
                raise _bad("a value runs past the end of its message")
            append(data[pos : pos + size])
            pos += size
        elif kind == 0x6E:  # 'n'
            append(None)
        elif kind == 0x75:  # 'u'
            append(UNCHANGED)
        else:
            raise _bad(f"unknown tuple value kind {chr(kind)!r}")
    return tuple(out), pos


def _relation(data: bytes) -> Relation:
    (rel_id,) = _U32(data, 1)
    schema, pos = _string(data, 5)
    name, pos = _string(data, pos)
    identity = chr(data[pos])
    (count,) = _I16(data, pos + 1)
    pos += 3
    columns = []
    for _ in range(count):
        flags = data[pos]
        col, pos = _string(data, pos + 1)
        (oid,) = _U32(data, pos)
        (typmod,) = _I32(data, pos + 4)
        pos += 8
        columns.append(RelColumn(col, oid, typmod, bool(flags & 1)))
    return Relation(rel_id, schema or "pg_catalog", name, identity, tuple(columns))


def _update(data: bytes) -> Update:
    (rel_id,) = _U32(data, 1)
    kind = chr(data[5])
    old: RawTuple | None = None
    old_kind: str | None = None
    pos = 6
    if kind in ("K", "O"):
        old_kind = kind
        old, pos = _tuple(data, pos)
        kind = chr(data[pos])
        pos += 1
    if kind != "N":
        raise _bad(f"update without its new tuple (found {kind!r})")
    new, _ = _tuple(data, pos)
    return Update(rel_id, old_kind, old, new)


def _insert(data: bytes) -> Insert:
    (rel_id,) = _U32(data, 1)
    if data[5] != 0x4E:  # 'N'
        raise _bad("insert without its new tuple")
    return Insert(rel_id, _tuple(data, 6)[0])


def _delete(data: bytes) -> Delete:
    (rel_id,) = _U32(data, 1)
    return Delete(rel_id, chr(data[5]), _tuple(data, 6)[0])


def _truncate(data: bytes) -> Truncate:
    (count,) = _I32(data, 1)
    options = data[5]
    ids = tuple(_U32(data, 6 + 4 * i)[0] for i in range(count))
    return Truncate(ids, bool(options & 1), bool(options & 2))


_BEGIN = struct.Struct("!QqI").unpack_from
_COMMIT = struct.Struct("!BQQq").unpack_from


def begin_fields(data: bytes) -> tuple[int, int, int]:
    """A Begin's (final LSN, commit timestamp, xid) without building its object: the reader
    meets one per transaction."""
    return _BEGIN(data, 1)


def commit_fields(data: bytes) -> tuple[int, int, int, int]:
    """A Commit's (flags, commit LSN, end LSN, commit timestamp)."""
    return _COMMIT(data, 1)


def _begin(data: bytes) -> Begin:
    return Begin(*begin_fields(data))


def _commit(data: bytes) -> Commit:
    return Commit(*commit_fields(data))


def _origin(data: bytes) -> Origin:
    return Origin(_U64(data, 1)[0], _string(data, 9)[0])


def _type(data: bytes) -> TypeInfo:
    (oid,) = _U32(data, 1)
    schema, pos = _string(data, 5)
    return TypeInfo(oid, schema, _string(data, pos)[0])


def _message(data: bytes) -> LogicalMessage:
    prefix, pos = _string(data, 10)
    (size,) = _I32(data, pos)
    return LogicalMessage(
        bool(data[1] & 1), _U64(data, 2)[0], prefix, data[pos + 4 : pos + 4 + size]
    )


_PARSERS: dict[int, Callable[[bytes], Any]] = {
    ord("B"): _begin,
    ord("C"): _commit,
    ord("O"): _origin,
    ord("R"): _relation,
    ord("Y"): _type,
    ord("I"): _insert,
    ord("U"): _update,
    ord("D"): _delete,
    ord("T"): _truncate,
    ord("M"): _message,
}


def parse(data: bytes) -> Message:
    """One pgoutput v1 message; an unknown or cut message is refused (never guessed at)."""
    data = bytes(data)
    try:
        parser = _PARSERS[data[0]]
    except (IndexError, KeyError):
        raise _bad(f"unknown message type {data[:1]!r}") from None
    try:
        return parser(data)
    except (struct.error, IndexError, ValueError, UnicodeDecodeError) as exc:
        raise _bad(f"cut or malformed {chr(data[0])!r} message ({exc})") from exc


def _bad(what: str) -> DatabaseError:
    return DatabaseError(
        f"pgoutput: {what}",
        hint="The slot must be read with proto_version 1 through "
        "pg_logical_slot_peek_binary_changes; report this with the server version.",
    )


def unix_ms(pg_us: int) -> int:
    """A pgoutput timestamp (microseconds since 2000-01-01) as Unix milliseconds."""
    return (pg_us + PG_EPOCH_US) // 1000


def lsn_text(lsn: int) -> str:
    """An LSN as PostgreSQL spells a pg_lsn: high/low 32 bits in hexadecimal."""
    return f"{lsn >> 32:X}/{lsn & 0xFFFFFFFF:X}"


def lsn_int(text: str) -> int:
    high, _, low = str(text).partition("/")
    return int(high, 16) << 32 | int(low, 16)


class RowLoader:
    """Raw tuples to dicts of Python values, with the loaders of the capture's connection.

    `base_types` maps a domain's OID to its base type's (a SELECT reports the base type; the
    relation message reports the domain), so both give the same Python value."""

    def __init__(self, conn: Any, base_types: dict[int, int] | None = None) -> None:
        self.transformer = Transformer(conn)
        self.base_types = dict(base_types or {})
        self._loads: dict[int, Callable[[bytes], Any]] = {}
        self._plans: dict[int, tuple[tuple[str, Callable[[bytes], Any]], ...]] = {}

    def _load_of(self, oid: int) -> Callable[[bytes], Any]:
        found = self._loads.get(oid)
        if found is None:
            loader = self.transformer.get_loader(self.base_types.get(oid, oid), Format.TEXT)
            found = self._loads[oid] = loader.load
        return found

    def forget(self, relation_id: int) -> None:
        """A new Relation message (the table changed): rebuild its column plan."""
        self._plans.pop(relation_id, None)

    def row(self, relation: Relation, raw: Sequence[Any]) -> dict[str, Any]:
        plan = self._plans.get(relation.id)
        if plan is None:
            plan = tuple((c.name, self._load_of(c.type_oid)) for c in relation.columns)
            self._plans[relation.id] = plan
        if len(raw) != len(plan):
            raise _bad(
                f"a tuple of {relation.schema}.{relation.name} has {len(raw)} values "
                f"for {len(plan)} columns"
            )
        out: dict[str, Any] = {}
        for (name, load), value in zip(plan, raw, strict=True):
            if value is None:
                out[name] = None
            elif value is UNCHANGED:
                out[name] = UNAVAILABLE
            else:
                out[name] = load(value)
        return out
