"""The pgoutput (protocol 1) decoder on hand-built messages: every message kind, every tuple
value kind, and a cut or unknown message refused instead of guessed at."""

from __future__ import annotations

import struct

import pytest

from datamigration.db.postgres import pgoutput as pgo
from datamigration.errors import DatabaseError


def text(s: str) -> bytes:
    return s.encode() + b"\0"


def tuple_data(*values: object) -> bytes:
    out = struct.pack("!h", len(values))
    for v in values:
        if v is None:
            out += b"n"
        elif v is pgo.UNCHANGED:
            out += b"u"
        else:
            raw = str(v).encode()
            out += b"t" + struct.pack("!i", len(raw)) + raw
    return out


def test_begin_and_commit_carry_lsns_timestamp_and_xid() -> None:
    begin = pgo.parse(b"B" + struct.pack("!QqI", 0x1_0000_0010, 1_000_000, 4242))
    commit = pgo.parse(b"C\0" + struct.pack("!QQq", 0x1_0000_0010, 0x1_0000_0040, 1_000_000))
    assert begin == pgo.Begin(0x1_0000_0010, 1_000_000, 4242)
    assert commit == pgo.Commit(0, 0x1_0000_0010, 0x1_0000_0040, 1_000_000)
    assert pgo.unix_ms(commit.commit_ts_us) == 946_684_801_000
    assert pgo.lsn_text(commit.end_lsn) == "1/40" and pgo.lsn_int("1/40") == commit.end_lsn


def test_a_relation_message_lists_its_columns_with_key_flags_types_and_typmods() -> None:
    cols = b"".join(
        bytes([flag]) + text(name) + struct.pack("!Ii", oid, mod)
        for flag, name, oid, mod in [(1, "id", 20, -1), (0, "amount", 1700, 786438)]
    )
    rel = pgo.parse(b"R" + struct.pack("!I", 16384) + text("") + text("orders") + b"d"
                    + struct.pack("!h", 2) + cols)  # fmt: skip
    assert rel.schema == "pg_catalog" and rel.name == "orders" and rel.replica_identity == "d"
    assert rel.columns == (
        pgo.RelColumn("id", 20, -1, True),
        pgo.RelColumn("amount", 1700, 786438, False),
    )


def test_insert_update_delete_and_truncate_keep_raw_values_nulls_and_unchanged_toast() -> None:
    rel = struct.pack("!I", 7)
    ins = pgo.parse(b"I" + rel + b"N" + tuple_data(1, None, "x'y"))
    upd = pgo.parse(b"U" + rel + b"O" + tuple_data(1, "a") + b"N" + tuple_data(2, pgo.UNCHANGED))
    plain = pgo.parse(b"U" + rel + b"N" + tuple_data(3))
    dele = pgo.parse(b"D" + rel + b"K" + tuple_data(1, None))
    trunc = pgo.parse(b"T" + struct.pack("!iB", 2, 3) + struct.pack("!II", 7, 8))
    assert ins == pgo.Insert(7, (b"1", None, b"x'y"))
    assert upd == pgo.Update(7, "O", (b"1", b"a"), (b"2", pgo.UNCHANGED))
    assert plain == pgo.Update(7, None, None, (b"3",))
    assert dele == pgo.Delete(7, "K", (b"1", None))
    assert trunc == pgo.Truncate((7, 8), cascade=True, restart_identity=True)


def test_origin_type_and_logical_messages_are_read() -> None:
    assert pgo.parse(b"O" + struct.pack("!Q", 5) + text("node1")) == pgo.Origin(5, "node1")
    assert pgo.parse(b"Y" + struct.pack("!I", 90000) + text("public") + text("mood")) == (
        pgo.TypeInfo(90000, "public", "mood")
    )
    msg = pgo.parse(b"M\1" + struct.pack("!Q", 9) + text("app") + struct.pack("!i", 2) + b"hi")
    assert msg == pgo.LogicalMessage(True, 9, "app", b"hi")


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"Z123",
        b"B\0\0",  # cut begin
        b"I" + struct.pack("!I", 7) + b"X",  # insert without its new tuple
        b"I" + struct.pack("!I", 7) + b"N" + struct.pack("!h", 1) + b"t" + struct.pack("!i", 9),
        b"I" + struct.pack("!I", 7) + b"N" + struct.pack("!h", 1) + b"q",  # unknown value kind
        b"U" + struct.pack("!I", 7) + b"K" + tuple_data(1) + b"Q",  # update without N
        b"R" + struct.pack("!I", 1) + b"no terminator",
    ],
)
def test_an_unknown_or_cut_message_is_refused(data: bytes) -> None:
    with pytest.raises(DatabaseError) as refused:
        pgo.parse(data)
    assert refused.value.message.startswith("pgoutput:") and refused.value.hint
