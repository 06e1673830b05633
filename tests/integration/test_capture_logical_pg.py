"""PostgreSQL logical capture over SQL (pgoutput) on a throwaway cluster with wal_level=logical:
commit order, every operation, values equal to a plain SELECT's, TOAST under each replica
identity, replay without ack, ack, and teardown leaving nothing."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest

from datamigration.db.base import connect
from datamigration.db.change_events import UNAVAILABLE
from datamigration.db.postgres.capture import LogicalCapture

pytestmark = pytest.mark.integration


@contextlib.contextmanager
def capture(url: str, run: str, tables: list[str]) -> Iterator[Any]:
    with connect(url) as backend:
        cap = backend.change_capture(run, tables)
        try:
            yield cap
        finally:
            cap.teardown()


def sql(url: str, *statements: str) -> None:
    with psycopg.connect(url, autocommit=True) as conn:
        for s in statements:
            conn.execute(s)


def read_all(cap: Any, limit: int = 10_000) -> list[Any]:
    out: list[Any] = []
    while batch := cap.read(limit):
        out.extend(batch)
    return out


def test_interleaved_transactions_come_out_in_commit_order_with_growing_positions(
    pg_logical_url: str,
) -> None:
    sql(pg_logical_url, "CREATE TABLE t (id int PRIMARY KEY, v text)")
    with capture(pg_logical_url, "order1", ["t"]) as cap:
        assert cap.prepare()["method"] == "logical"
        with psycopg.connect(pg_logical_url) as first, psycopg.connect(pg_logical_url) as second:
            first.execute("INSERT INTO t VALUES (1, 'first started')")
            second.execute("INSERT INTO t VALUES (2, 'second started')")
            second.execute("INSERT INTO t VALUES (3, 'second again')")
            second.commit()  # the later-started transaction commits first
            first.execute("UPDATE t SET v = 'first done' WHERE id = 1")
            first.commit()
        events = read_all(cap)
    assert [(e.op, e.key["id"]) for e in events] == [("c", 2), ("c", 3), ("c", 1), ("u", 1)]
    positions = [e.position for e in events]
    assert positions == sorted(positions) and len(set(positions)) == len(positions)
    assert events[0].position[0] < events[2].position[0]
    assert events[0].tx_id == events[1].tx_id != events[2].tx_id
    assert events[2].source["table"] == "t" and events[2].source["lsn"] == positions[2][0]
    assert events[0].commit_ts_ms <= events[2].commit_ts_ms


def test_insert_update_delete_truncate_key_change_and_nulls_are_captured(
    pg_logical_url: str,
) -> None:
    sql(pg_logical_url, "CREATE TABLE ops (id int PRIMARY KEY, v text, n int)")
    with capture(pg_logical_url, "ops1", ["ops"]) as cap:
        cap.prepare()
        sql(pg_logical_url, "INSERT INTO ops VALUES (1, 'a', NULL), (2, 'b', 2)",
            "UPDATE ops SET v = NULL, n = 5 WHERE id = 1", "UPDATE ops SET id = 10 WHERE id = 2",
            "DELETE FROM ops WHERE id = 1", "TRUNCATE ops")  # fmt: skip
        events = read_all(cap)
    ops = [(e.op, dict(e.key), e.before, e.after) for e in events]
    assert ops == [
        ("c", {"id": 1}, None, {"id": 1, "v": "a", "n": None}),
        ("c", {"id": 2}, None, {"id": 2, "v": "b", "n": 2}),
        ("u", {"id": 1}, None, {"id": 1, "v": None, "n": 5}),
        ("d", {"id": 2}, {"id": 2}, None),  # a key change: the old key goes ...
        ("c", {"id": 10}, None, {"id": 10, "v": "b", "n": 2}),  # ... and the new one comes
        ("d", {"id": 1}, {"id": 1}, None),
        ("t", {}, None, None),
    ]
    assert events[3].position[0] == events[4].position[0]  # one transaction, two events
    assert events[4].position[1] == events[3].position[1] + 1


TYPES = """
CREATE TYPE mood AS ENUM ('sad', 'ok', 'happy');
CREATE DOMAIN positive AS int CHECK (VALUE > 0);
CREATE TABLE kinds (
  id bigint PRIMARY KEY, amount numeric(12,3), at timestamptz, day date, doc jsonb,
  raw bytea, ref uuid, nums int[], words text, feeling mood, ratio double precision,
  span interval, small positive, flag boolean, plain json)
