"""The sync runner with the source's own capture: prepared before the snapshot copy, then the
application's writes after it applied until caught up (SQLite → PostgreSQL, PostgreSQL →
MongoDB with users embedding their orders); `sync stop` removes the capture from the source."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import psycopg
import pymongo
import pytest

from datamigration.db import connect
from datamigration.move.sync.control import stop_sync, sync_status
from datamigration.move.sync.request import SyncRequest
from datamigration.move.sync.runner import start_sync
from datamigration.workspace.root import Workspace

pytestmark = pytest.mark.integration


def _needs_capture(url: str) -> None:
    """Every source these tests use offers a capture: a backend that lost it is a failure."""
    with connect(url) as b:
        assert b.capture_methods, f"{b.label} offers no change capture"


def _writes_then_stop(apply_writes):
    """stop_when: at the first catch-up, the application writes; at the next, stop."""
    calls = {"idle": 0}

    def stop_when(status: dict) -> bool:
        if not status["idle"]:
            return False
        calls["idle"] += 1
        if calls["idle"] == 1:
            apply_writes()
            return False
        return True

    return stop_when


def test_sqlite_to_postgres_snapshot_then_changes_then_stop_removes_the_triggers(
    tmp_path: Path, workspace_dir: Path, pg_url: str
) -> None:
    db = tmp_path / "app.db"
    with sqlite3.connect(db) as conn:
        conn.executescript(
            "CREATE TABLE users (id INTEGER PRIMARY KEY, email TEXT NOT NULL, score INTEGER);"
            + "".join(f"INSERT INTO users VALUES ({i}, 'u{i}@x.io', {i});" for i in range(1, 51))
        )
    source = f"sqlite:///{db}"
    _needs_capture(source)

    def writes() -> None:
        with sqlite3.connect(db) as conn:
            conn.execute("INSERT INTO users VALUES (51, 'new@x.io', 0)")
            conn.execute("UPDATE users SET score = score + 100 WHERE id <= 10")
            conn.execute("DELETE FROM users WHERE id IN (20, 21)")
            conn.execute("UPDATE users SET id = 99 WHERE id = 30")

    request = SyncRequest(source, pg_url, ("users",), run="lite_pg", workspace=str(workspace_dir))
    final = start_sync(request, stop_when=_writes_then_stop(writes))
    with sqlite3.connect(db) as conn:
        expected = sorted(conn.execute("SELECT id, email, score FROM users").fetchall())
    with psycopg.connect(pg_url) as conn:
        got = sorted(conn.execute("SELECT id, email, score FROM users").fetchall())
    assert got == expected and len(got) == 49
    assert final["applied"] >= 14
    ws = Workspace.open(workspace_dir)
    assert sync_status(ws, "lite_pg")["runs"][0]["leftovers"]
    removed = stop_sync(ws, "lite_pg")["removed"]
    assert removed and sync_status(ws, "lite_pg")["runs"][0]["leftovers"] == []


MAPPING = {"version": 1, "collections": [{"collection": "customers", "root": "users",
           "embed": [{"table": "orders", "kind": "array", "keep_foreign_key": True,
                      "sort": [{"column": "id"}]}]}]}  # fmt: skip


def test_postgres_to_mongodb_users_embedding_orders_follow_the_writes(
    pg_url: str, mongo_url: str, workspace_dir: Path
) -> None:
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute(
            "CREATE TABLE users (id int PRIMARY KEY, name text NOT NULL);"
            "CREATE TABLE orders (id int PRIMARY KEY, user_id int NOT NULL REFERENCES users(id),"
            " total int NOT NULL);"
            "INSERT INTO users SELECT g, 'n' || g FROM generate_series(1, 20) g;"
            "INSERT INTO orders SELECT g, 1 + g % 20, g FROM generate_series(1, 60) g;"
        )
    _needs_capture(pg_url)

    def writes() -> None:
        with psycopg.connect(pg_url, autocommit=True) as conn:
            conn.execute("UPDATE users SET name = 'renamed' WHERE id = 1")
            conn.execute("INSERT INTO users VALUES (21, 'n21')")
            conn.execute("INSERT INTO orders VALUES (61, 21, 5), (62, 1, 7)")
            conn.execute("UPDATE orders SET user_id = 2 WHERE id = 20")  # moves to another user
            conn.execute("DELETE FROM orders WHERE id = 40")

    request = SyncRequest(pg_url, mongo_url, ("users", "orders"), mapping=MAPPING, run="pg_mongo",
                          workspace=str(workspace_dir), accept_conversions=True)  # fmt: skip
    start_sync(request, stop_when=_writes_then_stop(writes))
    with psycopg.connect(pg_url) as conn:
        users = dict(conn.execute("SELECT id, name FROM users").fetchall())
        orders: dict[int, list[int]] = {}
        for oid, uid in conn.execute("SELECT id, user_id FROM orders ORDER BY id"):
            orders.setdefault(uid, []).append(oid)
    base, name = mongo_url.rsplit("/", 1)
    with pymongo.MongoClient(base) as client:
        docs = {d["_id"]: d for d in client[name]["customers"].find()}
    assert {k: d["name"] for k, d in docs.items()} == users
    assert {k: [o["id"] for o in d["orders"]] for k, d in docs.items() if d["orders"]} == orders
    stop_sync(Workspace.open(workspace_dir), "pg_mongo")


def test_a_sync_killed_during_its_snapshot_resumes_the_copy_and_then_the_changes(
    tmp_path: Path, workspace_dir: Path, pg_url: str
) -> None:
    import os
    import signal
    import time

    from datamigration.move.sync.control import spawn

    db = tmp_path / "big.db"
    with sqlite3.connect(db) as conn:
        conn.execute("CREATE TABLE items (id INTEGER PRIMARY KEY, label TEXT NOT NULL)")
        conn.executemany(
            "INSERT INTO items VALUES (?, ?)", ((i, f"l{i}") for i in range(1, 300_001))
        )
    source = f"sqlite:///{db}"
    _needs_capture(source)
    ws = Workspace.open(workspace_dir)
    request = SyncRequest(source, pg_url, ("items",), run="snap_kill", workspace=str(workspace_dir))

    def state() -> dict:
        with connect(pg_url) as b:
            store = b.sync_state_table("_datamigration_sync")
            store.ensure()
            return store.get("snap_kill") or {}

    def wait(check, deadline_s: float = 120.0):
        end = time.monotonic() + deadline_s
        while time.monotonic() < end:
            if value := check():
                return value
            time.sleep(0.02)
        raise AssertionError("condition not met before the deadline")

    first = spawn(request, ws)
    wait(lambda: (state().get("info") or {}).get("snapshot_started"))
    os.kill(first["pid"], signal.SIGKILL)
    os.waitpid(first["pid"], 0)
    assert not (state().get("info") or {}).get("snapshot")  # killed inside the copy
    with sqlite3.connect(db) as conn:  # the application goes on writing meanwhile
        conn.execute("UPDATE items SET label = 'changed' WHERE id <= 100")
        conn.execute("DELETE FROM items WHERE id > 299990")
    second = spawn(request, ws)
    wait(lambda: (s := state()).get("info", {}).get("snapshot") and s.get("applied", 0) >= 110)
    with sqlite3.connect(db) as conn:
        conn.execute("INSERT INTO items VALUES (400000, 'late')")
    wait(lambda: state().get("applied", 0) >= 111)
    stop_sync(ws, "snap_kill")
    os.waitpid(second["pid"], 0)
    with psycopg.connect(pg_url) as conn:
        got = conn.execute(
            "SELECT count(*), count(*) FILTER (WHERE label = 'changed'), max(id) FROM items"
        ).fetchone()
    assert got == (299_991, 100, 400_000)
