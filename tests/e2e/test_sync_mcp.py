"""`sync` through a real MCP client: start asks for confirmation and then applies recorded
Debezium events until caught up with progress notifications; status reports the run; stop
asks again and ends it."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest
from mcp.client import Client

from datamigration.db import connect
from datamigration.mcp.app import build_server
from datamigration.workspace.root import Workspace

pytestmark = [pytest.mark.e2e, pytest.mark.integration, pytest.mark.anyio]

FIXTURE = Path(__file__).parents[1] / "fixtures" / "debezium" / "postgres_users_orders.jsonl"


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


async def _confirmed(client: Client, args: dict, **kw):
    first = await client.call_tool("sync", args)
    token = re.search(r"confirm_token='(cfm-[^']+)'", first.content[0].text).group(1)
    return await client.call_tool("sync", {**args, "confirm_token": token}, **kw)


async def test_sync_start_status_and_stop_through_the_mcp_tool(
    pg_url: str, workspace_dir: Path
) -> None:
    with connect(pg_url) as b:
        b.execute([
            "CREATE TABLE users (id int PRIMARY KEY, email text, name text, created_at timestamptz)",
            "CREATE TABLE orders (id int PRIMARY KEY, user_id int, total float8, status text)",
        ])  # fmt: skip
    shutil.copy(FIXTURE, workspace_dir / "events.jsonl")
    args = {"action": "start", "source": "unused", "target": pg_url, "run": "mcp_run",
            "tables": ["users", "orders"], "events_file": "events.jsonl", "detach": False}  # fmt: skip
    progress: list[str] = []

    async def on_progress(done: float, total: float | None, message: str | None) -> None:
        progress.append(message or "")

    async with Client(build_server(Workspace.open(workspace_dir)), mode="legacy") as client:
        done = await _confirmed(client, args, progress_callback=on_progress)
        assert not done.is_error, done.content[0].text
        assert done.structured_content["result"]["applied"] == 13
        assert any(m.startswith("start") for m in progress)
        status = await client.call_tool("sync", {"action": "status", "run": "mcp_run"})
        run = status.structured_content["result"]["runs"][0]
        assert run["state"]["applied"] == 13 and run["state"]["status"] == "stopped"
        stopped = await _confirmed(client, {"action": "stop", "run": "mcp_run"})
        assert not stopped.is_error and stopped.structured_content["result"]["known"]
        bad = await client.call_tool("sync", {"action": "status", "run": "Bad-Name"})
        assert bad.is_error and "run name" in bad.content[0].text
    with connect(pg_url) as b:
        assert b.fetch("SELECT count(*) FROM users")[0][0] == 3
