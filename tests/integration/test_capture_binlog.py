"""MariaDB binlog capture on a throwaway server writing a row binlog (the shared server has
log_bin off): commit order, every operation, values equal to a plain SELECT's, replay without
ack, ack, draining to the current position, refusals, teardown and leftovers."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import pymysql
import pytest

from datamigration.db.base import connect
from datamigration.db.mysql.binlog_capture import BinlogCapture
from datamigration.errors import UserInputError
from support.capture_load import apply, writer
from support.services import _mysql_connect

pytestmark = pytest.mark.integration


@contextlib.contextmanager
def app(url: str) -> Iterator[Any]:
    conn = _mysql_connect(url, url.rsplit("/", 1)[1])
    conn.autocommit(False)
    try:
        yield conn
    finally:
        conn.close()


def run(url: str, *statements: str) -> None:
    with app(url) as conn, conn.cursor() as cur:
        for s in statements:
            cur.execute(s)
        conn.commit()


@contextlib.contextmanager
def capture(url: str, run_name: str, tables: list[str]) -> Iterator[Any]:
    with connect(url) as backend:
        cap = backend.change_capture(run_name, tables)
        try:
            yield cap
        finally:
            cap.teardown()


def read_all(cap: Any, limit: int = 10_000) -> list[Any]:
    out: list[Any] = []
    while batch := cap.read(limit):
        out.extend(batch)
    return out


def test_the_binlog_is_chosen_and_transactions_come_in_commit_order(mysql_binlog_url: str) -> None:
    url = mysql_binlog_url
    run(url, "CREATE TABLE t (id INT PRIMARY KEY, v VARCHAR(20), n INT)")
    with capture(url, "order1", ["t"]) as cap:
        assert isinstance(cap, BinlogCapture) and cap.prepare()["method"] == "binlog"
        with app(url) as first, app(url) as second:
            first.cursor().execute("INSERT INTO t VALUES (1, 'first started', NULL)")
            second.cursor().execute("INSERT INTO t VALUES (2, 'second', 2)")
            second.commit()
            first.commit()
        run(url, "UPDATE t SET v = NULL, n = 5 WHERE id = 1", "UPDATE t SET id = 10 WHERE id = 2",
            "DELETE FROM t WHERE id = 1")  # fmt: skip
        events = read_all(cap)
    assert [(e.op, e.key) for e in events] == [
        ("c", {"id": 2}), ("c", {"id": 1}), ("u", {"id": 1}), ("d", {"id": 2}),
        ("c", {"id": 10}), ("d", {"id": 1}),
    ]  # fmt: skip
    assert events[2].before == {"id": 1, "v": "first started", "n": None}
    assert events[2].after == {"id": 1, "v": None, "n": 5}
    positions = [e.position for e in events]
    assert positions == sorted(positions) and len(set(positions)) == len(positions)
    assert events[0].source["file"].startswith("binlog.") and events[0].commit_ts_ms


def test_values_come_back_as_a_plain_select_returns_them(mysql_binlog_url: str) -> None:
    url = mysql_binlog_url
    run(url, "CREATE TABLE typed (id bigint PRIMARY KEY, amount decimal(12,4), ratio double, "
        "small float, born date, seen datetime(6), stamp timestamp(6) NULL, at time(3), "
        "blob_ varbinary(16), big longblob, doc json, ok tinyint(1), name varchar(50), "
        "flags bit(10), yr year, kind enum('x','y'), u bigint unsigned)")  # fmt: skip
    with capture(url, "types1", ["typed"]) as cap:
        cap.prepare()
        run(url, "INSERT INTO typed VALUES (1, 12.3400, 0.1 + 0.2, 1.5, '2024-02-29', "
            "'2024-01-02 03:04:05.123456', '2024-01-02 03:04:05.5', '-12:30:00.250', 0x00ff10, "
            "0x0001feff, '{\"a\": [1.50, 2],  \"b\": null}', 1, 'ünïcödé ✓ 😀', b'1000000001', "
            "2024, 'y', 18446744073709551615)", "INSERT INTO typed (id) VALUES (2)")  # fmt: skip
        with app(url) as conn, conn.cursor(pymysql.cursors.DictCursor) as cur:
            cur.execute("SELECT * FROM typed")
            plain = {r["id"]: r for r in cur.fetchall()}
        events = read_all(cap)
    created = {e.key["id"]: e.after for e in events}
    for key in (1, 2):
        assert created[key] == plain[key]
        types = {k: type(v) for k, v in created[key].items()}
        assert types == {k: type(v) for k, v in plain[key].items()}


def test_without_ack_a_new_capture_replays_and_after_ack_it_does_not(
    mysql_binlog_url: str,
) -> None:
    url = mysql_binlog_url
    run(url, "CREATE TABLE t (id INT PRIMARY KEY)")
    with capture(url, "replay1", ["t"]) as cap:
        cap.prepare()
        for i in range(1, 5):
            run(url, f"INSERT INTO t VALUES ({i})")
        first = cap.read(2)
        with connect(url) as other:
            replayed = read_all(other.change_capture("replay1", ["t"]))
        cap.ack(first[-1].position)
        assert cap.lag()["events"] is None  # two transactions are still unread
        with connect(url) as other:
            rest = read_all(other.change_capture("replay1", ["t"]))
        rest_here = read_all(cap)
        cap.ack(rest_here[-1].position)
        assert cap.lag()["events"] == 0 and cap.lag()["seconds"] == 0.0
    assert [e.key["id"] for e in first] == [1, 2]
    assert [(e.key["id"], e.position) for e in replayed][:2] == [
        (e.key["id"], e.position) for e in first
    ]
    assert [e.key["id"] for e in replayed] == [1, 2, 3, 4]
    assert [e.key["id"] for e in rest] == [3, 4] == [e.key["id"] for e in rest_here]


def test_reading_up_to_the_current_position_returns_every_change_committed_before_it(
    mysql_binlog_url: str,
) -> None:
    url = mysql_binlog_url
    run(url, "CREATE TABLE t (id INT PRIMARY KEY)", "CREATE TABLE other (id INT PRIMARY KEY)")
    with capture(url, "drain1", ["t"]) as cap:
        cap.prepare()
        assert cap.current_position() == (0, 0)
        for i in range(1, 4):
            run(url, f"INSERT INTO t VALUES ({i})")
        target = cap.current_position()
        run(url, "INSERT INTO other VALUES (1)", "INSERT INTO t VALUES (9)")
        seen: list[Any] = []
        while not seen or seen[-1].position < target:
            seen += cap.read(1)
    assert [e.key["id"] for e in seen] == [1, 2, 3] and seen[-1].position == target


def test_a_table_without_a_key_and_a_run_name_in_use_are_refused(mysql_binlog_url: str) -> None:
    url = mysql_binlog_url
    run(url, "CREATE TABLE loose (a INT, b INT)", "CREATE TABLE t (id INT PRIMARY KEY)",
        "CREATE TABLE u (id INT PRIMARY KEY)")  # fmt: skip
    with connect(url) as backend:
        with pytest.raises(UserInputError) as nokey:
            backend.change_capture("nokey", ["loose"]).prepare()
        cap = backend.change_capture("inuse", ["t"])
        assert cap.prepare()["reused"] is False
        assert backend.change_capture("inuse", ["t"]).prepare()["reused"] is True
        with pytest.raises(UserInputError) as taken:
            backend.change_capture("inuse", ["t", "u"]).prepare()
        cap.teardown()
    assert "no primary key" in str(nokey.value)
    assert "already captures t" in str(taken.value)


def test_leftovers_are_found_and_dropped_and_teardown_leaves_nothing(mysql_binlog_url: str) -> None:
    url = mysql_binlog_url
    run(url, "CREATE TABLE t (id INT PRIMARY KEY)")
    with connect(url) as backend:
        backend.change_capture("crashed", ["t"]).prepare()
    with connect(url) as backend:
        found = backend.capture_leftovers()
        assert [(f["kind"], f["run"]) for f in found] == [("binlog_position", "crashed")]
        assert backend.drop_capture_leftovers("crashed") == ["dm_sync_crashed_binlog"]
        assert backend.capture_leftovers() == []
        cap = backend.change_capture("gone", ["t"])
        cap.prepare()
        cap.teardown()
        cap.teardown()
        assert backend.capture_leftovers() == []


def test_binlog_capture_on_a_server_without_a_row_binlog_is_refused_with_the_fix(
    mysql_url: str,
) -> None:
    with connect(mysql_url) as backend:
        backend.execute(["CREATE TABLE t (id INT PRIMARY KEY)"])
        with pytest.raises(UserInputError) as refused:
            backend.change_capture("nolog", ["t"], method="binlog").prepare()
        assert backend.change_capture("nolog", ["t"]).method == "trigger"
    assert "log_bin=ON" in (refused.value.hint or "")


def test_concurrent_writers_read_and_applied_by_key_end_equal_to_the_table(
    mysql_binlog_url: str,
) -> None:
    from concurrent.futures import ThreadPoolExecutor

    url = mysql_binlog_url
    run(url, "CREATE TABLE t (id INT PRIMARY KEY, v INT NOT NULL)")
    state: dict[Any, dict[str, Any]] = {}
    with capture(url, "load1", ["t"]) as cap:
        cap.prepare()
        with ThreadPoolExecutor(3) as pool:
            jobs = [pool.submit(writer, lambda: app(url), seed, 150) for seed in (1, 2, 3)]
            while not all(j.done() for j in jobs):
                events = cap.read(50)
                apply(state, events)
                if events:
                    cap.ack(events[-1].position)
            committed = sum(j.result() for j in jobs)
        apply(state, read_all(cap))
        with app(url) as conn, conn.cursor(pymysql.cursors.DictCursor) as cur:
            cur.execute("SELECT id, v FROM t")
            table = {r["id"]: r for r in cur.fetchall()}
    assert committed > 100 and state == table
