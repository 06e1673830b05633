"""Zero downtime, checked: the application keeps reading and writing while the planner's rename
plan runs phase by phase on PostgreSQL, and not one of its statements fails or waits longer than
the lock timeout; afterwards every row holds exactly what the application last wrote.

The "old" application writes through `email` until the switch phase; the "new" one writes
through `email_address` from the switch on (old and new run together in between, kept in step by
the sync triggers), as in a real rolling deploy.
"""

from __future__ import annotations

import random
import threading
import time

import psycopg
import pytest

from datamigration.execute import service
from datamigration.execute.runner import RunOptions
from datamigration.plan.planner import plan_migration
from datamigration.plan.spec import parse_spec
from datamigration.workspace.root import Workspace

pytestmark = pytest.mark.integration

ROWS = 60_000
LOCK_TIMEOUT_MS = 2_000


class App(threading.Thread):
    """One application instance: point reads and updates, plus inserts, through one column."""

    def __init__(self, url: str, column: str, expected: dict[int, str], lock: threading.Lock):
        super().__init__(daemon=True)
        self.url, self.column, self.expected, self.lock = url, column, expected, lock
        self.stop = threading.Event()
        self.errors: list[str] = []
        self.latencies: list[float] = []
        self.rng = random.Random(column)

    def run(self) -> None:
        with psycopg.connect(self.url, autocommit=True) as conn:
            conn.execute("SET statement_timeout = '10s'")
            n = 0
            while not self.stop.is_set():
                n += 1
                key = self.rng.randint(1, ROWS)
                value = f"{self.column}-{n}@app"
                started = time.perf_counter()
                try:
                    if n % 5 == 0:
                        row = conn.execute(
                            f"INSERT INTO users ({self.column}) VALUES (%s) RETURNING id", (value,)
                        ).fetchone()
                        key = row[0]
                    elif n % 2 == 0:
                        conn.execute(
                            f"UPDATE users SET {self.column} = %s WHERE id = %s", (value, key)
                        )
                    else:
                        conn.execute(f"SELECT {self.column} FROM users WHERE id = %s", (key,))
                        value = None
                except psycopg.Error as exc:
                    self.errors.append(f"{type(exc).__name__}: {exc}")
                    continue
                self.latencies.append((time.perf_counter() - started) * 1000)
                if value is not None:
                    with self.lock:
                        self.expected[key] = value

    def finish(self) -> None:
        self.stop.set()
        self.join(timeout=30)


def test_the_application_never_fails_or_waits_past_the_lock_timeout_during_a_rename(
    workspace_dir, pg_url
):
    with psycopg.connect(pg_url, autocommit=True) as c:
        c.execute("CREATE TABLE users (id bigserial PRIMARY KEY, email text NOT NULL)")
        c.execute(
            "INSERT INTO users (email) SELECT 'u' || g || '@x' FROM generate_series(1, %s) g",
            (ROWS,),
        )
        expected = dict(c.execute("SELECT id, email FROM users").fetchall())
    ws = Workspace.open(str(workspace_dir))
    spec = {"kind": "rename_column", "table": "users", "column": "email",
            "new_name": "email_address", "batch_size": 5000}  # fmt: skip
    plan = plan_migration(ws, parse_spec(spec), pg_url).plan
    lock = threading.Lock()
    old_app = App(pg_url, "email", expected, lock)
    new_app = App(pg_url, "email_address", expected, lock)
    old_app.start()
    seen_phases = []
    try:
        for phase in [p.name for p in plan.phases]:
            if phase == "switch":
                new_app.start()  # the new version rolls out; the old one still runs
            if phase == "contract":
                old_app.finish()  # the old version is gone before the old column is dropped
            prepared = service.prepare(ws, plan.id, plan.hash, db=pg_url, phase=phase,
                                       options=RunOptions(finish_story=False))  # fmt: skip
            prepared.run()
            seen_phases.append(phase)
    finally:
        old_app.finish()
        new_app.finish()
    assert seen_phases[-1] == "contract"
    for app in (old_app, new_app):
        assert app.errors == [], app.errors[:5]
        assert len(app.latencies) > 100
        assert max(app.latencies) < LOCK_TIMEOUT_MS, sorted(app.latencies)[-5:]
    with psycopg.connect(pg_url) as c:
        actual = dict(c.execute("SELECT id, email_address FROM users").fetchall())
    assert actual == expected


class MariaDBInserts(threading.Thread):
    """The new application version on MariaDB: inserts through `email_address` only, as fast as
    it can, while the contract drops the sync triggers and the old column."""

    def __init__(self, url: str):
        super().__init__(daemon=True)
        self.url = url
        self.stop = threading.Event()
        self.errors: list[str] = []
        self.inserted: dict[int, str] = {}

    def run(self) -> None:
        import pymysql
        from tests.support.services import _mysql_connect

        conn = _mysql_connect(self.url, self.url.rsplit("/", 1)[1])
        with conn, conn.cursor() as cur:
            n = 0
            while not self.stop.is_set():
                n += 1
                value = f"new-{n}@app"
                try:
                    cur.execute("INSERT INTO users (email_address) VALUES (%s)", (value,))
                except pymysql.MySQLError as exc:
                    self.errors.append(f"{type(exc).__name__}: {exc}")
                    continue
                self.inserted[cur.lastrowid] = value

    def finish(self) -> None:
        self.stop.set()
        self.join(timeout=30)


