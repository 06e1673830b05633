"""Plans and validation verdicts are announced on the bus as `status` messages (issue 10 #18).

AgileFlow's agents follow a migration through lines such as "Migration plan created for users:
expand-contract approach, zero-downtime" and "Data validation complete ...". The planner and the
validation engine post them, so the CLI and the MCP tools announce the same way, once.
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

import pytest
from mcp.client import Client

from datamigration.cli import main as cli_main
from datamigration.coordination import bus
from datamigration.mcp.app import build_server
from datamigration.workspace.root import Workspace

pytestmark = [pytest.mark.e2e, pytest.mark.anyio]


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def cli(ws: Path, *args: str) -> int:
    return cli_main(["--workspace", str(ws), *args])


def lines(ws: Path) -> list[dict[str, Any]]:
    return [json.loads(x) for x in (ws / "bus" / "log.jsonl").read_text().splitlines()]


@pytest.fixture
def app(workspace_dir: Path, capsys: pytest.CaptureFixture[str]) -> Path:
    with sqlite3.connect(workspace_dir / "app.db") as c:
        c.execute("CREATE TABLE users (id INTEGER PRIMARY KEY, email TEXT NOT NULL)")
        c.executemany("INSERT INTO users VALUES (?, ?)", [(i, f"u{i}@x") for i in range(1, 21)])
    assert cli(workspace_dir, "rules-from-schema", "sqlite:///app.db", "users", "-o", "r.yaml") == 0
    capsys.readouterr()
    return workspace_dir


def test_a_plan_made_on_the_cli_is_announced_once_with_its_id(
    app: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (app / "spec.json").write_text('{"kind": "add_index", "table": "users", "columns": ["email"]}')
    assert (
        cli(app, "plan", "spec.json", "--db", "sqlite:///app.db", "--story", "US-7", "--json") == 0
    )
    plan = json.loads(capsys.readouterr().out)["plan"]
    (posted,) = lines(app)
    assert posted["type"] == "status" and posted["from"] == "AG-DATAMIGRATION"
    assert posted["story"] == "US-7" and posted["plan"] == plan["id"]
    assert posted["text"].startswith("Migration plan created for users: ")
    assert plan["id"] in posted["text"] and posted["id"].startswith("m-")


async def test_a_validation_without_a_story_is_announced_by_the_mcp_tool(app: Path) -> None:
    async with Client(build_server(Workspace.open(app))) as client:
        result = await client.call_tool("validate", {"rules_file": "r.yaml"})
    assert not result.is_error, result.content[0].text
    (posted,) = lines(app)
    assert posted["type"] == "status" and "story" not in posted
    assert posted["text"].startswith("Data validation complete for ")
    assert ": passed. " in posted["text"] and posted["test_status"] == "passing"
    assert posted["report"] == result.structured_content["report_json"]


def test_a_validation_for_a_story_is_announced_once(
    app: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert (
        cli(app, "status", "new", "US-7", "--title", "index users", "--status", "in-progress") == 0
    )
    assert cli(app, "validate", "r.yaml", "--story", "US-7") == 0
    verdicts = [m for m in bus.read(Workspace.open(app)).messages if "validation" in (m.text or "")]
    assert len(verdicts) == 1 and verdicts[0].type == "status" and verdicts[0].story == "US-7"
