"""Trigger capture on real PostgreSQL (the shared server, wal_level=replica), MariaDB and
SQLite: every operation, values equal to a plain SELECT's, replay without ack, ack, the late
commit of a lower change id, keys, reuse of a run name, teardown and leftovers."""

from __future__ import annotations

import contextlib
import itertools
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import psycopg
import pytest

from datamigration.db.base import connect
from datamigration.db.trigger_capture import (
    capture_class,
    drop_trigger_leftovers,
    trigger_leftovers,
)
from datamigration.errors import UserInputError
from support.capture_load import apply, writer
from support.services import _mysql_connect

pytestmark = pytest.mark.integration


@dataclass
class Side:
    """One source database and a plain connection of 'the application' to it."""

    kind: str
    url: str

    @contextlib.contextmanager
    def app(self) -> Iterator[Any]:
        """A connection with its own transactions (commit() ends one)."""
        if self.kind == "pg":
            conn: Any = psycopg.connect(self.url)
        elif self.kind == "mysql":
            conn = _mysql_connect(self.url, self.url.rsplit("/", 1)[1])
            conn.autocommit(False)
        else:
            conn = sqlite3.connect(self.url.removeprefix("sqlite:///"))
        try:
            yield conn
        finally:
            conn.close()

    def run(self, *statements: str) -> None:
        with self.app() as conn:
            cur = conn.cursor()
            for s in statements:
                cur.execute(s)
            conn.commit()

    def select(self, sql: str) -> list[dict[str, Any]]:
        with self.app() as conn:
            cur = conn.cursor()
            cur.execute(sql)
            names = [d[0] for d in cur.description]
            return [dict(zip(names, r, strict=True)) for r in cur.fetchall()]

    def capture_objects(self) -> list[str]:
        """Names of triggers, functions and tables starting with dm_sync_, from the catalog."""
        sql = {
            "pg": "SELECT tgname FROM pg_trigger WHERE tgname LIKE 'dm_sync%' UNION ALL "
            "SELECT proname FROM pg_proc WHERE proname LIKE 'dm_sync%' UNION ALL "
            "SELECT relname FROM pg_class WHERE relname LIKE 'dm_sync%'",
            "mysql": "SELECT TRIGGER_NAME FROM information_schema.TRIGGERS WHERE "
            "TRIGGER_SCHEMA = DATABASE() AND TRIGGER_NAME LIKE 'dm_sync%' UNION ALL "
            "SELECT TABLE_NAME FROM information_schema.TABLES WHERE TABLE_SCHEMA = DATABASE() "
            "AND TABLE_NAME LIKE 'dm_sync%'",
            "sqlite": "SELECT name FROM sqlite_master WHERE name LIKE 'dm_sync%'",
        }[self.kind]
        return sorted(r[next(iter(r))] for r in self.select(sql))


@pytest.fixture(params=["pg", "mysql", "sqlite"])
def side(request: pytest.FixtureRequest) -> Side:
    fixture = {"pg": "pg_url", "mysql": "mysql_url", "sqlite": "sqlite_url"}[request.param]
    url = request.getfixturevalue(fixture)
    if request.param == "sqlite":
        sqlite3.connect(url.removeprefix("sqlite:///")).close()
    return Side(request.param, url)


@pytest.fixture(params=["pg", "mysql"])
def server_side(request: pytest.FixtureRequest) -> Side:
    """The databases with concurrent writers (SQLite has one writer at a time)."""
    fixture = {"pg": "pg_url", "mysql": "mysql_url"}[request.param]
    return Side(request.param, request.getfixturevalue(fixture))


@contextlib.contextmanager
def capture(url: str, run: str, tables: list[str]) -> Iterator[Any]:
    with connect(url) as backend:
        cap = capture_class(backend)(backend, run, tables)
        try:
            yield cap
        finally:
            cap.teardown()


def read_all(cap: Any, limit: int = 10_000) -> list[Any]:
    out: list[Any] = []
    while batch := cap.read(limit):
        out.extend(batch)
    return out


def strictly_growing(events: list[Any]) -> bool:
    positions = [e.position for e in events]
    return all(a < b for a, b in itertools.pairwise(positions))


