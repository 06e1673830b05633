"""Backups, bad input: a dump tool missing from PATH, a [backup] setting that makes no sense, an
unknown backup id, a call without a database. Each is a clear error with a hint, on the CLI
(exit 2, no traceback) and over MCP (a tool error whose hint names tool arguments), and nothing
is left under the backups folder. The MCP tool also takes, lists and verifies a real backup.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from mcp.client import Client

from datamigration.mcp.app import build_server
from datamigration.workspace.root import Workspace
from support.cli_errors import cli, refused

pytestmark = pytest.mark.e2e


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def backups(ws: Path) -> list[str]:
    folder = ws / ".datamigration" / "backups"
    return sorted(p.name for p in folder.iterdir()) if folder.is_dir() else []


def test_a_dump_tool_missing_from_path_is_refused_with_the_package_to_install(
    workspace_dir, pg_url, monkeypatch, capsys, tmp_path
):
    monkeypatch.setenv("PATH", str(tmp_path))  # an empty folder: no pg_dump anywhere
    err = refused(capsys, cli(workspace_dir, "backup", pg_url))
    assert "pg_dump is not installed or not on PATH" in err
    assert "apt-get install postgresql-client" in err and "[backup]" in err
    assert backups(workspace_dir) == []


@pytest.mark.parametrize(
    ("toml", "problem"),
    [
        ("[backup]\nmax_age_hours = -1\n", "max_age_hours = -1"),
        ("[backup]\nrequired = 'yes'\n", "required = 'yes'"),
        ("[backup]\nkeep = 3\n", "keep in datamigration.toml is not a setting"),
        ("backup = 3\n", "[backup] in datamigration.toml must be a table"),
    ],
)
def test_a_backup_setting_that_does_not_parse_is_refused(workspace_dir, capsys, toml, problem):
    (workspace_dir / "datamigration.toml").write_text(toml)
    with sqlite3.connect(workspace_dir / "app.db") as c:
        c.execute("CREATE TABLE t (id INTEGER PRIMARY KEY)")
    err = refused(capsys, cli(workspace_dir, "backup", "sqlite:///app.db"))
    assert problem in err
    assert backups(workspace_dir) == []


def test_an_unknown_backup_id_and_a_missing_database_are_refused(workspace_dir, capsys):
    err = refused(capsys, cli(workspace_dir, "backup", "--verify", "../../etc"))
    assert "is not a backup id" in err
    err = refused(capsys, cli(workspace_dir, "backup", "--verify", "bk-20260101T000000Z-abcdef"))
    assert "no backup bk-20260101T000000Z-abcdef" in err
    err = refused(capsys, cli(workspace_dir, "backup"))
    assert "which database" in err


@pytest.mark.anyio
async def test_the_backup_tool_takes_lists_and_verifies_and_its_errors_name_tool_arguments(
    workspace_dir, pg_url, monkeypatch, tmp_path
):
    with sqlite3.connect(workspace_dir / "app.db") as c:
        c.execute("CREATE TABLE users (id INTEGER PRIMARY KEY, name TEXT)")
        c.executemany("INSERT INTO users (name) VALUES (?)", [(f"u{i}",) for i in range(50)])
    server = build_server(Workspace.open(workspace_dir))
    async with Client(server) as client:
        taken = await client.call_tool("backup", {"db": "sqlite:///app.db", "tables": ["users"]})
        assert not taken.is_error, taken.content
        backup = taken.structured_content["backup"]
        assert backup["verified"] and backup["rows"] == 50
        listed = await client.call_tool("backup", {"list_all": True})
        assert [b["id"] for b in listed.structured_content["backups"]] == [backup["id"]]
        again = await client.call_tool("backup", {"verify": backup["id"]})
        assert again.structured_content["backup"]["verified"]
        nothing = await client.call_tool("backup", {})
        assert nothing.is_error and "list_all" in nothing.content[0].text
        monkeypatch.setenv("PATH", str(tmp_path))
        missing = await client.call_tool("backup", {"db": pg_url})
        assert missing.is_error
        text = missing.content[0].text
        assert "pg_dump is not installed" in text and "postgresql-client" in text
        assert "\nhint: " in text and "--" not in text.split("hint: ", 1)[1]


@pytest.mark.anyio
async def test_execute_over_mcp_refuses_a_drop_without_a_backup_before_asking_to_confirm(
    workspace_dir, monkeypatch
):
    monkeypatch.setenv("DATAMIGRATION_BACKUP_REQUIRED", "true")
    with sqlite3.connect(workspace_dir / "app.db") as c:
        c.execute("CREATE TABLE users (id INTEGER PRIMARY KEY, bio TEXT)")
        c.execute("INSERT INTO users (bio) VALUES ('a'), ('b')")
    server = build_server(Workspace.open(workspace_dir))
    spec = {"kind": "drop_column", "table": "users", "column": "bio"}
    async with Client(server) as client:
        plan = await client.call_tool("plan_migration", {"spec": spec, "db": "sqlite:///app.db"})
        key = {"plan_id": plan.structured_content["plan_id"],
               "plan_hash": plan.structured_content["plan_hash"]}  # fmt: skip
        dry = await client.call_tool("execute", {**key, "all_steps": True, "dry_run": True})
        assert not dry.is_error  # a dry run shows the steps whatever the backups
        refused_run = await client.call_tool("execute", {**key, "all_steps": True})
        assert refused_run.is_error
        text = refused_run.content[0].text
        assert "BackupRequiredError" in text or "no verified backup" in text
        assert "confirm_token" not in text  # refused before any confirmation was asked
        assert "the `backup` tool with db=" in text and "`without_backup`" in text
        asked = await client.call_tool(
            "execute", {**key, "all_steps": True, "without_backup": "snapshot 02:00 by ops"}
        )
        assert asked.is_error and "WITHOUT A VERIFIED BACKUP" in asked.content[0].text
    with sqlite3.connect(workspace_dir / "app.db") as c:
        assert "bio" in [r[1] for r in c.execute("PRAGMA table_info(users)")]