"""
ROW = """
INSERT INTO kinds VALUES (1, 1234.500, '2024-02-29 23:59:59.123456+05:30', '1999-12-31',
  '{"a": [1, 2.5, null], "b": {"c": "é"}}', '\\x00ff10', 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11',
  '{1,NULL,-3}', 'it''s "quoted" — ünïcödé 🐘 \\ back', 'happy', 1.0000000000000002,
  '1 day 02:03:04.5', 7, true, '[1, "x"]')
"""


def test_values_of_many_types_equal_what_a_plain_select_gives(pg_logical_url: str) -> None:
    sql(pg_logical_url, TYPES)
    with capture(pg_logical_url, "types1", ["kinds"]) as cap:
        cap.prepare()
        sql(pg_logical_url, ROW, "INSERT INTO kinds (id) VALUES (2)")
        events = read_all(cap)
        with psycopg.connect(pg_logical_url) as conn, conn.cursor() as cur:
            cur.execute("SELECT * FROM kinds ORDER BY id")
            names = [d.name for d in cur.description]
            selected = [dict(zip(names, r, strict=True)) for r in cur.fetchall()]
    assert [dict(e.after) for e in events] == selected
    first = events[0].after
    assert str(first["amount"]) == "1234.500" and first["at"].utcoffset() is not None
    assert first["small"] == 7 and first["nums"] == [1, None, -3]


def test_toast_is_unavailable_under_default_identity_and_present_under_full(
    pg_logical_url: str,
) -> None:
    big = "".join(f"{i:x}" for i in range(200_000))  # incompressible enough to be TOASTed
    sql(pg_logical_url, "CREATE TABLE docs (id int PRIMARY KEY, body text, n int)",
        "CREATE TABLE fulls (id int PRIMARY KEY, body text, n int)",
        "ALTER TABLE fulls REPLICA IDENTITY FULL")  # fmt: skip
    with capture(pg_logical_url, "toast1", ["docs", "fulls"]) as cap:
        info = cap.prepare()
        sql(pg_logical_url, f"INSERT INTO docs VALUES (1, '{big}', 0)",
            f"INSERT INTO fulls VALUES (1, '{big}', 0)")  # fmt: skip
        sql(pg_logical_url, "UPDATE docs SET n = 1", "UPDATE fulls SET n = 1")
        updates = [e for e in read_all(cap) if e.op == "u"]
    assert [w["table"] for w in info["toast_warnings"]] == ["docs"]
    assert "REPLICA IDENTITY FULL" in info["toast_warnings"][0]["fix"]
    by_table = {e.table: e for e in updates}
    assert by_table["docs"].after["body"] == UNAVAILABLE and by_table["docs"].after["n"] == 1
    assert by_table["fulls"].after["body"] == big and by_table["fulls"].before["n"] == 0


def test_read_without_ack_replays_in_a_new_capture_and_ack_lets_go(pg_logical_url: str) -> None:
    sql(pg_logical_url, "CREATE TABLE r (id int PRIMARY KEY)")
    with connect(pg_logical_url) as backend:
        first = LogicalCapture(backend, "replay1", ["r"])
        first.prepare()
        for i in range(5):
            sql(pg_logical_url, f"INSERT INTO r VALUES ({i})")
        seen = first.read(2)
        assert [e.key["id"] for e in seen] == [0, 1]
        assert [e.key["id"] for e in first.read(2)] == [2, 3]  # skips what it returned
        lag = first.lag()
        assert lag["bytes"] > 0 and lag["seconds"] >= 0
    with connect(pg_logical_url) as backend:  # the process crashed: a new object
        again = LogicalCapture(backend, "replay1", ["r"])
        again.prepare()  # the restart reuses the slot and the publication
        replayed = read_all(again)
        assert [e.key["id"] for e in replayed] == [0, 1, 2, 3, 4]
        assert [e.position for e in replayed[:2]] == [e.position for e in seen]
        again.ack(replayed[2].position)
        assert [e.key["id"] for e in again.read()] == []  # this object returned them all
        try:
            fresh = LogicalCapture(backend, "replay1", ["r"])
            assert [e.key["id"] for e in read_all(fresh)] == [3, 4]
            fresh.ack(replayed[-1].position)
            assert LogicalCapture(backend, "replay1", ["r"]).read() == []
            assert fresh.lag()["seconds"] == 0.0
        finally:
            again.teardown()


def test_an_ack_inside_a_transaction_keeps_that_transaction(pg_logical_url: str) -> None:
    sql(pg_logical_url, "CREATE TABLE m (id int PRIMARY KEY)")
    with capture(pg_logical_url, "mid1", ["m"]) as cap:
        cap.prepare()
        sql(pg_logical_url, "INSERT INTO m VALUES (1), (2), (3)")
        events = cap.read()
        cap.ack(events[1].position)
        fresh = LogicalCapture(cap.backend, "mid1", ["m"])
        assert [e.key["id"] for e in read_all(fresh)] == [1, 2, 3]


def test_teardown_leaves_no_slot_or_publication_and_runs_twice(pg_logical_url: str) -> None:
    sql(pg_logical_url, "CREATE TABLE g (id int PRIMARY KEY)")
    with connect(pg_logical_url) as backend:
        cap = LogicalCapture(backend, "gone1", ["g"])
        cap.prepare()
        cap.teardown()
        cap.teardown()
        slots = backend.fetch("SELECT count(*) FROM pg_replication_slots")[0][0]
        pubs = backend.fetch("SELECT count(*) FROM pg_publication")[0][0]
    assert (slots, pubs) == (0, 0)


def test_a_column_added_mid_stream_and_a_partitioned_table_are_followed(
    pg_logical_url: str,
) -> None:
    sql(pg_logical_url, 'CREATE SCHEMA "Sales"',
        'CREATE TABLE "Sales"."Order Items" (id int PRIMARY KEY, qty int)',
        "CREATE TABLE parted (id int, region text, PRIMARY KEY (id, region)) "
        "PARTITION BY LIST (region)",
        "CREATE TABLE parted_eu PARTITION OF parted FOR VALUES IN ('eu')")  # fmt: skip
    with capture(pg_logical_url, "shape1", ["Sales.Order Items", "parted"]) as cap:
        cap.prepare()
        sql(pg_logical_url, """INSERT INTO "Sales"."Order Items" VALUES (1, 2)""",
            """ALTER TABLE "Sales"."Order Items" ADD COLUMN note text DEFAULT 'n'""",
            """INSERT INTO "Sales"."Order Items" VALUES (2, 3, 'added')""",
            "INSERT INTO parted VALUES (7, 'eu')")  # fmt: skip
        events = read_all(cap)
    assert [(e.table, dict(e.after)) for e in events] == [
        ("Sales.Order Items", {"id": 1, "qty": 2}),
        ("Sales.Order Items", {"id": 2, "qty": 3, "note": "added"}),
        ("parted", {"id": 7, "region": "eu"}),
    ]
    assert events[0].source["schema"] == "Sales" and events[2].key == {"id": 7, "region": "eu"}


def test_lag_counts_unread_changes_and_is_zero_once_everything_is_acknowledged(
    pg_logical_url: str,
) -> None:
    sql(pg_logical_url, "CREATE TABLE lagged (id int PRIMARY KEY)")
    with capture(pg_logical_url, "lag1", ["lagged"]) as cap:
        cap.prepare()
        sql(pg_logical_url, "INSERT INTO lagged VALUES (1)")
        unread = cap.lag()
        assert unread["bytes"] > 0 and unread["events"] is None
        events = read_all(cap)
        assert cap.lag()["events"] == 1
        cap.ack(events[-1].position)
        done = cap.lag()
    assert (done["seconds"], done["events"]) == (0.0, 0)
    assert unread["seconds"] >= 0


def test_a_quiet_capture_of_a_busy_database_moves_its_slot_on_with_a_heartbeat(
    pg_logical_url: str,
) -> None:
    sql(pg_logical_url, "CREATE TABLE quiet (id int PRIMARY KEY)", "CREATE TABLE busy (n int)")

    def held(backend) -> int:
        return backend.fetch(
            "SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), confirmed_flush_lsn)::bigint "
            "FROM pg_replication_slots WHERE slot_name = 'dm_sync_quiet1'"
        )[0][0]

    with capture(pg_logical_url, "quiet1", ["quiet"]) as cap:
        cap.idle_advance_bytes = 64 * 1024
        cap.prepare()
        sql(pg_logical_url, "INSERT INTO busy SELECT generate_series(1, 20000)")
        before = held(cap.backend)
        assert cap.read() == []  # nothing for us: the heartbeat is written
        assert cap.read() == []  # its transaction is read and the slot moves past it
        after = held(cap.backend)
        sql(pg_logical_url, "INSERT INTO quiet VALUES (1)")
        assert [e.key for e in cap.read()] == [{"id": 1}]
    assert before > 64 * 1024 > after