def test_inserts_updates_deletes_key_changes_and_nulls_come_back_in_order(side: Side) -> None:
    side.run("CREATE TABLE ops (id INT PRIMARY KEY, v VARCHAR(20), n INT)")
    with capture(side.url, "ops1", ["ops"]) as cap:
        info = cap.prepare()
        assert info["method"] == "trigger" and info["tables"]["ops"]["key"] == ["id"]
        side.run(
            "INSERT INTO ops VALUES (1, 'a', NULL)",
            "INSERT INTO ops VALUES (2, 'b', 2)",
            "UPDATE ops SET v = NULL, n = 5 WHERE id = 1",
            "UPDATE ops SET id = 10 WHERE id = 2",
            "DELETE FROM ops WHERE id = 1",
        )
        events = read_all(cap)
    ops = [(e.op, dict(e.key), e.before, e.after) for e in events]
    assert ops == [
        ("c", {"id": 1}, None, {"id": 1, "v": "a", "n": None}),
        ("c", {"id": 2}, None, {"id": 2, "v": "b", "n": 2}),
        ("u", {"id": 1}, {"id": 1, "v": "a", "n": None}, {"id": 1, "v": None, "n": 5}),
        ("d", {"id": 2}, {"id": 2, "v": "b", "n": 2}, None),
        ("c", {"id": 10}, None, {"id": 10, "v": "b", "n": 2}),
        ("d", {"id": 1}, {"id": 1, "v": None, "n": 5}, None),
    ]
    assert strictly_growing(events)
    assert events[0].source["table"] == "ops" and events[0].source["change_id"] >= 1
    assert events[3].source["change_id"] == events[4].source["change_id"]
    assert all(e.commit_ts_ms and e.commit_ts_ms > 1_600_000_000_000 for e in events)
    assert (events[0].tx_id is not None) == (side.kind == "pg")


TYPED = {
    "pg": (
        (
            "CREATE TABLE typed (id bigint PRIMARY KEY, amount numeric(12,4), ratio float8, "
            "small real, born date, seen timestamp, seen_tz timestamptz, at time, blob bytea, "
            "doc jsonb, doc_json json, tags text[], nums int[], u uuid, ok boolean, name text, "
            "span interval, ch char(3))"
        ),
        (
            "INSERT INTO typed VALUES (1, 12.3400, 0.1::float8 + 0.2::float8, 1.5, '2024-02-29', "
            "'2024-01-02 03:04:05.123456', '2024-01-02 03:04:05.5+05:30', '23:59:59.999', "
            '\'\\x00ff10\', \'{"a": [1.5, 2, "x"], "b": null}\', \'{"z": 1}\', \'{a,"b c"}\', '
            "'{1,2}', 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', true, 'ünïcödé ✓ 😀', "
            "'1 day 02:00:00', 'ab')"
        ),
    ),
    "mysql": (
        (
            "CREATE TABLE typed (id bigint PRIMARY KEY, amount decimal(12,4), ratio double, "
            "small float, born date, seen datetime(6), stamp timestamp(6) NULL, at time(3), "
            "blob_ varbinary(16), big longblob, doc json, ok tinyint(1), name varchar(50), "
            "flags bit(10), yr year, kind enum('x','y'), u bigint unsigned)"
        ),
        (
            "INSERT INTO typed VALUES (1, 12.3400, 0.1 + 0.2, 1.5, '2024-02-29', "
            "'2024-01-02 03:04:05.123456', '2024-01-02 03:04:05.5', '-12:30:00.250', 0x00ff10, "
            "0x0001feff, '{\"a\": [1.50, 2],  \"b\": null}', 1, 'ünïcödé ✓ 😀', b'1000000001', "
            "2024, 'y', 18446744073709551615)"
        ),
    ),
    "sqlite": (
        (
            "CREATE TABLE typed (id INTEGER PRIMARY KEY, amount NUMERIC, ratio REAL, blob BLOB, "
            "name TEXT, anything, doc TEXT)"
        ),
        (
            "INSERT INTO typed VALUES (1, '12.3400', 0.1 + 0.2, x'00ff10', 'ünïcödé ✓ 😀', 3.25, "
            '\'{"b": "00"}\')'
        ),
    ),
}


