"""`copy_data` through a real MCP client: the dry run returns the plan of work and writes
nothing, a copy needs confirmation (a token here), reports progress per partition, lands the
report under docs/ and posts `status` messages on the bus."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from mcp.client import Client
from mcp.server import MCPServer

from support import movedata
from support.mcpserver import asyncio_backend, mcp_server  # noqa: F401 - fixtures

pytestmark = [pytest.mark.e2e, pytest.mark.anyio]


async def _call(client: Client, args: dict[str, Any], progress: list[str] | None = None) -> Any:
    async def on_progress(done: float, total: float | None, message: str | None) -> None:
        if progress is not None:
            progress.append(message or "")

    return await client.call_tool("copy_data", args, progress_callback=on_progress)


async def test_copy_data_is_a_destructive_tool_with_an_output_schema(server: MCPServer) -> None:
    async with Client(server, mode="legacy") as client:
        tools = {t.name: t for t in (await client.list_tools()).tools}
    hints = tools["copy_data"].annotations
    assert hints.read_only_hint is False and hints.destructive_hint is True
    assert {"run_id", "validation", "truncated"} <= set(
        tools["copy_data"].output_schema["properties"]
    )


async def test_copy_data_dry_runs_then_copies_once_confirmed_with_progress_and_a_report(
    server: MCPServer, pg_url: str, workspace_dir: Path
) -> None:
    path = workspace_dir / "app.db"
    movedata.seed_sqlite(path)
    args = {"source": "sqlite:///app.db", "target": pg_url, "tables": ["users", "orders"],
            "batch_size": 100}  # fmt: skip
    async with Client(server, mode="legacy") as client:
        plan = await _call(client, {**args, "dry_run": True})
        assert not plan.is_error, plan.content[0].text
        out = plan.structured_content
        assert out["dry_run"] and out["run_id"] is None
        users = next(t for t in out["tables"] if t["table"] == "users")
        assert users["key"] == ["id"] and any("CREATE TABLE" in s for s in users["ddl"])
        assert movedata.inspected(pg_url, "users") is None  # nothing written
        first = await _call(client, args)
        assert first.is_error and "Nothing was done" in first.content[0].text
        assert movedata.inspected(pg_url, "users") is None
        token = re.search(r"confirm_token='(cfm-[^']+)'", first.content[0].text).group(1)
        progress: list[str] = []
        done = await _call(client, {**args, "confirm_token": token}, progress)
    assert not done.is_error, done.content[0].text
    out = done.structured_content
    assert out["passed"] and out["rows_copied"] == 1700 and out["rejected"] == 0
    assert [v["target_rows"] for v in out["validation"]] == [500, 1200]
    assert any("partition" in m for m in progress) and any("finish" in m for m in progress)
    report = json.loads((workspace_dir / out["report_json"]).read_text())
    assert report["run_id"] == out["run_id"]
    assert "password" not in (workspace_dir / out["report_markdown"]).read_text().lower()
    bus = (workspace_dir / "bus" / "log.jsonl").read_text().splitlines()
    texts = [json.loads(line)["text"] for line in bus]
    assert any(t.startswith(f"Copy {out['run_id']} started") for t in texts)
    assert any(t.startswith(f"Copy {out['run_id']} finished") for t in texts)
    assert f"Copy {out['run_id']}: table orders copied, 1200 of 1200 rows, identical" in texts
