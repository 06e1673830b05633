"""Real database servers for tests: unique throwaway databases on the running servers,
an nx-27017 MongoDB wire server on a free port, and opt-in throwaway PostgreSQL clusters: one
with wal_level=logical for change-data-capture tests, a primary with a streaming standby for
replication-lag tests.

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
from dataclasses import dataclass
from pathlib import Path

import pytest

PG_ADMIN_URL = os.environ.get(
    "DATAMIGRATION_TEST_PG_URL", "postgresql://postgres@127.0.0.1:5432/test"
)
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


def _as_postgres(cmd: list[str], *owned: Path) -> None:
    """Run a PostgreSQL binary; as the `postgres` user when root (initdb and the server refuse
    root), after handing it the folders it writes."""
    if os.geteuid() == 0:
        for path in owned:
            shutil.chown(path, "postgres")
        cmd = ["runuser", "-u", "postgres", "--", *cmd]
    subprocess.run(cmd, check=True, capture_output=True, text=True)


def _start_server(base: Path, data: str, port: int, settings: str, log: str) -> None:
    """pg_ctl start of the cluster in `base/data` on 127.0.0.1:`port` (socket in base/sock)."""
    opts = (
        f"-c port={port} -c listen_addresses=127.0.0.1 -c unix_socket_directories={base / 'sock'} "
        + settings
    )
    pg_ctl = str(PG_BIN / "pg_ctl")
    _as_postgres([pg_ctl, "-D", str(base / data), "-o", opts, "-l", str(base / log), "-w", "start"])


def _stop_server(base: Path, data: str) -> None:
    with contextlib.suppress(subprocess.CalledProcessError, OSError):
        _as_postgres(
            [str(PG_BIN / "pg_ctl"), "-D", str(base / data), "-m", "immediate", "-w", "stop"]
        )


@contextlib.contextmanager
def _throwaway_cluster(what: str, settings: str) -> Iterator[tuple[Path, int]]:
    """initdb + start in a temp dir on a free port; yields (dir, port). Stopped (immediate) and
    removed afterwards; a cluster that does not start is `unavailable` (a failure in CI)."""
    initdb = PG_BIN / "initdb"
    if not initdb.exists():
        unavailable("PostgreSQL server binaries", f"{initdb} missing")
    base = Path(tempfile.mkdtemp(prefix="dm-pgcluster-"))
    (base / "sock").mkdir()
    port = free_port()
    try:
        initdb_cmd = [str(initdb), "-D", str(base / "data"), "-A", "trust", "-U", "postgres"]
        _as_postgres([*initdb_cmd, "--no-sync"], base, base / "sock")
        _start_server(base, "data", port, settings, "log")
    except (subprocess.CalledProcessError, OSError) as exc:
        shutil.rmtree(base, ignore_errors=True)
        unavailable(what, getattr(exc, "stderr", "") or exc)
    try:
        yield base, port
    finally:
        _stop_server(base, "data")
        shutil.rmtree(base, ignore_errors=True)


@contextlib.contextmanager
def logical_postgres_cluster() -> Iterator[str]:
    """A throwaway cluster with wal_level=logical on a free port (initdb as `postgres` if root)."""
    settings = "-c wal_level=logical -c max_replication_slots=10 -c max_wal_senders=10 -c fsync=off"
    with _throwaway_cluster("throwaway PostgreSQL cluster", settings) as (_, port):
        yield f"postgresql://postgres@127.0.0.1:{port}/postgres"


@contextlib.contextmanager
def busy_autovacuum_cluster() -> Iterator[str]:
    """A throwaway cluster whose autovacuum starts at once on any dead row and crawls (cost
    limit 1, 100 ms delay), so a test can find an autovacuum worker holding a table's lock."""
    settings = (
        "-c autovacuum_naptime=1 -c autovacuum_vacuum_threshold=0 "
        "-c autovacuum_vacuum_scale_factor=0 -c autovacuum_analyze_threshold=1000000000 "
        "-c autovacuum_vacuum_cost_delay=100 -c autovacuum_vacuum_cost_limit=1 -c fsync=off"
    )
    with _throwaway_cluster("throwaway PostgreSQL cluster", settings) as (_, port):
        yield f"postgresql://postgres@127.0.0.1:{port}/postgres"


@dataclass(frozen=True)
class StandbyPair:
    """A primary and its streaming standby; replay on the standby can be paused and resumed."""

    primary_url: str
    standby_url: str

    def _standby(self, sql: str) -> object:
        import psycopg

        with psycopg.connect(self.standby_url, autocommit=True, connect_timeout=5) as conn:
            row = conn.execute(sql).fetchone()
        return row[0] if row else None

    def pause_replay(self) -> None:
        """Stop applying WAL on the standby (it still receives it): replay lag grows."""
        self._standby("SELECT pg_wal_replay_pause()")

    def resume_replay(self) -> None:
        self._standby("SELECT pg_wal_replay_resume()")

    def replay_pause_state(self) -> str:
        return str(self._standby("SELECT pg_get_wal_replay_pause_state()"))

    def wait_caught_up(self, timeout: float = 30.0) -> None:
        """Until the primary sees the standby's replay position at its current WAL position."""
        import psycopg

        deadline = time.monotonic() + timeout
        with psycopg.connect(self.primary_url, autocommit=True, connect_timeout=5) as conn:
            target = conn.execute("SELECT pg_current_wal_lsn()").fetchone()[0]
            while time.monotonic() < deadline:
                row = conn.execute(
                    "SELECT bool_and(replay_lsn >= %s::pg_lsn) FROM pg_stat_replication "
                    "WHERE state = 'streaming'",
                    (target,),
                ).fetchone()
                if row and row[0]:
                    return
                time.sleep(0.05)
        raise TimeoutError(f"the standby did not replay up to {target} within {timeout} s")