def test_values_come_back_as_a_plain_select_returns_them(side: Side) -> None:
    create, insert = TYPED[side.kind]
    side.run(create)
    with capture(side.url, "types1", ["typed"]) as cap:
        cap.prepare()
        side.run(insert, "INSERT INTO typed (id) VALUES (2)")
        plain = {r["id"]: r for r in side.select("SELECT * FROM typed")}
        side.run("DELETE FROM typed WHERE id = 1")
        events = read_all(cap)
    created = {e.key["id"]: e.after for e in events if e.op == "c"}
    for key in (1, 2):
        assert created[key] == plain[key]
        assert [type(v) for v in created[key].values()] == [type(v) for v in plain[key].values()]
    assert events[-1].op == "d" and events[-1].before == plain[1]


def test_a_new_capture_replays_what_was_read_but_not_acknowledged(side: Side) -> None:
    side.run("CREATE TABLE t (id INT PRIMARY KEY, v INT)")
    with capture(side.url, "replay1", ["t"]) as cap:
        cap.prepare()
        side.run(*[f"INSERT INTO t VALUES ({i}, {i})" for i in range(1, 6)])
        first = cap.read(3)
        with connect(side.url) as other:
            again = capture_class(other)(other, "replay1", ["t"])
            replayed = read_all(again, 2)
    assert [e.key["id"] for e in first] == [1, 2, 3]
    assert [(e.key["id"], e.position) for e in replayed[:3]] == [
        (e.key["id"], e.position) for e in first
    ]
    assert [e.key["id"] for e in replayed] == [1, 2, 3, 4, 5] and strictly_growing(replayed)


def test_ack_removes_the_acknowledged_rows_and_keeps_the_rest(side: Side) -> None:
    side.run("CREATE TABLE t (id INT PRIMARY KEY, v INT)")
    with capture(side.url, "ack1", ["t"]) as cap:
        cap.prepare()
        side.run(*[f"INSERT INTO t VALUES ({i}, {i})" for i in range(1, 6)])
        first = cap.read(2)
        assert cap.lag()["events"] == 5
        cap.ack(first[-1].position)
        lag = cap.lag()
        assert lag["events"] == 3 and lag["seconds"] >= 0
        with connect(side.url) as other:
            rest = read_all(capture_class(other)(other, "ack1", ["t"]))
    assert [e.key["id"] for e in rest] == [3, 4, 5]


def test_reading_up_to_the_current_position_returns_every_change_committed_before_it(
    side: Side,
) -> None:
    side.run("CREATE TABLE t (id INT PRIMARY KEY)")
    with capture(side.url, "drain1", ["t"]) as cap:
        cap.prepare()
        assert cap.current_position() == (0, 0)
        side.run(*[f"INSERT INTO t VALUES ({i})" for i in range(1, 6)])
        assert [e.key["id"] for e in cap.read(1)] == [1]
        target = cap.current_position()
        side.run("INSERT INTO t VALUES (6)", "INSERT INTO t VALUES (7)")
        seen = []
        while not seen or seen[-1].position < target:
            seen += cap.read(2)
        rest = read_all(cap)
    assert [e.key["id"] for e in seen] == [2, 3, 4, 5]
    assert seen[-1].position == target and [e.key["id"] for e in rest] == [6, 7]


def test_a_lower_change_id_committed_later_is_read_later_and_never_deleted_unread(
    server_side: Side,
) -> None:
    side = server_side
    side.run("CREATE TABLE t (id INT PRIMARY KEY, v VARCHAR(20))")
    with capture(side.url, "late1", ["t"]) as cap:
        cap.prepare()
        with side.app() as slow, side.app() as quick:
            slow.cursor().execute("INSERT INTO t VALUES (1, 'slow')")  # draws the lower id
            quick.cursor().execute("INSERT INTO t VALUES (2, 'quick')")
            quick.commit()
            early = cap.read()
            cap.ack(early[-1].position)
            slow.commit()
        late = cap.read()
        assert cap.read() == []
    assert [e.key["id"] for e in early] == [2]
    assert [e.key["id"] for e in late] == [1]
    assert late[0].source["change_id"] < early[0].source["change_id"]
    assert late[0].position > early[0].position


