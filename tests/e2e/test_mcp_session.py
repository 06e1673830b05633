"""The Foundation acceptance, as a scripted MCP session through the SDK's client, in both eras.

One session lists the tools (each with annotations and an output schema), lists the three prompts
and the resources, updates a story, posts and reads bus messages, creates an ADR and appends a
learning; then the files on disk are checked, because the tools' word is not proof.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml
from mcp.client import Client
from mcp.server import MCPServer

from datamigration.mcp.app import build_server
from datamigration.workspace.root import Workspace

pytestmark = [pytest.mark.e2e, pytest.mark.anyio]

REPO = Path(__file__).resolve().parents[2]
STORY = "US-0042"
COORDINATION_TOOLS = {
    "status_get",
    "status_update",
    "bus_post",
    "bus_read",
    "adr_new",
    "expertise_get",
    "expertise_learn",
}


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def project(workspace_dir: Path) -> Path:
    """A small project: one migration story on the board and the plugin's expertise file."""
    board = {
        "updated": "2026-11-20T09:00:00Z",
        "stories": {
            STORY: {
                "id": STORY,
                "title": "Rename users.email to email_address without downtime",
                "owner": "AG-DATAMIGRATION",
                "status": "ready",
                "last_update": "2026-11-20T09:00:00Z",
                "custom_field": {"kept": True},
            }
        },
    }
    (workspace_dir / "status.json").write_text(json.dumps(board, indent=2) + "\n")
    (workspace_dir / "expertise").mkdir()
    shutil.copy(REPO / "expertise" / "datamigration.yaml", workspace_dir / "expertise")
    return workspace_dir


@pytest.fixture
def server(project: Path) -> MCPServer:
    return build_server(Workspace.open(project))


async def call(client: Client, name: str, arguments: dict[str, Any]) -> dict[str, Any]:
    result = await client.call_tool(name, arguments)
    assert not result.is_error, f"{name} failed: {result.content[0].text}"
    assert isinstance(result.structured_content, dict), name
    return result.structured_content


@pytest.mark.parametrize("mode", ["auto", "legacy"])
async def test_a_scripted_session_covers_the_foundation_acceptance(
    server: MCPServer, project: Path, mode: str
) -> None:
    async with Client(server, mode=mode) as client:
        # Tools: every one annotated and with an output schema.
        tools = {t.name: t for t in (await client.list_tools()).tools}
        assert COORDINATION_TOOLS <= set(tools)
        for name, listed in tools.items():
            assert listed.annotations is not None, name
            assert listed.annotations.read_only_hint is not None, name
            assert listed.output_schema and listed.output_schema["type"] == "object", name
        assert tools["status_get"].annotations.read_only_hint is True
        assert tools["status_update"].annotations.read_only_hint is False

        # Prompts and resources.
        prompts = {p.name for p in (await client.list_prompts()).prompts}
        assert prompts == {"plan-migration", "migration-status", "adr-new"}
        resources = {str(r.uri) for r in (await client.list_resources()).resources}
        assert {"status://stories", "bus://log", "expertise://datamigration"} <= resources

        # Update a story.
        updated = await call(
            client,
            "status_update",
            {"story": STORY, "status": "in-progress", "note": "planning the rename"},
        )
        assert updated["status"] == "in-progress"
        assert updated["previous_status"] == "ready"
        got = await call(client, "status_get", {"story": STORY})
        assert got["stories"][0]["status"] == "in-progress"

        # The harness rule refuses in-review without a passing validation, with a hint.
        refused = await client.call_tool("status_update", {"story": STORY, "status": "in-review"})
        assert refused.is_error
        assert "hint:" in refused.content[0].text

        # Post and read bus messages.
        await call(
            client,
            "bus_post",
            {
                "type": "question",
                "text": "AG-DATABASE: is users.email read by any report?",
                "to": "AG-DATABASE",
                "story": STORY,
            },
        )
        read = await call(client, "bus_read", {"story": STORY})
        texts = [m["text"] for m in read["messages"]]
        assert "AG-DATABASE: is users.email read by any report?" in texts
        assert any(m["type"] == "status" for m in read["messages"])  # the status change
        assert read["untrusted_data"] is True
        bus_resource = await client.read_resource("bus://log")
        assert "is users.email read by any report?" in bus_resource.contents[0].text

        # Create an ADR.
        made = await call(
            client,
            "adr_new",
            {
                "title": "Use expand-contract to rename users.email",
                "context": "users has 40M rows; the app cannot stop.",
                "decision": "Add email_address, dual-write, backfill in batches, then drop email.",
                "alternatives": ["In-place RENAME COLUMN: breaks the running app version"],
                "story": STORY,
            },
        )
        assert made["number"] == 1

        # Append a learning.
        learned = await call(
            client,
            "expertise_learn",
            {
                "context": "renaming a column on a large PostgreSQL table",
                "insight": "Expand-contract with a sync trigger kept writes flowing during the "
                "backfill.",
            },
        )
        assert learned["lines"] > 0
        expertise = await call(client, "expertise_get", {"section": "learnings"})
        assert any(
            "sync trigger" in json.dumps(item) for item in expertise["expertise"]["learnings"]
        )

    # The files on disk say the same.
    board = json.loads((project / "status.json").read_text())
    assert board["stories"][STORY]["status"] == "in-progress"
    assert board["stories"][STORY]["custom_field"] == {"kept": True}
    bus_lines = [
        json.loads(line) for line in (project / "bus" / "log.jsonl").read_text().splitlines()
    ]
    assert any(m.get("type") == "question" and m.get("to") == "AG-DATABASE" for m in bus_lines)
    assert any(m.get("type") == "adr-created" for m in bus_lines)
    (adr_file,) = (project / "docs" / "03-decisions").glob("adr-0001-*.md")
    assert adr_file.name == made["path"].rsplit("/", 1)[-1]
    adr_text = adr_file.read_text()
    assert adr_text.startswith("# ADR-0001: Use expand-contract to rename users.email")
    assert "dual-write, backfill in batches" in adr_text
    learnings = yaml.safe_load((project / "expertise" / "datamigration.yaml").read_text())[
        "learnings"
    ]
    assert any("sync trigger" in json.dumps(item, default=str) for item in learnings)
