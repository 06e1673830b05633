"""No file any command writes, and no answer it gives, holds a database password.

Regression for issue 10 item 5: `rules-from-schema "postgresql://postgres:S3cr3t@.../db" small
-o rules.yaml` wrote the password into `source:` (also its URL-encoded forms), and the MCP tool
`generate_rules` returned it. The family: every CLI command that writes into the workspace
(rules files, validation reports, plans, run logs under .datamigration/, status.json, the bus,
expertise, ADRs, the demo's workspace) runs here with a URL carrying a password, and every file
under the workspace (os.walk) plus stdout and stderr is searched for the password in its plain
and percent-encoded forms. PostgreSQL trusts local connections, so any password is accepted
there; MariaDB gets a throwaway user whose password is the secret.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote, unquote, urlsplit

import psycopg
import pymysql
import pytest
from mcp.client import Client

from datamigration.mcp.app import build_server
from datamigration.workspace.root import Workspace

pytestmark = [pytest.mark.integration, pytest.mark.e2e]

CLI = str(Path(sys.executable).parent / "datamigration")
#: Passwords as written in the URL: plain, with a needlessly encoded letter (%63 is "c"), and
#: with an encoded "@" that must be encoded to be a password at all.
PASSWORDS = {"plain": "S3cr3t-Pw9", "encoded-letter": "S3%63r3t-Pw9", "encoded-at": "p%40ss-Wd9"}
SPEC = {"kind": "rename_column", "table": "small", "column": "full_name", "new_name": "shown"}


def forms(written: str) -> set[str]:
    """Every spelling of the password a leak could take: as written, decoded, re-encoded."""
    plain = unquote(written)
    return {written, plain, quote(plain, safe=""), quote(plain)}


def tables(execute) -> None:
    columns = "(id int PRIMARY KEY, full_name varchar(100) NOT NULL, created_at timestamp NULL)"
    for sql in (
        f"CREATE TABLE small {columns}",
        "INSERT INTO small VALUES (1, 'a', '2024-01-01 00:00:00'), (2, 'b', NULL)",
        f"CREATE TABLE copy {columns}",
        "INSERT INTO copy SELECT * FROM small",
    ):
        execute(sql)


@pytest.fixture
def pg_with(pg_url) -> Iterator:
    """`pg_with(password)` -> the test database's URL logging in with that password."""
    with psycopg.connect(pg_url, autocommit=True) as conn:
        tables(conn.execute)
    parts = urlsplit(pg_url)
    yield lambda pw: f"postgresql://{parts.username}:{pw}@{parts.hostname}:{parts.port}{parts.path}"


@pytest.fixture
def mysql_with(mysql_url) -> Iterator:
    """`mysql_with(password)` -> a URL for a throwaway user whose password is exactly that."""
    parts = urlsplit(mysql_url)
    db = parts.path.lstrip("/")
    user = f"dm_pw_{uuid.uuid4().hex[:8]}"
    admin = pymysql.connect(host=parts.hostname, port=parts.port or 3306, user="root",
                            database=db, autocommit=True)  # fmt: skip
    with admin.cursor() as cur:
        tables(cur.execute)

    def make(pw: str) -> str:
        with admin.cursor() as cur:
            cur.execute(f"DROP USER IF EXISTS '{user}'@'%'")
            cur.execute(f"CREATE USER '{user}'@'%%' IDENTIFIED BY %s", (unquote(pw),))
            cur.execute(f"GRANT ALL ON `{db}`.* TO '{user}'@'%'")
        return f"mysql://{user}:{pw}@{parts.hostname}:{parts.port or 3306}/{db}"

    try:
        yield make
    finally:
        with admin.cursor() as cur:
            cur.execute(f"DROP USER IF EXISTS '{user}'@'%'")
        admin.close()