def test_a_table_without_a_usable_key_is_refused_with_the_choices(side: Side) -> None:
    side.run("CREATE TABLE loose (a INT NOT NULL, b INT, UNIQUE (b))")
    with connect(side.url) as backend:
        cap = capture_class(backend)(backend, "nokey1", ["loose"])
        with pytest.raises(UserInputError) as refused:
            cap.prepare()
    assert "no primary key" in str(refused.value)
    hint = refused.value.hint or ""
    assert "among: a" in hint and "make the unique key (b) NOT NULL" in hint
    assert len(refused.value.data["choices"]) == 3
    assert side.capture_objects() == []


def test_a_run_name_in_use_for_other_tables_is_refused_and_the_same_tables_reuse_it(
    side: Side,
) -> None:
    side.run("CREATE TABLE a (id INT PRIMARY KEY)", "CREATE TABLE b (id INT PRIMARY KEY)")
    with capture(side.url, "same1", ["a"]) as cap:
        assert cap.prepare()["reused"] is False
        before = side.capture_objects()
        with connect(side.url) as backend:
            assert capture_class(backend)(backend, "same1", ["a"]).prepare()["reused"] is True
            with pytest.raises(UserInputError) as refused:
                capture_class(backend)(backend, "same1", ["a", "b"]).prepare()
        assert side.capture_objects() == before
    assert "already captures a" in str(refused.value)


def test_teardown_leaves_no_trigger_or_change_table_and_may_run_twice(side: Side) -> None:
    side.run("CREATE TABLE t (id INT PRIMARY KEY)")
    with connect(side.url) as backend:
        cap = capture_class(backend)(backend, "gone1", ["t"])
        cap.prepare()
        assert len(side.capture_objects()) >= 4
        cap.teardown()
        cap.teardown()
    assert side.capture_objects() == []
    side.run("INSERT INTO t VALUES (1)")  # writes work without the triggers


def test_leftovers_of_an_abandoned_run_are_found_and_dropped(side: Side) -> None:
    side.run("CREATE TABLE t (id INT PRIMARY KEY)", "CREATE TABLE u (id INT PRIMARY KEY)")
    with connect(side.url) as backend:
        capture_class(backend)(backend, "crashed_1", ["t"]).prepare()
        capture_class(backend)(backend, "alive", ["u"]).prepare()
    with connect(side.url) as backend:
        found = trigger_leftovers(backend)
        assert {f["run"] for f in found} == {"crashed_1", "alive"}
        kinds = {f["kind"] for f in found if f["run"] == "crashed_1"}
        assert {"trigger", "change_table"} <= kinds
        assert any(f["detail"] == "on table t" for f in found if f["run"] == "crashed_1")
        dropped = drop_trigger_leftovers(backend, "crashed_1")
        assert "dm_sync_crashed_1_changes" in dropped
        assert {f["run"] for f in trigger_leftovers(backend)} == {"alive"}
        drop_trigger_leftovers(backend, "alive")
    assert side.capture_objects() == []


@pytest.mark.parametrize("fixture", ["mysql_url", "sqlite_url"])
def test_mysql_and_sqlite_backends_offer_trigger_capture(
    fixture: str, request: pytest.FixtureRequest
) -> None:
    url = request.getfixturevalue(fixture)
    with connect(url) as backend:
        backend.execute(["CREATE TABLE t (id INT PRIMARY KEY)"])
        assert backend.capture_methods[-1] == "trigger"
        cap = backend.change_capture("backend1", ["t"])
        cap.prepare()
        assert {f["run"] for f in backend.capture_leftovers()} == {"backend1"}
        with pytest.raises(UserInputError):
            backend.change_capture("backend1", ["t"], method="logical")
        assert "dm_sync_backend1_changes" in backend.drop_capture_leftovers("backend1")
        assert backend.capture_leftovers() == []


