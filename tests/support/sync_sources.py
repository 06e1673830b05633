"""Sources for the sync fault and bad-input tests, one per capture method (PostgreSQL logical
decoding on a wal_level=logical cluster, PostgreSQL, MariaDB and SQLite triggers), each with
an `accounts` table, and a direct look at the database's own catalogs for what a run left
(not through the capture's code, which is what is being checked)."""

from __future__ import annotations

import contextlib
import sqlite3
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
import pytest

from datamigration.db import connect
from support import services

PREFIX = "dm_sync_"

CATALOGS = {
    "logical": ("SELECT slot_name FROM pg_replication_slots "
                "UNION ALL SELECT pubname FROM pg_publication"),
    "pg_trigger": ("SELECT tgname FROM pg_trigger WHERE NOT tgisinternal "
                   "UNION ALL SELECT relname FROM pg_class WHERE relkind = 'r' "
                   "UNION ALL SELECT proname FROM pg_proc"),
    "mysql_trigger": ("SELECT TRIGGER_NAME FROM information_schema.TRIGGERS "
                      "WHERE TRIGGER_SCHEMA = DATABASE() UNION ALL SELECT TABLE_NAME "
                      "FROM information_schema.TABLES WHERE TABLE_SCHEMA = DATABASE()"),
    "sqlite_trigger": "SELECT name FROM sqlite_master WHERE type IN ('table', 'trigger')",
}  # fmt: skip

KINDS = list(CATALOGS)


@dataclass
class Source:
    kind: str
    url: str
    method: str

    def run_sql(self, *statements: str) -> None:
        if self.url.startswith("sqlite"):
            with sqlite3.connect(self.url.removeprefix("sqlite:///")) as conn:
                for s in statements:
                    conn.execute(s)
            return
        with connect(self.url) as b:
            b.execute(list(statements))

    def objects(self, run: str = "") -> list[str]:
        """Capture objects of `run` (every run's when empty) in the catalogs."""
        with connect(self.url) as b:
            names = [str(r[0]) for r in b.fetch(CATALOGS[self.kind])]
        return sorted(n for n in names if n.startswith(PREFIX + run))


def open_source(request: pytest.FixtureRequest, tmp_path: Path, rows: int) -> Source:
    """The source of `request.param` (a KINDS entry) with `rows` rows in `accounts`."""
    kind = request.param
    if kind == "logical":
        url = request.getfixturevalue("pg_logical_url")
    elif kind == "pg_trigger":
        url = request.getfixturevalue("make_pg_url")()
    elif kind == "mysql_trigger":
        url = request.getfixturevalue("mysql_url")
    else:
        url = f"sqlite:///{tmp_path / 'app.db'}"
    src = Source(kind, url, "logical" if kind == "logical" else "trigger")
    key = "INTEGER PRIMARY KEY" if kind == "sqlite_trigger" else "int PRIMARY KEY"
    src.run_sql(f"CREATE TABLE accounts (id {key}, balance int NOT NULL, note varchar(40))")
    step = 500
    for lo in range(1, rows + 1, step):
        values = ", ".join(f"({i}, {i % 97}, 'seed')" for i in range(lo, min(lo + step, rows + 1)))
        src.run_sql(f"INSERT INTO accounts VALUES {values}")
    return src


@contextlib.contextmanager
def without_logical_decoding(pg_url: str) -> Iterator[str]:
    """The shared server when its wal_level is not logical, else a throwaway cluster with
    wal_level=replica (so the refusal is always exercised)."""
    with psycopg.connect(pg_url, autocommit=True) as conn:
        level = conn.execute("SELECT current_setting('wal_level')").fetchone()[0]
    if level != "logical":
        yield pg_url
        return
    settings = "-c wal_level=replica -c fsync=off"
    with services._throwaway_cluster("throwaway PostgreSQL cluster", settings) as (_, port):
        yield f"postgresql://postgres@127.0.0.1:{port}/postgres"


def wait_for(check: Callable[[], Any], what: str, seconds: float = 90.0) -> Any:
    """Poll `check` until it returns something true (its value), failing after `seconds`."""
    deadline = time.monotonic() + seconds
    while not (value := check()):
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.1)
    return value