def cli(ws: Path, *args: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DATAMIGRATION_")}
    return subprocess.run([CLI, "--workspace", str(ws), *args], capture_output=True, text=True,
                          env=env, timeout=300, check=False)  # fmt: skip


def commands(ws: Path, url: str, dialect: str) -> Iterator[tuple[str, ...]]:
    """Every file-writing command, in an order where each has what it needs."""
    (ws / "spec.json").write_text(json.dumps(SPEC), encoding="utf-8")
    (ws / "m.sql").write_text("ALTER TABLE small ADD COLUMN z int NOT NULL DEFAULT 1;\n")
    note = f"connect with {url}"
    yield ("rules-from-schema", url, "small", "-o", "rules.yaml")
    yield ("rules-from-schema", url, "small", "--target", url, "--target-table", "copy",
           "-o", "rules2.json")  # fmt: skip
    yield ("rules-from-schema", url, "small", "--json")
    yield ("status", "new", "US-0001", "--title", f"migrate small on {url}")
    yield ("validate", "rules2.json", "--source", url, "--target", url, "--story", "US-0001")
    yield ("status", "set", "US-0001", "in-progress", "--note", note)
    yield ("diff", url, "small", url, "copy", "--json")
    yield ("inspect", url, "--json")
    yield ("query", url, "SELECT count(*) FROM small")
    yield ("lint", "m.sql", "--db", url, "--trace")
    yield ("plan", "spec.json", "--db", url, "--story", "US-0001")
    plan = json.loads((next((ws / ".datamigration" / "plans").glob("*.json"))).read_text())
    # A MariaDB rehearsal needs a staging URL: refused here, and its error text is searched.
    yield ("rehearse", plan["id"], "--hash", plan["hash"], "--db", url, "--yes")
    plan = json.loads((next((ws / ".datamigration" / "plans").glob("*.json"))).read_text())
    yield ("execute", plan["id"], "--hash", plan["hash"], "--db", url, "--step", "s01", "--yes")
    yield ("run-status", plan["id"], "--db", url)
    yield ("rollback", plan["id"], "--hash", plan["hash"], "--db", url, "--yes")
    yield ("bus", "post", "--type", "status", "--text", note)
    yield ("expertise", "learn", "--context", note, "--insight", note)
    yield ("adr-new", f"use {url}", "--context", note, "--decision", note)
    if dialect == "postgresql":
        yield ("demo", "--dir", str(ws / "demo"), "--db", url)


def leaks(ws: Path, texts: dict[str, str], secrets: set[str]) -> list[str]:
    """Where any of `secrets` appears: file paths under `ws` (every file) and output labels."""
    found = [label for label, text in texts.items() if any(s in text for s in secrets)]
    for folder, _dirs, files in os.walk(ws):
        for name in files:
            data = (Path(folder) / name).read_bytes().decode("utf-8", errors="replace")
            if any(s in data for s in secrets):
                found.append(str((Path(folder) / name).relative_to(ws)))
    return found


@pytest.mark.parametrize("form", list(PASSWORDS))
@pytest.mark.parametrize("dialect", ["postgresql", "mysql"])
def test_no_file_written_and_no_output_holds_the_password(dialect, form, request, workspace_dir):
    url = request.getfixturevalue("pg_with" if dialect == "postgresql" else "mysql_with")(
        PASSWORDS[form]
    )
    texts = {}
    for args in commands(workspace_dir, url, dialect):
        proc = cli(workspace_dir, *args)
        refused = dialect == "mysql" and args[0] == "rehearse"
        assert (proc.returncode == 0) is not refused, (args, proc.stdout[-2000:], proc.stderr)
        assert "Traceback" not in proc.stderr, proc.stderr
        texts[" ".join(args[:2])] = proc.stdout + proc.stderr
    assert leaks(workspace_dir, texts, forms(PASSWORDS[form])) == []
    assert (workspace_dir / "demo" / "datamigration.toml").exists() or dialect == "mysql"


def test_a_generated_rules_file_names_the_password_as_a_variable_and_runs_with_it_set(
    pg_with, workspace_dir
):
    url = pg_with(PASSWORDS["encoded-at"])
    proc = cli(workspace_dir, "rules-from-schema", url, "small", "-o", "rules.yaml")
    assert "DATAMIGRATION_SOURCE_PASSWORD" in proc.stdout
    text = (workspace_dir / "rules.yaml").read_text()
    assert f"source: {url.replace('p%40ss-Wd9', '${DATAMIGRATION_SOURCE_PASSWORD}')}\n" in text
    refused = cli(workspace_dir, "validate", "rules.yaml")
    assert refused.returncode == 2 and "DATAMIGRATION_SOURCE_PASSWORD is not set" in refused.stderr
    assert not (workspace_dir / "docs").exists()
    env = {**os.environ, "DATAMIGRATION_SOURCE_PASSWORD": PASSWORDS["encoded-at"]}
    ran = subprocess.run([CLI, "--workspace", str(workspace_dir), "validate", "rules.yaml"],
                         capture_output=True, text=True, env=env, timeout=120, check=False)  # fmt: skip
    assert ran.returncode == 0, ran.stdout + ran.stderr


def test_a_rules_file_names_a_configured_connection_rather_than_its_url(pg_with, workspace_dir):
    url = pg_with(PASSWORDS["plain"])
    template = url.replace(PASSWORDS["plain"], "${DM_TEST_APP_PW}")
    (workspace_dir / "datamigration.toml").write_text(f'[connections]\napp = "{template}"\n')
    env = {**os.environ, "DM_TEST_APP_PW": PASSWORDS["plain"]}
    for given in ("app", url):
        subprocess.run([CLI, "--workspace", str(workspace_dir), "rules-from-schema", given,
                        "small", "--target", given, "-o", "rules.yaml", "--overwrite"],
                       env=env, check=True, capture_output=True, timeout=120)  # fmt: skip
        text = (workspace_dir / "rules.yaml").read_text()
        assert "source: app\ntarget: app\n" in text, text


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.mark.anyio
@pytest.mark.parametrize("form", list(PASSWORDS))
async def test_mcp_tools_neither_return_nor_write_the_password(form, pg_with, workspace_dir):
    """generate_rules (the example), then the tools that take a URL and write a file."""
    url = pg_with(PASSWORDS[form])
    server = build_server(Workspace.open(workspace_dir))
    both = {"source": url, "table": "small", "target": url}
    calls = [
        ("generate_rules", both),
        ("generate_rules", both | {"path": "rules.yaml"}),
        ("validate", {"rules_file": "rules.yaml", "source": url, "target": url}),
        ("diff_data", {"source": url, "source_table": "small", "target": url,
                       "target_table": "copy"}),
        ("inspect", {"db": url}),
        ("plan_migration", {"spec": SPEC, "db": url}),
    ]  # fmt: skip
    answers = {}
    async with Client(server) as client:
        for name, arguments in calls:
            result = await client.call_tool(name, arguments)
            assert not result.is_error, (name, result.content)
            answers[name] = repr(result.content) + repr(result.structured_content)
            if name == "generate_rules":
                assert "DATAMIGRATION_TARGET_PASSWORD" in result.structured_content["note"]
    assert leaks(workspace_dir, answers, forms(PASSWORDS[form])) == []
    assert (workspace_dir / "rules.yaml").exists()
    assert list((workspace_dir / ".datamigration" / "plans").glob("*.json"))
