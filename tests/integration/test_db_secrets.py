"""A password used in failing and succeeding calls appears nowhere: not in CLI output, MCP
results or errors, logs, files, or the text of any exception (str, repr, chained causes)."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import traceback
import uuid
from pathlib import Path
from urllib.parse import urlsplit

import psycopg
import pymysql
import pytest
from mcp.client import Client

from datamigration.db import connect
from datamigration.errors import DataMigrationError
from datamigration.mcp.app import build_server
from datamigration.workspace.root import Workspace
from support import services

pytestmark = [pytest.mark.integration, pytest.mark.e2e]

SECRET = "s3cr3t-Pa55"
ROLE = f"dm_secret_{uuid.uuid4().hex[:8]}"  # unique: parallel runs share the server


@pytest.fixture
def pg_secret_url(pg_url):
    """A PostgreSQL role whose password is SECRET, able to use the test database."""
    parts = urlsplit(pg_url)
    dbname = parts.path.lstrip("/")
    with psycopg.connect(pg_url, autocommit=True) as admin:
        admin.execute(f"DROP ROLE IF EXISTS {ROLE}")
        admin.execute(f"CREATE ROLE {ROLE} LOGIN PASSWORD '{SECRET}'")
        admin.execute("CREATE TABLE items (id int PRIMARY KEY, name text)")
        admin.execute("INSERT INTO items VALUES (1, 'one'), (2, 'two')")
        admin.execute(f"GRANT SELECT ON items TO {ROLE}")
    try:
        yield f"postgresql://{ROLE}:{SECRET}@{parts.hostname}:{parts.port or 5432}/{dbname}"
    finally:
        with psycopg.connect(pg_url, autocommit=True) as admin:
            admin.execute(f"REVOKE ALL ON ALL TABLES IN SCHEMA public FROM {ROLE}")
            admin.execute(f"DROP OWNED BY {ROLE}")
        with psycopg.connect(services.PG_ADMIN_URL, autocommit=True) as admin:
            admin.execute(f"DROP ROLE IF EXISTS {ROLE}")


@pytest.fixture
def mysql_secret_url(mysql_url):
    parts = urlsplit(mysql_url)
    dbname = parts.path.lstrip("/")
    admin = pymysql.connect(
        host=parts.hostname,
        port=parts.port or 3306,
        user=parts.username,
        password="",
        database=dbname,
        autocommit=True,
    )
    with admin.cursor() as cur:
        cur.execute(f"DROP USER IF EXISTS '{ROLE}'@'%'")
        cur.execute(f"CREATE USER '{ROLE}'@'%' IDENTIFIED BY '{SECRET}'")
        cur.execute("CREATE TABLE items (id int PRIMARY KEY, name text)")
        cur.execute("INSERT INTO items VALUES (1, 'one'), (2, 'two')")
        cur.execute(f"GRANT SELECT ON `{dbname}`.* TO '{ROLE}'@'%'")
    try:
        yield f"mysql://{ROLE}:{SECRET}@{parts.hostname}:{parts.port or 3306}/{dbname}"
    finally:
        with admin.cursor() as cur:
            cur.execute(f"DROP USER IF EXISTS '{ROLE}'@'%'")
        admin.close()


def _replace_db(url: str, name: str) -> str:
    return url.rpartition("/")[0] + "/" + name


def _wrong_password(url: str) -> str:
    return url.replace(SECRET, SECRET + "-wrong")


def calls(url: str) -> list[tuple[str, list[str], bool]]:
    """(label, CLI args, expected success) for one database: successes and failures."""
    unknown_db = _replace_db(url, urlsplit(url).path.lstrip("/") + "x")
    parts = urlsplit(url)
    unreachable = url.replace(
        f"@{parts.hostname}:{parts.port}", f"@127.0.0.1:{services.free_port()}"
    )
    return [
        ("inspect ok", ["inspect", url], True),
        ("inspect table", ["inspect", url, "--table", "items", "--json"], True),
        ("query ok", ["query", url, "SELECT * FROM items"], True),
        ("query refused", ["query", url, "DELETE FROM items"], False),
        ("query stacked", ["query", url, "SELECT 1; DROP TABLE items"], False),
        ("query syntax", ["query", url, "SELEC oops"], False),
        ("unknown table", ["inspect", url, "--table", "nope"], False),
        ("unknown database", ["query", unknown_db, "SELECT 1"], False),
        ("unreachable", ["inspect", unreachable], False),
        ("wrong password", ["query", _wrong_password(url), "SELECT 1"], None),
    ]


def assert_clean(text: str, where: str) -> None:
    assert SECRET not in text, f"password leaked in {where}: ...{text[text.find(SECRET) - 80 :]}"


def exception_texts(exc: BaseException) -> str:
    """str and repr of the exception and of every cause and context, plus its traceback."""
    out, seen = [], set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        out += [str(exc), repr(exc), repr(getattr(exc, "data", ""))]
        exc = exc.__cause__ or exc.__context__
    return "\n".join(out)


def run_cli(args: list[str], workspace: Path) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items()}
    return subprocess.run(
        [str(Path(sys.executable).parent / "datamigration"), "--workspace", str(workspace), *args],
        check=False,
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )


@pytest.mark.parametrize("which", ["postgres", "mariadb"])
def test_the_password_never_appears_in_cli_output(which, request, workspace_dir):
    url = request.getfixturevalue("pg_secret_url" if which == "postgres" else "mysql_secret_url")
    for label, args, ok in calls(url):
        proc = run_cli(args, workspace_dir)
        assert_clean(proc.stdout + proc.stderr, f"CLI {label}")
        if ok is True:
            assert proc.returncode == 0, (label, proc.stderr)
        elif ok is False:
            assert proc.returncode != 0, (label, proc.stdout)
            assert "error:" in proc.stderr and "Traceback" not in proc.stderr, proc.stderr
    assert not any(
        SECRET in p.read_text(errors="ignore") for p in workspace_dir.rglob("*") if p.is_file()
    )


@pytest.mark.parametrize("which", ["postgres", "mariadb"])
def test_the_password_never_appears_in_exceptions_or_logs(which, request, caplog):
    url = request.getfixturevalue("pg_secret_url" if which == "postgres" else "mysql_secret_url")
    caplog.set_level(logging.DEBUG)
    failures = 0
    for label, args, _ok in calls(url):
        target = args[1]
        try:
            with connect(target) as db:
                if args[0] == "inspect":
                    schema = db.inspect(tables=args[3:4] or None)
                    assert_clean(repr(schema), label)
                    if len(args) > 2 and not schema.tables:
                        raise LookupError("no such table")
                else:
                    assert_clean(repr(db.query(args[2])), label)
                assert_clean(repr(db), label)
        except DataMigrationError as exc:
            failures += 1
            text = exception_texts(exc) + "".join(traceback.format_exception(exc))
            assert_clean(text, f"exception of {label}")
        except LookupError:
            pass
    assert failures >= 5
    assert_clean(caplog.text, "logs")
    if which == "mariadb":
        with pytest.raises(DataMigrationError) as info:
            connect(_wrong_password(url))
        assert type(info.value).__name__ == "AuthenticationFailedError"
        assert_clean(exception_texts(info.value), "wrong password error")


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.mark.anyio
@pytest.mark.parametrize("which", ["postgres", "mariadb"])
async def test_the_password_never_appears_in_mcp_results_or_errors(which, request, workspace_dir):
    url = request.getfixturevalue("pg_secret_url" if which == "postgres" else "mysql_secret_url")
    (workspace_dir / "datamigration.toml").write_text(
        '[connections]\napp = "' + url.replace(SECRET, "${DM_TEST_SECRET_PW}") + '"\n',
        encoding="utf-8",
    )
    os.environ["DM_TEST_SECRET_PW"] = SECRET
    try:
        server = build_server(Workspace.open(workspace_dir))
        async with Client(server) as client:
            for database in (url, "app"):
                for name, arguments, ok in [
                    ("inspect", {"db": database}, True),
                    ("inspect", {"db": database, "table": ["items"]}, True),
                    ("query", {"db": database, "sql": "SELECT * FROM items"}, True),
                    ("query", {"db": database, "sql": "DELETE FROM items"}, False),
                    ("query", {"db": database, "sql": "SELECT 1; SELECT 2"}, False),
                    ("query", {"db": _replace_db(url, "nosuchdb"), "sql": "SELECT 1"}, False),
                ]:
                    result = await client.call_tool(name, arguments)
                    text = repr(result.content) + repr(result.structured_content)
                    assert_clean(text, f"MCP {name} {arguments}")
                    assert result.is_error is (not ok), text
                    if name == "query" and ok:
                        assert result.structured_content["untrusted_data"] is True
    finally:
        os.environ.pop("DM_TEST_SECRET_PW", None)
