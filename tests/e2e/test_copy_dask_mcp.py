"""`copy_data` with `cluster` through a real MCP client: the partitions run on a Dask
LocalCluster the tool starts (from the server's worker thread), progress arrives per
partition, and the copy validates like a local one."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from mcp.client import Client

from datamigration.mcp.app import build_server
from datamigration.workspace.root import Workspace
from support import movedata

pytestmark = [pytest.mark.e2e, pytest.mark.anyio]


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


async def test_copy_data_on_a_local_cluster_reports_partitions_and_validates(
    pg_url: str, workspace_dir: Path
) -> None:
    movedata.seed_sqlite(workspace_dir / "app.db")
    args = {"source": "sqlite:///app.db", "target": pg_url, "tables": ["users", "orders"],
            "batch_size": 100, "workers": 2, "cluster": "local:2"}  # fmt: skip
    progress: list[str] = []

    async def on_progress(done: float, total: float | None, message: str | None) -> None:
        progress.append(message or "")

    async with Client(build_server(Workspace.open(workspace_dir)), mode="legacy") as client:
        first = await client.call_tool("copy_data", args)
        token = re.search(r"confirm_token='(cfm-[^']+)'", first.content[0].text).group(1)
        done = await client.call_tool(
            "copy_data", {**args, "confirm_token": token}, progress_callback=on_progress
        )
    assert not done.is_error, done.content[0].text
    out = done.structured_content
    assert out["passed"] and out["rows_copied"] == 1700 and out["rejected"] == 0
    assert sum("partition" in m for m in progress) >= 2
    assert movedata.inspected(pg_url, "_datamigration_copy") is None
