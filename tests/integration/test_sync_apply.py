"""The sync's applier on real databases: recorded Debezium events (a PostgreSQL connector's
`{schema, payload}` values with Kafka keys, a MySQL connector's file/pos events) applied to
PostgreSQL, MariaDB, SQLite and MongoDB (users embedding their orders); a replay, an
overlapping out-of-order batch, a key change, an unsent column and a delete of a missing row
all end in the same target."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pymongo
import pytest

from datamigration.db import connect
from datamigration.db.change_events import read_debezium_lines
from datamigration.db.syncstate import sync_record
from datamigration.move.mapping import resolve_mapping
from datamigration.move.sync.appliers import applier_for

pytestmark = pytest.mark.integration

FIXTURES = Path(__file__).parents[1] / "fixtures" / "debezium"
PG_EVENTS = list(read_debezium_lines(FIXTURES / "postgres_users_orders.jsonl"))
MYSQL_EVENTS = list(read_debezium_lines(FIXTURES / "mysql_users.jsonl"))
WHEN = dt.datetime(2024, 3, 1, 10, 0, 0, 123000)

USERS = {
    1: ("alice@x.io", "Alice A"),  # the last update did not send name: it stays
    2: ("b@x.io", "bob"),
    5: ("d@x.io", "dan"),  # key changed from 4
}
ORDERS = {10: (1, 5.5, "paid"), 13: (2, 1.0, None)}  # 11 deleted, 12 became 13

DDL = {
    "postgres": [
        (
            "CREATE TABLE users (id int PRIMARY KEY, email text NOT NULL, name text, "
            "created_at timestamptz(3) NOT NULL)"
        ),
        (
            "CREATE TABLE orders (id int PRIMARY KEY, user_id int NOT NULL REFERENCES users(id), "
            "total double precision NOT NULL, status text)"
        ),
    ],
    "mysql": [
        (
            "CREATE TABLE users (id int PRIMARY KEY, email varchar(100) NOT NULL, "
            "name varchar(100), created_at datetime(3) NOT NULL)"
        ),
        (
            "CREATE TABLE orders (id int PRIMARY KEY, user_id int NOT NULL, total double NOT NULL, "
            "status varchar(20), FOREIGN KEY (user_id) REFERENCES users(id))"
        ),
    ],
    "sqlite": [
        (
            "CREATE TABLE users (id INTEGER PRIMARY KEY, email TEXT NOT NULL, name TEXT, "
            "created_at TEXT NOT NULL)"
        ),
        (
            "CREATE TABLE orders (id INTEGER PRIMARY KEY, user_id INTEGER NOT NULL "
            "REFERENCES users(id), total REAL NOT NULL, status TEXT)"
        ),
    ],
}


def sql_target(kind: str, url: str) -> str:
    with connect(url) as b:
        b.execute(DDL[kind])
    return url


def apply(url: str, events, run: str = "t1", after=None, applied: int = 0, **kw):
    with connect(url) as b:
        store = b.sync_state_table("_datamigration_sync")
        store.ensure()
        if store.get(run) is None:
            store.put(sync_record(run_id=run, status="running", fingerprint="f"))
        return applier_for(b, store, **kw).apply(run, events, after, applied), store.get(run)


def sql_rows(url: str) -> tuple[dict, dict]:
    with connect(url) as b:
        users = {r[0]: (r[1], r[2]) for r in b.fetch("SELECT id, email, name FROM users")}
        orders = {
            r[0]: tuple(r[1:]) for r in b.fetch("SELECT id, user_id, total, status FROM orders")
        }
    return users, orders


@pytest.fixture(params=["postgres", "mysql", "sqlite"])
def target(request, pg_url: str, sqlite_url: str) -> str:
    if request.param == "postgres":
        return sql_target("postgres", pg_url)
    if request.param == "sqlite":
        return sql_target("sqlite", sqlite_url)
    return sql_target("mysql", request.getfixturevalue("mysql_url"))


def test_recorded_postgres_connector_events_land_on_every_sql_target(target: str) -> None:
    result, state = apply(target, PG_EVENTS)
    assert sql_rows(target) == (USERS, ORDERS)
    assert result.events == 13 and state["position"] == PG_EVENTS[-1].position
    assert state["applied"] == 13


def test_the_same_batch_applied_twice_gives_the_identical_target(target: str) -> None:
    apply(target, PG_EVENTS)
    first = sql_rows(target)
    again, state = apply(target, PG_EVENTS, after=None, applied=13)  # forced replay
    assert sql_rows(target) == first == (USERS, ORDERS)
    assert again.events == 13
    skipped, _ = apply(target, PG_EVENTS, after=state["position"], applied=state["applied"])
    assert skipped.events == 0 and sql_rows(target) == first


def test_an_overlapping_out_of_order_replay_keeps_the_newest_row(target: str) -> None:
    apply(target, PG_EVENTS[:8])
    state_pos = PG_EVENTS[7].position
    shuffled = list(reversed(PG_EVENTS[3:]))  # overlaps 3..7, arrives newest first
    result, state = apply(target, shuffled, after=state_pos, applied=8)
    assert result.events == 5
    assert sql_rows(target) == (USERS, ORDERS)
    assert state["applied"] == 13


def test_a_mysql_connector_stream_with_binlog_positions_applies_in_order(target: str) -> None:
    _result, state = apply(target, MYSQL_EVENTS)
    users, _ = sql_rows(target)
    assert users == {8: ("h@x.io", "hal")}
    assert state["position"][0] >> 40 == 3  # mysql-bin.000003


MAPPING = {
    "version": 1,
    "collections": [
        {
            "collection": "customers",
            "root": "users",
            "embed": [{"table": "orders", "kind": "array", "keep_foreign_key": True,
                       "sort": [{"column": "id", "order": "desc"}]}],
        }
    ],
}  # fmt: skip


@pytest.fixture
def mapped(pg_url: str):
    sql_target("postgres", pg_url)  # the source schema the mapping is resolved against
    with connect(pg_url) as b:
        return resolve_mapping(MAPPING, b.inspect())


def documents(url: str, name: str) -> dict:
    """Documents by _id; a date read as text is read as the date it spells (nx-27017 keeps a
    date written by `$set` on an existing document as text)."""
    base, db = url.rsplit("/", 1)
    with pymongo.MongoClient(base) as client:
        docs = {d["_id"]: d for d in client[db][name].find()}
    for d in docs.values():
        if isinstance(d.get("created_at"), str):
            d["created_at"] = dt.datetime.fromisoformat(d["created_at"])
    return docs


def test_recorded_events_update_documents_and_their_embedded_orders(mongo_url, mapped) -> None:
    _result, state = apply(mongo_url, PG_EVENTS, mapping=mapped)
    docs = documents(mongo_url, "customers")
    assert sorted(docs) == [1, 2, 5]
    assert (docs[1]["email"], docs[1]["name"]) == ("alice@x.io", "Alice A")
    assert [o["id"] for o in docs[1]["orders"]] == [10]
    assert docs[1]["orders"][0]["status"] == "paid"
    assert [o["id"] for o in docs[2]["orders"]] == [13] and docs[5]["orders"] == []
    assert state["position"] == PG_EVENTS[-1].position
    apply(mongo_url, PG_EVENTS, mapping=mapped)  # a replay after a crash before the position
    assert documents(mongo_url, "customers") == docs


def test_without_a_mapping_each_table_becomes_a_collection_keyed_by_its_key(mongo_url) -> None:
    apply(mongo_url, PG_EVENTS)
    users = documents(mongo_url, "users")
    assert {k: (v["email"], v["name"]) for k, v in users.items()} == USERS
    orders = documents(mongo_url, "orders")
    assert {k: (v["user_id"], v["total"], v["status"]) for k, v in orders.items()} == ORDERS


def test_a_replayed_child_whose_parent_the_snapshot_no_longer_has_is_applied(target: str) -> None:
    from datamigration.db.change_events import ChangeEvent

    orphan = ChangeEvent("c", "orders", {"id": 50}, None,
                         {"id": 50, "user_id": 77, "total": 1.0, "status": None}, (1, 0))  # fmt: skip
    gone = ChangeEvent("d", "orders", {"id": 50}, None, None, (2, 0))
    _, state = apply(target, [orphan])  # the parent's delete comes in a later batch
    assert sql_rows(target)[1] == {50: (77, 1.0, None)}
    apply(target, [gone], after=state["position"], applied=1)
    assert sql_rows(target) == ({}, {})


ORDERS_MAPPING = {
    "version": 1,
    "collections": [{"collection": "order_docs", "root": "orders",
                     "embed": [{"table": "users", "kind": "document", "as": "customer"}]}],
}  # fmt: skip


def test_a_parent_embedded_as_a_document_follows_its_changes_in_every_child(
    pg_url: str, mongo_url: str
) -> None:
    from datamigration.db.change_events import ChangeEvent
    from datamigration.move.sql_fetch import SQLFetcher

    sql_target("postgres", pg_url)
    with connect(pg_url) as b:  # the source now: where a new child reads its parent from
        b.execute([("INSERT INTO users VALUES (1, 'alice@x.io', 'Alice A', now()), "
                   "(2, 'b@x.io', 'bob', now())")])  # fmt: skip
        mapping = resolve_mapping(ORDERS_MAPPING, b.inspect())
    renamed = ChangeEvent("u", "users", {"id": 2}, None,
                          {"id": 2, "email": "b@x.io", "name": "Bobby", "created_at": WHEN},
                          (PG_EVENTS[-1].position[0] + 1, 0))  # fmt: skip
    with SQLFetcher(pg_url) as fetch:
        _, state = apply(mongo_url, PG_EVENTS, mapping=mapping, fetch=fetch)
        docs = documents(mongo_url, "order_docs")
        assert sorted(docs) == [10, 13] and docs[10]["status"] == "paid"
        assert (docs[10]["customer"]["email"], docs[10]["customer"]["name"]) == (
            "alice@x.io", "Alice A")  # fmt: skip
        apply(mongo_url, [renamed], after=state["position"], applied=13, mapping=mapping,
              fetch=fetch)  # fmt: skip
    docs = documents(mongo_url, "order_docs")
    assert docs[13]["customer"]["name"] == "Bobby" and docs[10]["customer"]["name"] == "Alice A"


def test_a_composite_key_becomes_an_object_id_and_a_rerun_keeps_one_document(mongo_url) -> None:
    from datamigration.db.change_events import ChangeEvent

    def put(pos: int, qty: int) -> ChangeEvent:
        row = {"order_id": 7, "line": 2, "qty": qty}
        return ChangeEvent("c" if pos == 1 else "u", "lines", {"order_id": 7, "line": 2},
                           None, row, (pos, 0))  # fmt: skip

    apply(mongo_url, [put(1, 1), put(2, 5)])
    apply(mongo_url, [put(1, 1), put(2, 5), put(3, 9)])  # a replay plus one newer change
    base, db = mongo_url.rsplit("/", 1)
    with pymongo.MongoClient(base) as client:
        (doc,) = list(client[db]["lines"].find())
    assert doc["_id"] == {"order_id": 7, "line": 2} and doc["qty"] == 9
