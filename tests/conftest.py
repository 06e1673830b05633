"""Fixtures shared by every tier. Database fixtures hand out URLs of fresh, empty databases."""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from pathlib import Path

import pytest

from support import services

#: The executor refuses a step that can lose data without a verified backup (on for users).
#: The suite's execution tests run plans on throwaway databases made for one test, so they opt
#: out here, explicitly, for this process and the CLI/MCP servers it starts; the tests of the
#: backup check itself (tests/integration/test_backup_gate.py) turn it back on, and a few
#: execution tests take a real backup instead (`backed_up`).
os.environ["DATAMIGRATION_BACKUP_REQUIRED"] = "false"


@pytest.fixture
def workspace_dir(tmp_path: Path) -> Path:
    """An empty workspace root for one test."""
    root = tmp_path / "ws"
    root.mkdir()
    return root


@pytest.fixture(scope="session")
def pg_admin_url() -> str:
    return services.PG_ADMIN_URL


@pytest.fixture
def pg_url() -> Iterator[str]:
    """A fresh empty PostgreSQL database for this test."""
    with services.postgres_database() as url:
        yield url


@pytest.fixture
def make_pg_url() -> Iterator[Callable[[], str]]:
    """Factory for several fresh PostgreSQL databases in one test (source and target)."""
    with ExitStack() as stack:
        yield lambda: stack.enter_context(services.postgres_database())


@pytest.fixture(scope="session")
def pg_logical_admin_url() -> Iterator[str]:
    """Opt-in throwaway cluster with wal_level=logical (for CDC tests), shared by the session."""
    with services.logical_postgres_cluster() as url:
        yield url


@pytest.fixture
def pg_logical_url(pg_logical_admin_url: str) -> Iterator[str]:
    with services.postgres_database(pg_logical_admin_url) as url:
        yield url


@pytest.fixture
def pg_autovacuum_url() -> Iterator[str]:
    """A database on a throwaway cluster where autovacuum runs at once and slowly."""
    with services.busy_autovacuum_cluster() as admin, services.postgres_database(admin) as url:
        yield url


@pytest.fixture
def pg_standby() -> Iterator[services.StandbyPair]:
    """A throwaway primary (wal_level=replica) with a streaming standby made by pg_basebackup:
    `primary_url`, `standby_url`, `pause_replay()`, `resume_replay()`, `wait_caught_up()`."""
    with services.streaming_standby_pair() as pair:
        yield pair


@pytest.fixture
def mysql_url() -> Iterator[str]:
    """A fresh empty MariaDB/MySQL database for this test."""
    with services.mysql_database() as url:
        yield url


@pytest.fixture(scope="session")
def mysql_binlog_admin_url() -> Iterator[str]:
    """Opt-in throwaway MariaDB writing a row binlog (for binlog capture tests), per session."""
    with services.mariadb_binlog_server() as url:
        yield url


@pytest.fixture
def mysql_binlog_url(mysql_binlog_admin_url: str) -> Iterator[str]:
    """A fresh database on the throwaway MariaDB that writes a row binlog."""
    with services.mysql_database(mysql_binlog_admin_url) as url:
        yield url


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'test.db'}"


@pytest.fixture(scope="session")
def mongo_server_url() -> Iterator[str]:
    with services.mongo_server() as url:
        yield url


@pytest.fixture
def mongo_url(mongo_server_url: str) -> str:
    """A MongoDB URL naming a fresh database for this test."""
    return f"{mongo_server_url}/dmtest_{uuid.uuid4().hex[:10]}"
