"""A throwaway PostgreSQL cluster for benchmarks that measure latency.

Why: on a shared server, whatever else runs there shares the WAL, the checkpoints (DROP DATABASE
forces one, cluster-wide) and the buffer cache, and a latency benchmark then measures its
neighbours. `own_cluster()` runs `initdb` into a temporary folder and starts a private server on
a free loopback port with the settings given (as the `postgres` OS user when run as root:
PostgreSQL refuses to run as root), yields its admin URL, and stops and removes it afterwards.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

PG_BIN = Path(os.environ.get("DATAMIGRATION_PG_BIN", "/usr/lib/postgresql/15/bin"))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _as_postgres(cmd: list[str], *owned: Path) -> None:
    if os.geteuid() == 0:
        for path in owned:
            shutil.chown(path, "postgres")
        cmd = ["runuser", "-u", "postgres", "--", *cmd]
    subprocess.run(cmd, check=True, capture_output=True, text=True)


@contextlib.contextmanager
def own_cluster(settings: dict[str, str] | None = None) -> Iterator[str]:
    """initdb + start; yields `postgresql://postgres@127.0.0.1:PORT/postgres`."""
    if not (PG_BIN / "initdb").exists():
        raise SystemExit(
            f"{PG_BIN}/initdb not found: set DATAMIGRATION_PG_BIN or drop --own-cluster"
        )
    base = Path(tempfile.mkdtemp(prefix="dm-bench-pg-"))
    (base / "sock").mkdir()
    port = _free_port()
    options = " ".join(
        f"-c {k}={v}"
        for k, v in {
            "port": str(port),
            "listen_addresses": "127.0.0.1",
            "unix_socket_directories": str(base / "sock"),
            **(settings or {}),
        }.items()
    )
    data = str(base / "data")
    try:
        _as_postgres([str(PG_BIN / "initdb"), "-D", data, "-A", "trust", "-U", "postgres",
                      "--no-sync"], base, base / "sock")  # fmt: skip
        _as_postgres([str(PG_BIN / "pg_ctl"), "-D", data, "-o", options,
                      "-l", str(base / "log"), "-w", "start"])  # fmt: skip
        yield f"postgresql://postgres@127.0.0.1:{port}/postgres"
    finally:
        with contextlib.suppress(subprocess.CalledProcessError, OSError):
            _as_postgres([str(PG_BIN / "pg_ctl"), "-D", data, "-m", "fast", "-w", "stop"])
        shutil.rmtree(base, ignore_errors=True)