def test_new_application_inserts_never_fail_across_the_mariadb_contract(workspace_dir, mysql_url):
    """MariaDB commits each DDL statement on its own, so the contract cannot drop the triggers
    and the old NOT NULL column in one transaction; the plan makes the old column nullable
    first, and not one insert through the new name fails at any instant of the contract."""
    from tests.support.services import _mysql_connect

    rows = 40_000
    db = mysql_url.rsplit("/", 1)[1]
    with _mysql_connect(mysql_url, db) as conn, conn.cursor() as cur:
        cur.execute("CREATE TABLE users (id BIGINT AUTO_INCREMENT PRIMARY KEY, "
                    "email VARCHAR(200) NOT NULL UNIQUE, bio TEXT)")  # fmt: skip
        cur.execute(f"INSERT INTO users (email, bio) SELECT CONCAT('u', seq, '@x'), "
                    f"REPEAT('x', 200) FROM seq_1_to_{rows}")  # fmt: skip
    ws = Workspace.open(str(workspace_dir))
    spec = {"kind": "rename_column", "table": "users", "column": "email",
            "new_name": "email_address"}  # fmt: skip
    plan = plan_migration(ws, parse_spec(spec), mysql_url).plan
    for phase in [p.name for p in plan.phases]:
        app = MariaDBInserts(mysql_url)
        if phase == "contract":
            app.start()  # only the new version runs now
        try:
            service.prepare(ws, plan.id, plan.hash, db=mysql_url, phase=phase,
                            options=RunOptions(finish_story=False)).run()  # fmt: skip
        finally:
            if phase == "contract":
                app.finish()
    assert app.errors == [], app.errors[:5]
    assert len(app.inserted) > 20, "the application inserted too little to exercise the contract"
    with _mysql_connect(mysql_url, db) as conn, conn.cursor() as cur:
        cur.execute("SELECT id, email_address FROM users WHERE id > %s", (rows,))
        assert dict(cur.fetchall()) == app.inserted
        cur.execute("SHOW TRIGGERS")
        assert cur.fetchall() == ()


class MariaDBWrites(threading.Thread):
    """The application on MariaDB during a type change: updates and inserts through `n`, the
    name that stays (before the swap the old column, after it the new one)."""

    def __init__(self, url: str, rows: int):
        super().__init__(daemon=True)
        self.url, self.rows = url, rows
        self.stop = threading.Event()
        self.errors: list[str] = []
        self.expected: dict[int, int] = {}
        self.writes = 0

    def run(self) -> None:
        import pymysql
        from tests.support.services import _mysql_connect

        rng = random.Random(7)
        conn = _mysql_connect(self.url, self.url.rsplit("/", 1)[1])
        with conn, conn.cursor() as cur:
            cur.execute("SET SESSION lock_wait_timeout = 10")
            n = 0
            while not self.stop.is_set():
                n += 1
                value = 1_000_000 + n
                try:
                    if n % 4 == 0:
                        cur.execute("INSERT INTO users (email, n) VALUES (%s, %s)",
                                    (f"new-{n}@app", value))  # fmt: skip
                        key = cur.lastrowid
                    else:
                        key = rng.randint(1, self.rows)
                        cur.execute("UPDATE users SET n = %s WHERE id = %s", (value, key))
                except pymysql.MySQLError as exc:
                    self.errors.append(f"{type(exc).__name__}: {exc}")
                    continue
                self.expected[key] = value
                self.writes += 1

    def finish(self) -> None:
        self.stop.set()
        self.join(timeout=30)


def test_no_write_is_lost_across_the_mariadb_type_swap(workspace_dir, mysql_url):
    """The swap drops the sync triggers, renames both columns and re-creates the triggers:
    three DDL statements, each committing on its own. Under LOCK TABLES ... WRITE no write
    lands between them, so none misses its trigger (a write to the old column just before the
    rename would otherwise never reach the new one)."""
    from tests.support.services import _mysql_connect

    rows = 20_000
    db = mysql_url.rsplit("/", 1)[1]
    with _mysql_connect(mysql_url, db) as conn, conn.cursor() as cur:
        cur.execute("CREATE TABLE users (id BIGINT AUTO_INCREMENT PRIMARY KEY, "
                    "email VARCHAR(200) NOT NULL, n INT NOT NULL)")  # fmt: skip
        cur.execute(f"INSERT INTO users (email, n) SELECT CONCAT('u', seq, '@x'), seq "
                    f"FROM seq_1_to_{rows}")  # fmt: skip
    ws = Workspace.open(str(workspace_dir))
    spec = {"kind": "change_type", "table": "users", "column": "n", "type": "bigint"}
    plan = plan_migration(ws, parse_spec(spec), mysql_url).plan
    app = MariaDBWrites(mysql_url, rows)
    app.start()
    try:
        for phase in [p.name for p in plan.phases]:
            service.prepare(ws, plan.id, plan.hash, db=mysql_url, phase=phase,
                            options=RunOptions(finish_story=False)).run()  # fmt: skip
    finally:
        app.finish()
    assert app.errors == [], app.errors[:5]
    assert app.writes > 200
    with _mysql_connect(mysql_url, db) as conn, conn.cursor() as cur:
        cur.execute("SELECT id, n FROM users")
        actual = dict(cur.fetchall())
        cur.execute("SHOW COLUMNS FROM users LIKE 'n'")
        assert cur.fetchone()[1].startswith("bigint")
    lost = {k: (v, actual.get(k)) for k, v in app.expected.items() if actual.get(k) != v}
    assert lost == {}, list(lost.items())[:5]
