"""The contract every tool on the built server keeps, checked through a real client in both eras:
annotations, an output schema, a description, documentation in docs/mcp.md, and our errors
reaching the model as tool errors that carry the hint (never a password)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import TypedDict

import pytest
from mcp.client import Client
from mcp.server import MCPServer

from datamigration.errors import DatabaseError, NotFoundError
from datamigration.mcp.app import build_server
from datamigration.mcp.tooling import tool
from datamigration.workspace.root import Workspace

pytestmark = [pytest.mark.e2e, pytest.mark.anyio]

MODES = ["auto", "legacy"]
DOCS = Path(__file__).resolve().parents[2] / "docs" / "mcp.md"


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def server(workspace_dir: Path) -> MCPServer:
    return build_server(Workspace.open(workspace_dir))


@pytest.mark.parametrize("mode", MODES)
async def test_every_tool_has_annotations_an_output_schema_and_a_description(
    server: MCPServer, mode: str
) -> None:
    async with Client(server, mode=mode) as client:
        tools = (await client.list_tools()).tools
    assert tools, "the built server registers no tools"
    for listed in tools:
        hints = listed.annotations
        assert hints is not None, listed.name
        assert hints.read_only_hint is not None, listed.name
        if not hints.read_only_hint:  # the other two mean something only for a writing tool
            assert hints.destructive_hint is not None, listed.name
            assert hints.idempotent_hint is not None, listed.name
        assert not (hints.read_only_hint and hints.destructive_hint), listed.name
        assert listed.output_schema and listed.output_schema.get("type") == "object", listed.name
        assert (listed.description or "").strip(), listed.name
        assert listed.input_schema.get("type") == "object", listed.name


def documented_tools() -> dict[str, str]:
    """Tool name -> documented kind, from docs/mcp.md's tables: | `name` | kind | ... |"""
    rows = re.findall(r"^\|\s*`([a-z_]+)`\s*\|\s*([a-z-]+)\s*\|", DOCS.read_text(), re.MULTILINE)
    return dict(rows)


def kind_of(listed) -> str:
    hints = listed.annotations
    if hints.read_only_hint:
        return "read-only"
    return "destructive" if hints.destructive_hint else "write"


async def test_docs_list_every_tool_of_the_built_server_with_its_kind(server: MCPServer) -> None:
    async with Client(server) as client:
        tools = (await client.list_tools()).tools
    documented = documented_tools()
    missing = sorted(t.name for t in tools if t.name not in documented)
    assert not missing, f"tools missing from docs/mcp.md: {missing}"
    wrong = {
        t.name: (documented[t.name], kind_of(t)) for t in tools if documented[t.name] != kind_of(t)
    }
    assert not wrong, f"docs/mcp.md kind differs from the annotations (docs, actual): {wrong}"


class Nothing(TypedDict):
    ok: bool


def add_failing_tools(server: MCPServer) -> None:
    @tool(server, read_only=True, name="zz_fails_not_found")
    def fails_not_found(story: str) -> Nothing:
        """Test double: always reports a missing story."""
        raise NotFoundError(
            f"story {story} does not exist",
            hint="List stories with status_get, or create one with status_update.",
        )

    @tool(server, read_only=True, name="zz_fails_with_secret")
    async def fails_with_secret() -> Nothing:
        """Test double: a database error whose text names a URL with a password."""
        raise DatabaseError(
            "could not connect to postgresql://app:hunter2-secret@db.internal:5432/app",
            hint="Check that the server at postgresql://app:hunter2-secret@db.internal runs.",
        )


@pytest.mark.parametrize("mode", MODES)
async def test_our_error_reaches_the_model_as_a_tool_error_with_its_hint(
    server: MCPServer, mode: str
) -> None:
    add_failing_tools(server)
    async with Client(server, mode=mode) as client:
        result = await client.call_tool("zz_fails_not_found", {"story": "US-0999"})
    assert result.is_error
    text = result.content[0].text
    assert "NotFoundError" in text
    assert "story US-0999 does not exist" in text
    assert "hint: List stories with status_get" in text


@pytest.mark.parametrize("mode", MODES)
async def test_a_password_in_an_error_never_reaches_the_model(server: MCPServer, mode: str) -> None:
    add_failing_tools(server)
    async with Client(server, mode=mode) as client:
        result = await client.call_tool("zz_fails_with_secret", {})
    assert result.is_error
    text = result.content[0].text
    assert "DatabaseError" in text and "db.internal" in text
    assert "hunter2-secret" not in text


def test_a_tool_without_a_docstring_or_named_output_fields_is_refused_at_registration() -> None:
    server = MCPServer("contract")

    with pytest.raises(TypeError, match="docstring"):

        @tool(server, read_only=True)
        def undocumented() -> Nothing:
            return {"ok": True}

    with pytest.raises(TypeError, match="output schema"):

        @tool(server, read_only=True)
        def unshaped() -> str:
            """A bare string: the SDK would wrap it as {"result": ...}."""
            return "ok"

    assert server._tool_manager.get_tool("unshaped") is None


async def test_docs_list_every_resource_and_prompt(server: MCPServer) -> None:
    async with Client(server) as client:
        uris = [str(r.uri) for r in (await client.list_resources()).resources]
        prompts = [p.name for p in (await client.list_prompts()).prompts]
    text = DOCS.read_text()
    assert uris and prompts
    missing = [name for name in uris + prompts if f"| `{name}` |" not in text]
    assert not missing, f"missing from docs/mcp.md: {missing}"
