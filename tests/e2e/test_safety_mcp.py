"""The safety tools through a real MCP client: health_check and monitor answer with structured
content (monitor with a progress notification per sample), a garbage metrics URL comes back as a
tool error with a hint, and `rollback` with `stop: true` leaves the stop file a running step's
watch reads."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import pytest
from mcp.client import Client

from datamigration.mcp.app import build_server
from datamigration.plan.planner import plan_migration
from datamigration.plan.spec import parse_spec
from datamigration.safety.watch import stop_requested
from datamigration.workspace.root import Workspace

pytestmark = [pytest.mark.e2e, pytest.mark.anyio]


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


async def call(client: Client, name: str, args: dict[str, Any], progress: list[str]) -> Any:
    async def on_progress(done: float, total: float | None, message: str | None) -> None:
        progress.append(message or "")

    return await client.call_tool(name, args, progress_callback=on_progress)


async def test_health_monitor_and_stop_through_a_client(workspace_dir: Path, sqlite_url: str):
    with sqlite3.connect(sqlite_url.removeprefix("sqlite:///")) as c:
        c.execute("CREATE TABLE users (id INTEGER PRIMARY KEY, n INTEGER)")
    ws = Workspace.open(str(workspace_dir))
    spec = {"kind": "backfill", "table": "users", "set": {"n": "0"}}
    plan = plan_migration(ws, parse_spec(spec), sqlite_url).plan
    progress: list[str] = []
    async with Client(build_server(ws)) as client:
        health = await call(client, "health_check", {"db": sqlite_url}, progress)
        assert not health.is_error and health.structured_content["safe"] is True
        mon = await call(client, "monitor", {"db": sqlite_url, "seconds": 0.6,
                                              "interval": 0.2, "run": "m1"}, progress)  # fmt: skip
        assert not mon.is_error, mon.content[0].text
        assert mon.structured_content["samples"] >= 3 and "error_rate" in (
            mon.structured_content["unavailable"])  # fmt: skip
        assert any(p.startswith("p99 ") for p in progress)
        bad = await call(client, "monitor", {"db": sqlite_url, "seconds": 1,
                                              "prometheus": "ftp://x/metrics"}, progress)  # fmt: skip
        assert bad.is_error and "hint:" in bad.content[0].text
        stop = await call(client, "rollback", {"plan_id": plan.id, "plan_hash": plan.hash,
                                                "stop": True}, progress)  # fmt: skip
        assert not stop.is_error and stop.structured_content["mode"] == "stop"
    assert stop_requested(ws.state_dir, plan.id) == "stop asked through MCP"