def _wait_streaming(primary_url: str, timeout: float = 20.0) -> None:
    import psycopg

    deadline = time.monotonic() + timeout
    with psycopg.connect(primary_url, autocommit=True, connect_timeout=5) as conn:
        while time.monotonic() < deadline:
            sql = "SELECT count(*) FROM pg_stat_replication WHERE state = 'streaming'"
            if conn.execute(sql).fetchone()[0]:
                return
            time.sleep(0.05)
    raise TimeoutError(f"no standby streaming from the primary after {timeout} s")


@contextlib.contextmanager
def streaming_standby_pair(status_interval_s: int = 1) -> Iterator[StandbyPair]:
    """A throwaway primary (wal_level=replica) and a hot standby made with pg_basebackup -R,
    streaming from it, each on a free port. The standby reports its positions every
    `status_interval_s` when no WAL arrives (wal_receiver_status_interval; PostgreSQL's default
    is 10) so the primary sees a resumed replay quickly."""
    primary = "-c wal_level=replica -c max_wal_senders=10 -c fsync=off"
    with _throwaway_cluster("throwaway PostgreSQL primary", primary) as (base, port):
        primary_url = f"postgresql://postgres@127.0.0.1:{port}/postgres"
        standby_port = free_port()
        backup = [str(PG_BIN / "pg_basebackup"), "-h", "127.0.0.1", "-p", str(port)]
        standby = f"-c hot_standby=on -c wal_receiver_status_interval={status_interval_s} "
        standby += "-c fsync=off"
        try:
            try:
                _as_postgres([*backup, "-U", "postgres", "-D", str(base / "standby"), "-R",
                              "-X", "stream", "-c", "fast", "--no-sync"], base)  # fmt: skip
                _start_server(base, "standby", standby_port, standby, "standby.log")
                _wait_streaming(primary_url)
            except (subprocess.CalledProcessError, OSError, TimeoutError) as exc:
                unavailable("streaming PostgreSQL standby", getattr(exc, "stderr", "") or exc)
            yield StandbyPair(
                primary_url, f"postgresql://postgres@127.0.0.1:{standby_port}/postgres"
            )
        finally:
            _stop_server(base, "standby")


# --- MariaDB / MySQL ----------------------------------------------------------------------


def _mysql_connect(url: str, database: str | None = None):
    from urllib.parse import urlsplit

    import pymysql

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
    with conn, conn.cursor() as cur:
        cur.execute(f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4")
    try:
        yield replace_database(admin_url, name)
    finally:
        with _mysql_connect(admin_url) as conn, conn.cursor() as cur:
            cur.execute(f"DROP DATABASE IF EXISTS `{name}`")


MARIADB_BIN = Path(os.environ.get("DATAMIGRATION_MARIADB_BIN", "/usr/sbin/mariadbd"))


@contextlib.contextmanager
def mariadb_binlog_server() -> Iterator[str]:
    """A throwaway MariaDB writing a row binlog (log_bin, binlog_format=ROW, full row images
    and metadata) on a free port, for binlog capture tests: the shared server has log_bin off.
    mariadb-install-db into a temp dir, then mariadbd as root (--user=root); killed and
    removed afterwards. Yields the admin URL (root, no password)."""
    install = shutil.which("mariadb-install-db")
    if install is None or not MARIADB_BIN.exists():
        unavailable("MariaDB server binaries", "mariadb-install-db / mariadbd missing")
    base = Path(tempfile.mkdtemp(prefix="dm-mariadb-"))
    port = free_port()
    proc = None
    try:
        subprocess.run(
            [install, "--no-defaults", f"--datadir={base / 'data'}", "--user=root",
             "--auth-root-authentication-method=normal", "--skip-test-db"],
            check=True, capture_output=True, text=True,
        )  # fmt: skip
        proc = subprocess.Popen(
            [str(MARIADB_BIN), "--no-defaults", f"--datadir={base / 'data'}", "--user=root",
             f"--port={port}", "--bind-address=127.0.0.1", f"--socket={base / 'sock'}",
             f"--log-bin={base / 'binlog'}", "--binlog-format=ROW", "--server-id=1",
             "--binlog-row-image=FULL", "--binlog-row-metadata=FULL",
             "--innodb-buffer-pool-size=32M", "--character-set-server=utf8mb4",
             "--skip-log-error", "--innodb-flush-log-at-trx-commit=2"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        wait_for_port(port, timeout=60, proc=proc)
    except (subprocess.CalledProcessError, OSError, TimeoutError, RuntimeError) as exc:
        if proc is not None:
            proc.kill()
        shutil.rmtree(base, ignore_errors=True)
        unavailable("throwaway MariaDB with a binlog", getattr(exc, "stderr", "") or exc)
    try:
        yield f"mysql://root@127.0.0.1:{port}/test"
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
        shutil.rmtree(base, ignore_errors=True)


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
        [
            exe,
            "--host",
            "127.0.0.1",
            "-p",
            str(port),
            "--data-dir",
            str(workdir / "data"),
            "--log-file",
            str(workdir / "log"),
            "--pid-file",
            str(workdir / "pid"),
        ],
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
