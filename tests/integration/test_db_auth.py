"""A wrong PostgreSQL password, on a throwaway cluster that really checks passwords (the shared
test server trusts local connections): a clear AuthenticationFailedError, no password anywhere."""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

from datamigration.db import connect
from datamigration.db.errors import AuthenticationFailedError
from support import services

pytestmark = pytest.mark.integration

PASSWORD = "s3cr3t-Pa55"


@pytest.fixture(scope="module")
def scram_cluster():
    """initdb with scram-sha-256 for TCP connections, superuser password PASSWORD."""
    initdb, pg_ctl = services.PG_BIN / "initdb", services.PG_BIN / "pg_ctl"
    if not initdb.exists():
        services.unavailable("PostgreSQL server binaries", f"{initdb} missing")
    base = Path(tempfile.mkdtemp(prefix="dm-pgauth-"))
    data, sock, pwfile = base / "data", base / "sock", base / "pw"
    sock.mkdir()
    pwfile.write_text(PASSWORD + "\n", encoding="utf-8")
    port = services.free_port()
    as_root = os.geteuid() == 0

    def run(cmd: list[str]) -> None:
        if as_root:
            for p in (base, sock, pwfile):
                shutil.chown(p, "postgres")
            cmd = ["runuser", "-u", "postgres", "--", *cmd]
        subprocess.run(cmd, check=True, capture_output=True, text=True)

    try:
        run(
            [
                str(initdb),
                "-D",
                str(data),
                "-U",
                "postgres",
                "--no-sync",
                "--auth-local=trust",
                "--auth-host=scram-sha-256",
                f"--pwfile={pwfile}",
            ]
        )
        opts = (
            f"-c port={port} -c listen_addresses=127.0.0.1 "
            f"-c unix_socket_directories={sock} -c fsync=off"
        )
        run([str(pg_ctl), "-D", str(data), "-o", opts, "-l", str(base / "log"), "-w", "start"])
    except (subprocess.CalledProcessError, OSError) as exc:
        shutil.rmtree(base, ignore_errors=True)
        services.unavailable("throwaway PostgreSQL cluster", getattr(exc, "stderr", "") or exc)
    try:
        yield port, base
    finally:
        with contextlib.suppress(subprocess.CalledProcessError, OSError):
            run([str(pg_ctl), "-D", str(data), "-m", "immediate", "-w", "stop"])
        shutil.rmtree(base, ignore_errors=True)


def test_a_wrong_postgres_password_is_an_authentication_error_without_the_password(
    scram_cluster, caplog
):
    port, _ = scram_cluster
    wrong = f"{PASSWORD}-nope"
    with pytest.raises(AuthenticationFailedError) as info:
        connect(f"postgresql://postgres:{wrong}@127.0.0.1:{port}/postgres")
    err = info.value
    texts = [str(err), repr(err), err.render(), repr(err.data), caplog.text]
    assert "password authentication failed" in str(err)
    assert all(wrong not in t and PASSWORD not in t for t in texts)
    assert err.__cause__ is None and err.__context__ is None
    assert "***" in str(err)


def test_the_right_postgres_password_connects_and_reads(scram_cluster):
    port, _ = scram_cluster
    with connect(f"postgresql://postgres:{PASSWORD}@127.0.0.1:{port}/postgres") as db:
        assert db.query("SELECT 1 AS one").rows == ((1,),)
        assert PASSWORD not in repr(db) and PASSWORD not in db.label


def test_an_unknown_database_on_a_password_server_still_suggests_the_nearest(scram_cluster):
    port, _ = scram_cluster
    from datamigration.db.errors import UnknownDatabaseError

    with pytest.raises(UnknownDatabaseError) as info:
        connect(f"postgresql://postgres:{PASSWORD}@127.0.0.1:{port}/postgress")
    assert "'postgres'" in info.value.hint and PASSWORD not in str(info.value)
