"""Fixtures for the tests that talk to our MCP server through a real client (tests/e2e/*_mcp.py).

Import them into a test module (`from support.mcpserver import asyncio_backend, mcp_server`);
they are named `anyio_backend` and `server` there, the names the tests ask for.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from mcp.server import MCPServer

from datamigration.mcp.app import build_server
from datamigration.workspace.root import Workspace


@pytest.fixture(name="anyio_backend")
def asyncio_backend() -> str:
    return "asyncio"


@pytest.fixture(name="server")
def mcp_server(workspace_dir: Path) -> MCPServer:
    """The server of this test's workspace, as `datamigration serve` builds it."""
    return build_server(Workspace.open(workspace_dir))