def test_postgres_truncate_is_an_event_and_writers_need_no_grant_on_the_change_table(
    pg_url: str,
) -> None:
    side = Side("pg", pg_url)
    role = "dm_trg_writer_" + pg_url.rsplit("_", 1)[1]
    side.run("CREATE TABLE t (id INT PRIMARY KEY, v TEXT)", f"CREATE ROLE {role} LOGIN")
    try:
        side.run(f"GRANT INSERT, UPDATE, DELETE, TRUNCATE, SELECT ON t TO {role}")
        with capture(pg_url, "trunc1", ["t"]) as cap:
            cap.prepare()
            with psycopg.connect(pg_url.replace("postgres@", f"{role}@")) as writer:
                writer.execute("INSERT INTO t VALUES (1, 'by a role without grants')")
                writer.execute("TRUNCATE t")
            events = read_all(cap)
    finally:
        side.run(f"DROP OWNED BY {role}", f"DROP ROLE {role}")
    assert [e.op for e in events] == ["c", "t"]
    assert events[1].key == {} and events[1].before is None and events[1].after is None


def test_mysql_timestamps_are_read_in_the_readers_time_zone_whatever_the_writers(
    mysql_url: str,
) -> None:
    side = Side("mysql", mysql_url)
    side.run("CREATE TABLE t (id INT PRIMARY KEY, at TIMESTAMP(3) NULL)")
    with capture(mysql_url, "tz1", ["t"]) as cap:
        cap.prepare()
        side.run("SET time_zone = '+09:00'", "INSERT INTO t VALUES (1, '2024-06-01 12:00:00.250')")
        plain = side.select("SELECT * FROM t")[0]
        events = read_all(cap)
    assert events[0].after == plain


def test_mysql_reader_does_not_wait_for_a_writer_holding_an_uncommitted_change(
    mysql_url: str,
) -> None:
    side = Side("mysql", mysql_url)
    side.run("CREATE TABLE t (id INT PRIMARY KEY)")
    with capture(mysql_url, "nowait1", ["t"]) as cap:
        cap.prepare()
        with side.app() as writer:
            writer.cursor().execute("INSERT INTO t VALUES (1)")
            cap.backend.execute(["SET SESSION innodb_lock_wait_timeout = 2"], autocommit=True)
            assert cap.read() == []
            writer.commit()
        assert [e.key["id"] for e in cap.read()] == [1]


def test_table_and_column_names_with_quotes_and_backslashes_are_captured_as_named(
    side: Side,
) -> None:
    with connect(side.url) as backend:
        q = backend.quote_identifier
        table, column = "we'ird \"t\\", 'co\'l\\ "x"'
        backend.execute([f"CREATE TABLE {q(table)} ({q(column)} INT PRIMARY KEY, v INT)"])
        cap = capture_class(backend)(backend, "names1", [table])
        try:
            cap.prepare()
            backend.execute([f"INSERT INTO {q(table)} VALUES (1, 2)"])
            events = read_all(cap)
        finally:
            cap.teardown()
        assert side.capture_objects() == []
    assert [(e.table, e.key, e.after) for e in events] == [
        (table, {column: 1}, {column: 1, "v": 2})
    ]


def test_concurrent_writers_read_and_applied_by_key_end_equal_to_the_table(
    server_side: Side,
) -> None:
    from concurrent.futures import ThreadPoolExecutor

    side = server_side
    side.run("CREATE TABLE t (id INT PRIMARY KEY, v INT NOT NULL)")
    state: dict[Any, dict[str, Any]] = {}
    with capture(side.url, "load1", ["t"]) as cap:
        cap.prepare()
        with ThreadPoolExecutor(3) as pool:
            jobs = [pool.submit(writer, side.app, seed, 150) for seed in (1, 2, 3)]
            while not all(j.done() for j in jobs):
                events = cap.read(50)
                apply(state, events)
                if events:
                    cap.ack(events[-1].position)
            committed = sum(j.result() for j in jobs)
        apply(state, read_all(cap))
    assert committed > 100
    assert state == {r["id"]: r for r in side.select("SELECT id, v FROM t")}
