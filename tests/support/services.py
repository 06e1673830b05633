"""Real database servers for tests: unique throwaway databases on the running servers,
an nx-27017 MongoDB wire server on a free port, and an opt-in PostgreSQL cluster with
wal_level=logical for change-data-capture tests.

Under CI=true a server the tests cannot reach is a failure, never a silent skip.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

PG_ADMIN_URL = os.environ.get("DATAMIGRATION_TEST_PG_URL", "postgresql://postgres@127.0.0.1:5432/test")
MYSQL_ADMIN_URL = os.environ.get("DATAMIGRATION_TEST_MYSQL_URL", "mysql://root@127.0.0.1:3306/test")
MONGO_URL_ENV = "DATAMIGRATION_TEST_MONGO_URL"
PG_BIN = Path(os.environ.get("DATAMIGRATION_PG_BIN", "/usr/lib/postgresql/15/bin"))


def in_ci() -> bool:
    return os.environ.get("CI", "").lower() in ("1", "true", "yes")


def unavailable(what: str, why: object) -> None:
    """Skip locally, fail in CI: a missing backend must never pass silently there."""
    message = f"{what} is not reachable: {why}"
    if in_ci():
        pytest.fail(message, pytrace=False)
    pytest.skip(message)


def unique_name(prefix: str = "dmtest") -> str:
    return f"{prefix}_{uuid.uuid4().hex[:10]}"


def replace_database(url: str, dbname: str) -> str:
    base, _, _ = url.rpartition("/")
    return f"{base}/{dbname}"


def free_port() -> int:
    with contextlib.closing(socket.socket(socket.AF_INET, socket.SOCK_STREAM)) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for_port(port: int, timeout: float = 20.0, proc: subprocess.Popen | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"server exited with code {proc.returncode}")
        with contextlib.closing(socket.socket()) as s:
            s.settimeout(0.2)
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise TimeoutError(f"nothing listening on 127.0.0.1:{port} after {timeout}s")


# --- PostgreSQL ---------------------------------------------------------------------------


@contextlib.contextmanager
def postgres_database(admin_url: str = PG_ADMIN_URL) -> Iterator[str]:
    """A fresh, empty database on the running server; dropped afterwards."""
    import psycopg

    name = unique_name()
    try:
        admin = psycopg.connect(admin_url, autocommit=True, connect_timeout=5)
    except psycopg.OperationalError as exc:
        unavailable("PostgreSQL", exc)
    with admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield replace_database(admin_url, name)
    finally:
        with psycopg.connect(admin_url, autocommit=True, connect_timeout=5) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@contextlib.contextmanager
def logical_postgres_cluster() -> Iterator[str]:
    """A throwaway cluster with wal_level=logical on a free port (initdb as `postgres` if root)."""
    initdb, pg_ctl = PG_BIN / "initdb", PG_BIN / "pg_ctl"
    if not initdb.exists():
        unavailable("PostgreSQL server binaries", f"{initdb} missing")
    as_root = os.geteuid() == 0
    base = Path(tempfile.mkdtemp(prefix="dm-pgcluster-"))
    data, sock = base / "data", base / "sock"
    sock.mkdir()
    port = free_port()

    def run(cmd: list[str]) -> None:
        if as_root:
            shutil.chown(base, "postgres")
            shutil.chown(sock, "postgres")
            cmd = ["runuser", "-u", "postgres", "--", *cmd]
        subprocess.run(cmd, check=True, capture_output=True, text=True)

    try:
        run([str(initdb), "-D", str(data), "-A", "trust", "-U", "postgres", "--no-sync"])
        opts = (
            f"-c port={port} -c listen_addresses=127.0.0.1 -c unix_socket_directories={sock} "
            "-c wal_level=logical -c max_replication_slots=10 -c max_wal_senders=10 -c fsync=off"
        )
        run([str(pg_ctl), "-D", str(data), "-o", opts, "-l", str(base / "log"), "-w", "start"])
    except (subprocess.CalledProcessError, OSError) as exc:
        shutil.rmtree(base, ignore_errors=True)
        detail = getattr(exc, "stderr", "") or exc
        unavailable("throwaway PostgreSQL cluster", detail)
    try:
        yield f"postgresql://postgres@127.0.0.1:{port}/postgres"
    finally:
        with contextlib.suppress(subprocess.CalledProcessError, OSError):
            run([str(pg_ctl), "-D", str(data), "-m", "immediate", "-w", "stop"])
        shutil.rmtree(base, ignore_errors=True)


# --- MariaDB / MySQL ----------------------------------------------------------------------


def _mysql_connect(url: str, database: str | None = None):
    import pymysql
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    return pymysql.connect(
        host=parts.hostname or "127.0.0.1",
        port=parts.port or 3306,
        user=parts.username or "root",
        password=parts.password or "",
        database=database,
        connect_timeout=5,
        autocommit=True,
    )


@contextlib.contextmanager
def mysql_database(admin_url: str = MYSQL_ADMIN_URL) -> Iterator[str]:
    import pymysql

    name = unique_name()
    try:
        conn = _mysql_connect(admin_url)
    except pymysql.MySQLError as exc:
        unavailable("MariaDB/MySQL", exc)
    with conn:
        with conn.cursor() as cur:
            cur.execute(f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4")
    try:
        yield replace_database(admin_url, name)
    finally:
        with _mysql_connect(admin_url) as conn, conn.cursor() as cur:
            cur.execute(f"DROP DATABASE IF EXISTS `{name}`")


# --- MongoDB (nx-27017 unless a real server is named) ----------------------------------------


@contextlib.contextmanager
def mongo_server() -> Iterator[str]:
    """URL of a MongoDB wire server: $DATAMIGRATION_TEST_MONGO_URL, else nx-27017 on a free port."""
    if os.environ.get(MONGO_URL_ENV):
        yield os.environ[MONGO_URL_ENV].rstrip("/")
        return
    exe = shutil.which("nx-27017") or str(Path(sys.executable).parent / "nx-27017")
    if not Path(exe).exists():
        unavailable("MongoDB wire server (nx-27017)", "not installed: pip install nx-27017")
    port = free_port()
    workdir = Path(tempfile.mkdtemp(prefix="dm-nx27017-"))
    proc = subprocess.Popen(
        [exe, "--host", "127.0.0.1", "-p", str(port), "--data-dir", str(workdir / "data"),
         "--log-file", str(workdir / "log"), "--pid-file", str(workdir / "pid")],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        cwd=workdir,
    )
    try:
        try:
            wait_for_port(port, proc=proc)
        except (TimeoutError, RuntimeError) as exc:
            unavailable("MongoDB wire server (nx-27017)", exc)
        yield f"mongodb://127.0.0.1:{port}"
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
        shutil.rmtree(workdir, ignore_errors=True)
